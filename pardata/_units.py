"""Parse and format byte sizes and durations written the way people write them.

Config values, command-line flags and keyword arguments all accept strings such as
``"128MiB"`` or ``"30s"``; every module that reads one goes through these functions so
the accepted spellings and the error messages are the same everywhere. Plain Python
only: this module is imported at startup and must stay cheap.
"""

from __future__ import annotations

import datetime
import re

__all__ = ["parse_bytes", "format_bytes", "parse_timedelta"]

# A decimal number with optional sign, fraction and exponent, then the rest is the unit.
_NUMBER_UNIT = re.compile(
    r"^\s*(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[^\d\s].*?)?\s*$"
)

_PREFIXES = "kmgtpe"  # kilo .. exa, in powers of 1000 (SI) or 1024 (IEC)


def _byte_units() -> dict[str, int]:
    units = {"": 1, "b": 1, "byte": 1, "bytes": 1}
    for power, prefix in enumerate(_PREFIXES, start=1):
        units[prefix] = units[prefix + "b"] = 1000**power
        units[prefix + "i"] = units[prefix + "ib"] = 1024**power
    return units


_BYTE_UNITS = _byte_units()


def parse_bytes(value: int | float | str) -> int:
    """Return a byte count from an int or a string like ``"128MiB"``, ``"1.5 GB"``, ``"1e9"``.

    SI prefixes (kB, MB, GB, ...) are powers of 1000, IEC prefixes (KiB, MiB, GiB, ...)
    powers of 1024; units are case-insensitive and a bare number means bytes.

    >>> parse_bytes("2GiB")
    2147483648
    >>> parse_bytes("1.5 kB")
    1500
    """
    if isinstance(value, bool):
        raise TypeError(f"parse_bytes expects a number or a string, got {value!r}")
    if isinstance(value, (int, float)):
        number, multiplier = value, 1
    elif isinstance(value, str):
        match = _NUMBER_UNIT.match(value)
        if match is None:
            raise ValueError(f"cannot parse {value!r} as a byte size (expected e.g. '128MiB' or '1.5 GB')")
        unit = (match["unit"] or "").lower()
        if unit not in _BYTE_UNITS:
            raise ValueError(f"unknown byte unit {match['unit']!r} in {value!r} (expected e.g. B, kB, MiB, GB)")
        number, multiplier = float(match["number"]), _BYTE_UNITS[unit]
    else:
        raise TypeError(f"parse_bytes expects a number or a string, got {type(value).__name__}: {value!r}")
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"byte size must be finite, got {value!r}")
    if number < 0:
        raise ValueError(f"byte size must not be negative, got {value!r}")
    # round(), not int(): 4.35 * 1000 is 4349.999... in binary floating point.
    return int(round(number * multiplier))


_IEC_STEPS = [(1024**p, f"{prefix.upper()}iB") for p, prefix in enumerate(_PREFIXES, start=1)][::-1]


def format_bytes(n: int | float) -> str:
    """Return a short human-readable size using IEC units.

    >>> format_bytes(1610612736)
    '1.50 GiB'
    >>> format_bytes(512)
    '512 B'
    """
    if n < 0:
        return "-" + format_bytes(-n)
    for size, unit in _IEC_STEPS:
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def format_size(n: int | float) -> str:
    """Bytes with one decimal at most, IEC units, for messages people read:
    ``format_size(8 * 2**30) == '8 GiB'``.

    >>> format_size(int(7.94 * 2**30)), format_size(1536), format_size(12)
    ('7.9 GiB', '1.5 KiB', '12 B')
    """
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            break
        value /= 1024
    if unit == "B":
        return f"{int(n)} B"
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _time_units() -> dict[str, float]:
    spellings = {
        1e-9: ["ns", "nanosecond"],
        1e-6: ["us", "µs", "microsecond"],
        1e-3: ["ms", "millisecond"],
        1.0: ["s", "sec", "second"],
        60.0: ["m", "min", "minute"],
        3600.0: ["h", "hr", "hour"],
        86400.0: ["d", "day"],
        604800.0: ["w", "wk", "week"],
    }
    units = {}
    for seconds, names in spellings.items():
        for name in names:
            units[name] = seconds
            if len(name) > 2:  # plurals for words only: "secs", "minutes"; not "mss"
                units[name + "s"] = seconds
    return units


_TIME_UNITS = _time_units()


def parse_timedelta(
    value: str | int | float | datetime.timedelta | None, default: str | None = "seconds"
) -> float | None:
    """Return a duration in seconds from ``"30s"``, ``"100ms"``, ``"2 minutes"`` or a number.

    A bare number (or a string without a unit) is read in the ``default`` unit; with
    ``default=None`` a unit is required. ``None`` passes through so optional timeouts
    can be forwarded unchanged.

    >>> parse_timedelta("100ms")
    0.1
    >>> parse_timedelta(3, default="ms")
    0.003
    """
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if default is not None and default.lower() not in _TIME_UNITS:
        raise ValueError(f"unknown default time unit {default!r}")
    if isinstance(value, bool):
        raise TypeError(f"parse_timedelta expects a number or a string, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        match = _NUMBER_UNIT.match(value)
        if match is None:
            raise ValueError(f"cannot parse {value!r} as a duration (expected e.g. '30s' or '100ms')")
        number, unit = float(match["number"]), (match["unit"] or "").lower()
    else:
        raise TypeError(f"parse_timedelta expects a number or a string, got {type(value).__name__}: {value!r}")
    if not unit:
        if default is None:
            raise ValueError(f"duration {value!r} needs a unit (e.g. '30s')")
        unit = default.lower()
    if unit not in _TIME_UNITS:
        raise ValueError(f"unknown time unit {unit!r} in {value!r} (expected e.g. ms, s, minutes, h)")
    return number * _TIME_UNITS[unit]
