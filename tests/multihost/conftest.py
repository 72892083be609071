"""Labs of hosts in network namespaces (``pardata.testing.netlab``) for the multihost tests.

Every test here runs its scheduler, workers and driving client inside lab hosts, never in
this process's namespace. The lab is torn down by the fixture's finalizer, also when the
test fails. The tests skip only when a lab cannot be built (not root, no ``ip netns``).
"""

import functools

import pytest

from pardata.testing.netlab import NetLab, unavailable_reason

#: Fast failure detection for every process of a lab: a peer that does not answer a
#: connection attempt (a partitioned host drops the SYN) is given up after 5 s.
LAB_ENV = {"PARDATA_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"}


@functools.lru_cache(maxsize=None)
def _unavailable():
    return unavailable_reason()


@pytest.fixture
def make_lab():
    """``make_lab(env={...})``: a started, authenticated lab of hosts sched, w1, w2, client."""
    reason = _unavailable()
    if reason is not None:
        pytest.skip(f"no network-namespace lab: {reason}")
    labs = []

    def make(env=None, hosts=("sched", "w1", "w2", "client")):
        lab = NetLab(hosts, env={**LAB_ENV, **(env or {})})
        labs.append(lab)
        lab.start()
        lab.use_auth()
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.close()
