"""Bag.to_dataframe against pandas built from the same records."""
import pandas as pd
import pytest

import pardata
import pardata.bag as pdb

pytest.importorskip("pardata.dataframe")

RECORDS = [{"name": n, "amount": i * 1.5, "n": i} for i, n in enumerate(["ann", "bób", "日本", "dee", "eve"])]


def frame_of(records, **kw):
    return pd.DataFrame(records, **kw)


def test_dict_records_infer_meta(local_scheduler):
    b = pdb.from_sequence(RECORDS, npartitions=3)
    df = b.to_dataframe()
    assert df.npartitions == 3
    got = df.compute(scheduler=local_scheduler).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, frame_of(RECORDS))
    assert df.amount.sum().compute(scheduler=local_scheduler) == sum(r["amount"] for r in RECORDS)


def test_tuples_with_columns_and_empty_partitions_follow_meta():
    rows = [(r["name"], r["n"]) for r in RECORDS]
    parts = [[], rows[:2], [], rows[2:]]
    b = pdb.from_delayed([pardata.delayed(p) for p in parts])
    meta = pd.DataFrame({"name": pd.Series([], dtype=object), "n": pd.Series([], dtype="float64")})
    df = b.to_dataframe(meta=meta)
    got = df.compute(scheduler="sync").reset_index(drop=True)
    expected = frame_of(rows, columns=["name", "n"]).astype({"name": object, "n": "float64"})
    pd.testing.assert_frame_equal(got, expected)
    named = b.to_dataframe(meta={"name": object, "n": "int64"}, columns=["name", "n"])
    assert named.n.sum().compute(scheduler="sync") == sum(r["n"] for r in RECORDS)
    with pytest.raises(ValueError, match="disagree"):
        b.to_dataframe(meta={"a": "int64"}, columns=["x"])
    with pytest.raises(ValueError, match="empty first partition"):
        b.to_dataframe()


def test_scalars_become_one_column():
    df = pdb.range(6, npartitions=2).to_dataframe()
    got = df.compute(scheduler="sync").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, pd.DataFrame(list(range(6))))
