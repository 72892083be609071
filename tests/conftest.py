"""Suite-wide settings."""
import sys

import cloudpickle
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "pardata", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("pardata")


def pytest_collection_modifyitems(items):
    # Test modules are imported under names a child process cannot import; ship their
    # functions by value when the processes scheduler pickles them.
    for module in {item.module for item in items if getattr(item, "module", None)}:
        if module.__name__ in sys.modules:
            cloudpickle.register_pickle_by_value(module)


@pytest.fixture(params=["sync", "threads", "processes"])
def local_scheduler(request):
    """Every local scheduler, for conformance tests."""
    return request.param
