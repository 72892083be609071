"""The processes behind the ``processes`` scheduler.

Each ``WorkerProcess`` is a fresh interpreter (``python -m pardata.local._child``)
talking to its parent over two pipes with length-prefixed cloudpickle messages. Unlike
``multiprocessing``'s spawn, it never re-imports the caller's ``__main__`` script, so
scripts without an ``if __name__ == "__main__"`` guard work. One loop thread of the
parent owns one process at a time. A child that dies is noticed by end-of-file on its
pipe and reported as ``WorkerProcessDied``; the next run starts a replacement. Children
exit by themselves when the parent goes away (their input pipe closes).

Task exceptions come back pickled when possible, else as ``RemoteTaskError`` with the
original type name and message, and always with the child's traceback text as a note.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import traceback

import cloudpickle

_HEADER = 8


class RemoteTaskError(Exception):
    """A task raised an exception in a worker process that could not be sent back."""


class WorkerProcessDied(RuntimeError):
    """A process of the local process pool died while running a task."""


# ---------------------------------------------------------------------------- child side

def run_payload(payload: bytes):
    """Run one task; return ``(True, pickled result)`` or ``(False, error info)``."""
    node, inputs = pickle.loads(payload)
    try:
        result = node(inputs)
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller
        tb = traceback.format_exc()
        try:
            blob = cloudpickle.dumps(exc, protocol=5)
            pickle.loads(blob)
        except Exception:  # noqa: BLE001 - unpicklable exception
            blob = None
        return False, (blob, type(exc).__qualname__, str(exc), tb)
    try:
        return True, cloudpickle.dumps(result, protocol=5)
    except Exception as exc:  # noqa: BLE001
        msg = f"the result of task {node.key!r} ({type(result).__qualname__}) cannot be pickled: {exc}"
        return False, (None, "SerializationError", msg, traceback.format_exc())


def _read_exact(f, n: int) -> bytes | None:
    data = f.read(n)
    if data is None or len(data) < n:
        return None
    return data


def _child_main(read_fd: int, write_fd: int) -> None:
    rf = os.fdopen(read_fd, "rb")
    wf = os.fdopen(write_fd, "wb")
    while True:
        header = _read_exact(rf, _HEADER)
        if header is None:
            return
        payload = _read_exact(rf, int.from_bytes(header, "little"))
        if payload is None:
            return
        try:
            reply = pickle.dumps(run_payload(payload), protocol=5)
        except BaseException as exc:  # noqa: BLE001 - e.g. the payload would not unpickle
            info = (None, type(exc).__qualname__, str(exc), traceback.format_exc())
            reply = pickle.dumps((False, info), protocol=5)
        wf.write(len(reply).to_bytes(_HEADER, "little"))
        wf.write(reply)
        wf.flush()


# --------------------------------------------------------------------------- parent side

def dumps(obj) -> bytes:
    return cloudpickle.dumps(obj, protocol=5)


def rebuild_exception(info) -> BaseException:
    blob, type_name, message, tb = info
    exc = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)
        except Exception:  # noqa: BLE001
            exc = None
    if exc is None:
        exc = RemoteTaskError(f"{type_name}: {message}")
    if isinstance(exc, Exception):
        exc.add_note("Traceback in the worker process:\n" + tb.rstrip())
    return exc


class WorkerProcess:
    """One child interpreter that runs pickled tasks, one at a time."""

    def __init__(self):
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        # The child must import what the parent imported (test modules, user packages).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pardata.local._child", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._w = os.fdopen(to_child_w, "wb")
        self._r = os.fdopen(from_child_r, "rb")
        self.lock = threading.Lock()
        self.dead = False

    def run(self, payload: bytes, key) -> object:
        """Send a task, wait for the answer; return the result or raise its exception."""
        try:
            self._w.write(len(payload).to_bytes(_HEADER, "little"))
            self._w.write(payload)
            self._w.flush()
            header = _read_exact(self._r, _HEADER)
            reply = header and _read_exact(self._r, int.from_bytes(header, "little"))
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            self.close()
            code = self.proc.returncode
            raise WorkerProcessDied(
                f"the worker process running task {key!r} died (exit code {code}: "
                "killed, out of memory, or crashed in native code)"
            )
        ok, data = pickle.loads(reply)
        if ok:
            return pickle.loads(data)
        raise rebuild_exception(data)

    def close(self) -> None:
        self.dead = True
        for f in (self._w, self._r):
            try:
                f.close()
            except OSError:  # the child is gone; nothing to flush to
                pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

