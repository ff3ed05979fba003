"""Read Move sources with tree-sitter-move: modules, entry functions, views, events, abort codes, test expectations.

This walks the syntax tree of each file (no regular expressions over Move text). Types are rendered
without whitespace, with struct names resolved through the module's ``use`` lines to their
fully-qualified form (``Object<Metadata>`` -> ``0x1::object::Object<0x1::fungible_asset::Metadata>``);
the framework named addresses become ``0x1`` and ``pictor`` becomes the package address given.

Install the grammar with ``scripts/install-tree-sitter-move.sh .venv``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import tree_sitter

#: Named addresses that are fixed on every Aptos network.
FRAMEWORK_ADDRESSES: dict[str, str] = {
    "std": "0x1",
    "aptos_std": "0x1",
    "aptos_framework": "0x1",
    "aptos_token": "0x3",
    "aptos_token_objects": "0x4",
}

PACKAGE_NAMED_ADDRESS = "pictor"

_COMMENTS = frozenset({"line_comment", "block_comment"})
_NAME_PARTS = frozenset({"identifier", "numerical_addr", "discouraged_name"})


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Param:
    """A named, typed slot: a function parameter or a struct field."""

    name: str
    type: str


@dataclass(frozen=True)
class MoveFunction:
    """A function signature: parameters (for entry functions without the leading ``&signer``s) and returns."""

    name: str
    params: tuple[Param, ...]
    returns: tuple[str, ...]
    visibility: str  # "private", "public", "public(friend)", "public(package)"
    type_params: int
    line: int
    #: How many leading ``&signer`` parameters were dropped (entry functions).
    signers: int = 0

    @property
    def param_types(self) -> tuple[str, ...]:
        """The parameter types, in order."""
        return tuple(p.type for p in self.params)


@dataclass(frozen=True)
class MoveEvent:
    """A ``#[event]`` struct and its fields in declaration order."""

    name: str
    fields: tuple[Param, ...]
    line: int


@dataclass(frozen=True)
class AbortCode:
    """A ``const E_…: u64 = N;`` constant, its ``///`` description and how often non-test code names it."""

    name: str
    code: int | None  # None when the value is not an integer literal
    description: str
    line: int
    uses: int


@dataclass(frozen=True)
class ExpectedFailure:
    """One ``#[expected_failure(abort_code = …, location = …)]`` of a test function."""

    path: Path
    line: int
    function: str
    location: str | None  # "address::module" as resolved, None when absent
    location_module: str | None  # module name of the location
    abort_code: int | None  # literal code, if given as a number
    constant: str | None  # constant name, if given by name
    constant_module: str | None  # module that declares the named constant


@dataclass
class MoveModule:
    """What the parity and coverage tests need to know about one Move module."""

    address: str
    name: str
    path: Path
    line: int
    test_only: bool
    entry_functions: dict[str, MoveFunction] = field(default_factory=dict)
    views: dict[str, MoveFunction] = field(default_factory=dict)
    events: dict[str, MoveEvent] = field(default_factory=dict)
    abort_codes: dict[str, AbortCode] = field(default_factory=dict)
    expected_failures: list[ExpectedFailure] = field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        """``address::module``."""
        return f"{self.address}::{self.name}"


# --------------------------------------------------------------------------- parser


@cache
def language() -> tree_sitter.Language:
    """The tree-sitter Move language (the grammar built by scripts/install-tree-sitter-move.sh)."""
    try:
        import tree_sitter_move
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("tree_sitter_move is not installed: run scripts/install-tree-sitter-move.sh .venv") from exc
    handle = tree_sitter_move.language()
    with warnings.catch_warnings():
        # An unpatched build hands over an int pointer, which py-tree-sitter >= 0.24 deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        return tree_sitter.Language(handle)


def parse_bytes(source: bytes) -> tree_sitter.Tree:
    """Parse Move source bytes."""
    return tree_sitter.Parser(language()).parse(source)


def _text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _line(node: tree_sitter.Node) -> int:
    return node.start_point[0] + 1


