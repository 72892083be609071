"""Element-wise steps over one partition: each takes iterables, returns an iterable.

Input partitions come last in every signature and are iterated at most once, so a
step accepts a list or the lazy output of the step before it (see
``pardata.bag.optimize``). Where a builtin does the job (``map``, ``filter``,
``itertools.starmap``, ``chain.from_iterable``) the layer calls it directly and nothing
here is involved; these are the steps that need a little more.
"""
from __future__ import annotations

import json
import json.scanner
from functools import partial
from itertools import islice, starmap
from operator import itemgetter
from typing import Any, Callable, Iterable


class BagSlot:
    """Placeholder in a ``map`` call template: the element of the ``index``-th bag."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __repr__(self) -> str:
        return f"BagSlot({self.index})"

    def __eq__(self, other: object) -> bool:
        return type(other) is BagSlot and other.index == self.index

    def __hash__(self) -> int:
        return hash((BagSlot, self.index))

    def __reduce__(self):
        return (BagSlot, (self.index,))


def _zipped(parts: tuple) -> Iterable[tuple]:
    return zip(*parts, strict=True)


def map_zip(func: Callable, *parts: Iterable) -> Iterable:
    """``func(a, b, ...)`` over partitions of several bags taken in lockstep.

    Unlike ``map``, unequal partition lengths raise ``ValueError`` instead of silently
    dropping the tail of the longer bag.
    """
    return starmap(func, _zipped(parts))


def map_template(func: Callable, template: tuple, kwargs: dict, *parts: Iterable) -> Iterable:
    """``func(*template, **kwargs)`` per element, ``BagSlot`` entries filled from ``parts``."""
    slots = [(pos, arg.index) for pos, arg in enumerate(template) if type(arg) is BagSlot]
    base = list(template)
    if kwargs:
        func = partial(func, **kwargs)

    def call(items: tuple):
        args = base.copy()
        for pos, index in slots:
            args[pos] = items[index]
        return func(*args)

    return map(call, _zipped(parts))


def starmap_kwargs(func: Callable, kwargs: dict, part: Iterable) -> Iterable:
    return starmap(partial(func, **kwargs), part)


def getter(key: Any) -> Callable:
    """``x -> x[key]``, or a tuple of ``x[k]`` when ``key`` is a list (even of one)."""
    if type(key) is list:
        if len(key) == 1:
            single = key[0]
            return lambda x: (x[single],)
        return itemgetter(*key)
    return itemgetter(key)


def pluck_default(key: Any, default: Any, part: Iterable) -> Iterable:
    """``x[key]`` per element, ``default`` where the key or index is missing."""
    keys = key if type(key) is list else None
    for x in part:
        if keys is None:
            try:
                value = x[key]
            except (KeyError, IndexError):
                value = default
        else:
            found = []
            for k in keys:
                try:
                    found.append(x[k])
                except (KeyError, IndexError):
                    found.append(default)
            value = tuple(found)
        yield value


def head(k: int, part: Iterable) -> Iterable:
    """The first ``k`` elements: a lazy input stops being computed after them."""
    return islice(part, k)


def call_partitions(func: Callable, template: tuple, kwargs: dict, *parts: Iterable) -> Any:
    """``map_partitions``: ``func`` gets each input partition as a list."""
    args = [list(parts[a.index]) if type(a) is BagSlot else a for a in template]
    return func(*args, **kwargs)


def join_part(other: Iterable, on_other: Any, on_self: Any, part: Iterable) -> Iterable:
    """``(other_element, self_element)`` for every pair with equal keys (an inner join).

    The output follows the order of ``part``; matches from ``other`` come in their own
    order. ``on_*`` are functions or, when not callable, indices/keys.
    """
    key_other = on_other if callable(on_other) else itemgetter(on_other)
    key_self = on_self if callable(on_self) else itemgetter(on_self)
    index: dict = {}
    for y in other:
        index.setdefault(key_other(y), []).append(y)
    get = index.get
    for x in part:
        for y in get(key_self(x), ()):
            yield (y, x)


def accumulate_part(binop: Callable, initial: Any, first: bool, carry: Any, part: Iterable) -> tuple:
    """One partition of a running reduction: ``(list of running values, carry)``.

    ``carry`` is the previous partition's ``(has_value, value)``; ``first`` marks the
    very first partition, where ``initial`` (if given) is emitted as
    ``itertools.accumulate`` does.
    """
    from pardata.bag.reductions import NO_VALUE

    has, acc = carry
    out = []
    if first and initial is not NO_VALUE:
        has, acc = True, initial
        out.append(acc)
    for x in part:
        if has:
            acc = binop(acc, x)
        else:
            has, acc = True, x
        out.append(acc)
    return out, (has, acc)


_JSON_SCAN = json.scanner.c_make_scanner(json.JSONDecoder()) if json.scanner.c_make_scanner else None
_JSON_SPACE = " \t\n\r"


def json_loads_available() -> bool:
    return _JSON_SCAN is not None


def json_loads(text: Any) -> Any:
    """``json.loads(text)`` without its three layers of Python wrappers.

    ``Bag.map(json.loads)`` runs this: the C scanner is called directly on a ``str``
    that starts with a JSON value, and trailing JSON whitespace (a line's ``\n``) is
    allowed as ``json.loads`` allows it. Anything else (bytes, leading whitespace, a
    BOM, invalid or extra data) goes to ``json.loads`` itself, so results and error
    messages are exactly its own. About a third faster on typical JSON lines.
    """
    if type(text) is str:
        try:
            obj, end = _JSON_SCAN(text, 0)
        except StopIteration:
            return json.loads(text)
        if end == len(text) or not text[end:].strip(_JSON_SPACE):
            return obj
    return json.loads(text)
