"""The scheduler's ``/metrics``: Prometheus text about tasks, workers, memory and transfers."""

from __future__ import annotations

from pardata.diagnostics.prometheus import Exposition

from ..records import ALL_STATES

__all__ = ["scheduler_metrics"]


def scheduler_metrics(data) -> str:
    """Prometheus text for the scheduler behind ``data`` (a `DashboardData`)."""
    server, state, metrics = data.server, data.state, data.metrics
    out = Exposition()
    counts = state.task_states_counts()
    out.add("pardata_scheduler_tasks", "gauge", "Tasks known to the scheduler, by state.",
            [({"state": s}, counts.get(s, 0)) for s in ALL_STATES])
    done = metrics.task_stream.total
    out.add("pardata_scheduler_task_runs_total", "counter",
            "Task runs and worker activities reported to the scheduler since it started.", [({}, done)])
    out.add("pardata_scheduler_task_errors_total", "counter", "Task runs that raised.", [({}, metrics.erred_total)])
    out.add("pardata_scheduler_stale_messages_total", "counter",
            "Worker messages dropped because they were about an outdated attempt.", [({}, state.stale_messages)])
    paused = sum(1 for ws in state.workers.values() if ws.paused)
    out.add("pardata_scheduler_workers", "gauge", "Connected workers, running or paused.",
            [({"status": "running"}, len(state.workers) - paused), ({"status": "paused"}, paused)])
    out.add("pardata_scheduler_threads", "gauge", "Threads of all connected workers.",
            [({}, sum(ws.nthreads for ws in state.workers.values()))])
    out.add("pardata_scheduler_clients", "gauge", "Connected clients.", [({}, len(server.clients))])
    out.add("pardata_scheduler_event_loop_latency_seconds", "gauge",
            "How late the scheduler's event loop ran a timer, last measurement.", [({}, metrics.loop_latency)])

    rows = data.workers()
    total = {"managed": 0, "unmanaged": 0, "spilled": 0}
    memory, limits, paused_rows, threads, processing = [], [], [], [], []
    transfers, cpu, latency = [], [], []
    for r in rows:
        w = {"worker": r["address"], "name": r["name"]}
        for kind in ("managed", "unmanaged", "spilled"):
            memory.append(({**w, "type": kind}, r[kind]))
            total[kind] += r[kind]
        limits.append((w, r["memory_limit"]))
        paused_rows.append((w, 1 if r["paused"] else 0))
        threads.append((w, r["nthreads"]))
        processing.append((w, r["processing"]))
        transfers.append(({**w, "direction": "in"}, r["transfer_in_bytes"]))
        transfers.append(({**w, "direction": "out"}, r["transfer_out_bytes"]))
        cpu.append((w, r["cpu"]))
        latency.append((w, r["loop_latency"]))
    out.add("pardata_cluster_memory_bytes", "gauge", "Memory of all workers by type.",
            [({"type": k}, v) for k, v in total.items()])
    out.add("pardata_cluster_spilled_bytes", "gauge", "Bytes of task results spilled to disk on all workers.",
            [({}, total["spilled"])])
    out.add("pardata_cluster_transfer_bytes_total", "counter", "Bytes workers fetched from each other.",
            [({}, sum(r["transfer_in_bytes"] for r in rows))])
    out.add("pardata_worker_memory_bytes", "gauge", "Worker memory by type (as last reported).", memory)
    out.add("pardata_worker_memory_limit_bytes", "gauge", "Worker memory limit (0: none).", limits)
    out.add("pardata_worker_paused", "gauge", "1 while the worker is paused (memory pressure).", paused_rows)
    out.add("pardata_worker_threads", "gauge", "Threads of the worker.", threads)
    out.add("pardata_worker_processing_tasks", "gauge", "Tasks assigned to the worker and not finished.",
            processing)
    out.add("pardata_worker_transfer_bytes_total", "counter", "Bytes the worker received from / sent to peers.",
            transfers)
    out.add("pardata_worker_cpu_percent", "gauge", "CPU use of the worker process (100 = one core).", cpu)
    out.add("pardata_worker_event_loop_latency_seconds", "gauge", "How late the worker's event loop ran a timer.",
            latency)
    return out.render()
