import io
import time

import pardata
from pardata.diagnostics import ProgressBar


def slow_inc(x):
    time.sleep(0.01)
    return x + 1


def test_progress_bar_reports_completion():
    out = io.StringIO()
    tasks = [pardata.delayed(slow_inc)(i) for i in range(20)]
    with ProgressBar(out=out, dt=0.02):
        result = pardata.compute(*tasks, scheduler="threads")
    assert list(result) == [i + 1 for i in range(20)]
    text = out.getvalue()
    assert "100% Completed" in text.splitlines()[-1]
    assert text.count("\r") >= 2  # redrawn while running


def test_progress_bar_minimum_hides_short_runs():
    out = io.StringIO()
    with ProgressBar(out=out, minimum=10):
        pardata.delayed(slow_inc)(1).compute(scheduler="sync")
    assert out.getvalue() == ""
