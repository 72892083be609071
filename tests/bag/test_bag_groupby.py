"""groupby: a disk-buffered shuffle that must match plain Python and leave no files."""
import glob
import os
import subprocess
import sys
import pytest

import pardata
import pardata.bag as pdb
from pardata.bag.shuffle import stable_hash

WORDS = ["ünï", "code", "ünï", "b", "", "日本", "code", "b", "b", "zed", "日本", "x"] * 3


@pytest.fixture
def shuffle_tmp(tmp_path):
    """Shuffle files go to a private directory, checked for leftovers."""
    with pardata.config.set({"temporary-directory": str(tmp_path)}):
        yield tmp_path


def leftovers(root) -> list:
    return glob.glob(os.path.join(str(root), "pardata-shuffle-*"))


def plain_groupby(key, data):
    groups = {}
    for x in data:
        groups.setdefault(key(x), []).append(x)
    return groups


def as_dict(pairs):
    out = dict(pairs)
    assert len(out) == len(pairs), "a key appeared in two output partitions"
    return out


def test_groupby_matches_python_on_every_scheduler(local_scheduler, shuffle_tmp):
    b = pdb.from_sequence(WORDS, npartitions=5)
    grouped = b.groupby(len, npartitions=3)
    assert grouped.npartitions == 3
    got = as_dict(grouped.compute(scheduler=local_scheduler))
    assert got == plain_groupby(len, WORDS)  # same groups, elements in their original order
    by_word = as_dict(b.groupby(lambda w: w).compute(scheduler=local_scheduler))
    assert by_word == plain_groupby(lambda w: w, WORDS)
    assert leftovers(shuffle_tmp) == []


def test_groupby_through_tasks(local_scheduler):
    b = pdb.from_sequence(WORDS, npartitions=4)
    got = as_dict(b.groupby(len, npartitions=3, method="tasks").compute(scheduler=local_scheduler))
    assert got == plain_groupby(len, WORDS)
    with pytest.raises(ValueError, match="method"):
        b.groupby(len, method="p2p")


def test_groupby_with_tuple_and_none_keys_and_index(shuffle_tmp):
    records = [(("k", i % 3), i) if i % 4 else (None, i) for i in range(40)]
    b = pdb.from_sequence(records, npartitions=6)
    got = as_dict(b.groupby(0, npartitions=4).compute(scheduler="processes"))
    assert got == plain_groupby(lambda r: r[0], records)
    numbers = pdb.from_sequence([1, 1.0, True, 2, 2.0], npartitions=3)
    assert as_dict(numbers.groupby(lambda x: x).compute(scheduler="sync")) == {1: [1, 1.0, True], 2: [2, 2.0]}
    assert leftovers(shuffle_tmp) == []


def test_groupby_with_empty_partitions_then_more_steps(shuffle_tmp):
    b = pdb.from_sequence(["a", "bb", "a"], npartitions=6)
    sizes = b.groupby(len).map(lambda kv: (kv[0], len(kv[1]))).filter(lambda kv: kv[1] > 0)
    assert sorted(sizes.compute(scheduler="threads")) == [(1, 2), (2, 1)]
    assert leftovers(shuffle_tmp) == []


def test_partial_compute_writes_and_leaves_nothing(shuffle_tmp):
    b = pdb.from_sequence(range(100), npartitions=4)
    first = b.groupby(lambda x: x % 10, npartitions=5).take(1, warn=False, scheduler="sync")
    assert len(first) == 1 and first[0][1] == list(range(first[0][0], 100, 10))
    assert leftovers(shuffle_tmp) == []


def test_files_are_really_written_and_removed(shuffle_tmp, monkeypatch):
    from pardata.bag import shuffle

    seen = []
    real_collect = shuffle.shuffle_collect

    def spy(key, j, directory, written):
        seen.append(sorted(os.listdir(directory)))
        return real_collect(key, j, directory, written)

    monkeypatch.setattr(shuffle, "shuffle_collect", spy)
    b = pdb.from_sequence(range(12), npartitions=3)
    layer = shuffle.groupby_layer(b._layer, "g", lambda x: x % 2, 2, str(shuffle_tmp))
    got = as_dict(pdb.Bag(layer).compute(scheduler="sync"))
    assert got == plain_groupby(lambda x: x % 2, range(12))
    assert seen[0] == [f"{i}-{j}.pkl" for i in range(3) for j in range(2)]
    assert leftovers(shuffle_tmp) == []


def test_stable_hash_is_the_same_in_another_interpreter():
    keys = ["ünï", b"raw", ("a", 1, None), frozenset({"x", "y"}), 12345, 2.5, None]
    code = (
        "from pardata.bag.shuffle import stable_hash;"
        f"print([stable_hash(k) for k in {keys!r}])"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == str([stable_hash(k) for k in keys])
    assert stable_hash(1) == stable_hash(1.0) == stable_hash(True)
