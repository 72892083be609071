"""The pardata worker process.

``worker.state.WorkerState`` is its pure state machine: events in
(``worker.events``), instructions out (``worker.instructions``), with the
transition table in ``worker.transitions`` and invariants in
``worker.validation``; ``worker.testing`` builds events for tests. No module
among these does I/O, threads or clocks; the server, executor, data store,
spill and nanny live around them and speak to the scheduler only through the
wire protocol.
"""
