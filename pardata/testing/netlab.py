"""A lab of hosts in Linux network namespaces, for tests that need real distinct addresses.

``NetLab`` builds one bridge namespace and one namespace per host, each host joined to
the bridge by a veth pair and given an address on 10.200.0.0/24; it starts processes
inside the hosts (``ip netns exec``), injects faults, and tears everything down::

    with NetLab(["sched", "w1", "w2", "client"]) as lab:
        sched = lab.start_scheduler("sched")
        lab.start_worker("w1", sched.address)
        result = lab.run_python("client", SCRIPT, args=[sched.address])

The rules it keeps (see the project's MULTIHOST notes), so a test cannot break them:

- Only 10.200.0.0/24, only on interfaces inside namespaces this lab created. The hosts
  have no default route, so nothing they send can leave the machine; the calling
  process (the machine's own namespace) never connects to a lab address: everything
  that talks to the cluster, the driving client included, runs inside a host.
- Names carry this process's id and a random suffix, so parallel runs do not clash, and
  a lab left behind by a killed run (its creator's pid is gone) is removed by the next.
- Teardown always runs (``close`` from ``__exit__``): processes get SIGTERM, then
  SIGKILL, every process still inside a lab namespace is killed, and the namespaces
  are deleted. Every wait is bounded in time.

Faults: ``partition``/``heal`` (nftables drops everything but loopback on a host),
``set_loss`` (nftables ``numgen random`` drops a share of outgoing packets), and
``cap_bandwidth`` (``tc qdisc tbf`` on both ends of a host's link). ``tc netem`` is not
assumed: many kernels in CI lack it. ``start_delay_proxy`` adds latency in user space
(``pardata.testing.delay_proxy``).

Processes started by ``start_scheduler``/``start_worker`` are the real command-line
programs (``python -m scheduler``, ``python -m worker``); after ``use_auth()`` they get
``--auth-file`` with a fresh cluster secret and scripts get ``$PARDATA_AUTH_SECRET``.
``run_python`` runs a script inside a host and returns what it passed to ``emit`` (one
JSON value), so a test can assert on results computed behind the lab's walls;
``start_python`` and ``checkpoint`` let the test inject a fault at a chosen point of a
running script.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = [
    "NetLab", "LabHost", "LabProcess", "ScriptRun", "NetLabError", "unavailable_reason", "remove_stale_labs",
    # for scripts running inside a lab host
    "emit", "checkpoint", "wait_for_workers", "RESULT_MARKER", "SUBNET",
]

SUBNET = "10.200.0.0/24"
_PREFIX = "pdnl"  # every namespace of every lab starts with this
RESULT_MARKER = "NETLAB-RESULT "
SYNC_ENV = "NETLAB_SYNC_DIR"  # where checkpoint() and ScriptRun meet
_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_LAB_NAME = re.compile(rf"^{_PREFIX}(\d+)x([0-9a-f]+)-")


class NetLabError(RuntimeError):
    """A lab command failed; the message names the command and its output."""


def emit(value: Any) -> None:
    """In a script run by ``NetLab.run_python``: hand ``value`` (JSON) back to the test."""
    sys.stdout.write(RESULT_MARKER + json.dumps(value) + "\n")
    sys.stdout.flush()


def checkpoint(name: str, timeout: float = 120.0) -> None:
    """In a script started by ``NetLab.start_python``: say ``name`` was reached, then wait
    until the test calls ``ScriptRun.release(name)`` (a fault injected, say)."""
    directory = os.environ.get(SYNC_ENV)
    if not directory:
        raise RuntimeError(f"checkpoint() needs ${SYNC_ENV}: run the script with NetLab.start_python")
    with open(os.path.join(directory, f"{name}.reached"), "w"):
        pass
    go = os.path.join(directory, f"{name}.go")
    deadline = time.monotonic() + timeout
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise TimeoutError(f"checkpoint {name!r} was not released within {timeout}s")
        time.sleep(0.02)


def wait_for_workers(client, n: int, timeout: float = 60.0, *, hosts: Sequence[str] = ()) -> dict:
    """In a script: wait until the scheduler has ``n`` workers (and one on each of
    ``hosts``, lab addresses); returns ``scheduler_info()["workers"]``."""
    deadline = time.monotonic() + timeout
    while True:
        workers = client.scheduler_info()["workers"]
        present = {_host_of(address) for address in workers}
        if len(workers) >= n and set(hosts) <= present:
            return workers
        if time.monotonic() > deadline:
            raise TimeoutError(f"wanted {n} workers (on {list(hosts)}) within {timeout}s; "
                               f"the scheduler has {sorted(workers)}")
        time.sleep(0.1)


def _host_of(address: str) -> str:
    """``tcp://10.200.0.2:4000`` -> ``10.200.0.2``."""
    return address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")


