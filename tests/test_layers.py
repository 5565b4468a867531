"""The packages' layers point down (docs/architecture.md): no module imports a package above its own, not even
lazily, and reading a results folder does not load the learner's stack."""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO

# Which of svglab's packages each package may import, besides itself (docs/architecture.md: the layers).
MAY_IMPORT = {
    "tasks": set(),
    "algorithms": {"tasks"},
    "sweeps": {"algorithms", "tasks"},
    "agents": {"algorithms", "sweeps", "tasks"},
    "dashboards": {"algorithms", "sweeps", "tasks"},
    "benchmarks": {"algorithms", "sweeps", "tasks"},
}


def imported_packages(source: str) -> set[str]:
    """The top-level packages that a module's import statements name, at any depth (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_module_imports_a_package_above_its_own(package):
    upward = {str(path.relative_to(REPO)): sorted(found)
              for path in sorted((REPO / package).rglob("*.py"))
              if (found := imported_packages(path.read_text()) & set(MAY_IMPORT) - MAY_IMPORT[package] - {package})}
    assert upward == {}


def test_algorithms_take_only_the_task_names_from_tasks():
    def beyond_names(module: str) -> bool:
        return module.split(".")[0] == "tasks" and module.split(".")[:2] != ["tasks", "names"]

    from_tasks = {str(path.relative_to(REPO)): sorted(filter(beyond_names, imported_modules(path.read_text())))
                  for path in sorted((REPO / "algorithms").rglob("*.py"))}
    assert {path: modules for path, modules in from_tasks.items() if modules} == {}


def imported_modules(source: str) -> set[str]:
    """The full module names that a module's import statements name (`from tasks import names` -> tasks.names)."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def test_the_layer_check_sees_lazy_imports():
    assert imported_packages("def f():\n    from agents.video import record\n    import sweeps.results\n") == {
        "agents", "sweeps"}


def test_reading_results_loads_neither_torch_nor_ray():
    """The metric names, the results layout and the dashboards' loader import without the learner's stack."""
    code = ("import sys, algorithms.sac_svg.metrics, sweeps.layout, dashboards.load; "
            "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "[]"
