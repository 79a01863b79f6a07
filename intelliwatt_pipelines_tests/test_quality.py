"""Quality gates run by the test command: ruff (imports sorted, bug-prone patterns, complexity),
module and function size. A gate that cannot fail is a defect, so each one is also shown failing."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 300  # package and benchmark modules; test modules are lists of cases
MAX_FUNCTION_LINES = 60
LONG_REASON = "Long because"  # a longer function says why in its docstring


def _python_files(*folders: str) -> list[pathlib.Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def _ruff(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_ruff_passes():
    result = _ruff(".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_fails_on_unsorted_imports_a_likely_bug_and_a_tangled_function(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(12))
    (tmp_path / "bad.py").write_text(
        "import sys\nimport os\n\n\n"
        f"def tangled(x):\n{branches}\n    return os, sys\n\n\n"
        "def default(x=[]):\n    return zip(x, x)\n")
    out = _ruff("--select", "I,B,C90", "bad.py", cwd=tmp_path).stdout
    for rule in ("I001", "B006", "B905", "C901"):
        assert rule in out, out


def _long_functions(path: pathlib.Path) -> list[str]:
    """Functions over the limit whose docstring gives no reason, as 'name:line (n lines)'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES and LONG_REASON not in (ast.get_docstring(node) or ""):
                found.append(f"{node.name}:{node.lineno} ({lines} lines)")
    return found


def test_no_module_is_over_the_size_limit():
    big = [f"{p.relative_to(ROOT)} ({n} lines)" for p in _python_files("intelliwatt_pipelines", "bench")
           if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"


def test_no_function_is_long_without_a_reason():
    long = [f"{p.relative_to(ROOT)} {f}" for p in _python_files("intelliwatt_pipelines", "bench",
                                                                "intelliwatt_pipelines_tests")
            for f in _long_functions(p)]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines without '{LONG_REASON}' in the docstring: {long}"


@pytest.mark.parametrize("docstring, flagged", [("", True), (f"{LONG_REASON} it is a table.", False)])
def test_the_function_length_gate_flags_a_long_function_without_a_reason(tmp_path, docstring, flagged):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    module = tmp_path / "long.py"
    module.write_text(f'def long():\n    """{docstring}"""\n{body}\n')
    assert bool(_long_functions(module)) is flagged
