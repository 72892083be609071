"""``make demo`` runs: every part prints its checked result, the cluster its dashboard."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.processes, pytest.mark.timeout(180)]


def test_make_demo_runs_every_part_and_checks_it():
    done = subprocess.run([sys.executable, "-m", "pardata.demo"], capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "plain Python:" in out and "speed-up" in out and "digraph pardata" in out
    assert "dashboard: http://127.0.0.1:" in out
    assert "(NumPy agrees)" in out and "(pandas agrees)" in out and "cluster closed" in out
