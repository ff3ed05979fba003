"""The Move sources parse cleanly with tree-sitter-move, the package has SPEC.md's modules, and every abort has a client error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.errors import MoveAbortError
from tests.support import REPO_ROOT
from tests.support.move_source import MoveModule, move_files, parse_errors, read_package, short_address

ROOT = REPO_ROOT
MOVE_DIR = ROOT / "chain" / "move"
SPEC = ROOT / "chain" / "SPEC.md"
MOVE_FILES = move_files(MOVE_DIR)


def spec_modules() -> list[str]:
    """The module names of SPEC.md: its level-2 headings that are a single Move identifier."""
    return [m.group(1) for m in re.finditer(r"^## ([a-z_][a-z0-9_]*)\s*$", SPEC.read_text(), re.M)]


@pytest.fixture(scope="module")
def package() -> dict[str, MoveModule]:
    return read_package(MOVE_DIR)


def test_move_sources_exist():
    sources = [p for p in MOVE_FILES if p.is_relative_to(MOVE_DIR / "sources")]
    assert sources, f"no .move file under {MOVE_DIR / 'sources'}"


@pytest.mark.parametrize("path", MOVE_FILES, ids=lambda p: str(p.relative_to(MOVE_DIR)))
def test_move_file_parses(path: Path):
    errors = parse_errors(path)
    if errors:
        rel = path.relative_to(ROOT)
        lines = [f"{rel}:{line}:{col}: {snippet}" for line, col, snippet in errors]
        pytest.fail(f"{len(errors)} syntax error(s) (ERROR/MISSING nodes):\n" + "\n".join(lines), pytrace=False)


def test_spec_lists_eight_modules():
    assert sorted(spec_modules()) == sorted(
        ["config", "token", "vault", "registry", "staking", "escrow", "attestation", "rewards"]
    )


def test_package_has_the_spec_modules(package: dict[str, MoveModule]):
    expected = set(spec_modules())
    problems = [
        f"module {name} of SPEC.md is missing from chain/move/sources" for name in sorted(expected - set(package))
    ]
    problems += [
        f"module {name} ({package[name].path.relative_to(ROOT)}) is not in SPEC.md"
        for name in sorted(set(package) - expected)
    ]
    problems += [
        f"module {m.qualified_name} ({m.path.relative_to(ROOT)}) should be declared as pictor::{m.name}"
        for m in package.values()
        if m.address != "pictor"
    ]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_client_errors_cover_every_abort(package: dict[str, MoveModule]):
    """Every pictor abort parsed from Move maps to its own named class in chain.errors, with its code and text."""

    address = short_address(LOCALNET_PACKAGE_ADDRESS)
    aborts = [(m, a) for m in package.values() for a in m.abort_codes.values()]
    assert aborts, "no abort codes parsed from chain/move/sources"
    problems = []
    for module, abort in sorted(aborts, key=lambda ma: (ma[0].name, ma[1].code or 0)):
        where = f"{module.name}::{abort.name}"
        code = abort.code if abort.code is not None else 0
        vm_status = f"Move abort in {address}::{module.name}: {abort.name}({code:#x}): {abort.description}"
        error = MoveAbortError.from_vm_status(vm_status)
        if error is None or type(error).__name__ == "MoveAbortError":
            problems.append(f"{where}: no named exception class (from_vm_status gave {type(error).__name__})")
            continue
        cls = type(error)
        if getattr(cls, "CODE", None) not in (None, abort.code):
            problems.append(f"{where}: {cls.__name__}.CODE is {cls.CODE}, Move says {abort.code}")
        if getattr(cls, "DESCRIPTION", None) not in (None, abort.description):
            problems.append(
                f"{where}: {cls.__name__}.DESCRIPTION is {cls.DESCRIPTION!r}, Move says {abort.description!r}"
            )
        if (getattr(error, "module", module.name), getattr(error, "reason", abort.name)) != (module.name, abort.name):
            problems.append(f"{where}: parsed as {error.module}::{error.reason}")
    if problems:
        pytest.fail(
            f"{len(problems)} abort(s) without a matching chain.errors class:\n" + "\n".join(problems), pytrace=False
        )
