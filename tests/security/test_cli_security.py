"""The security options of ``pardata-scheduler`` and ``pardata-worker``, as real processes.

Safe by default: a scheduler given no secret writes a new one to a 0600 file and says
where; a worker given none refuses to start; ``--auth-file`` works on both sides (the
multi-host tests rely on exactly that), and the TLS flags put the cluster on
``tls://``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from pardata.comm import AuthenticationError
from pardata.comm.auth import ENV_VAR
from pardata.distributed import Client
from pardata.security import AUTH_FILE_ENV, Security, load_secret, new_secret, write_secret
from pardata.testing.cluster import add, inc

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, AUTH_FILE_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.update(extra)
    return env


def _cli(name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    exe = os.path.join(os.path.dirname(sys.executable), name)
    return subprocess.Popen([exe, *args, "--log-level", "WARNING"], env=env or _env(), cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_file(path, proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no scheduler file"
            time.sleep(0.02)


def _wait_for_workers(client: Client, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(client.nthreads()) < n:
        assert time.monotonic() < deadline, "workers did not connect"
        time.sleep(0.05)


def _stop(procs) -> list[int]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(30))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
        p.stdout_text, p.stderr_text = p.communicate()  # what it printed, for the test to read
    return codes


def _private(path) -> bool:
    return stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_scheduler_without_a_secret_writes_one_that_workers_and_clients_find(tmp_path, monkeypatch):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _cli("pardata-scheduler", "--scheduler-file", str(scheduler_file), "--no-dashboard")
    procs = [scheduler]
    try:
        info = _wait_for_file(scheduler_file, scheduler)
        secret_path = tmp_path / "scheduler.secret"
        assert info["auth_file"] == str(secret_path)
        assert _private(secret_path)
        secret = load_secret(secret_path)
        # the worker finds the secret through the scheduler file (run under its nanny)
        procs.append(_cli("pardata-worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                          "--memory-limit", "0", "--local-directory", str(tmp_path)))
        monkeypatch.setenv(AUTH_FILE_ENV, str(secret_path))
        monkeypatch.delenv(ENV_VAR, raising=False)
        with Client(info["address"]) as client:
            _wait_for_workers(client, 1)
            assert client.submit(add, 1, 2).result(timeout=30) == 3
        monkeypatch.delenv(AUTH_FILE_ENV)
        with Client(scheduler_file=str(scheduler_file)) as client:  # address and secret from the file
            assert client.submit(add, 3, 4).result(timeout=30) == 7
        with pytest.raises(AuthenticationError, match="no credentials were sent"):
            Client(info["address"], security=Security(), timeout=10)
    finally:
        codes = _stop(procs)
    assert codes == [0, 0]
    assert load_secret(secret_path) == secret  # a restart on the same file would reuse it


def test_scheduler_prints_where_it_wrote_the_secret(tmp_path):
    scheduler = _cli("pardata-scheduler", "--local-directory", str(tmp_path / "space"), "--no-dashboard")
    try:
        line = scheduler.stdout.readline()
        assert "cluster secret written to" in line, line
        path = line.split("written to ", 1)[1].split(";", 1)[0]
        assert os.path.dirname(path) == str(tmp_path / "space")
        assert _private(path) and len(load_secret(path)) == 32
        assert stat.S_IMODE(os.stat(tmp_path / "space").st_mode) == 0o700
        address = line.rsplit("scheduler at ", 1)[1].rstrip(")\n")
        with Client(address, security=Security.from_env({AUTH_FILE_ENV: path})) as client:
            assert client.scheduler_info()["address"] == address
    finally:
        assert _stop([scheduler]) == [0]


def test_auth_file_on_both_sides(tmp_path):
    """The multi-host tests' usage: the file is written beforehand, both sides read it."""
    auth_file = tmp_path / "cluster.secret"
    secret = write_secret(auth_file)
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _cli("pardata-scheduler", "--auth-file", str(auth_file), "--scheduler-file", str(scheduler_file),
                     "--no-dashboard")
    procs = [scheduler]
    try:
        address = _wait_for_file(scheduler_file, scheduler)["address"]
        for i in range(2):
            procs.append(_cli("pardata-worker", address, "--auth-file", str(auth_file), "--nthreads", "1",
                              "--memory-limit", "0", "--local-directory", str(tmp_path), "--no-nanny"))
        with Client(address, security=Security(auth_secret=secret)) as client:
            _wait_for_workers(client, 2)
            assert client.gather(client.map(inc, range(20))) == list(range(1, 21))
    finally:
        assert _stop(procs) == [0, 0, 0]


