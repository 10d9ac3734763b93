"""The house rules of docs/architecture.md, checked on the source: layers, imports, function length.

Parses every module with `ast` (imports inside functions count too), so a rule broken anywhere fails
here with the file and line, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from indexer.config import PROJECT_ROOT

RUNTIME_LIMIT, TEST_LIMIT = 60, 80  # lines per function, decorators included


def _modules(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (PROJECT_ROOT / root).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names] + [(node.lineno, base)]
    return out


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{p.relative_to(PROJECT_ROOT)}:{line} imports {name}"
        for p in paths
        for line, name in _imports(p)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def _runtime() -> list[Path]:
    tools = PROJECT_ROOT / "indexer" / "tools"
    return [p for p in _modules("indexer") if tools not in p.parents]


def test_runtime_never_imports_the_tools():
    assert _violations(_runtime() + _modules("search_app"), ("indexer.tools",)) == []


def test_runtime_indexer_never_imports_the_web_app():
    """search_app builds on indexer, never the reverse (the tools, on top of both, may use either)."""
    assert _violations(_runtime(), ("search_app", "flask", "werkzeug")) == []


def test_test_modules_import_only_support_code():
    """Shared test code lives in tests/support; no test module imports another, nor conftest."""
    bad = [
        v
        for v in _violations(_modules("tests"), ("tests",))
        if not v.split(" imports ")[1].startswith("tests.support")
    ]
    assert bad == []


def test_conftest_holds_fixtures_only():
    for path in (PROJECT_ROOT / "tests").rglob("conftest.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                is_fixture = any("fixture" in ast.unparse(d) for d in getattr(node, "decorator_list", []))
                assert is_fixture, f"{path.relative_to(PROJECT_ROOT)}: {node.name} is not a fixture"
            else:
                assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)), (
                    f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: only imports and fixtures belong in conftest.py"
                )


ENTRY_POINTS = {"main", "create_app", "_settings", "_parse_args"}  # where Settings.from_env may be called


def _calls_outside_entry_points(paths: list[Path], wanted) -> list[str]:
    """`file:line in function` of every call `wanted(call)` accepts, made outside an entry-point function."""
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            if func.name in ENTRY_POINTS:
                continue
            nested = [f for f in ast.walk(func) if f is not func and isinstance(f, ast.FunctionDef)]
            inner = {id(n) for f in nested for n in ast.walk(f)}
            found += [
                f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} in {func.name}"
                for node in ast.walk(func)
                if id(node) not in inner and isinstance(node, ast.Call) and wanted(node)
            ]
    return sorted(set(found))


def _reads_environment(call: ast.Call) -> bool:
    """Settings.from_env() without an explicit env (with one, only defaults and overrides count)."""
    explicit = call.args or any(kw.arg == "env" for kw in call.keywords)
    return ast.unparse(call.func).endswith("Settings.from_env") and not explicit


def _sets_environment(call: ast.Call) -> bool:
    return ast.unparse(call.func) in ("os.environ.setdefault", "os.environ.update", "os.putenv")


def test_settings_and_environment_are_read_and_set_at_entry_points_only():
    """Library code gets its Settings passed down; only main()-like functions read or set the environment."""
    code = _modules("indexer", "search_app")
    assert _calls_outside_entry_points(code, _reads_environment) == []
    assert _calls_outside_entry_points(code, _sets_environment) == []


def test_tests_never_read_the_outer_environment():
    """Settings in tests come from tests/support/settings.test_settings(); a from_env call must pass its env."""
    bad = []
    for path in _modules("tests"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func).endswith("from_env")
                and not node.args
                and not any(kw.arg == "env" for kw in node.keywords)
            ):
                bad.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert bad == [], "use test_settings(...) instead of Settings.from_env(...)"


def longest_functions(paths: list[Path], n: int = 5) -> list[tuple[int, str]]:
    """The n longest functions (lines, decorators included) as (lines, "file:line name")."""
    rows = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name}"
                rows.append((node.end_lineno - start + 1, where))
    return sorted(rows, reverse=True)[:n]


longest_functions.__test__ = False


@pytest.mark.parametrize(
    ("roots", "limit"), [(("indexer", "search_app"), RUNTIME_LIMIT), (("tests",), TEST_LIMIT)], ids=["code", "tests"]
)
def test_functions_are_short(roots, limit):
    top = longest_functions(_modules(*roots))
    print(f"\nlongest functions in {', '.join(roots)} (limit {limit}):")
    for lines, where in top:
        print(f"  {lines:4d}  {where}")
    assert top[0][0] <= limit, f"{top[0][1]} has {top[0][0]} lines; the limit is {limit}"
