"""Public wrappers of the engine kernels: validate, convert to float64 arrays, call the kernel, wrap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from quantray.engine import _indicators as ki
from quantray.engine import _metrics as km
from quantray.engine._config import METRIC_NAMES, ExecutionConfig
from quantray.engine._sim import N_METRICS, simulate_records
from quantray.errors import ConfigError, ParameterError

F64 = NDArray[np.float64]

TRADE_COLUMNS: tuple[str, ...] = (
    "entry_bar",
    "exit_bar",
    "direction",
    "size",
    "entry_price",
    "exit_price",
    "fees",
    "pnl",
)


def _arr(x: ArrayLike, name: str = "x") -> F64:
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if a.ndim != 1:
        raise ParameterError(f"`{name}` must be one-dimensional, got shape {a.shape}")
    return a


def _window(n: Any, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ParameterError(f"`{name}` must be a positive integer, got {n!r}")
    return int(n)


# --------------------------------------------------------------------------------------------- indicators
def sma(x: ArrayLike, n: int) -> F64:
    """Simple moving average of the last ``n`` values including t (NaN for t < n − 1).

    Example:
        >>> sma([1.0, 2.0, 3.0], 2).tolist()
        [nan, 1.5, 2.5]
    """
    return ki.sma_kernel(_arr(x), _window(n))


def ema(x: ArrayLike, n: int) -> F64:
    """Exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first n values (Pine ta.ema)."""
    return ki.ema_kernel(_arr(x), _window(n))


def rma(x: ArrayLike, n: int) -> F64:
    """Wilder's moving average, alpha = 1/n, seeded with the SMA of the first n values (Pine ta.rma)."""
    return ki.rma_kernel(_arr(x), _window(n))


def rsi(close: ArrayLike, n: int = 14) -> F64:
    """Wilder's RSI in [0, 100] over close-to-close changes; first value at t = n (Pine ta.rsi)."""
    return ki.rsi_kernel(_arr(close, "close"), _window(n))


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> F64:
    """Average true range: Wilder RMA of the true range; TR[0] = high[0] − low[0] (Pine ta.atr)."""
    h, lo, c = _arr(high, "high"), _arr(low, "low"), _arr(close, "close")
    if not (h.shape == lo.shape == c.shape):
        raise ParameterError(f"high, low, close must have equal lengths, got {h.size}, {lo.size}, {c.size}")
    return ki.atr_kernel(h, lo, c, _window(n))


def rolling_std(x: ArrayLike, n: int) -> F64:
    """Population (ddof=0) rolling standard deviation over the last n values (Pine ta.stdev)."""
    return ki.rolling_std_kernel(_arr(x), _window(n))


def bollinger(x: ArrayLike, n: int = 20, k: float = 2.0) -> tuple[F64, F64, F64]:
    """Bollinger bands ``(middle, upper, lower)`` = SMA ± k · population std (Pine ta.bb)."""
    a = _arr(x)
    mid = ki.sma_kernel(a, _window(n))
    sd = ki.rolling_std_kernel(a, n)
    return mid, mid + k * sd, mid - k * sd


