"""Build a `SchedulerState` from `pardata.config`.

Kept apart from the state machine so that `scheduler.state` imports nothing but the
standard library: the config module takes a lock, and state modules stay thread-free.
Keys live under ``distributed.scheduler``; a missing key falls back to the default of
`SchedulerState`'s constructor argument of the same meaning.
"""

from __future__ import annotations

from pardata import config
from pardata._units import parse_bytes, parse_timedelta

from .state import SchedulerState

_SECTION = "distributed.scheduler."


def state_from_config(**overrides) -> SchedulerState:
    """A `SchedulerState` configured by ``distributed.scheduler.*``; keyword arguments win.

    ================================  ======================  =================
    config key                        argument                example
    ================================  ======================  =================
    worker-saturation                 worker_saturation       ``1.1``, ``inf``
    allowed-failures                  allowed_failures        ``3``
    worker-ttl                        heartbeat_timeout       ``"60s"``
    work-stealing                     work_stealing           ``true``
    bandwidth                         bandwidth               ``"100MB"``
    unknown-task-duration             default_task_duration   ``"500ms"``
    memory-admission                  memory_admission        ``0.8``, ``inf`` (off)
    root-pipeline                     root_pipeline           ``"10ms"``
    root-pipeline-bytes               root_pipeline_nbytes    ``"1MiB"``
    ================================  ======================  =================
    """
    kwargs: dict = {}

    def read(key: str, name: str, convert) -> None:
        value = config.get(_SECTION + key, None)
        if value is not None:
            kwargs[name] = convert(value)

    read("worker-saturation", "worker_saturation", float)
    read("allowed-failures", "allowed_failures", int)
    read("worker-ttl", "heartbeat_timeout", parse_timedelta)
    read("work-stealing", "work_stealing", bool)
    read("bandwidth", "bandwidth", lambda v: float(parse_bytes(v)))
    read("unknown-task-duration", "default_task_duration", parse_timedelta)
    read("memory-admission", "memory_admission", float)
    read("root-pipeline", "root_pipeline", parse_timedelta)
    read("root-pipeline-bytes", "root_pipeline_nbytes", lambda v: int(parse_bytes(v)))
    kwargs.update(overrides)
    return SchedulerState(**kwargs)
