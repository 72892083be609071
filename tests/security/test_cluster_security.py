"""Security wired through the cluster: LocalCluster, Client, in-process servers, TLS.

A ``LocalCluster`` is protected by a fresh secret unless told otherwise; its
processes get it through the environment, never the command line; a Client
without it (or with another one) is refused with one error saying why; with
``Security.temporary()`` the whole cluster, worker-to-worker transfers included,
runs over ``tls://``; and ``require_encryption`` refuses ``tcp://``.
"""

from __future__ import annotations

import asyncio

import psutil
import pytest

from pardata.comm import AuthenticationError, HandshakeError, connect
from pardata.comm import messages as m
from pardata.comm.auth import ENV_VAR, encode_secret
from pardata.distributed import Client, LocalCluster
from pardata.distributed._inprocess import InProcessCluster
from pardata.security import AUTH_FILE_ENV, Security, SecurityError, new_secret, write_secret
from pardata.testing.cluster import add, inc

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def no_secret_env(monkeypatch):
    for name in (ENV_VAR, AUTH_FILE_ENV):
        monkeypatch.delenv(name, raising=False)


def computes(client: Client) -> None:
    """A small graph with a dependency on every worker, checked against plain Python."""
    workers = sorted(client.nthreads())
    parts = [client.submit(inc, i, workers=[workers[i % len(workers)]], pure=False) for i in range(6)]
    total = client.submit(sum, parts, workers=[workers[0]], pure=False)  # fetches from the other worker
    assert total.result(timeout=60) == sum(i + 1 for i in range(6))
    assert client.gather(client.map(add, range(5), range(5))) == [2 * i for i in range(5)]


@pytest.mark.processes
def test_local_cluster_is_protected_by_a_fresh_secret(no_secret_env):
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=0, dashboard_address=None) as cluster:
        secret = cluster.security.auth_secret
        assert secret is not None and len(secret) >= 32
        with Client(cluster) as client:
            computes(client)
            worker_pids = [info["pid"] for info in client.scheduler_info()["workers"].values()]
        # the secret reaches the children through their environment, never their command line
        for pid in [cluster.scheduler_process.pid, *worker_pids]:
            proc = psutil.Process(pid)
            assert encode_secret(secret) not in " ".join(proc.cmdline())
            assert proc.environ()[ENV_VAR] == encode_secret(secret)
        # a client that only knows the address has no secret, and is told so
        with pytest.raises(AuthenticationError, match="no credentials were sent"):
            Client(cluster.scheduler_address, timeout=10)
        with pytest.raises(AuthenticationError, match="different secrets"):
            Client(cluster.scheduler_address, security=Security(auth_secret=new_secret()), timeout=10)
        assert cluster.scheduler_process.poll() is None


@pytest.mark.processes
def test_two_local_clusters_do_not_share_a_secret(no_secret_env):
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=0, dashboard_address=None) as a:
        b = LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=0, processes=False, dashboard_address=None)
        try:
            assert a.security.auth_secret != b.security.auth_secret
            with pytest.raises(AuthenticationError):
                Client(b.scheduler_address, security=a.security, timeout=10)
        finally:
            b.close()


def test_client_reads_the_secret_from_the_environment_or_a_file(monkeypatch, tmp_path, no_secret_env):
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        secret = cluster.security.auth_secret
        monkeypatch.setenv(ENV_VAR, encode_secret(secret))
        with Client(cluster.scheduler_address) as client:
            assert client.submit(add, 1, 2).result(timeout=30) == 3
        monkeypatch.delenv(ENV_VAR)
        write_secret(tmp_path / "secret", secret)
        monkeypatch.setenv(AUTH_FILE_ENV, str(tmp_path / "secret"))
        with Client(cluster.scheduler_address) as client:
            assert client.submit(add, 2, 3).result(timeout=30) == 5


