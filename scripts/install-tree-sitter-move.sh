#!/usr/bin/env bash
# Install the tree-sitter Move grammar (Aptos dialect) into a virtual environment, built from source.
#
# Usage: scripts/install-tree-sitter-move.sh VENV_DIR
#
# The `tree-sitter-move` sdist on PyPI bundles a prebuilt macOS (Mach-O) `_binding.abi3.so`, which
# pip copies as is, so `import tree_sitter_move` fails on Linux. This script downloads the pinned
# sdist (checked against its sha256), deletes the bundled binary and the stale egg-info, patches the
# binding to hand the language to py-tree-sitter as a PyCapsule (the int pointer it returns is
# deprecated since py-tree-sitter 0.24), and pip-installs the folder, which compiles
# src/parser.c + src/scanner.c with the local C compiler. Needs only PyPI and gcc.
#
# Idempotent: does nothing when the grammar already imports, loads without a deprecation warning
# and parses a small module with no ERROR/MISSING node.
set -euo pipefail

VENV_DIR=${1:?usage: $0 VENV_DIR}
PY="$VENV_DIR/bin/python"
TSM_VERSION="0.0.2"
TSM_SHA256="62d7a979b1f464bbbf6c3bbd39e01bfdfe51c6ba3c889fd4824cc505b4ed628a"
# The grammar is generated for tree-sitter ABI 14; py-tree-sitter 0.23 (capsule support) to 0.26 load it.
TREE_SITTER_SPEC="tree-sitter>=0.23,<0.27"

if [ ! -x "$PY" ]; then
    echo "install-tree-sitter-move: no python at $PY" >&2
    exit 2
fi

grammar_ok() {
    "$PY" -W error::DeprecationWarning - <<'EOF' >/dev/null 2>&1
import tree_sitter
import tree_sitter_move

language = tree_sitter.Language(tree_sitter_move.language())
tree = tree_sitter.Parser(language).parse(
    b"module 0x1::probe {\n"
    b"    use std::vector;\n"
    b"    #[event]\n"
    b"    struct Pinged has drop, store { n: u64 }\n"
    b"    #[view]\n"
    b"    public fun count(v: vector<u64>): u64 { vector::length(&v) }\n"
    b"}\n"
)
if tree.root_node.has_error:
    raise SystemExit(1)
EOF
}

if grammar_ok; then
    echo "tree-sitter-move: already installed and working in $VENV_DIR"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tree-sitter-move.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$PY" -m pip install --quiet "$TREE_SITTER_SPEC"
"$PY" -m pip download --quiet --no-binary :all: --no-deps --dest "$work" "tree-sitter-move==$TSM_VERSION"

sdist="$work/tree_sitter_move-$TSM_VERSION.tar.gz"
actual=$("$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$sdist")
if [ "$actual" != "$TSM_SHA256" ]; then
    echo "install-tree-sitter-move: sha256 of $sdist is $actual, expected $TSM_SHA256" >&2
    exit 1
fi

tar -xzf "$sdist" -C "$work"
src="$work/tree_sitter_move-$TSM_VERSION"
# Drop the bundled (macOS-only) binary and the egg-info that lists it, so only a fresh build is installed.
find "$src" \( -name '*.so' -o -name '*.dylib' -o -name '*.pyd' \) -type f -delete
rm -rf "$src/bindings/python/tree_sitter_move.egg-info"

binding="$src/bindings/python/tree_sitter_move/binding.c"
sed -i 's|return PyLong_FromVoidPtr(tree_sitter_move_on_aptos());|return PyCapsule_New(tree_sitter_move_on_aptos(), "tree_sitter.Language", NULL);|' "$binding"
if ! grep -q 'PyCapsule_New(tree_sitter_move_on_aptos()' "$binding"; then
    echo "install-tree-sitter-move: could not patch $binding" >&2
    exit 1
fi

"$PY" -m pip install --quiet --no-deps --force-reinstall --no-cache-dir "$src"

if ! grammar_ok; then
    echo "install-tree-sitter-move: installed, but the grammar does not load or parse; details:" >&2
    "$PY" -W error::DeprecationWarning -c 'import tree_sitter, tree_sitter_move; tree_sitter.Language(tree_sitter_move.language())' >&2 || true
    exit 1
fi
echo "tree-sitter-move $TSM_VERSION: built from source and installed in $VENV_DIR"
