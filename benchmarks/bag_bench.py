"""Bag workloads over generated JSON lines: a word count and a ``foldby`` (issue 7).

Target: pardata <= 0.7x Dask's wall time on the processes scheduler. ``--size`` is the
data size in MB (default 200; the issue's full size is 2000). The data is generated
once per size into ``$TMPDIR/pardata-bench-bag-<size>mb`` (one file per ~25 MB, with
the expected answers computed while writing) and reused by later runs. Both
libraries run the same pipeline with the same functions on the same files:

- ``bag_wordcount``: ``read_text -> map(json.loads) -> pluck("text") -> map(str.split)
  -> flatten -> frequencies``;
- ``bag_foldby``: ``read_text -> map(json.loads) -> foldby("user", add amount)``.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
from collections import Counter
from itertools import accumulate
from operator import add, itemgetter

from benchmarks.registry import Benchmark, register

FILE_MB = 25
N_USERS = 1000
N_WORDS = 5000


def _bag_module(lib):
    if lib.name == "pardata":
        import pardata.bag as bag
    else:
        import dask.bag as bag
    return bag


def _vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "é", "ü", "zh", "an"]
    words: set = set()
    while len(words) < N_WORDS:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    out = sorted(words)
    rng.shuffle(out)
    return out


def data_dir(size_mb: int) -> str:
    return os.path.join(tempfile.gettempdir(), f"pardata-bench-bag-{size_mb}mb")


def generate(size_mb: int) -> str:
    """Write ``size_mb`` MB of JSON lines (once) and the expected answers; return the dir."""
    directory = data_dir(size_mb)
    done = os.path.join(directory, "expected.json")
    if os.path.exists(done):
        return directory
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(size_mb)
    vocab = _vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]  # Zipf-like word frequencies
    cum = list(accumulate(weights))
    words: Counter = Counter()
    totals: dict = {}
    target = size_mb * 1_000_000
    written = 0
    record_id = 0
    n_files = max(2, -(-size_mb // FILE_MB))
    per_file = target // n_files
    for index in range(n_files):
        lines = []
        size = 0
        while size < per_file:
            text = rng.choices(vocab, cum_weights=cum, k=rng.randint(4, 20))
            user = f"user{rng.randrange(N_USERS):04d}"
            amount = rng.randrange(10_000)
            line = json.dumps({"id": record_id, "user": user, "amount": amount,
                               "text": " ".join(text)}, ensure_ascii=False) + "\n"
            words.update(text)
            totals[user] = totals.get(user, 0) + amount
            lines.append(line)
            size += len(line.encode("utf-8"))
            record_id += 1
        with open(os.path.join(directory, f"part-{index:04d}.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(lines)
        written += size
    with open(done + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"words": words, "totals": totals, "bytes": written, "records": record_id}, f)
    os.replace(done + ".tmp", done)
    return directory


_EXPECTED: dict = {}


def expected(size_mb: int, what: str) -> dict:
    if size_mb not in _EXPECTED:
        with open(os.path.join(generate(size_mb), "expected.json"), encoding="utf-8") as f:
            _EXPECTED[size_mb] = json.load(f)
    return _EXPECTED[size_mb][what]


def _paths(size_mb: int) -> str:
    return os.path.join(generate(size_mb), "part-*.jsonl")


def add_amount(total: int, record: dict) -> int:
    return total + record["amount"]


def _wordcount(lib, size):
    bag = _bag_module(lib)
    pattern = _paths(size)

    def run(scheduler):
        b = bag.read_text(pattern).map(json.loads).pluck("text").map(str.split).flatten()
        return lib.compute(b.frequencies(), scheduler=scheduler or "processes")[0]

    return run


def _foldby(lib, size):
    bag = _bag_module(lib)
    pattern = _paths(size)

    def run(scheduler):
        b = bag.read_text(pattern).map(json.loads)
        totals = b.foldby(itemgetter("user"), add_amount, 0, add, 0)
        return lib.compute(totals, scheduler=scheduler or "processes")[0]

    return run


def _as_dict(lib, raw) -> dict:
    return dict(raw)


def _partitions(size: int) -> int:
    return max(2, -(-size // FILE_MB))


register(Benchmark(
    name="bag_wordcount",
    description="word count over JSON lines (read_text, json.loads, split, flatten, frequencies); "
                "processes scheduler; size in MB",
    setup=_wordcount,
    expected=lambda size: expected(size, "words"),
    answer=_as_dict,
    target=0.7,
    tasks=_partitions,
    default_size=200,
    uses_scheduler=False,
))

register(Benchmark(
    name="bag_foldby",
    description="foldby(user, sum of amounts) over JSON lines; processes scheduler; size in MB",
    setup=_foldby,
    expected=lambda size: expected(size, "totals"),
    answer=_as_dict,
    target=0.7,
    tasks=_partitions,
    default_size=200,
    uses_scheduler=False,
))
