"""The lab itself: hosts reach each other, faults cut and restore a link, and teardown
removes every namespace and process, also when the body raises."""

import subprocess
import sys

import pytest

from pardata.testing.netlab import NetLab, NetLabError, remove_stale_labs

pytestmark = [pytest.mark.multihost, pytest.mark.timeout(60)]

CONNECT = r"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("connected")
except OSError as exc:
    print(type(exc).__name__, exc)
"""
LISTEN = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 9000)); s.listen(16)
deadline = time.monotonic() + 50
s.settimeout(0.5)
while time.monotonic() < deadline:
    try:
        s.accept()[0].close()
    except socket.timeout:
        pass
"""


def _lab_namespaces(lab_id):
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(lab_id)]


def _connect(lab, host, target, timeout=2.0):
    return lab.exec(host, [sys.executable, "-c", CONNECT, lab.address(target), "9000", str(timeout)],
                    timeout=30).stdout.strip()


def test_partition_cuts_a_host_off_and_heal_restores_it(make_lab):
    lab = make_lab(hosts=("a", "b"))
    server = lab.spawn("b", [sys.executable, "-c", LISTEN, lab.address("b")], label="listener")
    for _ in range(100):  # the listener needs a moment to start
        if _connect(lab, "a", "b") == "connected":
            break
        assert server.alive(), server.log()
    assert _connect(lab, "a", "b") == "connected"
    lab.partition("b")
    assert _connect(lab, "a", "b", timeout=1.0).startswith(("TimeoutError", "timeout")), "the partition let a packet in"
    lab.heal("b")
    assert _connect(lab, "a", "b") == "connected"


def test_teardown_removes_namespaces_and_processes_even_after_an_error(make_lab):
    make_lab(hosts=("a",))  # skips here when labs cannot be built
    lab = NetLab(["a", "b"])
    with pytest.raises(RuntimeError, match="the body failed"):
        with lab:
            sleeper = lab.spawn("a", [sys.executable, "-c", "import time; time.sleep(60)"], label="sleeper")
            assert len(_lab_namespaces(lab.id)) == 3  # a, b and the bridge
            raise RuntimeError("the body failed")
    assert _lab_namespaces(lab.id) == []
    assert sleeper.popen.poll() is not None


def test_bad_lab_arguments_are_refused_with_the_cause():
    with pytest.raises(ValueError, match="lower-case"):
        NetLab(["Host_1"])
    with pytest.raises(ValueError, match="unique"):
        NetLab(["a", "a"])
    lab = NetLab(["a"])
    with pytest.raises(KeyError, match="no host 'z'"):
        lab.host("z")
    with pytest.raises(ValueError, match="percentage"):
        lab.set_loss("a", 150)
    with pytest.raises(NetLabError, match="not running"):
        lab.exec("a", ["true"])


def test_labs_left_by_a_dead_process_are_removed(make_lab):
    make_lab(hosts=("a",))  # skips here when labs cannot be built
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = f"pdnl{gone.pid}x0badc0-a"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in remove_stale_labs()
        assert _lab_namespaces(stale) == []
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)
