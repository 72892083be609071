"""Memory-aware execution for the worker: account, spill, pause, terminate.

- ``spill.SpillBuffer``: the worker's data store; a mapping that keeps recent values in
  memory and writes least-recently-used ones to local disk (off the event loop on request),
  reopenable after a crash.
- ``spillfile``: the on-disk format of one spilled value (self-describing, atomic).
- ``policy.MemoryPolicy``: a pure function of a memory sample deciding to spill, pause,
  unpause or terminate, with a human-readable reason. Standard library only.
- ``running.RunMeter``: how far each task run raises the process's RSS (its peak), so
  the scheduler learns what a kind of task needs while it runs, not only its output.
- ``monitor.MemoryMonitor``: samples RSS and the buffer periodically, applies the policy,
  and exposes the state for heartbeats; ``parse_memory_limit`` turns ``"2GiB"``/``"auto"``
  into bytes.

The nanny that restarts a worker is ``worker.nanny``.
"""
