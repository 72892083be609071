"""Side-by-side benchmarks of pardata against Dask (``python -m benchmarks --list``).

Only this package may import ``dask``; it does so lazily, so the pardata side of every
benchmark runs without Dask installed (``--only pardata``), which is how CI checks it.
"""
