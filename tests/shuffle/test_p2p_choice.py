"""Choosing the shuffle method without a cluster."""
import pytest

import pardata.bag as pdb


def test_p2p_without_a_client_is_refused_clearly():
    from pardata.dataframe.shuffle import choose_method

    with pytest.raises(ValueError, match="needs a distributed Client"):
        choose_method("p2p", 40, 40)
    with pytest.raises(ValueError, match="needs a distributed Client"):
        pdb.from_sequence(range(10), npartitions=2).groupby(lambda x: x % 2, method="p2p")


def test_a_p2p_graph_computed_on_local_schedulers_shuffles_through_local_files(tmp_path, local_scheduler):
    import numpy as np
    import pandas as pd

    import pardata
    import pardata.dataframe as pdd
    from pardata.dataframe.shuffle import p2p_layer, Partitioner, Shuffle

    rng = np.random.default_rng(0)
    p = pd.DataFrame({"k": rng.integers(0, 50, 500), "v": rng.random(500)})
    d = pdd.from_pandas(p, npartitions=5)
    s = d.shuffle("k", npartitions=7, method="tasks")
    expr = s._expr
    assert isinstance(expr, Shuffle)
    # the graph a Client would have made, run without one
    graph = dict(s.__pardata_graph__())
    graph.update(p2p_layer(expr._name, expr.frame._name, 5, 7, Partitioner("hash", ("k",)), expr._meta, False))
    with pardata.config.set({"temporary-directory": str(tmp_path)}):
        parts = pardata.get(graph, [(expr._name, j) for j in range(7)], scheduler=local_scheduler)
    out = pd.concat(parts)
    pd.testing.assert_frame_equal(out.sort_values(["k", "v"]), p.sort_values(["k", "v"]))
    assert all(len(set(part.k)) == 0 or not set(part.k) & set().union(*(set(q.k) for q in parts if q is not part))
               for part in parts)
    assert not any(tmp_path.rglob("*.bin"))
