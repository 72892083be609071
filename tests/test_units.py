import datetime

import pytest

from pardata._units import format_bytes, parse_bytes, parse_timedelta


@pytest.mark.parametrize(
    "text, expected",
    [
        (123, 123),
        (1.5e3, 1500),
        ("123", 123),
        ("1e9", 10**9),
        ("100kB", 100_000),
        ("100 KB", 100_000),
        ("100k", 100_000),
        ("128MiB", 128 * 2**20),
        ("1.5 GB", 1_500_000_000),
        ("2GiB", 2 * 2**30),
        ("2 gib", 2 * 2**30),
        ("1 TiB", 2**40),
        ("3 PB", 3 * 10**15),
        ("4.35 kB", 4350),
        ("  7 B ", 7),
        ("0", 0),
        (".5 KiB", 512),
    ],
)
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected
    assert isinstance(parse_bytes(text), int)


@pytest.mark.parametrize("text", ["", "abc", "12 XB", "1.5.2 GB", "GB", "-5MB", "nan", "1 GB extra"])
def test_parse_bytes_errors_name_the_input(text):
    with pytest.raises(ValueError) as info:
        parse_bytes(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("value", [None, [1], True])
def test_parse_bytes_type_errors(value):
    with pytest.raises(TypeError):
        parse_bytes(value)


def test_parse_bytes_rejects_infinite_and_negative_numbers():
    with pytest.raises(ValueError):
        parse_bytes(float("inf"))
    with pytest.raises(ValueError):
        parse_bytes(-1)


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (1536, "1.50 KiB"),
        (128 * 2**20, "128.00 MiB"),
        (int(1.5 * 2**30), "1.50 GiB"),
        (5 * 2**40, "5.00 TiB"),
        (-2048, "-2.00 KiB"),
    ],
)
def test_format_bytes(n, expected):
    assert format_bytes(n) == expected


@pytest.mark.parametrize("n", [0, 1, 1000, 123456789, 2**33 + 17])
def test_format_bytes_round_trips_approximately(n):
    assert parse_bytes(format_bytes(n)) == pytest.approx(n, rel=0.01)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("30s", 30.0),
        ("30 s", 30.0),
        ("100ms", 0.1),
        ("2 minutes", 120.0),
        ("2m", 120.0),
        ("1.5h", 5400.0),
        ("1 hour", 3600.0),
        ("3 days", 3 * 86400.0),
        ("1w", 604800.0),
        ("250us", 250e-6),
        ("10ns", 10e-9),
        ("5 Seconds", 5.0),
        ("7", 7.0),
        (7, 7.0),
        (0.5, 0.5),
        (datetime.timedelta(minutes=1), 60.0),
    ],
)
def test_parse_timedelta(value, expected):
    result = parse_timedelta(value)
    assert result == pytest.approx(expected)
    assert isinstance(result, float)


def test_parse_timedelta_default_unit():
    assert parse_timedelta(3, default="ms") == pytest.approx(0.003)
    assert parse_timedelta("3", default="minutes") == 180.0
    assert parse_timedelta("3s", default="ms") == 3.0


def test_parse_timedelta_none_passes_through():
    assert parse_timedelta(None) is None


@pytest.mark.parametrize("value", ["", "soon", "30 parsecs", "s", "1.2.3s"])
def test_parse_timedelta_errors_name_the_input(value):
    with pytest.raises(ValueError) as info:
        parse_timedelta(value)
    assert repr(value) in str(info.value)


def test_parse_timedelta_unit_required_without_default():
    with pytest.raises(ValueError, match="needs a unit"):
        parse_timedelta("5", default=None)
    assert parse_timedelta("5s", default=None) == 5.0


def test_parse_timedelta_bad_default():
    with pytest.raises(ValueError, match="fortnights"):
        parse_timedelta(1, default="fortnights")


@pytest.mark.parametrize("value", [[1], True, object()])
def test_parse_timedelta_type_errors(value):
    with pytest.raises(TypeError):
        parse_timedelta(value)