def _tool(name: str) -> str:
    """The path of an administration command (``ip``, ``nft``, ``tc``): on PATH, else in
    the sbin directories a non-login root shell may lack; the bare name if neither."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return name


def _run(argv: Sequence[str], *, timeout: float = 20.0, check: bool = True) -> subprocess.CompletedProcess:
    argv = [_tool(argv[0]), *argv[1:]]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NetLabError(f"{argv[0]!r} is not installed (needed for: {' '.join(argv)})") from None
    except subprocess.TimeoutExpired:
        raise NetLabError(f"{' '.join(argv)} did not finish within {timeout}s") from None
    if check and proc.returncode != 0:
        raise NetLabError(f"{' '.join(argv)} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc


def unavailable_reason() -> str | None:
    """Why a lab cannot be built here (not root, no ``ip netns``), or None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network-namespace labs need root"
    if not os.path.isabs(_tool("ip")):
        return "the 'ip' command (iproute2) is not installed"
    probe = f"{_PREFIX}{os.getpid()}x{secrets.token_hex(3)}-probe"
    made = subprocess.run([_tool("ip"), "netns", "add", probe], capture_output=True, text=True, timeout=10)
    if made.returncode != 0:
        return f"'ip netns add' does not work here: {made.stderr.strip()}"
    subprocess.run([_tool("ip"), "netns", "del", probe], capture_output=True, timeout=10)
    return None


@dataclass
class LabHost:
    """One host: its namespace, its address on the lab network, and its lab name."""

    name: str
    netns: str
    address: str
    port_name: str  # its veth end in the bridge namespace


@dataclass
class LabProcess:
    """A process running inside a lab host; its output goes to ``log_path``."""

    host: LabHost
    argv: list
    popen: subprocess.Popen
    log_path: str
    label: str = ""
    address: str = ""  # a scheduler's or a proxy's, once it listens
    stats_file: str = ""  # a proxy's counters (JSON)

    def stats(self) -> dict:
        """A delay proxy's counters: connections and bytes forwarded each way."""
        with open(self.stats_file) as f:
            return json.load(f)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        """Send ``sig`` to this process's group (it and the children it started)."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; waits (bounded) for the exit.

        A process that had already exited is left alone (its group id may be free for
        reuse); ``NetLab.close`` kills whatever is still inside the lab's namespaces."""
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # also children that outlived it
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(5.0)
        except subprocess.TimeoutExpired:
            pass


