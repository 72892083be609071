"""Comm settings read from ``pardata.config``, shared by scheduler, workers and clients.

================================================  =====================================
config key                                        meaning
================================================  =====================================
``distributed.comm.timeouts.connect``             give up connecting after this long
``distributed.comm.timeouts.tcp``                 a started message must arrive within
                                                  this (plus size / minimum rate)
``distributed.comm.timeouts.handshake``           a new connection must finish its
                                                  handshake (authentication) within this
``distributed.comm.limits.max-message-bytes``     largest message accepted
``distributed.comm.limits.max-frames``            most frames in one message
``distributed.comm.batched-send-interval``        least time between two writes of
                                                  batched small messages to one peer
================================================  =====================================
"""

from __future__ import annotations

import dataclasses

from pardata import config
from pardata._units import parse_bytes, parse_timedelta

from .core import Limits

__all__ = ["limits_from_config", "connect_timeout", "handshake_timeout", "batched_send_interval"]


def limits_from_config() -> Limits:
    """``Limits`` with the configured overrides applied to the defaults."""
    base = Limits()
    changes: dict = {}
    tcp = config.get("distributed.comm.timeouts.tcp", None)
    if tcp is not None:
        changes["read_timeout"] = float(parse_timedelta(tcp))
    size = config.get("distributed.comm.limits.max-message-bytes", None)
    if size is not None:
        nbytes = int(parse_bytes(size))
        changes["max_message_bytes"] = nbytes
        changes["max_frame_bytes"] = min(base.max_frame_bytes, nbytes)
    frames = config.get("distributed.comm.limits.max-frames", None)
    if frames is not None:
        changes["max_frames"] = int(frames)
    return dataclasses.replace(base, **changes) if changes else base


def connect_timeout() -> float:
    """Seconds to keep trying to reach a peer (``distributed.comm.timeouts.connect``)."""
    return float(parse_timedelta(config.get("distributed.comm.timeouts.connect", "30s")))


def handshake_timeout() -> float:
    """Seconds a listener gives a new connection to complete the handshake
    (``distributed.comm.timeouts.handshake``, default 10 s): a peer that connects and
    then stalls or dribbles bytes (slow loris) is dropped after this."""
    return float(parse_timedelta(config.get("distributed.comm.timeouts.handshake", "10s")))


def batched_send_interval() -> float:
    """Least seconds between two writes of one ``BatchedSend`` (default 1 ms).

    A stream idle for that long writes at the end of the current event-loop
    iteration, so a lone message pays no timer; a busy stream writes at most once per
    interval, so thousands of messages a second to one peer share a few hundred
    writes (each write also wakes the peer up). Zero writes once per loop iteration.
    """
    return float(parse_timedelta(config.get("distributed.comm.batched-send-interval", "1ms")))