def test_auth_file_that_does_not_exist_is_created_private(tmp_path):
    auth_file = tmp_path / "new.secret"
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _cli("pardata-scheduler", "--auth-file", str(auth_file), "--scheduler-file", str(scheduler_file),
                     "--no-dashboard")
    try:
        info = _wait_for_file(scheduler_file, scheduler)
        assert info["auth_file"] == str(auth_file)
        assert _private(auth_file)
        with Client(info["address"], security=Security.from_env({}, auth_file=auth_file)) as client:
            assert client.scheduler_info()["workers"] == {}
    finally:
        assert _stop([scheduler]) == [0]


@pytest.mark.parametrize("nanny", ["--nanny", "--no-nanny"])
def test_worker_without_a_secret_refuses_to_start(nanny):
    worker = _cli("pardata-worker", "tcp://127.0.0.1:1", nanny)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode != 0
    assert "no cluster secret" in err and "--auth-file" in err and "--no-auth" in err


def test_worker_refuses_a_secret_file_others_can_read(tmp_path):
    auth_file = tmp_path / "loose.secret"
    write_secret(auth_file)
    os.chmod(auth_file, 0o644)
    worker = _cli("pardata-worker", "tcp://127.0.0.1:1", "--auth-file", str(auth_file), "--no-nanny")
    _, err = worker.communicate(timeout=60)
    assert worker.returncode != 0
    assert "accessible by group or others" in err and f"chmod 600 {auth_file}" in err


def test_tls_flags_on_both_sides(tmp_path):
    tls = Security.temporary(tmp_path)
    auth_file = tmp_path / "cluster.secret"
    secret = write_secret(auth_file)
    flags = ["--tls-ca-file", tls.tls_ca_file, "--tls-cert", tls.tls_cert, "--tls-key", tls.tls_key,
             "--require-encryption", "--auth-file", str(auth_file)]
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _cli("pardata-scheduler", "--scheduler-file", str(scheduler_file), "--no-dashboard", *flags)
    procs = [scheduler]
    try:
        address = _wait_for_file(scheduler_file, scheduler)["address"]
        assert address.startswith("tls://127.0.0.1:")
        procs.append(_cli("pardata-worker", address, "--nthreads", "1", "--memory-limit", "0",
                          "--local-directory", str(tmp_path), *flags))
        security = Security(tls.tls_ca_file, tls.tls_cert, tls.tls_key, auth_secret=secret)
        with Client(address, security=security) as client:
            _wait_for_workers(client, 1)
            assert all(w.startswith("tls://") for w in client.nthreads())
            assert client.submit(add, 4, 5).result(timeout=30) == 9
        # the secret alone, without the certificates, gets nowhere
        with pytest.raises(ValueError, match="TLS address"):
            Client(address, security=Security(auth_secret=secret), timeout=10)
    finally:
        assert _stop(procs) == [0, 0]


def test_worker_with_the_wrong_secret_says_so(tmp_path):
    auth_file, wrong = tmp_path / "cluster.secret", tmp_path / "wrong.secret"
    write_secret(auth_file)
    write_secret(wrong)
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _cli("pardata-scheduler", "--auth-file", str(auth_file), "--scheduler-file", str(scheduler_file),
                     "--no-dashboard")
    try:
        address = _wait_for_file(scheduler_file, scheduler)["address"]
        worker = _cli("pardata-worker", address, "--auth-file", str(wrong), "--no-nanny",
                      "--local-directory", str(tmp_path))
        _, err = worker.communicate(timeout=60)
        assert worker.returncode != 0
        assert "pardata-worker: authentication failed" in err and "different secrets" in err
        assert "Traceback" not in err
    finally:
        assert _stop([scheduler]) == [0]


def test_no_auth_is_explicit_and_logged(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _cli("pardata-scheduler", "--no-auth", "--scheduler-file", str(scheduler_file), "--no-dashboard")
    procs = [scheduler]
    try:
        info = _wait_for_file(scheduler_file, scheduler)
        assert info["auth_file"] is None and not (tmp_path / "scheduler.secret").exists()
        procs.append(_cli("pardata-worker", info["address"], "--no-auth", "--no-nanny", "--nthreads", "1",
                          "--memory-limit", "0", "--local-directory", str(tmp_path)))
        with Client(info["address"], security=Security()) as client:
            _wait_for_workers(client, 1)
            assert client.submit(add, 1, 2).result(timeout=30) == 3
    finally:
        codes = _stop(procs)
    assert codes == [0, 0]
    assert all("authentication is off (--no-auth)" in p.stderr_text for p in procs)