class NetLab:
    """A bridge and hosts on 10.200.0.0/24, each host in a namespace of its own.

    ``hosts`` are short lower-case names (at most 8 characters); host ``i`` (from 0)
    gets address ``10.200.0.{i+1}``. ``env`` is added to the environment of every
    process started in the lab (e.g. ``PARDATA_...`` configuration).
    """

    def __init__(self, hosts: Sequence[str], *, env: Mapping[str, str] | None = None,
                 python: str = sys.executable) -> None:
        names = list(hosts)
        if not names or len(names) > 200:
            raise ValueError(f"a lab needs between 1 and 200 hosts, got {len(names)}")
        for name in names:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(f"a lab host name is 1-8 lower-case letters or digits, got {name!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"lab host names must be unique, got {names}")
        self.id = f"{_PREFIX}{os.getpid()}x{secrets.token_hex(3)}"
        self.bridge_netns = f"{self.id}--br"  # no host name makes this (they have no '-')
        self.hosts = {
            name: LabHost(name, f"{self.id}-{name}", f"10.200.0.{i + 1}", f"p{i + 1}")
            for i, name in enumerate(names)
        }
        self.env = dict(env or {})
        self.python = python
        self.directory = ""
        self.processes: list[LabProcess] = []
        self._made: list[str] = []
        self._auth_file: str | None = None

    # --- building and tearing down -----------------------------------------------------------

    def __enter__(self) -> "NetLab":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> "NetLab":
        """Build the namespaces and links (about 0.1 s per host)."""
        reason = unavailable_reason()
        if reason is not None:
            raise NetLabError(reason)
        remove_stale_labs()
        self.directory = tempfile.mkdtemp(prefix=f"{self.id}-")
        self._netns_add(self.bridge_netns)
        sw = self.bridge_netns
        _run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", sw, "link", "set", "br0", "up"])
        for host in self.hosts.values():
            self._netns_add(host.netns)
            # Created inside the bridge namespace: no interface ever appears in ours.
            _run(["ip", "-n", sw, "link", "add", host.port_name, "type", "veth", "peer", "name", "eth0",
                  "netns", host.netns])
            _run(["ip", "-n", sw, "link", "set", host.port_name, "master", "br0"])
            _run(["ip", "-n", sw, "link", "set", host.port_name, "up"])
            _run(["ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0"])
            _run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
            _run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
        return self

    def _netns_add(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self._made.append(name)

    def close(self) -> None:
        """Stop every process, kill what is left in the namespaces, delete them. Idempotent.

        Every step runs even when an earlier one fails; the failures are raised at the end."""
        errors = []
        for proc in reversed(self.processes):
            try:
                proc.stop(timeout=3.0)
            except Exception as exc:  # noqa: BLE001 - the namespaces must still go
                errors.append(f"stopping {proc.label}: {exc}")
        self.processes.clear()
        for name in reversed(self._made):
            try:
                _kill_netns_processes(name)
                _run(["ip", "netns", "del", name])
            except Exception as exc:  # noqa: BLE001 - the other namespaces must still go
                errors.append(f"deleting namespace {name}: {exc}")
        self._made.clear()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = ""
        if errors:
            raise NetLabError("lab teardown incomplete: " + "; ".join(errors))

    # --- running things inside hosts -----------------------------------------------------------

    def host(self, name: str) -> LabHost:
        try:
            return self.hosts[name]
        except KeyError:
            raise KeyError(f"no host {name!r} in this lab (hosts: {sorted(self.hosts)})") from None

    def _live(self, name: str) -> LabHost:
        """``host(name)`` of a lab that is running (started, not yet closed)."""
        if not self._made:
            raise NetLabError("the lab is not running: use it in a 'with' block or call start() first")
        return self.host(name)

    def address(self, name: str) -> str:
        """The host's lab address, e.g. ``10.200.0.2``."""
        return self.host(name).address

    def exec(self, host: str, argv: Sequence[str], *, timeout: float = 20.0,
             check: bool = True) -> subprocess.CompletedProcess:
        """Run ``argv`` inside ``host`` and wait for it (bounded by ``timeout``)."""
        netns = self._live(host).netns
        return _run(["ip", "netns", "exec", netns, _tool(argv[0]), *argv[1:]], timeout=timeout, check=check)

    def _environment(self, extra: Mapping[str, str] | None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARDATA_")}
        env.update(self.env)
        env.update(extra or {})
        env["PYTHONUNBUFFERED"] = "1"
        env["PARDATA_EXIT_WITH_PARENT"] = str(os.getpid())  # nothing outlives the test process
        return env

    def spawn(self, host: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              label: str = "proc") -> LabProcess:
        """Start ``argv`` inside ``host`` in a process group of its own; output to a log file."""
        h = self._live(host)
        log_path = os.path.join(self.directory, f"{label}-{len(self.processes)}.log")
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                [_tool("ip"), "netns", "exec", h.netns, *argv],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self._environment(env), cwd=self.directory, start_new_session=True,
            )
        proc = LabProcess(h, list(argv), popen, log_path, label)
        self.processes.append(proc)
        return proc

    # --- the cluster's programs ----------------------------------------------------------------

    def use_auth(self) -> str:
        """Write a cluster secret (0600) for this lab; later processes get ``--auth-file``."""
        from pardata.security import write_secret

        if self._auth_file is None:
            path = os.path.join(self.directory, "cluster.secret")
            write_secret(path)
            self._auth_file = path
        return self._auth_file

    def client_env(self) -> dict:
        """Environment for a client script: the cluster secret when the lab uses one."""
        if self._auth_file is None:
            return {}
        from pardata.comm.auth import encode_secret
        from pardata.security import load_secret

        return {"PARDATA_AUTH_SECRET": encode_secret(load_secret(self._auth_file))}

    def _auth_args(self) -> list:
        return ["--auth-file", self._auth_file] if self._auth_file is not None else []

    def start_scheduler(self, host: str, *, port: int = 8786, env: Mapping[str, str] | None = None,
                        timeout: float = 60.0) -> LabProcess:
        """``python -m scheduler`` listening on the host's address; waits until it listens."""
        h = self._live(host)
        info = os.path.join(self.directory, f"scheduler-{len(self.processes)}.json")
        argv = [self.python, "-m", "scheduler", "--host", h.address, "--port", str(port), "--no-dashboard",
                "--scheduler-file", info, *self._auth_args()]
        proc = self.spawn(host, argv, env=env, label="scheduler")
        _wait_for_file(info, proc, timeout, f"the scheduler on {host}")  # written once it listens
        with open(info) as f:
            proc.address = json.load(f)["address"]
        return proc

    def start_delay_proxy(self, host: str, target: str, *, port: int = 9786, delay: float = 0.05,
                          lifetime: float = 120.0, timeout: float = 30.0) -> LabProcess:
        """A ``pardata.testing.delay_proxy`` on ``host``:``port`` forwarding to ``target``
        (``tcp://HOST:PORT``) with ``delay`` seconds added each way; ``.address`` is the
        ``tcp://`` address to use instead of ``target``. It exits after ``lifetime`` s."""
        h = self._live(host)
        n = len(self.processes)
        ready = os.path.join(self.directory, f"proxy-{n}.json")
        stats = os.path.join(self.directory, f"proxy-{n}.stats.json")
        argv = [self.python, "-m", "pardata.testing.delay_proxy", "--listen", f"{h.address}:{port}",
                "--target", target.split("://", 1)[-1], "--delay", str(delay), "--lifetime", str(lifetime),
                "--ready-file", ready, "--stats-file", stats]
        proc = self.spawn(host, argv, label="delay-proxy")
        _wait_for_file(ready, proc, timeout, f"the delay proxy on {host}")
        proc.address = f"tcp://{h.address}:{port}"
        proc.stats_file = stats
        return proc

    def start_worker(self, host: str, scheduler_address: str, *, name: str | None = None, nthreads: int = 1,
                     args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> LabProcess:
        """``python -m worker`` (with its nanny) on ``host``. Returns at once: a script
        waits for the workers it needs (``wait_for_workers``)."""
        h = self._live(host)
        argv = [self.python, "-m", "worker", scheduler_address, "--host", h.address, "--nthreads", str(nthreads),
                "--name", name or host, "--local-directory", os.path.join(self.directory, f"space-{host}"),
                *self._auth_args(), *args]
        return self.spawn(host, argv, env=env, label=f"worker-{host}")

    def start_python(self, host: str, code: str, *, args: Sequence[str] = (),
                     env: Mapping[str, str] | None = None) -> "ScriptRun":
        """Start ``code`` as a script inside ``host``; see ``ScriptRun`` and ``checkpoint``."""
        name = f"script-{secrets.token_hex(4)}"
        path = os.path.join(self.directory, f"{name}.py")
        sync = os.path.join(self.directory, f"{name}.sync")
        os.makedirs(sync)
        with open(path, "w") as f:
            f.write(code)
        proc = self.spawn(host, [self.python, path, *map(str, args)], label=name,
                          env={**self.client_env(), SYNC_ENV: sync, **(env or {})})
        return ScriptRun(self, proc, sync)

    def run_python(self, host: str, code: str, *, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                   timeout: float = 60.0) -> Any:
        """Run ``code`` as a script inside ``host``; return the value it passed to ``emit``."""
        return self.start_python(host, code, args=args, env=env).result(timeout)

    def logs(self, tail: int = 1500) -> str:
        """The end of every lab process's log, for failure messages."""
        parts = []
        for proc in self.processes:
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"--- {proc.label} on {proc.host.name} ({state}) ---\n{proc.log()[-tail:]}")
        return "\n".join(parts)

    # --- faults ----------------------------------------------------------------------------------

    def nft(self, host: str, script: str) -> None:
        """Apply an nftables ``script`` inside ``host`` (``nft -f -``)."""
        nft = _tool("nft")
        if not os.path.isabs(nft):
            raise NetLabError("nft is not installed (apt-get install -y nftables; 'make test' does it)")
        argv = [_tool("ip"), "netns", "exec", self._live(host).netns, nft, "-f", "-"]
        proc = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=20)
        if proc.returncode != 0:
            raise NetLabError(f"nft on {host} failed: {proc.stderr.strip()}\nscript:\n{script}")

    def partition(self, host: str) -> None:
        """Cut ``host`` off: drop every packet in or out except on loopback."""
        self.nft(host, "table inet netlab_part {\n"
                       "  chain in { type filter hook input priority 0; policy drop; iifname \"lo\" accept; }\n"
                       "  chain out { type filter hook output priority 0; policy drop; oifname \"lo\" accept; }\n"
                       "}\n")

    def heal(self, host: str) -> None:
        """Undo ``partition``."""
        self.nft(host, "delete table inet netlab_part\n")

    def set_loss(self, host: str, percent: int) -> None:
        """Drop ``percent`` % of the packets ``host`` sends on its link, at random (0 clears)."""
        if not 0 <= percent <= 100:
            raise ValueError(f"loss is a percentage in [0, 100], got {percent}")
        self.nft(host, "table inet netlab_loss\ndelete table inet netlab_loss\n")  # idempotent
        if percent:
            self.nft(host, "table inet netlab_loss {\n"
                           "  chain out { type filter hook output priority 0; policy accept;\n"
                           f"    oifname \"eth0\" numgen random mod 100 < {int(percent)} counter drop; }}\n"
                           "}\n")

    def dropped_packets(self, host: str) -> int:
        """Packets dropped so far by ``set_loss`` on ``host``."""
        proc = self.exec(host, ["nft", "list", "table", "inet", "netlab_loss"], check=False)
        found = re.search(r"counter packets (\d+)", proc.stdout)
        return int(found.group(1)) if found else 0

    def cap_bandwidth(self, host: str, rate: str = "8mbit", burst: str = "32kbit", latency: str = "400ms") -> None:
        """Cap ``host``'s link at ``rate`` both ways (token bucket on both veth ends)."""
        spec = ["tbf", "rate", rate, "burst", burst, "latency", latency]
        h = self._live(host)
        _run(["ip", "netns", "exec", h.netns, _tool("tc"), "qdisc", "replace", "dev", "eth0", "root", *spec])
        _run(["ip", "netns", "exec", self.bridge_netns, _tool("tc"), "qdisc", "replace", "dev", h.port_name, "root",
              *spec])

    def uncap_bandwidth(self, host: str) -> None:
        h = self._live(host)
        _run(["ip", "netns", "exec", h.netns, _tool("tc"), "qdisc", "del", "dev", "eth0", "root"], check=False)
        _run(["ip", "netns", "exec", self.bridge_netns, _tool("tc"), "qdisc", "del", "dev", h.port_name, "root"],
             check=False)


def _wait_for_file(path: str, proc: LabProcess, timeout: float, what: str) -> None:
    """Wait (bounded) until ``proc`` writes ``path``; fail with its log if it exits first."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if not proc.alive():
            raise NetLabError(f"{what} exited ({proc.popen.returncode}):\n{proc.log()[-3000:]}")
        if time.monotonic() > deadline:
            raise NetLabError(f"{what} did not start within {timeout}s:\n{proc.log()[-3000:]}")
        time.sleep(0.05)


class ScriptRun:
    """A script running inside a lab host (``NetLab.start_python``).

    The script calls ``checkpoint(name)`` where the test should act; the test calls
    ``wait_reached(name)``, does what it must (a partition, say) and ``release(name)``.
    ``result()`` waits for the script and returns the value it passed to ``emit``.
    """

    def __init__(self, lab: NetLab, process: LabProcess, sync_directory: str) -> None:
        self.lab = lab
        self.process = process
        self.sync_directory = sync_directory

    def _fail(self, what: str) -> NetLabError:
        return NetLabError(f"script on {self.process.host.name} {what}:\n{self.process.log()[-5000:]}\n"
                           f"{self.lab.logs()}")

    def wait_reached(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        marker = os.path.join(self.sync_directory, f"{name}.reached")
        while not os.path.exists(marker):
            if not self.process.alive():
                raise self._fail(f"exited ({self.process.popen.returncode}) before checkpoint {name!r}")
            if time.monotonic() > deadline:
                raise self._fail(f"did not reach checkpoint {name!r} within {timeout}s")
            time.sleep(0.02)

    def release(self, name: str) -> None:
        with open(os.path.join(self.sync_directory, f"{name}.go"), "w"):
            pass

    def result(self, timeout: float = 60.0) -> Any:
        try:
            code = self.process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.stop(timeout=1.0)
            raise self._fail(f"did not finish within {timeout}s") from None
        out = self.process.log()
        results = [line[len(RESULT_MARKER):] for line in out.splitlines() if line.startswith(RESULT_MARKER)]
        if code != 0 or not results:
            raise self._fail(f"failed (exit code {code})")
        return json.loads(results[-1])


def _kill_netns_processes(netns: str) -> None:
    """SIGKILL every process still inside lab namespace ``netns`` (bounded: 5 rounds)."""
    for _ in range(5):
        proc = subprocess.run([_tool("ip"), "netns", "pids", netns], capture_output=True, text=True, timeout=10)
        pids = [int(p) for p in proc.stdout.split() if p.isdigit()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def remove_stale_labs() -> list:
    """Delete lab namespaces whose creating process is gone (a run that was killed)."""
    proc = subprocess.run([_tool("ip"), "netns", "list"], capture_output=True, text=True, timeout=10)
    removed = []
    for line in proc.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        found = _LAB_NAME.match(name)
        if found is None or _pid_alive(int(found.group(1))):
            continue
        _kill_netns_processes(name)
        subprocess.run([_tool("ip"), "netns", "del", name], capture_output=True, timeout=10)
        removed.append(name)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