def macd(x: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[F64, F64, F64]:
    """MACD ``(macd, signal, histogram)`` with SMA-seeded EMAs (Pine ta.macd); requires fast < slow."""
    f, s, g = _window(fast, "fast"), _window(slow, "slow"), _window(signal, "signal")
    if not f < s:
        raise ParameterError(f"`fast < slow` must hold, got fast={f}, slow={s}")
    return ki.macd_kernel(_arr(x), f, s, g)


def rolling_zscore(x: ArrayLike, n: int) -> F64:
    """(x − SMA_n) / std_n with the population std; NaN where the std is 0 or during warm-up."""
    a = _arr(x)
    mu = ki.sma_kernel(a, _window(n))
    sd = ki.rolling_std_kernel(a, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (a - mu) / sd
    z[~(sd > 0)] = np.nan
    return z


def donchian(high: ArrayLike, low: ArrayLike, n: int = 20) -> tuple[F64, F64, F64]:
    """Donchian channel ``(upper, lower, middle)`` over the last n bars including t (Pine ta.highest/lowest)."""
    h, lo = _arr(high, "high"), _arr(low, "low")
    up = ki.rolling_max_kernel(h, _window(n))
    dn = ki.rolling_min_kernel(lo, n)
    return up, dn, (up + dn) / 2.0


# ------------------------------------------------------------------------------------------------ metrics
def returns_from_equity(equity: ArrayLike, init_cash: float) -> F64:
    """Simple per-bar returns of an equity curve, the first one relative to ``init_cash``."""
    return km.returns_from_equity(_arr(equity, "equity"), float(init_cash))


def total_return(returns: ArrayLike) -> float:
    """Compounded total return Π(1 + r) − 1 (empyrical ``cum_returns_final``)."""
    return float(km.total_return_kernel(_arr(returns, "returns")))


def cagr(returns: ArrayLike, periods_per_year: float) -> float:
    """Compound annual growth rate (empyrical ``annual_return``): growth ** (ppy / n) − 1; −1 once wiped out."""
    return float(km.cagr_kernel(_arr(returns, "returns"), float(periods_per_year)))


def volatility(returns: ArrayLike, periods_per_year: float) -> float:
    """Annualised volatility std(r, ddof=1) · sqrt(ppy) (empyrical ``annual_volatility``)."""
    return float(km.volatility_kernel(_arr(returns, "returns"), float(periods_per_year)))


def sharpe_ratio(returns: ArrayLike, periods_per_year: float, risk_free: float = 0.0) -> float:
    """Annualised Sharpe ratio; ``risk_free`` is per bar (empyrical ``sharpe_ratio``)."""
    return float(km.sharpe_kernel(_arr(returns, "returns"), float(periods_per_year), float(risk_free)))


def sortino_ratio(returns: ArrayLike, periods_per_year: float, required_return: float = 0.0) -> float:
    """Annualised Sortino ratio with downside deviation over all bars (empyrical ``sortino_ratio``)."""
    return float(km.sortino_kernel(_arr(returns, "returns"), float(periods_per_year), float(required_return)))


def max_drawdown(returns: ArrayLike) -> float:
    """Maximum drawdown as a POSITIVE fraction (empyrical ``max_drawdown`` returns its negative)."""
    return float(km.drawdown_kernel(_arr(returns, "returns"))[0])


def max_drawdown_duration(returns: ArrayLike) -> int:
    """Longest run of consecutive bars spent below a previous equity peak."""
    return int(km.drawdown_kernel(_arr(returns, "returns"))[1])


def calmar_ratio(returns: ArrayLike, periods_per_year: float) -> float:
    """CAGR / max drawdown; NaN without a drawdown (empyrical ``calmar_ratio``)."""
    r = _arr(returns, "returns")
    mdd = km.drawdown_kernel(r)[0]
    return float(km.cagr_kernel(r, float(periods_per_year)) / mdd) if mdd > 0 else float("nan")


def _alpha(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ParameterError(f"`level` must be in (0, 1), got {level}")
    return float(level)


def var_historical(returns: ArrayLike, level: float = 0.05) -> float:
    """Historical value at risk: the ``level`` quantile of returns (a return, typically negative)."""
    return float(km.var_kernel(_arr(returns, "returns"), _alpha(level)))


def cvar_historical(returns: ArrayLike, level: float = 0.05) -> float:
    """Historical expected shortfall: mean of the returns at or below the ``level`` cut (empyrical CVaR)."""
    return float(km.cvar_kernel(_arr(returns, "returns"), _alpha(level)))


def trade_stats(pnl: ArrayLike) -> dict[str, float]:
    """Win rate, profit factor and expectancy of closed-trade P&L values.

    win rate = wins / trades (a win is pnl > 0); profit factor = gross profit / gross loss (inf without
    losses); expectancy = mean pnl per trade. NaN for no trades.
    """
    p = _arr(pnl, "pnl")
    if p.size == 0:
        return {"win_rate": float("nan"), "profit_factor": float("nan"), "expectancy": float("nan")}
    gp = float(p[p > 0].sum())
    gl = float(-p[p <= 0].sum())
    pf = gp / gl if gl > 0 else (float("inf") if gp > 0 else float("nan"))
    return {"win_rate": float((p > 0).mean()), "profit_factor": pf, "expectancy": float(p.mean())}


# --------------------------------------------------------------------------------------------- simulation
@dataclass(frozen=True, slots=True)
class SimResult:
    """A detailed single simulation.

    Attributes:
        metrics: metric name → value (``METRIC_NAMES`` plus ``var_95`` and ``cvar_95``).
        equity: close-marked equity per bar.
        returns: simple per-bar returns (the first relative to ``init_cash``).
        fills: (k, 4) rows ``bar, signed qty, price (after slippage/impact), fee``.
        trades: (m, 8) rows of ``TRADE_COLUMNS``; bars are integer positions into the input arrays.
    """

    metrics: dict[str, float]
    equity: F64
    returns: F64
    fills: F64
    trades: F64


def impact_arrays(close: F64, volume: F64, config: ExecutionConfig, bars_per_day: float) -> tuple[F64, F64]:
    """σ_daily and ADV arrays for the square-root impact model (zeros when impact is off)."""
    if config.impact_k > 0:
        return km.impact_inputs(close, volume, config.impact_window, float(bars_per_day))
    z = np.zeros(close.shape[0])
    return z, z


def simulate(
    open_: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    volume: ArrayLike,
    target: ArrayLike,
    *,
    config: ExecutionConfig | None = None,
    periods_per_year: float = 252.0,
    bars_per_day: float = 1.0,
) -> SimResult:
    """Simulate a target-position series (−1, 0, +1 per bar) with costs; return metrics, equity and trades.

    Args:
        open_, high, low, close, volume: one symbol's bars (equal lengths, positive prices).
        target: desired position decided on each bar's close.
        config: execution and costs (default ``ExecutionConfig()``: next-open fills, no costs).
        periods_per_year: bars per year for annualisation (252 daily equities, 8760 hourly crypto).
        bars_per_day: bars in one trading day (impact model only).

    Example:
        >>> import numpy as np
        >>> c = np.array([10.0, 11.0, 12.0, 11.0])
        >>> r = simulate(c, c, c, c, np.ones(4), [1, 1, 0, 0], config=ExecutionConfig(execution="close"))
        >>> round(r.metrics["final_equity"], 6)
        120000.0
    """
    cfg = config or ExecutionConfig()
    o, h, c, v = _arr(open_, "open"), _arr(high, "high"), _arr(close, "close"), _arr(volume, "volume")
    lo = _arr(low, "low")
    tgt = np.ascontiguousarray(np.asarray(target))
    n = c.shape[0]
    if n == 0:
        raise ParameterError("cannot simulate an empty series (0 bars)")
    if not (o.shape[0] == h.shape[0] == lo.shape[0] == v.shape[0] == tgt.shape[0] == n):
        raise ParameterError(
            f"open, high, low, close, volume and target must have equal lengths, got "
            f"{o.shape[0]}, {h.shape[0]}, {lo.shape[0]}, {n}, {v.shape[0]}, {tgt.shape[0]}"
        )
    if not np.isin(tgt, (-1, 0, 1)).all():
        bad = np.flatnonzero(~np.isin(tgt, (-1, 0, 1)))[0]
        raise ParameterError(f"target must hold -1, 0 or +1, got {tgt[bad]!r} at bar {bad}")
    if not (np.isfinite(c).all() and (c > 0).all() and np.isfinite(o).all() and (o > 0).all()):
        raise ConfigError("open and close prices must be finite and positive (validate the bars first)")
    tgt8 = tgt.astype(np.int8)
    sig, adv = impact_arrays(c, v, cfg, bars_per_day)
    out = np.empty(N_METRICS)
    equity = np.empty(n)
    fills = np.empty((2 * n, 4))
    ppy = float(periods_per_year)
    rf = cfg.risk_free / ppy
    k = simulate_records(
        o,
        c,
        v,
        tgt8,
        sig,
        adv,
        *cfg.kernel_args(),
        ppy,
        rf,
        out,
        equity,
        fills,
    )
    fills = fills[:k].copy()
    trades = km.trades_from_fills(fills, k, c[-1], n)
    rets = km.returns_from_equity(equity, cfg.init_cash)
    metrics = dict(zip(METRIC_NAMES, (float(x) for x in out), strict=True))
    metrics["var_95"] = float(km.var_kernel(rets, 0.05))
    metrics["cvar_95"] = float(km.cvar_kernel(rets, 0.05))
    return SimResult(metrics=metrics, equity=equity, returns=rets, fills=fills, trades=trades)
