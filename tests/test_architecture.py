"""The layout the architecture is read from: the import contract, no module-level import cycle, no unexplained
lazy import, small rooms, one writer of task/frame/job statuses, a README map per package."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

PACKAGES = (
    "pictor", "chain", "protocol", "blender", "tables", "indexer", "rewards", "api",
    "worker_node", "checker_node", "creator", "cli", "bench",
)  # fmt: skip
MAX_LINES = 800


def source_files() -> Iterator[Path]:
    """Every Python file of the project's packages (tests and migrations are not packages)."""
    for package in PACKAGES:
        yield from sorted((REPO_ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    """``api/routes/jobs.py`` → ``api.routes.jobs``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module a ``from … import`` names."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def test_the_import_contract_holds() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(linter), "--no-cache", "--no-logo", "--config", "pyproject.toml"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "BROKEN" not in run.stdout and "KEPT" in run.stdout


def _module_level_imports() -> dict[str, set[str]]:
    """Module → the project modules it imports at module level (a function's own imports excluded)."""
    modules = {module_name(p): p for p in source_files()}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        targets: set[str] = set()
        nodes = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        for block in (n for n in tree.body if isinstance(n, (ast.If, ast.Try))):
            nodes += [n for n in ast.walk(block) if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in nodes:
            if isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                base = resolve(name, node, path.name == "__init__.py")
                # ``from pkg import sub`` imports the submodule; ``from pkg import name`` imports the package
                candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for candidate in candidates:
                while candidate and candidate not in modules:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name:
                    targets.add(candidate)
        edges[name] = targets
    return edges


def test_no_module_level_import_cycle() -> None:
    edges = _module_level_imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for vertex in edges:
        if vertex not in index:
            visit(vertex)
    assert not cycles, f"module-level import cycles: {cycles}"


def _says_why(comment: str) -> bool:
    """Whether a comment gives a reason (a few words besides a ``noqa`` code)."""
    reason = re.sub(r"^\s*noqa(:\s*[A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)*)?", "", comment).strip(" -:—")
    return len(reason.split()) >= 2


def _lazy_imports(path: Path) -> Iterator[tuple[int, bool]]:
    """(line, explained) of every import inside a function: explained when a comment on its line or the line
    above says why it is lazy."""
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                own = lines[node.lineno - 1 : node.end_lineno]
                above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                explained = any(_says_why(line.split("#", 1)[1]) for line in own if "#" in line) or (
                    above.startswith("#") and _says_why(above[1:])
                )
                yield node.lineno, explained


def test_every_lazy_import_says_why() -> None:
    unexplained = [
        f"{path.relative_to(REPO_ROOT)}:{line}"
        for path in source_files()
        for line, explained in _lazy_imports(path)
        if not explained
    ]
    assert not unexplained, f"imports inside functions without a comment saying why they are lazy: {unexplained}"


def test_no_source_file_is_over_800_lines() -> None:
    big = {str(p.relative_to(REPO_ROOT)): n for p in source_files() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"split these by job: {big}"


#: A write of a task, frame or job status outside the state machine (SQLAlchemy or SQL).
STATE_WRITE = re.compile(
    r"update\((?:tasks|frames|jobs)\)[^;]*?\.values\([^)]*\bstate\s*=|UPDATE api\.(?:tasks|frames|jobs)\b[^;]*?\bSET\b[^;]*?\bstate\s*=",
    re.S,
)


@pytest.mark.parametrize("package", ["api", "rewards", "indexer", "cli", "pictor", "protocol", "blender"])
def test_statuses_change_only_in_the_state_machine(package: str) -> None:
    writers = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if STATE_WRITE.search(path.read_text())
    ]
    assert not writers, f"task, frame or job statuses written outside tables/state_machine.py: {writers}"


def test_the_state_machine_pattern_finds_a_status_write() -> None:
    assert STATE_WRITE.search('conn.execute(update(tasks).where(tasks.c.task_id == 1).values(state="queued"))')
    assert STATE_WRITE.search("UPDATE api.frames SET state = 'rendered' WHERE job_id = 1")
    assert not STATE_WRITE.search("conn.execute(update(tasks).values(lease_deadline=None))")


def test_each_package_has_a_readme_map_without_history() -> None:
    missing = [p for p in PACKAGES if not (REPO_ROOT / p / "README.md").exists()]
    assert not missing, f"packages without a README.md: {missing}"
    diary = re.compile(r"\bissue #?\d+|\(#\d+\)|load average", re.I)
    noisy = [p for p in [*PACKAGES, "migrations", "tests"] if (readme := REPO_ROOT / p / "README.md").exists()
             and diary.search(readme.read_text())]  # fmt: skip
    assert not noisy, f"READMEs with issue numbers or history: {noisy}"


def test_tests_do_not_edit_the_import_path() -> None:
    edits = [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "tests").rglob("*.py")
             if "sys.path.insert" in p.read_text() and p.name != Path(__file__).name]  # fmt: skip
    assert not edits, f"import shared helpers from tests.support instead: {edits}"
