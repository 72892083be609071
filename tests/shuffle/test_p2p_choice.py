"""Choosing the shuffle method without a cluster."""
import pytest

import pardata.bag as pdb


def test_p2p_without_a_client_is_refused_clearly():
    from pardata.dataframe.shuffle import choose_method

    with pytest.raises(ValueError, match="needs a distributed Client"):
        choose_method("p2p", 40, 40)
    with pytest.raises(ValueError, match="needs a distributed Client"):
        pdb.from_sequence(range(10), npartitions=2).groupby(lambda x: x % 2, method="p2p")
