"""quantray.research: walk-forward optimisation, combinatorial purged cross-validation, Monte Carlo, regime
slicing and backtest-overfitting statistics.

Every heavy function is a pure function over arrays that runs without Ray; the ones that loop over many
independent units (walk-forward windows, Monte Carlo path batches) take a ``mapper(fn, items)`` (builtin
``map`` by default) so that ``quantray.dist`` can fan the units out to Ray tasks. Monte Carlo paths draw
from counter-based random streams keyed by ``(seed, path index)``: the same seed gives the same numbers however
the paths are batched.

Example:
    >>> from quantray.data import sample_path
    >>> from quantray.research import walk_forward
    >>> wf = walk_forward(sample_path(), "sma_cross", {"fast": [5, 10, 20], "slow": [50, 100]},
    ...                   train_bars=500, test_bars=125, symbols=["AAPL"])
    >>> int(wf.summary.loc["AAPL", "n_windows"])
    7
"""

from __future__ import annotations

from quantray.research._common import (
    BarArrays,
    DataLike,
    Mapper,
    path_batches,
    run_batches,
    trial_returns,
    trial_simulations,
)
from quantray.research._cv import (
    CV_METRICS,
    CPCVResult,
    CPCVSplit,
    cpcv,
    cpcv_groups,
    cpcv_paths,
    cpcv_splits,
)
from quantray.research._montecarlo import (
    PATH_STATS,
    GarchParams,
    GBMParams,
    MonteCarloResult,
    PathSource,
    bootstrap_returns,
    bootstrap_trades,
    fit_garch,
    fit_gbm,
    parametric_returns,
    price_path_source,
    rebacktest,
    rebacktest_batch,
    synthetic_bars,
    trade_returns,
)
from quantray.research._regimes import (
    TREND_REGIMES,
    VOLATILITY_REGIMES,
    regime_analysis,
    regime_metrics,
    trend_regimes,
    volatility_regimes,
)
from quantray.research._stats import (
    EULER_GAMMA,
    OverfittingReport,
    PBOResult,
    SharpeStats,
    SPAResult,
    deflated_sharpe_ratio,
    dsr_from_stats,
    expected_max_sharpe,
    long_run_variance,
    overfitting_report,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    psr_from_stats,
    sharpe_stats,
    spa_test,
    trial_sharpes,
)
from quantray.research._walkforward import (
    WalkForwardResult,
    Window,
    WindowOutcome,
    evaluate_window,
    walk_forward,
    walk_forward_windows,
)

__all__ = [
    "CV_METRICS",
    "EULER_GAMMA",
    "PATH_STATS",
    "TREND_REGIMES",
    "VOLATILITY_REGIMES",
    "BarArrays",
    "CPCVResult",
    "CPCVSplit",
    "DataLike",
    "GBMParams",
    "GarchParams",
    "Mapper",
    "MonteCarloResult",
    "OverfittingReport",
    "PBOResult",
    "PathSource",
    "SPAResult",
    "SharpeStats",
    "WalkForwardResult",
    "Window",
    "WindowOutcome",
    "bootstrap_returns",
    "bootstrap_trades",
    "cpcv",
    "cpcv_groups",
    "cpcv_paths",
    "cpcv_splits",
    "deflated_sharpe_ratio",
    "dsr_from_stats",
    "evaluate_window",
    "expected_max_sharpe",
    "fit_garch",
    "fit_gbm",
    "long_run_variance",
    "overfitting_report",
    "parametric_returns",
    "path_batches",
    "price_path_source",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "psr_from_stats",
    "rebacktest",
    "rebacktest_batch",
    "regime_analysis",
    "regime_metrics",
    "run_batches",
    "sharpe_stats",
    "spa_test",
    "synthetic_bars",
    "trade_returns",
    "trend_regimes",
    "trial_returns",
    "trial_sharpes",
    "trial_simulations",
    "volatility_regimes",
    "walk_forward",
    "walk_forward_windows",
]