def parse_errors(path: str | Path) -> list[tuple[int, int, str]]:
    """Every ERROR or MISSING node of a Move file as (line, column, snippet), 1-based, outermost ERRORs only."""
    source = Path(path).read_bytes()
    lines = source.decode("utf-8", "replace").splitlines()
    found: list[tuple[int, int, str]] = []

    def visit(node: tree_sitter.Node) -> None:
        row, col = node.start_point
        if node.is_missing:
            context = lines[row].strip() if row < len(lines) else ""
            found.append((row + 1, col + 1, f"missing {node.type!r} in: {context[:100]}"))
            return
        if node.is_error:
            snippet = _text(node).strip().splitlines()
            found.append((row + 1, col + 1, (snippet[0] if snippet else "")[:100]))
            return
        if node.has_error:
            for child in node.children:
                visit(child)

    visit(parse_bytes(source).root_node)
    return found


# --------------------------------------------------------------------------- helpers over the tree


def short_address(address: str) -> str:
    """``0x00…01`` -> ``0x1``; a named address is returned unchanged."""
    text = address.strip()
    if text[:2].lower() == "0x":
        digits = text[2:].lower().lstrip("0")
        return "0x" + (digits or "0")
    return text


def _parse_int(text: str) -> int | None:
    digits = text.replace("_", "")
    try:
        return int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits, 10)
    except ValueError:
        return None


def _literal_int(node: tree_sitter.Node | None) -> int | None:
    """The integer of a literal expression (``3``, ``0x3``, ``3u64``), or None."""
    while node is not None and node.type in ("expr_term", "value", "typed_number") and node.named_child_count:
        node = node.named_children[0]
    if node is None or node.type != "number":
        return None
    return _parse_int(_text(node))


def _name_parts(chain: tree_sitter.Node) -> list[str]:
    """Segments of a ``name_access_chain`` (``pictor::vault::E_X`` -> [pictor, vault, E_X])."""
    return [_text(child) for child in chain.named_children if child.type in _NAME_PARTS]


