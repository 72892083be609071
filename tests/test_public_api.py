"""Names API.md promises, for the parts that exist; extended as collections land."""
import importlib

import pytest

PUBLIC = {
    "pardata": ["delayed", "compute", "persist", "visualize", "get", "config", "Delayed", "tokenize"],
    "pardata.config": ["get", "set", "refresh", "config"],
    "pardata.diagnostics": ["ProgressBar", "Callback"],
    "pardata.core": ["get_dependencies", "toposort", "cull", "fuse", "inline", "order", "Task",
                     "Ref", "DataNode", "Alias"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_importable(module):
    mod = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(mod, name)]
    assert not missing, f"{module} lacks {missing}"


def test_delayed_has_the_collection_protocol():
    import pardata

    d = pardata.delayed(1)
    for name in ("compute", "persist", "visualize", "__pardata_graph__", "__pardata_keys__"):
        assert callable(getattr(d, name))
