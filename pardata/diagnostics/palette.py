"""Colours of kinds of task, the same in the dashboard, reports and notebook progress.

A task prefix (``"inc"`` for ``"inc-8f3a"``) gets a colour derived from a CRC of its
name, so it is stable across processes, runs and machines, with no palette to share.
"""

from __future__ import annotations

import colorsys
import zlib

__all__ = ["prefix_colour", "TRANSFER", "SPILL", "ERRED", "PROCESSING"]

TRANSFER = "#d9534f"
SPILL = "#8c8c8c"
ERRED = "#c8372d"
PROCESSING = "#8a93a3"


def prefix_colour(prefix: str) -> str:
    """A stable ``#rrggbb`` colour for a task prefix.

    >>> prefix_colour("inc") == prefix_colour("inc"), prefix_colour("inc") != prefix_colour("add")
    (True, True)
    >>> prefix_colour("transfer")
    '#d9534f'
    """
    if prefix == "transfer":
        return TRANSFER
    if prefix == "spill":
        return SPILL
    h = zlib.crc32(prefix.encode("utf-8", "surrogatepass"))
    hue = (h % 360) / 360.0
    saturation = 0.45 + ((h >> 9) % 25) / 100.0
    lightness = 0.48 + ((h >> 17) % 14) / 100.0
    r, g, b = colorsys.hls_to_rgb(hue, lightness, saturation)
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))
