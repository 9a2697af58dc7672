"""Numba kernel of live signals: one incremental step of a built-in strategy on the newest bar.

It calls the very step functions the backtest's ``signal_array`` and fused kernels use
(:mod:`quantray.strategies._kernels`), on the bar history, so a live signal equals the backtest's on the same
bars by construction (and a test checks it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quantray.strategies import _kernels as sk

__all__ = ["step_bar"]


@njit(cache=True, error_model="numpy")
def step_bar(sid, t, h, l, c, i0, i1, i2, f0, f1, f2, st):
    """Advance strategy ``sid`` to bar ``t`` (arrays hold bars 0..t); state slots ``st`` (float64[6]) in place."""
    if sid == sk.SID_DONCHIAN_BREAKOUT:
        s0, s1, s2, s3, s4 = sk._step_donchian(t, h, l, c, i0, i1, st[0], st[1], st[2], st[3], st[4])
        st[0], st[1], st[2], st[3], st[4] = s0, s1, s2, s3, s4
        return np.int8(s4)
    ct = c[t]
    cp = c[t - 1] if t >= 1 else ct
    x1 = c[t - i0] if t >= i0 else 0.0
    x2 = c[t - i1] if t >= i1 else 0.0
    s0, s1, s2, s3, s4, s5, tgt = sk.step(
        sid, t, ct, cp, x1, x2, i0, i1, i2, f0, f1, f2, st[0], st[1], st[2], st[3], st[4], st[5]
    )
    st[0], st[1], st[2], st[3], st[4], st[5] = s0, s1, s2, s3, s4, s5
    return np.int8(tgt)
