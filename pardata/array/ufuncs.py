"""NumPy's ufuncs as lazy functions: ``pa.sin(x)`` is ``np.sin`` applied blockwise.

Each name wraps the NumPy ufunc of the same name; ``np.sin(x)`` on an Array reaches the
same code through ``__array_ufunc__``.
"""
from __future__ import annotations

import functools

import numpy as np

_NAMES = (
    "abs absolute add arccos arccosh arcsin arcsinh arctan arctan2 arctanh bitwise_and "
    "bitwise_not bitwise_or bitwise_xor cbrt ceil conj conjugate copysign cos cosh deg2rad "
    "degrees divide equal exp exp2 expm1 fabs float_power floor floor_divide fmax fmin fmod "
    "greater greater_equal hypot invert isfinite isinf isnan less less_equal log log10 log1p "
    "log2 logaddexp logaddexp2 logical_and logical_not logical_or logical_xor maximum minimum "
    "mod multiply negative nextafter not_equal positive power rad2deg radians reciprocal "
    "remainder rint sign signbit sin sinh spacing sqrt square subtract tan tanh true_divide trunc"
).split()


def _wrap(ufunc):
    @functools.wraps(ufunc)
    def lazy(*args, **kwargs):
        from pardata.array.dispatch import array_ufunc

        return array_ufunc(ufunc, "__call__", args, kwargs)

    lazy.__module__ = __name__
    return lazy


for _name in _NAMES:
    globals()[_name] = _wrap(getattr(np, _name))

__all__ = list(_NAMES)
