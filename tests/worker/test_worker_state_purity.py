"""The worker's state-machine modules stay pure: stdlib only, no I/O or time."""

import ast
import pathlib

import pytest

import worker

STATE_MACHINE_MODULES = [
    "events",
    "instructions",
    "task",
    "transitions",
    "validation",
    "state",
    "testing",
]
ALLOWED = {"__future__", "collections", "dataclasses", "heapq", "itertools", "typing"}
FORBIDDEN_NAMES = {"time", "monotonic", "perf_counter", "random", "uuid4", "sleep"}


def imports_of(path: pathlib.Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


@pytest.mark.parametrize("name", STATE_MACHINE_MODULES)
def test_state_machine_module_imports_only_pure_modules(name):
    path = pathlib.Path(worker.__file__).parent / f"{name}.py"
    for module in imports_of(path):
        top = module.split(".")[0]
        assert top == "worker" or top in ALLOWED, f"{name}.py imports {module}"
    tree = ast.parse(path.read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & FORBIDDEN_NAMES, f"{name}.py uses {names & FORBIDDEN_NAMES}"
