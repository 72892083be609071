"""The import rules of DESIGN.md, checked on the source of every module."""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("pardata", "scheduler", "worker")
# The one place pardata may start in-process scheduler/worker servers (for test clusters).
PARDATA_MAY_IMPORT_SERVERS = {"pardata/distributed/_inprocess.py", "pardata/testing/sim.py"}
COLLECTIONS = ("pardata/delayed.py", "pardata/array", "pardata/dataframe", "pardata/bag")
IO_MODULES = {"asyncio", "socket", "threading", "tornado", "selectors", "multiprocessing", "time"}


def modules():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path


def imports_of(path: pathlib.Path) -> set:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def is_state_machine(rel: str) -> bool:
    """Pure modules: the graph core and the scheduler/worker state machines."""
    name = rel.rsplit("/", 1)[-1]
    if rel.startswith("pardata/core/"):
        # tokenize keeps a registry shared across threads; it guards it with a lock
        return rel != "pardata/core/tokenize.py"
    return rel.split("/")[0] in ("scheduler", "worker") and name.startswith(
        ("state", "transitions", "events", "commands", "instructions", "placement", "admission", "validation",
         "records", "queries", "submission", "task")
    )


def top(name: str) -> str:
    return name.split(".")[0]


def test_there_are_modules_to_check():
    assert sum(1 for _ in modules()) > 10


def test_no_forbidden_import_edges():
    problems = []
    for rel, path in modules():
        for name in imports_of(path):
            t = top(name)
            if t in ("dask", "distributed"):
                problems.append(f"{rel} imports {name}: only benchmarks/ may import Dask")
            if rel.startswith("scheduler/") and t == "worker":
                problems.append(f"{rel} imports {name}: scheduler and worker only talk over the wire")
            if rel.startswith("worker/") and t == "scheduler":
                problems.append(f"{rel} imports {name}: scheduler and worker only talk over the wire")
            if rel.startswith("pardata/") and t in ("scheduler", "worker") and rel not in PARDATA_MAY_IMPORT_SERVERS:
                problems.append(f"{rel} imports {name}: pardata never imports the servers")
            if rel.startswith(COLLECTIONS) and name.startswith(("pardata.comm", "pardata.distributed")):
                problems.append(f"{rel} imports {name}: collections do not know about the network")
            if is_state_machine(rel) and t in IO_MODULES:
                problems.append(f"{rel} imports {name}: state machines and the graph core are sans-IO")
    assert not problems, "\n".join(problems)


def test_importing_pardata_does_not_import_dask():
    code = (
        "import sys, pardata, pardata.delayed, pardata.local, pardata.diagnostics, pardata.core;"
        "import pardata.base, pardata.drawing, pardata.testing;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'));"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