def _attributes(decl: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The top-level ``attribute`` nodes of a declaration (``#[a, b] #[c]`` -> a, b, c)."""
    out: list[tree_sitter.Node] = []
    for child in decl.children:
        if child.type == "attributes":
            out.extend(c for c in child.named_children if c.type == "attribute")
    return out


def _attribute_name(attr: tree_sitter.Node) -> str:
    return "::".join(_text(c) for i, c in enumerate(attr.children) if attr.field_name_for_child(i) == "attr_path")


def _attribute_names(decl: tree_sitter.Node) -> set[str]:
    return {_attribute_name(a) for a in _attributes(decl)}


def _doc_text(comment: tree_sitter.Node) -> str | None:
    """The text of a ``///`` or ``/** */`` doc comment, or None for an ordinary comment."""
    doc = next((c for c in comment.named_children if c.type == "doc_comment"), None)
    if doc is None:
        return None
    lines = [line.strip() for line in _text(doc).splitlines()]
    if comment.type == "block_comment":
        lines = [line[1:].strip() if line.startswith("*") else line for line in lines]
    return "\n".join(line for line in lines if line)


def _doc_before(decl: tree_sitter.Node, item: tree_sitter.Node) -> str:
    """Doc comments between the previous declaration and ``item`` (as the Move compiler attaches them)."""
    comments: list[tree_sitter.Node] = []
    prev = decl.prev_sibling
    while prev is not None and prev.type in _COMMENTS:
        comments.insert(0, prev)
        prev = prev.prev_sibling
    comments.extend(c for c in decl.children if c.type in _COMMENTS and c.start_byte < item.start_byte)
    texts = [t for t in (_doc_text(c) for c in comments) if t]
    return "\n".join(texts)


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


# --------------------------------------------------------------------------- module reader


class _ModuleReader:
    """Reads one ``module`` node; knows its address, ``use`` aliases and own struct names."""

    def __init__(self, node: tree_sitter.Node, address: str, path: Path, addresses: dict[str, str]) -> None:
        self.node = node
        self.path = path
        self.addresses = addresses
        self.address = self.resolve_address(address)
        self.name = _text(node.child_by_field_name("name"))
        self.declarations = [c for c in node.children if c.type == "declaration"]
        self.module_aliases: dict[str, str] = {"Self": f"{self.address}::{self.name}"}
        self.member_aliases: dict[str, str] = {}
        self.own_types: set[str] = set()
        for decl in self.declarations:
            for child in decl.named_children:
                if child.type == "use_decl":
                    self._read_use(child)
                elif child.type in ("struct_decl", "enum_decl"):
                    name = child.child_by_field_name("name")
                    if name is not None:
                        self.own_types.add(_text(name))

    # ----- names

    def resolve_address(self, text: str) -> str:
        """A named or numerical address in short form (``pictor`` -> the package address)."""
        return short_address(self.addresses.get(text, text))

    def _read_use(self, use: tree_sitter.Node) -> None:
        ident = use.child_by_field_name("path")
        if ident is None:
            return
        parts = _name_parts(ident)
        module_name = _text(ident.child_by_field_name("module_name"))
        address = self.resolve_address(parts[0]) if len(parts) > 1 else parts[0]
        qualified = f"{address}::{module_name}"
        members = [c for c in use.named_children if c.type == "member"]
        if not members:
            alias = next((c for c in use.named_children if c.type == "alias"), None)
            self.module_aliases[_text(alias) if alias is not None else module_name] = qualified
            return
        for member in members:
            ident_node = next(c for c in member.named_children if c.type == "identifier")
            alias = next((c for c in member.named_children if c.type == "alias"), None)
            name = _text(ident_node)
            local = _text(alias) if alias is not None else (module_name if name == "Self" else name)
            if name == "Self":
                self.module_aliases[local] = qualified
            else:
                self.member_aliases[local] = f"{qualified}::{name}"

    def resolve_module(self, parts: list[str]) -> str | None:
        """``[pictor, vault]`` / ``[vault]`` (alias) / ``[Self]`` -> ``address::module``."""
        if len(parts) == 2:
            return f"{self.resolve_address(parts[0])}::{parts[1]}"
        if len(parts) == 1:
            return self.module_aliases.get(parts[0])
        return None

    def resolve_type_name(self, parts: list[str]) -> str:
        """A struct name as written in a type -> its fully-qualified form (type parameters unchanged)."""
        if len(parts) == 1:
            (name,) = parts
            if name in self.member_aliases:
                return self.member_aliases[name]
            if name in self.own_types:
                return f"{self.address}::{self.name}::{name}"
            return name
        if len(parts) == 2:
            module = self.module_aliases.get(parts[0])
            return f"{module}::{parts[1]}" if module else "::".join(parts)
        return "::".join([self.resolve_address(parts[0]), *parts[1:]])

    def render_type(self, node: tree_sitter.Node) -> str:
        """Type text without whitespace, struct names fully qualified (``&mut T`` keeps its one space)."""
        if node.type in _COMMENTS:
            return ""
        if node.type == "name_access_chain":
            return self.resolve_type_name(_name_parts(node))
        if node.child_count == 0:
            text = _text(node).strip()
            return "&mut " if text == "&mut" else text
        return "".join(self.render_type(child) for child in node.children)

    # ----- declarations

    def _type_child(self, node: tree_sitter.Node) -> tree_sitter.Node | None:
        return next((c for c in node.named_children if c.type == "type"), None)

    def _params(self, fun: tree_sitter.Node) -> list[Param]:
        params = fun.child_by_field_name("parameters")
        out: list[Param] = []
        if params is None:
            return out
        for param in params.named_children:
            if param.type != "parameter":
                continue
            var = param.child_by_field_name("variable")
            type_node = self._type_child(param)
            out.append(Param(_text(var) if var else "", self.render_type(type_node) if type_node else ""))
        return out

    def _returns(self, fun: tree_sitter.Node) -> tuple[str, ...]:
        ret = fun.child_by_field_name("return_type")
        if ret is None:
            return ()
        inner = ret.named_children[0] if ret.named_child_count == 1 else None
        if inner is not None and inner.type == "tuple_type":
            return tuple(self.render_type(t) for t in inner.named_children if t.type == "type")
        return (self.render_type(ret),)

    def _function(self, decl: tree_sitter.Node, fun: tree_sitter.Node, *, drop_signers: bool) -> MoveFunction:
        params = self._params(fun)
        signers = 0
        if drop_signers:
            while params and params[0].type in ("&signer", "signer"):
                params.pop(0)
                signers += 1
        visibility = "private"
        for mod in decl.named_children:
            if mod.type == "module_member_modifier":
                vis = next((c for c in mod.named_children if c.type == "visibility"), None)
                if vis is not None:
                    visibility = "".join(_text(t) for t in vis.children)
        type_params = next((c for c in fun.named_children if c.type == "type_params"), None)
        count = sum(1 for c in type_params.named_children if c.type == "type_param") if type_params else 0
        name = _text(fun.child_by_field_name("name"))
        return MoveFunction(name, tuple(params), self._returns(fun), visibility, count, _line(fun), signers)

    def _is_entry(self, decl: tree_sitter.Node) -> bool:
        return any(m.type == "module_member_modifier" and _text(m) == "entry" for m in decl.named_children)

    def _event(self, struct: tree_sitter.Node) -> MoveEvent:
        body = next((c for c in struct.named_children if c.type == "body"), None)
        fields: list[Param] = []
        if body is not None:
            for annot in body.named_children:
                if annot.type != "field_annot":
                    continue
                type_node = self._type_child(annot)
                fields.append(
                    Param(_text(annot.child_by_field_name("field")), self.render_type(type_node) if type_node else "")
                )
        return MoveEvent(_text(struct.child_by_field_name("name")), tuple(fields), _line(struct))

    def _is_test_code(self, decl: tree_sitter.Node) -> bool:
        names = _attribute_names(decl)
        return bool(names & {"test", "test_only"}) or any(
            c.type in ("spec_block", "spec_invariant", "spec_func") for c in decl.named_children
        )

    def _constant_uses(self) -> dict[str, int]:
        """How often each constant name is referenced in the module's non-test, non-spec code."""
        uses: dict[str, int] = {}
        own = f"{self.address}::{self.name}"
        for decl in self.declarations:
            if self._is_test_code(decl):
                continue
            for node in _walk(decl):
                if node.type != "name_access_chain" or (node.parent is not None and node.parent.type == "attribute"):
                    continue
                parts = _name_parts(node)
                if len(parts) == 1 or (len(parts) >= 2 and self.resolve_module(parts[:-1]) == own):
                    uses[parts[-1]] = uses.get(parts[-1], 0) + 1
        return uses

    def _expected_failures(self, decl: tree_sitter.Node, fun_name: str) -> list[ExpectedFailure]:
        out: list[ExpectedFailure] = []
        for attr in _attributes(decl):
            if _attribute_name(attr) != "expected_failure":
                continue
            args = {
                _attribute_name(a): a.child_by_field_name("value") for a in attr.named_children if a.type == "attribute"
            }
            location = module_name = None
            loc = args.get("location")
            if loc is not None and loc.type == "name_access_chain":
                location = self.resolve_module(_name_parts(loc))
                module_name = location.rsplit("::", 1)[-1] if location else None
            code = constant = constant_module = None
            value = args.get("abort_code")
            if value is not None and value.type == "name_access_chain":
                parts = _name_parts(value)
                constant = parts[-1]
                owner = self.resolve_module(parts[:-1]) if len(parts) > 1 else f"{self.address}::{self.name}"
                constant_module = owner.rsplit("::", 1)[-1] if owner else None
            elif value is not None:
                code = _literal_int(value)
            out.append(
                ExpectedFailure(
                    self.path, _line(attr), fun_name, location, module_name, code, constant, constant_module
                )
            )
        return out

    def read(self) -> MoveModule:
        """Collect the module's entry functions, views, events, abort codes and expected failures."""
        module = MoveModule(
            self.address,
            self.name,
            self.path,
            _line(self.node),
            test_only=False,
        )
        uses = self._constant_uses()
        for decl in self.declarations:
            attrs = _attribute_names(decl)
            for item in decl.named_children:
                if item.type == "function_decl":
                    name = _text(item.child_by_field_name("name"))
                    if self._is_entry(decl):
                        module.entry_functions[name] = self._function(decl, item, drop_signers=True)
                    if "view" in attrs:
                        module.views[name] = self._function(decl, item, drop_signers=False)
                    module.expected_failures.extend(self._expected_failures(decl, name))
                elif item.type == "struct_decl" and "event" in attrs:
                    event = self._event(item)
                    module.events[event.name] = event
                elif item.type == "constant_decl":
                    name = _text(item.child_by_field_name("name"))
                    type_node = item.child_by_field_name("type")
                    if not name.startswith("E_") or type_node is None or self.render_type(type_node) != "u64":
                        continue
                    module.abort_codes[name] = AbortCode(
                        name,
                        _literal_int(item.child_by_field_name("value")),
                        _doc_before(decl, item),
                        _line(item),
                        uses.get(name, 0),
                    )
        return module


def _module_nodes(root: tree_sitter.Node) -> Iterator[tuple[tree_sitter.Node, str, bool]]:
    """(module node, its address text, test_only) for ``module a::m`` and ``address a { module m }``."""
    pending_attrs: set[str] = set()
    for child in root.children:
        if child.type == "attributes":
            pending_attrs = {_attribute_name(a) for a in child.named_children if a.type == "attribute"}
            continue
        if child.type == "module":
            path = child.child_by_field_name("path")
            yield child, _text(path) if path is not None else "", "test_only" in pending_attrs
        elif child.type == "address_block":
            address = next((c for c in child.named_children if c.type in ("identifier", "numerical_addr")), None)
            inner_attrs: set[str] = set()
            for sub in child.children:
                if sub.type == "attributes":
                    inner_attrs = {_attribute_name(a) for a in sub.named_children if a.type == "attribute"}
                elif sub.type == "module":
                    yield sub, _text(address) if address is not None else "", "test_only" in inner_attrs
                    inner_attrs = set()
        if child.type not in _COMMENTS:
            pending_attrs = set()


def read_modules(path: str | Path, package_address: str = PACKAGE_NAMED_ADDRESS) -> list[MoveModule]:
    """Every module of one ``.move`` file."""
    path = Path(path)
    addresses = {**FRAMEWORK_ADDRESSES, PACKAGE_NAMED_ADDRESS: package_address}
    root = parse_bytes(path.read_bytes()).root_node
    modules = []
    for node, address, test_only in _module_nodes(root):
        module = _ModuleReader(node, address, path, addresses).read()
        module.test_only = test_only
        modules.append(module)
    return modules


def move_files(root: str | Path) -> list[Path]:
    """Every ``.move`` file under ``root``, sorted."""
    return sorted(Path(root).rglob("*.move"))


def read_package(package_dir: str | Path, package_address: str = PACKAGE_NAMED_ADDRESS) -> dict[str, MoveModule]:
    """The package's non-test modules from ``sources/``, by module name (ValueError on a duplicate name)."""
    modules: dict[str, MoveModule] = {}
    for path in move_files(Path(package_dir) / "sources"):
        for module in read_modules(path, package_address):
            if module.test_only:
                continue
            if module.name in modules:
                raise ValueError(f"module {module.name} is declared in {modules[module.name].path} and {path}")
            modules[module.name] = module
    return modules


def expected_failures(
    paths: Iterable[str | Path], package_address: str = PACKAGE_NAMED_ADDRESS
) -> list[ExpectedFailure]:
    """Every ``#[expected_failure]`` in the given files."""
    out: list[ExpectedFailure] = []
    for path in paths:
        for module in read_modules(path, package_address):
            out.extend(module.expected_failures)
    return out
