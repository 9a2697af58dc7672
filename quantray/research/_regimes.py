"""Regime labelling (volatility terciles, bull/bear/sideways trend) and per-regime strategy metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from quantray.engine import ExecutionConfig, max_drawdown, simulate, total_return
from quantray.engine import sharpe_ratio as _sharpe
from quantray.engine import volatility as _vol
from quantray.errors import ParameterError
from quantray.research import _kernels as k
from quantray.research._common import DataLike, check_positive_int, equity_to_returns, load_symbols
from quantray.strategies import StrategySpec, get_strategy

I8 = NDArray[np.int8]
F64 = NDArray[np.float64]

#: Names of the volatility regime codes 0, 1, 2 (−1 = undefined during the warm-up).
VOLATILITY_REGIMES: tuple[str, ...] = ("low_vol", "mid_vol", "high_vol")
#: Names of the trend regime codes 0, 1, 2 (−1 = undefined during the warm-up).
TREND_REGIMES: tuple[str, ...] = ("bear", "sideways", "bull")


def _close(close: ArrayLike) -> F64:
    c = np.ascontiguousarray(np.asarray(close, dtype=np.float64))
    if c.ndim != 1 or c.size < 3:
        raise ParameterError(f"`close` must be one-dimensional with >= 3 values, got shape {c.shape}")
    if not (np.isfinite(c).all() and (c > 0).all()):
        raise ParameterError("`close` must be finite and positive")
    return c


def volatility_regimes(
    close: ArrayLike, *, window: int = 21, quantiles: tuple[float, float] = (1 / 3, 2 / 3)
) -> I8:
    """Label each bar low (0), mid (1) or high (2) volatility; −1 before ``window`` returns exist.

    The feature at bar t is the standard deviation (ddof=1) of the ``window`` log returns ending at t
    (information up to t's close). The cut points are the ``quantiles`` (terciles by default) of the feature
    over the whole sample — an ex-post classification meant for attributing performance, not for trading.

    Example:
        >>> import numpy as np
        >>> steps = np.r_[np.full(60, 0.001), np.tile([0.01, -0.01], 30), np.tile([0.04, -0.04], 30)]
        >>> lab = volatility_regimes(np.exp(np.cumsum(steps)), window=10)
        >>> int(lab[5]), int(lab[30]), int(lab[100]), int(lab[170])
        (-1, 0, 1, 2)
    """
    c = _close(close)
    w = check_positive_int(window, "window", 2)
    q1, q2 = (float(q) for q in quantiles)
    if not 0.0 < q1 < q2 < 1.0:
        raise ParameterError(f"`quantiles` must satisfy 0 < q1 < q2 < 1, got {quantiles!r}")
    vol = k.trailing_volatility(c, w)
    ok = np.isfinite(vol)
    out = np.full(c.size, -1, dtype=np.int8)
    if not ok.any():
        return out
    lo, hi = np.quantile(vol[ok], [q1, q2])
    out[ok] = np.where(vol[ok] <= lo, 0, np.where(vol[ok] <= hi, 1, 2)).astype(np.int8)
    return out


def trend_regimes(
    close: ArrayLike,
    *,
    window: int = 63,
    threshold: float = 0.05,
    method: Literal["return", "slope"] = "return",
) -> I8:
    """Label each bar bear (0), sideways (1) or bull (2) by its trailing trend; −1 during the warm-up.

    The trend at bar t is the log return over the last ``window`` bars, log(c_t / c_{t−window})
    (``method="return"``), or the least-squares slope of log price over bars t−window..t times ``window``
    (``"slope"``, same unit, less sensitive to the end points). Bull if trend > ``threshold``, bear if
    < −threshold, sideways otherwise. Uses information up to t only.

    Example:
        >>> import numpy as np
        >>> c = np.exp(np.r_[np.linspace(0, 0.5, 100), np.linspace(0.5, 0.0, 100)])
        >>> lab = trend_regimes(c, window=20, threshold=0.05)
        >>> int(lab[50]), int(lab[150]), int(lab[5])
        (2, 0, -1)
    """
    c = _close(close)
    w = check_positive_int(window, "window", 2)
    thr = float(threshold)
    if not (math.isfinite(thr) and thr >= 0):
        raise ParameterError(f"`threshold` must be a finite number >= 0, got {threshold!r}")
    if method not in ("return", "slope"):
        raise ParameterError(f"`method` must be 'return' or 'slope', got {method!r}")
    tr = k.trailing_trend(c, w, method == "slope")
    ok = np.isfinite(tr)
    out = np.full(c.size, -1, dtype=np.int8)
    out[ok] = np.where(tr[ok] > thr, 2, np.where(tr[ok] < -thr, 0, 1)).astype(np.int8)
    return out


def regime_metrics(
    returns: ArrayLike,
    labels: ArrayLike,
    *,
    names: Sequence[str] = VOLATILITY_REGIMES,
    periods_per_year: float = 252.0,
    lag: int = 1,
    benchmark: ArrayLike | None = None,
) -> pd.DataFrame:
    """Metrics of a return series split by regime.

    The return of bar t is attributed to the regime labelled at bar t − ``lag`` (default 1: the regime known
    at the previous close, when the position earning r_t was held). Bars whose label is undefined (−1) are
    left out. Within a regime the bars are taken in time order as one series:

    ``bars``, ``fraction`` (of labelled bars), ``total_return`` (compounded), ``ann_return``
    (mean · periods_per_year), ``volatility``, ``sharpe`` (annualised), ``max_drawdown`` (of the concatenated
    regime bars), ``hit_rate`` (share of bars with r > 0 among bars with r ≠ 0), and with a ``benchmark`` the
    same bars' ``bench_total_return``, ``bench_ann_return`` and ``bench_sharpe``.

    Example:
        >>> import numpy as np
        >>> r = np.array([0.01, 0.02, -0.01, 0.03, 0.0, -0.02])
        >>> lab = np.array([0, 0, 1, 1, 2, 2])
        >>> regime_metrics(r, lab, lag=0)["bars"].tolist()
        [2, 2, 2]
    """
    r = np.ascontiguousarray(np.asarray(returns, dtype=np.float64))
    lab = np.asarray(labels)
    if r.ndim != 1 or lab.shape != r.shape:
        raise ParameterError(
            f"`returns` and `labels` must be 1-D of equal length, got {r.shape} and {lab.shape}"
        )
    lag = check_positive_int(lag, "lag", 0)
    ppy = float(periods_per_year)
    b = None
    if benchmark is not None:
        b = np.ascontiguousarray(np.asarray(benchmark, dtype=np.float64))
        if b.shape != r.shape:
            raise ParameterError(f"`benchmark` must have the shape of `returns` {r.shape}, got {b.shape}")
    shifted = np.full(r.size, -1, dtype=np.int64)
    shifted[lag:] = lab[: r.size - lag] if lag else lab
    labelled = shifted >= 0
    total = int(labelled.sum())
    rows = []
    for code, name in enumerate(names):
        m = shifted == code
        x = np.ascontiguousarray(r[m])
        nz = x[x != 0]
        row: dict[str, Any] = {
            "regime": name,
            "bars": int(m.sum()),
            "fraction": float(m.sum() / total) if total else float("nan"),
            "total_return": total_return(x) if x.size else float("nan"),
            "ann_return": float(x.mean() * ppy) if x.size else float("nan"),
            "volatility": _vol(x, ppy) if x.size > 1 else float("nan"),
            "sharpe": _sharpe(x, ppy) if x.size > 1 else float("nan"),
            "max_drawdown": max_drawdown(x) if x.size else float("nan"),
            "hit_rate": float((nz > 0).mean()) if nz.size else float("nan"),
        }
        if b is not None:
            y = np.ascontiguousarray(b[m])
            row["bench_total_return"] = total_return(y) if y.size else float("nan")
            row["bench_ann_return"] = float(y.mean() * ppy) if y.size else float("nan")
            row["bench_sharpe"] = _sharpe(y, ppy) if y.size > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("regime")


def regime_analysis(
    data: DataLike,
    strategy: str | StrategySpec,
    params: Mapping[str, Any] | None = None,
    *,
    kind: Literal["volatility", "trend"] = "volatility",
    symbols: Sequence[str] | None = None,
    window: int | None = None,
    threshold: float = 0.05,
    trend_method: Literal["return", "slope"] = "return",
    config: ExecutionConfig | None = None,
    periods_per_year: float | None = None,
    lag: int = 1,
) -> pd.DataFrame:
    """Backtest a strategy per symbol and report its metrics per market regime.

    Each symbol's closes are labelled by :func:`volatility_regimes` (``window`` default 21) or
    :func:`trend_regimes` (``window`` default 63, ``threshold``, ``trend_method``); the strategy's per-bar
    equity returns and the symbol's buy-and-hold close-to-close returns (the benchmark) are split with
    :func:`regime_metrics`.

    Returns:
        A frame indexed by (symbol, regime) with the columns of :func:`regime_metrics`.

    Example:
        >>> from quantray.data import sample_path
        >>> tab = regime_analysis(sample_path(), "sma_cross", {"fast": 10, "slow": 50}, symbols=["MSFT"])
        >>> list(tab.index.get_level_values("regime"))
        ['low_vol', 'mid_vol', 'high_vol']
    """
    spec = get_strategy(strategy)
    cfg = config or ExecutionConfig()
    p = spec.validate_params(params)
    if kind not in ("volatility", "trend"):
        raise ParameterError(f"`kind` must be 'volatility' or 'trend', got {kind!r}")
    sd = load_symbols(data, symbols, periods_per_year)
    frames = {}
    for sym, (_, o, h, lo, c, v) in sd.arrays.items():
        if c.size < 3:
            continue
        if kind == "volatility":
            labels = volatility_regimes(c, window=window or 21)
            names = VOLATILITY_REGIMES
        else:
            labels = trend_regimes(c, window=window or 63, threshold=threshold, method=trend_method)
            names = TREND_REGIMES
        sim = simulate(
            o,
            h,
            lo,
            c,
            v,
            spec.signal(o, h, lo, c, v, p),
            config=cfg,
            periods_per_year=sd.periods_per_year,
            bars_per_day=sd.bars_per_day,
        )
        r = equity_to_returns(sim.equity, cfg.init_cash)
        bench = np.r_[0.0, c[1:] / c[:-1] - 1.0]
        frames[sym] = regime_metrics(
            r, labels, names=names, periods_per_year=sd.periods_per_year, lag=lag, benchmark=bench
        )
    if not frames:
        raise ParameterError("no symbol has the 3 bars regime labelling needs")
    return pd.concat(frames, names=["symbol", "regime"])
