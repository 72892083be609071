"""The benchmarks harness, pardata side only: CI has no Dask, and nothing here needs it."""
import json
import sys

import pytest

from benchmarks.__main__ import main
from benchmarks.harness import WrongAnswer, format_table, run_benchmark, save_result
from benchmarks.libraries import load_library
from benchmarks.registry import Benchmark, all_benchmarks

SIZE = 50


def test_registry_lists_the_overhead_benchmarks(capsys):
    assert {"tree_sum", "independent", "build_tree"} <= set(all_benchmarks())
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("tree_sum", "independent", "build_tree"))


@pytest.mark.parametrize("name", ["tree_sum", "independent", "build_tree"])
def test_pardata_side_gives_the_right_answer(name):
    bench = all_benchmarks()[name]
    lib = load_library("pardata")
    for scheduler in ("sync", "threads"):
        value = bench.answer(lib, bench.setup(lib, SIZE)(scheduler))
        incs = [i + 1 for i in range(SIZE)]
        assert value == (incs if name == "independent" else sum(incs))


def test_run_benchmark_pardata_only_needs_no_dask(tmp_path):
    dask_was_loaded = "dask" in sys.modules
    result = run_benchmark(all_benchmarks()["tree_sum"], SIZE, repeat=3,
                           schedulers=["sync", "threads"], libraries=["pardata"])
    if not dask_was_loaded:
        assert "dask" not in sys.modules
    assert [row["scheduler"] for row in result["rows"]] == ["sync", "threads"]
    for row in result["rows"]:
        assert len(row["pardata"]["seconds"]) == 3
        assert row["pardata"]["warm"] == min(row["pardata"]["seconds"][1:])
        assert "ratio_warm" not in row
    assert result["machine"]["cpu_count"] >= 1
    assert "tree_sum" in format_table(result)
    saved = json.loads(save_result(result, tmp_path).read_text())
    assert saved["rows"] == result["rows"]


def test_build_tree_runs_once_per_repeat_without_a_scheduler():
    result = run_benchmark(all_benchmarks()["build_tree"], SIZE, repeat=2,
                           libraries=["pardata"])
    assert [row["scheduler"] for row in result["rows"]] == [None]


def test_wrong_answer_is_an_error():
    def setup(lib, size):
        return lambda scheduler: -1

    bench = Benchmark("broken", "always wrong", setup, expected=lambda n: n, target=1.0)
    with pytest.raises(WrongAnswer, match="broken"):
        run_benchmark(bench, SIZE, repeat=1, schedulers=["sync"], libraries=["pardata"])


def test_cli_runs_pardata_only(capsys):
    assert main(["independent", "--size", str(SIZE), "--repeat", "2", "--only", "pardata",
                 "--schedulers", "sync", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "pardata warm" in out and "ratio" not in out