def test_client_started_without_address_uses_its_clusters_secret(no_secret_env):
    import pardata.distributed

    assert pardata.distributed.Security is Security  # where Dask users look for it
    with Client(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as client:
        assert client.security is client.cluster.security
        assert client.security.auth_secret is not None
        assert client.submit(add, 20, 22).result(timeout=30) == 42


def test_in_process_servers_refuse_unauthenticated_peers(arun):
    security = Security(auth_secret=new_secret())

    async def main():
        async with InProcessCluster(2, security=security) as cluster:
            for address in [cluster.scheduler_address, *(w.address for w in cluster.workers)]:
                with pytest.raises(AuthenticationError, match="no credentials"):
                    await connect(address, timeout=5)
                comm = await connect(address, timeout=5, security=security)
                await comm.write(m.Query(request_id=1, name="nthreads"))
                if address == cluster.scheduler_address:
                    reply = await comm.read()
                    assert len(reply.data) == 2
                comm.abort()
            # the workers authenticated to each other and to the scheduler
            assert all(w.security is security for w in cluster.workers)

    arun(main(), timeout=60)


def test_tls_in_process_cluster_computes(no_secret_env):
    security = Security.temporary(auth_secret=new_secret())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                      security=security) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        with Client(cluster) as client:
            assert all(w.startswith("tls://") for w in client.nthreads())
            computes(client)
        # a client with the secret but not the cluster's certificates cannot connect
        with pytest.raises(HandshakeError, match="TLS"):
            Client(cluster.scheduler_address, security=Security.temporary(auth_secret=security.auth_secret),
                   timeout=10)


@pytest.mark.processes
def test_tls_cluster_of_processes_computes(no_secret_env):
    security = Security.temporary(auth_secret=new_secret(), require_encryption=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=0, dashboard_address=None,
                      security=security) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        with Client(cluster) as client:
            assert all(w.startswith("tls://") for w in client.nthreads())
            computes(client)


def test_require_encryption_refuses_tcp_addresses(arun):
    security = Security.temporary(require_encryption=True, auth_secret=new_secret())
    with pytest.raises(SecurityError, match="encryption is required.*use a tls:// address"):
        Client("tcp://127.0.0.1:1", security=security, timeout=5)

    async def main():
        with pytest.raises(SecurityError, match="encryption is required"):
            await InProcessCluster(1, protocol="tcp", security=security).start()

    arun(main(), timeout=30)
    with pytest.raises(SecurityError, match="needs TLS files"):
        Security(require_encryption=True)


@pytest.mark.processes
def test_every_port_of_a_local_cluster_is_on_loopback(no_secret_env):
    """The scheduler, the workers, the dashboard and the workers' metrics pages all
    listen on 127.0.0.1 when no host is given."""
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=0, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            info = client.scheduler_info()
        assert info["dashboard"].startswith("http://127.0.0.1:")
        pids = [cluster.scheduler_process.pid, *(w["pid"] for w in info["workers"].values())]
        listening = [c for pid in pids for c in psutil.Process(pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        assert len(listening) >= 3  # scheduler + dashboard, worker (+ its metrics page)
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}


def test_security_true_and_false_as_in_dask(no_secret_env, caplog):
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                      security=True) as cluster:
        assert cluster.scheduler_address.startswith("tls://") and cluster.security.auth_secret is not None
        with Client(cluster) as client:
            assert client.submit(add, 1, 1).result(timeout=30) == 2
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                      security=False) as cluster:
        assert "no authentication" in caplog.text
        with Client(cluster.scheduler_address, security=Security()) as client:
            assert client.submit(add, 2, 2).result(timeout=30) == 4
    with pytest.raises(TypeError, match="security= takes"):
        LocalCluster(n_workers=1, processes=False, security="yes please")


def test_client_scheduler_file_errors(tmp_path):
    missing = tmp_path / "scheduler.json"
    with pytest.raises(TimeoutError, match="no scheduler address in .*scheduler.json"):
        Client(scheduler_file=str(missing), timeout=0.2)
    with pytest.raises(TypeError, match="not both"):
        Client("tcp://127.0.0.1:1", scheduler_file=str(missing))
