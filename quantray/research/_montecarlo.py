"""Monte Carlo: bootstraps of returns and trades, parametric paths (GBM, GARCH(1,1)) and strategy re-backtests on
synthetic price paths, with confidence intervals and risk of ruin.

Every heavy function takes ``n_paths``, ``seed``, ``batch`` and ``mapper``: the paths 0..n_paths−1 are cut into
batches (:func:`quantray.research.path_batches`), ``mapper(fn, batches)`` evaluates a pure batch function on
each (builtin ``map`` here; ``quantray.dist`` fans them out to Ray), and each path draws from its own
counter-based random stream derived from ``(seed, path index)``. The same seed therefore gives the same result
however the paths are batched or distributed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from quantray._backtest import run_symbol
from quantray.engine import ExecutionConfig, simulate
from quantray.engine._config import METRIC_NAMES
from quantray.errors import ConfigError, ParameterError
from quantray.research import _kernels as k
from quantray.research._common import (
    BarArrays,
    DataLike,
    Mapper,
    check_fraction,
    check_positive_int,
    check_seed,
    load_symbols,
    one_symbol,
    run_batches,
)
from quantray.strategies import StrategySpec, get_strategy

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Columns of the per-path statistics of return-path simulations.
PATH_STATS: tuple[str, ...] = ("final_equity", "total_return", "cagr", "sharpe", "max_drawdown", "volatility")

ReturnMethod = Literal["iid", "stationary", "shuffle"]
PriceMethod = Literal["iid", "stationary", "gbm", "garch"]


@dataclass(frozen=True)
class MonteCarloResult:
    """Distribution of per-path statistics from a Monte Carlo run.

    Attributes:
        samples: one row per path (path index order); columns :data:`PATH_STATS` for return paths or
            ``METRIC_NAMES`` for strategy re-backtests.
        observed: the same statistics on the real history, for comparison.
        method: how paths were generated.
        n_paths, seed: the run's size and seed.
        params: model or strategy parameters used (fitted GBM/GARCH parameters, the strategy's parameters).
    """

    samples: pd.DataFrame
    observed: dict[str, float]
    method: str
    n_paths: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    def confidence_interval(self, stat: str, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed percentile interval of ``stat`` over the paths (NaN values are ignored)."""
        lvl = check_fraction(level, "level", open_low=True)
        x = self._column(stat)
        if x.size == 0:
            return float("nan"), float("nan")
        lo, hi = np.quantile(x, [(1 - lvl) / 2, (1 + lvl) / 2])
        return float(lo), float(hi)

    def risk_of_ruin(self, threshold: float = 0.5) -> float:
        """P(max drawdown ≥ ``threshold``): the fraction of paths whose drawdown reaches the threshold."""
        thr = check_fraction(threshold, "threshold", open_low=True)
        dd = self.samples["max_drawdown"].to_numpy(dtype=np.float64)
        return float(np.mean(dd >= thr))

    def percentile_of_observed(self, stat: str) -> float:
        """Fraction of paths with ``stat`` ≤ the observed value (where the real history sits)."""
        x = self._column(stat)
        obs = self.observed.get(stat, float("nan"))
        return float(np.mean(x <= obs)) if x.size and math.isfinite(obs) else float("nan")

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per statistic: ``observed, mean, std, median, ci_low, ci_high``."""
        rows = {}
        for col in self.samples.columns:
            x = self._column(col)
            lo, hi = self.confidence_interval(col, level)
            rows[col] = {
                "observed": self.observed.get(col, float("nan")),
                "mean": float(x.mean()) if x.size else float("nan"),
                "std": float(x.std(ddof=1)) if x.size > 1 else float("nan"),
                "median": float(np.median(x)) if x.size else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def _column(self, stat: str) -> F64:
        if stat not in self.samples.columns:
            raise ParameterError(f"unknown statistic {stat!r}; valid: {list(self.samples.columns)}")
        x = self.samples[stat].to_numpy(dtype=np.float64)
        return x[np.isfinite(x)]


def _returns(x: ArrayLike, name: str = "returns", minimum: int = 2) -> F64:
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if a.ndim != 1 or a.size < minimum:
        raise ParameterError(
            f"`{name}` must be one-dimensional with >= {minimum} values, got shape {a.shape}"
        )
    if not np.isfinite(a).all():
        raise ParameterError(f"`{name}` must be finite (drop NaN first)")
    if (a <= -1).any():
        raise ParameterError(f"`{name}` are simple returns and must be > -1, got min {a.min():g}")
    return a


def _observed(r: F64, init_cash: float, ann: float) -> dict[str, float]:
    out = np.empty(k.N_PATH_STATS)
    k.path_stats(r, init_cash, ann, out)
    return dict(zip(PATH_STATS, (float(x) for x in out), strict=True))


def _frame(rows: F64, columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


# ------------------------------------------------------------------------------------------ bootstraps
def _boot_batch(
    paths: I64, *, r: F64, seed: int, horizon: int, mean_block: float, init_cash: float, ann: float
) -> F64:
    return np.asarray(k.bootstrap_returns_batch(r, paths, seed, horizon, mean_block, init_cash, ann))


def _shuffle_batch(paths: I64, *, r: F64, seed: int, init_cash: float, ann: float) -> F64:
    return np.asarray(k.shuffle_returns_batch(r, paths, seed, init_cash, ann))


def bootstrap_returns(
    returns: ArrayLike,
    *,
    n_paths: int = 1000,
    seed: int = 0,
    method: ReturnMethod = "stationary",
    mean_block: float = 10.0,
    horizon: int | None = None,
    periods_per_year: float = 252.0,
    init_cash: float = 100_000.0,
    batch: int = 1000,
    mapper: Mapper | None = None,
) -> MonteCarloResult:
    """Resample a return series into ``n_paths`` equity paths and report their statistics.

    Methods: ``"iid"`` draws bars independently with replacement; ``"stationary"`` is the Politis–Romano
    stationary bootstrap (blocks of geometric length with mean ``mean_block``, wrapping around), which keeps
    volatility clustering and autocorrelation; ``"shuffle"`` permutes the series (same final equity, different
    drawdowns). Each path has ``horizon`` bars (default: the series' length; ``shuffle`` always uses it).

    Statistics per path (:data:`PATH_STATS`): final equity from ``init_cash``, total return, CAGR, annualised
    Sharpe, max drawdown (positive fraction), annualised volatility — the engine's conventions.

    Example:
        >>> import numpy as np
        >>> r = np.random.default_rng(0).normal(0.0004, 0.01, 500)
        >>> mc = bootstrap_returns(r, n_paths=200, seed=7)
        >>> lo, hi = mc.confidence_interval("sharpe")
        >>> lo < mc.observed["sharpe"] < hi
        True
    """
    r = _returns(returns)
    n_paths = check_positive_int(n_paths, "n_paths")
    seed = check_seed(seed)
    ann = float(periods_per_year)
    if not (math.isfinite(ann) and ann > 0):
        raise ParameterError(f"`periods_per_year` must be a positive number, got {periods_per_year!r}")
    if not (isinstance(init_cash, int | float) and init_cash > 0):
        raise ParameterError(f"`init_cash` must be a positive number, got {init_cash!r}")
    if method == "shuffle":
        fn = functools.partial(_shuffle_batch, r=r, seed=seed, init_cash=float(init_cash), ann=ann)
        h = r.size
    elif method in ("iid", "stationary"):
        h = r.size if horizon is None else check_positive_int(horizon, "horizon", 2)
        mb = 1.0 if method == "iid" else float(mean_block)
        if not (math.isfinite(mb) and mb >= 1.0):
            raise ParameterError(f"`mean_block` must be >= 1, got {mean_block!r}")
        fn = functools.partial(
            _boot_batch, r=r, seed=seed, horizon=h, mean_block=mb, init_cash=float(init_cash), ann=ann
        )
    else:
        raise ParameterError(f"unknown bootstrap method {method!r}; valid: ['iid', 'stationary', 'shuffle']")
    rows = run_batches(fn, n_paths, batch, mapper)
    return MonteCarloResult(
        samples=_frame(rows, PATH_STATS),
        observed=_observed(r, float(init_cash), ann),
        method=method,
        n_paths=n_paths,
        seed=seed,
        params={"horizon": h, "mean_block": mean_block if method == "stationary" else 1.0},
    )


def trade_returns(trades: pd.DataFrame | ArrayLike) -> F64:
    """Return of each closed trade on the capital it committed: pnl / (size · entry_price).

    Args:
        trades: a trade list with ``pnl``, ``size``, ``entry_price`` and ``exit_time`` columns
            (:class:`quantray.BacktestDetail` ``.trades``; open trades, with NaT exit, are left out), or the
            (m, 8) array of :class:`quantray.engine.SimResult` ``.trades`` (open ones have exit_bar −1).

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"pnl": [10.0, -5.0], "size": [1.0, 2.0], "entry_price": [100.0, 50.0],
        ...                   "exit_time": pd.to_datetime(["2024-01-02", "2024-01-05"])})
        >>> trade_returns(t).tolist()
        [0.1, -0.05]
    """
    if isinstance(trades, pd.DataFrame):
        missing = {"pnl", "size", "entry_price"} - set(trades.columns)
        if missing:
            raise ParameterError(f"trades lack column(s) {sorted(missing)}")
        closed = trades["exit_time"].notna() if "exit_time" in trades else pd.Series(True, index=trades.index)
        t = trades[closed]
        pnl, size, price = (t[c].to_numpy(dtype=np.float64) for c in ("pnl", "size", "entry_price"))
    else:
        a = np.asarray(trades, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 8:
            raise ParameterError(
                f"trades must be a DataFrame or an (m, 8) SimResult.trades array, got {a.shape}"
            )
        a = a[a[:, 1] >= 0]
        pnl, size, price = a[:, 7], a[:, 3], a[:, 4]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pnl / (size * price)
    return np.asarray(out[np.isfinite(out)])


def bootstrap_trades(
    trade_rets: ArrayLike,
    *,
    n_paths: int = 1000,
    seed: int = 0,
    method: Literal["iid", "shuffle"] = "iid",
    n_trades: int | None = None,
    trades_per_year: float | None = None,
    init_cash: float = 100_000.0,
    batch: int = 1000,
    mapper: Mapper | None = None,
) -> MonteCarloResult:
    """Trade-sequence Monte Carlo: resample per-trade returns (all-in compounding) into equity paths.

    ``"iid"`` draws ``n_trades`` trades (default: as many as observed) with replacement; ``"shuffle"``
    reorders the observed trades (same final equity; the drawdown distribution shows the luck of the order).
    Sharpe, CAGR and volatility are per trade unless ``trades_per_year`` annualises them.

    Example:
        >>> import numpy as np
        >>> tr = np.array([0.05, -0.02, 0.03, -0.04, 0.06, -0.01, 0.02, -0.03])
        >>> mc = bootstrap_trades(tr, n_paths=500, seed=1, method="shuffle")
        >>> bool(np.allclose(mc.samples["final_equity"], mc.observed["final_equity"]))
        True
    """
    r = _returns(trade_rets, "trade_rets")
    if method not in ("iid", "shuffle"):
        raise ParameterError(f"unknown trade bootstrap method {method!r}; valid: ['iid', 'shuffle']")
    return bootstrap_returns(
        r,
        n_paths=n_paths,
        seed=seed,
        method=method,
        horizon=n_trades,
        periods_per_year=1.0 if trades_per_year is None else trades_per_year,
        init_cash=init_cash,
        batch=batch,
        mapper=mapper,
    )


# ------------------------------------------------------------------------------------------ parametric models
@dataclass(frozen=True, slots=True)
class GBMParams:
    """Geometric Brownian motion per bar: log returns i.i.d. N(mu, sigma²)."""

    mu: float
    sigma: float


def fit_gbm(returns: ArrayLike) -> GBMParams:
    """Fit GBM to simple returns: mean and std (ddof=1) of the log returns log(1 + r).

    Example:
        >>> p = fit_gbm([0.01, -0.01, 0.02, 0.0])
        >>> round(p.sigma, 4)
        0.0128
    """
    x = np.log1p(_returns(returns))
    return GBMParams(mu=float(x.mean()), sigma=float(x.std(ddof=1)))


@dataclass(frozen=True, slots=True)
class GarchParams:
    """Gaussian GARCH(1,1) with a constant mean, in the units of the fitted series.

    x_t = mu + e_t,  e_t = sqrt(h_t)·z_t,  h_t = omega + alpha·e²_{t−1} + beta·h_{t−1}.

    Attributes:
        mu, omega, alpha, beta: the parameters.
        loglik: maximised log-likelihood.
        n: observations.
        backcast: h_{−1} = e²_{−1}, the start of the recursion.
        converged: whether the optimiser reported success.
    """

    mu: float
    omega: float
    alpha: float
    beta: float
    loglik: float
    n: int
    backcast: float
    converged: bool

    @property
    def persistence(self) -> float:
        """alpha + beta."""
        return self.alpha + self.beta

    @property
    def unconditional_variance(self) -> float:
        """omega / (1 − alpha − beta) (inf when persistence ≥ 1)."""
        p = self.persistence
        return self.omega / (1.0 - p) if p < 1.0 else float("inf")


def fit_garch(x: ArrayLike) -> GarchParams:
    """Fit a constant-mean Gaussian GARCH(1,1) to ``x`` by maximum likelihood (scipy SLSQP).

    Conventions follow the ``arch`` package so that fits agree with it: the recursion starts from the backcast
    h_{−1} = e²_{−1} = Σ w_i ê_i², w_i ∝ 0.94^i over the first min(75, n) residuals of x − mean(x); constraints
    omega > 0, alpha, beta ≥ 0, alpha + beta < 1. The fit is made on x / std(x) and rescaled (the Gaussian
    GARCH likelihood is scale-equivariant), so any unit works (log returns, percent returns).

    Raises:
        ConfigError: scipy is not installed.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(3)
        >>> p = fit_garch(rng.standard_t(8, 2000) * 0.01)
        >>> 0.0 <= p.alpha < 1.0 and p.persistence < 1.0
        True
    """
    try:
        from scipy.optimize import minimize
    except ImportError as exc:  # pragma: no cover - scipy ships with the dev/test environment
        raise ConfigError("fit_garch needs scipy (pip install scipy)") from exc
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or a.size < 50 or not np.isfinite(a).all():
        raise ParameterError(f"`x` must be a finite 1-D series of >= 50 values, got shape {a.shape}")
    s = float(a.std())
    if not s > 0:
        raise ParameterError("`x` is constant: GARCH is undefined")
    z = np.ascontiguousarray(a / s)
    e = z - z.mean()
    tau = min(75, z.size)
    w = 0.94 ** np.arange(tau)
    backcast = float(np.sum(w / w.sum() * e[:tau] ** 2))

    def nll(p: F64) -> float:
        return float(k.garch_nll(z, p[0], p[1], p[2], p[3], backcast))

    cons = ({"type": "ineq", "fun": lambda p: 1.0 - 1e-6 - p[2] - p[3]},)
    bounds = [(-10.0, 10.0), (1e-10, 10.0), (0.0, 1.0), (0.0, 1.0)]
    best = None
    for al, be in ((0.05, 0.90), (0.10, 0.80), (0.20, 0.60), (0.03, 0.96)):
        x0 = np.array([z.mean(), max(1.0 - al - be, 1e-3), al, be])
        res = minimize(
            nll, x0, method="SLSQP", bounds=bounds, constraints=cons, options={"ftol": 1e-10, "maxiter": 500}
        )
        if best is None or res.fun < best.fun:
            best = res
    if best is None or not np.all(np.isfinite(best.x)):
        raise ConfigError(
            f"GARCH(1,1) fit did not converge on {z.size} returns; try method='gbm' or 'stationary'"
        )
    mu, om, al, be = (float(v) for v in best.x)
    return GarchParams(
        mu=mu * s,
        omega=om * s * s,
        alpha=al,
        beta=be,
        loglik=float(-best.fun - z.size * math.log(s)),
        n=int(z.size),
        backcast=backcast * s * s,
        converged=bool(best.success),
    )


def _gbm_batch(
    paths: I64, *, mu: float, sigma: float, seed: int, horizon: int, init_cash: float, ann: float
) -> F64:
    return np.asarray(k.gbm_returns_batch(mu, sigma, paths, seed, horizon, init_cash, ann))


def _garch_batch(
    paths: I64,
    *,
    g: tuple[float, float, float, float, float],
    seed: int,
    horizon: int,
    init_cash: float,
    ann: float,
) -> F64:
    return np.asarray(
        k.garch_returns_batch(g[0], g[1], g[2], g[3], g[4], paths, seed, horizon, init_cash, ann)
    )


def parametric_returns(
    returns: ArrayLike,
    *,
    model: Literal["gbm", "garch"] = "gbm",
    n_paths: int = 1000,
    seed: int = 0,
    horizon: int | None = None,
    periods_per_year: float = 252.0,
    init_cash: float = 100_000.0,
    batch: int = 1000,
    mapper: Mapper | None = None,
) -> MonteCarloResult:
    """Fit GBM or GARCH(1,1) to the log returns of ``returns`` and simulate ``n_paths`` return paths.

    GARCH paths start from the sample variance of the log returns (robust when the fit is close to integrated,
    alpha + beta ≈ 1, where the unconditional variance explodes). GARCH describes asset returns; a strategy's
    returns with long flat spells fit it poorly. ``params`` of the result holds the fit.

    Example:
        >>> import numpy as np
        >>> r = np.random.default_rng(0).normal(0.0003, 0.01, 750)
        >>> mc = parametric_returns(r, model="gbm", n_paths=300, seed=2)
        >>> 0.0 <= mc.risk_of_ruin(0.5) <= 1.0
        True
    """
    r = _returns(returns)
    n_paths = check_positive_int(n_paths, "n_paths")
    seed = check_seed(seed)
    h = r.size if horizon is None else check_positive_int(horizon, "horizon", 2)
    ann = float(periods_per_year)
    if model == "gbm":
        g = fit_gbm(r)
        fn = functools.partial(
            _gbm_batch, mu=g.mu, sigma=g.sigma, seed=seed, horizon=h, init_cash=float(init_cash), ann=ann
        )
        params: dict[str, Any] = {"mu": g.mu, "sigma": g.sigma}
    elif model == "garch":
        x = np.log1p(r)
        gp = fit_garch(x)
        fn = functools.partial(
            _garch_batch,
            g=(gp.mu, gp.omega, gp.alpha, gp.beta, float(x.var())),
            seed=seed,
            horizon=h,
            init_cash=float(init_cash),
            ann=ann,
        )
        params = {"mu": gp.mu, "omega": gp.omega, "alpha": gp.alpha, "beta": gp.beta, "loglik": gp.loglik}
    else:
        raise ParameterError(f"unknown model {model!r}; valid: ['gbm', 'garch']")
    rows = run_batches(fn, n_paths, batch, mapper)
    return MonteCarloResult(
        samples=_frame(rows, PATH_STATS),
        observed=_observed(r, float(init_cash), ann),
        method=model,
        n_paths=n_paths,
        seed=seed,
        params=params,
    )


# ------------------------------------------------------------------------------------------ re-backtests
@dataclass(frozen=True, slots=True)
class PathSource:
    """What synthetic price paths are built from (see :func:`price_path_source`).

    Attributes:
        mode: kernel mode (bootstrap, GBM or GARCH).
        logret, oc, hc, lc, vol: per source bar (bars 1..n−1): close-to-close log return and the open/close,
            high/close, low/close ratios and volume.
        bar0: (o, h, l, c, v) of the first real bar, the start of every path.
        model: GBM (mu, sigma, 0, 0, 0) or GARCH (mu, omega, alpha, beta, h0) parameters of log returns;
            GARCH paths start from h0 = the sample variance of the log returns.
        mean_block: stationary-bootstrap mean block length (1 = i.i.d.).
    """

    mode: int
    logret: F64
    oc: F64
    hc: F64
    lc: F64
    vol: F64
    bar0: F64
    model: F64
    mean_block: float


def price_path_source(
    arrays: BarArrays, method: PriceMethod = "stationary", mean_block: float = 20.0
) -> PathSource:
    """Prepare the bar features and model parameters synthetic OHLC paths are drawn from.

    ``"iid"`` / ``"stationary"`` resample whole bars (the close-to-close log return with the bar's shape);
    ``"gbm"`` / ``"garch"`` draw log returns from a model fitted to the closes and give each bar the shape of a
    random real bar. Shapes are ratios to the bar's own close, so synthetic bars are valid OHLC.
    """
    _, o, h, lo, c, v = arrays
    if c.size < 3:
        raise ParameterError(f"need at least 3 bars to build price paths, got {c.size}")
    logret = np.log(c[1:] / c[:-1])
    model = np.zeros(5)
    if method in ("iid", "stationary"):
        mode = k.MODE_BOOTSTRAP
        mb = 1.0 if method == "iid" else float(mean_block)
        if not (math.isfinite(mb) and mb >= 1.0):
            raise ParameterError(f"`mean_block` must be >= 1, got {mean_block!r}")
    elif method == "gbm":
        mode, mb = k.MODE_GBM, 1.0
        model[0], model[1] = float(logret.mean()), float(logret.std(ddof=1))
    elif method == "garch":
        mode, mb = k.MODE_GARCH, 1.0
        gp = fit_garch(logret)
        model[:] = (gp.mu, gp.omega, gp.alpha, gp.beta, float(logret.var()))
    else:
        raise ParameterError(
            f"unknown price-path method {method!r}; valid: ['iid', 'stationary', 'gbm', 'garch']"
        )
    cc = c[1:]
    return PathSource(
        mode=mode,
        logret=np.ascontiguousarray(logret),
        oc=np.ascontiguousarray(o[1:] / cc),
        hc=np.ascontiguousarray(h[1:] / cc),
        lc=np.ascontiguousarray(lo[1:] / cc),
        vol=np.ascontiguousarray(v[1:]),
        bar0=np.array([o[0], h[0], lo[0], c[0], v[0]], dtype=np.float64),
        model=model,
        mean_block=mb,
    )


def synthetic_bars(src: PathSource, seed: int, path: int, horizon: int) -> tuple[F64, F64, F64, F64, F64]:
    """The (open, high, low, close, volume) arrays of synthetic path ``path`` (what a re-backtest trades)."""
    o, h, lo, c, v = k.synth_path(
        check_seed(seed),
        check_positive_int(path, "path", 0),
        src.mode,
        src.logret,
        src.oc,
        src.hc,
        src.lc,
        src.vol,
        src.bar0,
        src.model,
        check_positive_int(horizon, "horizon", 2),
        src.mean_block,
    )
    return o, h, lo, c, v


def rebacktest_batch(
    paths: I64,
    *,
    spec: StrategySpec,
    params: Mapping[str, Any],
    src: PathSource,
    seed: int,
    horizon: int,
    config: ExecutionConfig,
    periods_per_year: float,
    bars_per_day: float,
) -> F64:
    """Metrics (len(paths), len(METRIC_NAMES)) of one parameter set re-backtested on synthetic paths ``paths``.

    The pure batch function behind :func:`rebacktest` (fan it out over :func:`path_batches`). Built-ins run
    the fused numba kernel in parallel; user strategies compute their signal per path in Python.
    """
    cfg = config
    paths = np.ascontiguousarray(paths, dtype=np.int64)
    rf = cfg.risk_free / periods_per_year
    if spec.builtin_id is not None:
        prm = np.zeros(3)
        for j, name in enumerate(spec.param_names):
            prm[j] = float(params[name])
        return np.asarray(
            k.rebacktest_batch(
                spec.builtin_id,
                prm,
                src.mode,
                src.logret,
                src.oc,
                src.hc,
                src.lc,
                src.vol,
                src.bar0,
                src.model,
                paths,
                seed,
                horizon,
                src.mean_block,
                cfg.execution == "next_open",
                cfg.fees,
                cfg.slippage,
                cfg.fixed_fee,
                cfg.impact_k,
                cfg.impact_window,
                cfg.participation,
                cfg.init_cash,
                periods_per_year,
                rf,
                bars_per_day,
            )
        )
    out = np.empty((paths.size, len(METRIC_NAMES)))
    for i, p in enumerate(paths):
        o, h, lo, c, v = synthetic_bars(src, seed, int(p), horizon)
        target = spec.signal(o, h, lo, c, v, params)
        sim = simulate(
            o, h, lo, c, v, target, config=cfg, periods_per_year=periods_per_year, bars_per_day=bars_per_day
        )
        out[i] = [sim.metrics[m] for m in METRIC_NAMES]
    return out


def rebacktest(
    data: DataLike,
    strategy: str | StrategySpec,
    params: Mapping[str, Any] | None = None,
    *,
    symbol: str | None = None,
    method: PriceMethod = "stationary",
    n_paths: int = 500,
    seed: int = 0,
    mean_block: float = 20.0,
    horizon: int | None = None,
    config: ExecutionConfig | None = None,
    periods_per_year: float | None = None,
    batch: int = 64,
    mapper: Mapper | None = None,
) -> MonteCarloResult:
    """Re-backtest a strategy on ``n_paths`` synthetic price paths of one symbol.

    Paths (:func:`price_path_source`) start at the real first bar and have ``horizon`` bars (default: the real
    length). The strategy's signal and the execution simulator run on each path exactly as in a backtest;
    ``samples`` has one row of ``METRIC_NAMES`` per path and ``observed`` the real history's metrics. Use
    :meth:`MonteCarloResult.summary` for confidence intervals and :meth:`MonteCarloResult.risk_of_ruin`.

    Example:
        >>> from quantray.data import sample_path
        >>> mc = rebacktest(sample_path(), "sma_cross", {"fast": 10, "slow": 50}, symbol="MSFT",
        ...                 n_paths=64, seed=1)
        >>> mc.samples.shape
        (64, 15)
    """
    spec = get_strategy(strategy)
    cfg = config or ExecutionConfig()
    p = spec.validate_params(params)
    n_paths = check_positive_int(n_paths, "n_paths")
    seed = check_seed(seed)
    sd = load_symbols(data, [symbol] if symbol else None, periods_per_year)
    sym, arrays = one_symbol(sd, symbol)
    src = price_path_source(arrays, method, mean_block)
    h = arrays[4].size if horizon is None else check_positive_int(horizon, "horizon", 2)
    fn = functools.partial(
        rebacktest_batch,
        spec=spec,
        params=p,
        src=src,
        seed=seed,
        horizon=h,
        config=cfg,
        periods_per_year=sd.periods_per_year,
        bars_per_day=sd.bars_per_day,
    )
    rows = run_batches(fn, n_paths, batch, mapper)
    obs = run_symbol(spec, arrays, [p], cfg, sd.periods_per_year, sd.bars_per_day)[0]
    params_out: dict[str, Any] = {"symbol": sym, "strategy": spec.name, **p, "horizon": h}
    if method == "stationary":
        params_out["mean_block"] = float(mean_block)
    if method == "gbm":
        params_out.update({"gbm_mu": float(src.model[0]), "gbm_sigma": float(src.model[1])})
    elif method == "garch":
        names = ("garch_mu", "garch_omega", "garch_alpha", "garch_beta", "garch_h0")
        params_out.update({n: float(x) for n, x in zip(names, src.model, strict=True)})
    return MonteCarloResult(
        samples=_frame(rows, METRIC_NAMES),
        observed=dict(zip(METRIC_NAMES, (float(x) for x in obs), strict=True)),
        method=method,
        n_paths=n_paths,
        seed=seed,
        params=params_out,
    )
