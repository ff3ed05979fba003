"""Parity between the Move package (read from chain/move) and the localnet VM's Python registry.

Everything is read from the code: entry functions, views, events and abort codes from the Move sources
with tree-sitter-move, and their counterparts from the registries of ``chain.localnet.vm.core`` after
importing ``chain.localnet.vm.pictor``. Each test lists every mismatch it finds at once.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support import REPO_ROOT
from tests.support.move_source import MoveModule, expected_failures, move_files, read_package, short_address

ROOT = REPO_ROOT
MOVE_DIR = ROOT / "chain" / "move"

_TYPE_ADDRESS = re.compile(r"0x[0-9a-fA-F]+(?=::)")


def canon_type(move_type: str) -> str:
    """A type string without whitespace and with every address in short form, for comparison."""
    return _TYPE_ADDRESS.sub(lambda m: short_address(m.group()), "".join(move_type.split()))


def types(items: Any) -> str:
    """``(u64, address)`` for messages."""
    return "(" + ", ".join(items) + ")"


def fail(title: str, problems: list[str]) -> None:
    """Fail with every problem on its own line."""
    if problems:
        pytest.fail(f"{len(problems)} {title}:\n  " + "\n  ".join(problems), pytrace=False)


@dataclass
class Sides:
    """The Move package and the VM registries, both keyed the same way."""

    address: str  # package address, short form
    move: dict[str, MoveModule]
    core: ModuleType


@pytest.fixture(scope="module")
def sides() -> Sides:
    core = importlib.import_module("chain.localnet.vm.core")
    vm_pictor = importlib.import_module("chain.localnet.vm.pictor")
    address = getattr(vm_pictor, "PICTOR", None)
    if address is None:
        found = {
            item.address
            for registry in (core.ENTRY_FUNCTIONS, core.VIEW_FUNCTIONS, core.EVENT_TYPES, core.ERROR_SETS)
            for item in registry.values()
            if item.address != core.FRAMEWORK
        }
        assert len(found) == 1, f"cannot tell the pictor package address from the VM registry: {sorted(found)}"
        (address,) = found
    short = short_address(core.norm_addr(address))
    return Sides(short, read_package(MOVE_DIR, package_address=short), core)


def _is_pictor(sides: Sides, item: Any) -> bool:
    return short_address(item.address) == sides.address


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _where(module: MoveModule, line: int) -> str:
    return f"{_rel(module.path)}:{line}"


def _compare_presence(kind: str, move_keys: dict[tuple[str, str], str], vm_keys: set[tuple[str, str]]) -> list[str]:
    problems = [
        f"{kind} {mod}::{name}: in Move ({where}), missing from the localnet VM"
        for (mod, name), where in sorted(move_keys.items())
        if (mod, name) not in vm_keys
    ]
    problems += [
        f"{kind} {mod}::{name}: in the localnet VM, not in the Move sources"
        for mod, name in sorted(vm_keys - set(move_keys))
    ]
    return problems


def test_move_package_is_read(sides: Sides):
    assert sides.move, f"no Move module found under {MOVE_DIR / 'sources'}"


def test_entry_functions(sides: Sides):
    move = {(m.name, f.name): (m, f) for m in sides.move.values() for f in m.entry_functions.values()}
    vm = {(f.module, f.name): f for f in sides.core.ENTRY_FUNCTIONS.values() if _is_pictor(sides, f)}
    problems = _compare_presence("entry", {k: _where(m, f.line) for k, (m, f) in move.items()}, set(vm))
    for key in sorted(set(move) & set(vm)):
        module, fn = move[key]
        py = vm[key]
        move_params = [canon_type(t) for t in fn.param_types]
        vm_params = [canon_type(t) for t in py.params]
        where = f"entry {key[0]}::{key[1]} ({_where(module, fn.line)})"
        if move_params != vm_params:
            problems.append(f"{where}: parameter types differ: Move {types(move_params)} vs VM {types(vm_params)}")
        if fn.type_params != py.type_params:
            problems.append(f"{where}: {fn.type_params} type parameter(s) in Move, {py.type_params} in the VM")
        if fn.signers != py.signers:
            problems.append(f"{where}: {fn.signers} &signer parameter(s) in Move, {py.signers} in the VM")
    fail("entry function mismatch(es) between Move and the localnet VM", problems)


def test_view_functions(sides: Sides):
    move = {(m.name, f.name): (m, f) for m in sides.move.values() for f in m.views.values()}
    vm = {(f.module, f.name): f for f in sides.core.VIEW_FUNCTIONS.values() if _is_pictor(sides, f)}
    problems = _compare_presence("view", {k: _where(m, f.line) for k, (m, f) in move.items()}, set(vm))
    for key in sorted(set(move) & set(vm)):
        module, fn = move[key]
        py = vm[key]
        where = f"view {key[0]}::{key[1]} ({_where(module, fn.line)})"
        move_params = [canon_type(t) for t in fn.param_types]
        vm_params = [canon_type(t) for t in py.params]
        if move_params != vm_params:
            problems.append(f"{where}: parameter types differ: Move {types(move_params)} vs VM {types(vm_params)}")
        move_returns = [canon_type(t) for t in fn.returns]
        vm_returns = [canon_type(t) for t in py.returns]
        if move_returns != vm_returns:
            problems.append(f"{where}: return types differ: Move {types(move_returns)} vs VM {types(vm_returns)}")
        if fn.type_params != py.type_params:
            problems.append(f"{where}: {fn.type_params} type parameter(s) in Move, {py.type_params} in the VM")
    fail("view function mismatch(es) between Move and the localnet VM", problems)


def test_events(sides: Sides):
    move = {(m.name, e.name): (m, e) for m in sides.move.values() for e in m.events.values()}
    vm = {(e.module, e.name): e for e in sides.core.EVENT_TYPES.values() if _is_pictor(sides, e)}
    problems = _compare_presence("event", {k: _where(m, e.line) for k, (m, e) in move.items()}, set(vm))
    for key in sorted(set(move) & set(vm)):
        module, event = move[key]
        move_fields = [f"{f.name}: {canon_type(f.type)}" for f in event.fields]
        vm_fields = [f"{name}: {canon_type(t)}" for name, t in vm[key].fields]
        if move_fields != vm_fields:
            problems.append(
                f"event {key[0]}::{key[1]} ({_where(module, event.line)}): fields differ:"
                f" Move {{{', '.join(move_fields)}}} vs VM {{{', '.join(vm_fields)}}}"
            )
    fail("event mismatch(es) between Move and the localnet VM", problems)


def test_abort_codes(sides: Sides):
    move = {(m.name, a.name): (m, a) for m in sides.move.values() for a in m.abort_codes.values()}
    vm: dict[tuple[str, str], tuple[int, str]] = {}
    for errors in sides.core.ERROR_SETS.values():
        if _is_pictor(sides, errors):
            for name, value in errors.codes.items():
                vm[(errors.module, name)] = value
    problems = _compare_presence("abort", {k: _where(m, a.line) for k, (m, a) in move.items()}, set(vm))
    for key in sorted(set(move) & set(vm)):
        module, abort = move[key]
        code, description = vm[key]
        where = f"abort {key[0]}::{key[1]} ({_where(module, abort.line)})"
        if abort.code != code:
            problems.append(f"{where}: code {abort.code} in Move, {code} in the VM")
        if abort.description != description:
            problems.append(f"{where}: description {abort.description!r} in Move, {description!r} in the VM")
    fail("abort code mismatch(es) between Move and the localnet VM", problems)


def test_abort_codes_are_literals_with_descriptions(sides: Sides):
    problems = []
    for module in sides.move.values():
        for abort in module.abort_codes.values():
            where = f"{module.name}::{abort.name} ({_where(module, abort.line)})"
            if abort.code is None:
                problems.append(f"{where}: value is not an integer literal")
            if not abort.description:
                problems.append(f"{where}: has no /// doc comment (its vm_status description)")
        seen: dict[int, str] = {}
        for abort in module.abort_codes.values():
            if abort.code is None:
                continue
            if abort.code in seen:
                problems.append(f"{module.name}: {abort.name} and {seen[abort.code]} share code {abort.code}")
            seen.setdefault(abort.code, abort.name)
    fail("malformed abort constant(s)", problems)


def test_every_abort_code_is_used(sides: Sides):
    problems = [
        f"{module.name}::{abort.name} ({_where(module, abort.line)}) is declared but never used in the module's code"
        for module in sorted(sides.move.values(), key=lambda m: m.name)
        for abort in module.abort_codes.values()
        if abort.uses == 0
    ]
    fail("unused abort code(s)", problems)


def test_move_unit_tests_expect_every_abort(sides: Sides):
    """Each abort constant appears in some ``#[expected_failure(abort_code = …, location = pictor::module)]``."""
    failures = expected_failures(move_files(MOVE_DIR), package_address=sides.address)
    covered: set[tuple[str, str]] = set()
    problems = []
    unknown_locations: dict[str, int] = {}
    for ef in failures:
        if ef.location is None or not ef.location.startswith(f"{sides.address}::"):
            continue  # framework aborts, or no location given
        where = f"{_rel(ef.path)}:{ef.line} ({ef.function})"
        module = sides.move.get(ef.location_module or "")
        if module is None:
            unknown_locations[str(ef.location_module)] = unknown_locations.get(str(ef.location_module), 0) + 1
            continue
        if ef.constant is not None:
            owner = ef.constant_module or module.name
            if owner != module.name:
                problems.append(f"{where}: abort_code {owner}::{ef.constant} with location pictor::{module.name}")
            if ef.constant not in sides.move.get(owner, module).abort_codes:
                problems.append(f"{where}: {owner}::{ef.constant} is not an abort constant")
                continue
            covered.add((owner, ef.constant))
        elif ef.abort_code is not None:
            names = [a.name for a in module.abort_codes.values() if a.code == ef.abort_code]
            if not names:
                problems.append(f"{where}: pictor::{module.name} has no abort code {ef.abort_code}")
            covered.update((module.name, name) for name in names)
    missing = [
        f"{module.name}::{abort.name} ({abort.code}) has no expected_failure(abort_code = {abort.code},"
        f" location = pictor::{module.name}) test"
        for module in sorted(sides.move.values(), key=lambda m: m.name)
        for abort in module.abort_codes.values()
        if (module.name, abort.name) not in covered
    ]
    problems += [
        f"{count} expected_failure(s) name location = pictor::{name}, which is not a module of the package"
        for name, count in sorted(unknown_locations.items())
    ]
    fail("abort-code coverage problem(s) in the Move unit tests", missing + problems)
