"""Bags on a pardata.distributed cluster: nothing special, through pardata.base dispatch."""
import operator

import pytest

import pardata.bag as pdb

distributed = pytest.importorskip("pardata.distributed")

pytestmark = pytest.mark.timeout(60)

WORDS = ["ünï", "code", "b", "", "日本", "code", "b", "b", "zed"] * 4


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def test_bag_operations_on_a_cluster(client, tmp_path):
    b = pdb.from_sequence(WORDS, npartitions=4)
    assert b.map(len).filter(operator.truth).sum().compute() == sum(len(w) for w in WORDS if w)
    assert dict(b.frequencies().compute()) == {w: WORDS.count(w) for w in set(WORDS)}
    grouped = b.groupby(len, npartitions=3)  # a Client is active: groups travel as tasks
    assert dict(grouped.compute()) == {n: [w for w in WORDS if len(w) == n] for n in {len(w) for w in WORDS}}
    assert dict(b.groupby(len, method="disk").compute()) == dict(grouped.compute())
    assert b.take(2) == ("ünï", "code")
    persisted = b.map(str.upper).persist()
    assert persisted.count().compute() == len(WORDS)
    assert persisted.compute() == [w.upper() for w in WORDS]
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS), encoding="utf-8")
    lines = pdb.read_text(str(path), blocksize=7).map(str.rstrip, "\n")
    assert lines.compute() == WORDS
