"""Dataframe plans on an in-process cluster: shuffles, joins and reductions."""
import pandas as pd
import pytest

import pardata.dataframe as pdd
from pardata.testing.dataframe import assert_eq, random_frame

distributed = pytest.importorskip("pardata.distributed")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def test_dataframe_on_cluster(client):
    p = random_frame(400, seed=61)
    d = pdd.from_pandas(p, npartitions=5)
    from pardata.dataframe.shuffle import choose_method

    assert choose_method(None, 100, 100) == "p2p"  # files are not shared between hosts
    assert_eq(d.groupby("k").agg({"f": ["sum", "std"], "s": "nunique"}),
              p.groupby("k").agg({"f": ["sum", "std"], "s": "nunique"}), scheduler=client, rtol=1e-9)
    assert_eq(d.set_index("i"), p.set_index("i").sort_index(kind="stable"), scheduler=client)
    right = pd.DataFrame({"k": range(3, 9), "v": range(6)})
    assert_eq(d.merge(pdd.from_pandas(right, npartitions=2), on="k", broadcast=False),
              p.merge(right, on="k"), check_index=False, scheduler=client)
    assert d.f.sum().compute() == pytest.approx(p.f.sum())
    persisted = (d.i * 2).persist()
    assert_eq(persisted, p.i * 2, scheduler=client)
