"""Combinatorial purged cross-validation (López de Prado, *Advances in Financial Machine Learning*, ch. 7 & 12)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from quantray.engine import ExecutionConfig, cagr, calmar_ratio, max_drawdown, sortino_ratio, total_return
from quantray.engine import sharpe_ratio as _sharpe
from quantray.engine import volatility as _vol
from quantray.errors import ParameterError
from quantray.research._common import (
    DataLike,
    best_index,
    check_fraction,
    check_positive_int,
    expand,
    load_symbols,
    one_symbol,
    trial_returns,
    ts_index,
)
from quantray.strategies import StrategySpec, get_strategy

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

#: Metrics :func:`cpcv` can select parameter sets by (computed on the training returns).
CV_METRICS = ("sharpe", "sortino", "total_return", "cagr", "calmar", "max_drawdown")


@dataclass(frozen=True, slots=True)
class CPCVSplit:
    """One train/test split of CPCV.

    Attributes:
        index: split number (combinations of test groups in lexicographic order).
        test_groups: the k groups tested.
        train: training observation positions after purging and embargo (sorted).
        test: test observation positions (sorted).
    """

    index: int
    test_groups: tuple[int, ...]
    train: I64 = field(repr=False)
    test: I64 = field(repr=False)


def cpcv_groups(n_obs: int, n_groups: int) -> list[tuple[int, int]]:
    """``[start, end)`` of N contiguous groups of near-equal size (the first n_obs mod N get one more)."""
    n_obs = check_positive_int(n_obs, "n_obs")
    n_groups = check_positive_int(n_groups, "n_groups", 2)
    if n_obs < n_groups:
        raise ParameterError(f"`n_groups <= n_obs` must hold, got n_groups={n_groups}, n_obs={n_obs}")
    sizes = np.full(n_groups, n_obs // n_groups)
    sizes[: n_obs % n_groups] += 1
    ends = np.cumsum(sizes)
    return [(int(e - s), int(e)) for s, e in zip(sizes, ends, strict=True)]


def cpcv_splits(
    n_obs: int,
    *,
    n_groups: int = 6,
    n_test_groups: int = 2,
    label_horizon: int = 0,
    embargo: float = 0.0,
) -> list[CPCVSplit]:
    """The C(N, k) purged and embargoed train/test splits of combinatorial purged cross-validation.

    Observations 0..n_obs−1 are cut into N contiguous groups; every combination of k groups is a test set.
    Observation i's label spans bars [i, i + label_horizon]. For each contiguous test block [a, b):

    * purge: training observations whose label span overlaps a test label span are removed, i.e. [a − h, a)
      before the block and [b, b + h) after it (h = ``label_horizon``);
    * embargo: the next ⌈embargo · n_obs⌉ observations after the purged zone, [b + h, b + h + e), are removed
      too (serial correlation leaks from the test block into what follows it).

    Every group is tested in C(N−1, k−1) splits, so the OOS results form φ = k/N · C(N, k) = C(N−1, k−1)
    complete backtest paths (:func:`cpcv_paths`).

    Args:
        n_obs: number of observations (bars).
        n_groups: N ≥ 2.
        n_test_groups: k, 1 ≤ k < N.
        label_horizon: h ≥ 0 bars of look-ahead in each observation's label.
        embargo: fraction of n_obs in [0, 1) embargoed after each test block.

    Example:
        >>> splits = cpcv_splits(60, n_groups=6, n_test_groups=2, label_horizon=1, embargo=0.05)
        >>> len(splits), splits[0].test_groups, splits[0].test.size, int(splits[0].train.min())
        (15, (0, 1), 20, 24)
    """
    groups = cpcv_groups(n_obs, n_groups)
    k = check_positive_int(n_test_groups, "n_test_groups")
    if k >= n_groups:
        raise ParameterError(
            f"`n_test_groups < n_groups` must hold, got n_test_groups={k}, n_groups={n_groups}"
        )
    h = check_positive_int(label_horizon, "label_horizon", 0)
    emb = check_fraction(embargo, "embargo", high=1.0)
    if emb >= 1.0:
        raise ParameterError(f"`embargo` must be in [0, 1), got {embargo!r}")
    e = math.ceil(emb * n_obs)
    out = []
    for i, combo in enumerate(itertools.combinations(range(n_groups), k)):
        test_mask = np.zeros(n_obs, dtype=bool)
        drop = np.zeros(n_obs, dtype=bool)
        for g in combo:
            a, b = groups[g]
            test_mask[a:b] = True
        # contiguous test blocks (adjacent test groups merge)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], test_mask.view(np.int8), [0]))))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            drop[max(0, a - h) : a] = True
            drop[b : min(n_obs, b + h + e)] = True
        train = np.flatnonzero(~test_mask & ~drop).astype(np.int64)
        out.append(CPCVSplit(i, tuple(combo), train, np.flatnonzero(test_mask).astype(np.int64)))
    return out


def cpcv_paths(n_groups: int, n_test_groups: int) -> I64:
    """Which split supplies each group of each backtest path: an (φ, N) matrix of split indices.

    Path p takes, for group g, the p-th split (in split order) that tests g, so each of the φ = C(N−1, k−1)
    paths covers every group exactly once.

    Example:
        >>> cpcv_paths(4, 2).tolist()
        [[0, 0, 1, 2], [1, 3, 3, 4], [2, 4, 5, 5]]
    """
    n_groups = check_positive_int(n_groups, "n_groups", 2)
    k = check_positive_int(n_test_groups, "n_test_groups")
    if k >= n_groups:
        raise ParameterError(
            f"`n_test_groups < n_groups` must hold, got n_test_groups={k}, n_groups={n_groups}"
        )
    per_group: list[list[int]] = [[] for _ in range(n_groups)]
    for i, combo in enumerate(itertools.combinations(range(n_groups), k)):
        for g in combo:
            per_group[g].append(i)
    return np.array(per_group, dtype=np.int64).T.copy()


def _scores(R: F64, metric: str, ppy: float) -> F64:
    if metric == "sharpe":
        sd = R.std(axis=0, ddof=1)
        mu = R.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = mu / sd * math.sqrt(ppy)
        return np.where(sd > 1e-14 * np.maximum(np.abs(mu), 1e-300), s, np.nan)
    fn = {
        "sortino": lambda r: sortino_ratio(r, ppy),
        "total_return": total_return,
        "cagr": lambda r: cagr(r, ppy),
        "calmar": lambda r: calmar_ratio(r, ppy),
        "max_drawdown": max_drawdown,
    }[metric]
    return np.array([fn(np.ascontiguousarray(R[:, j])) for j in range(R.shape[1])])


@dataclass(frozen=True)
class CPCVResult:
    """Results of :func:`cpcv`.

    Attributes:
        splits: one row per split: ``split, test_groups, train_bars, test_bars``, the chosen parameters,
            ``is_score`` (the selection metric in sample), ``oos_sharpe``, ``oos_total_return``.
        paths: one row per backtest path: ``path, sharpe, total_return, cagr, max_drawdown, volatility``.
        path_returns: per-bar OOS returns of each path (columns ``path_0..``), indexed by timestamp.
        trial_returns: the T × m per-bar returns of every parameter set (reusable for PBO, SPA, DSR).
        param_sets: the parameter sets (columns of ``trial_returns``).
        benchmark_returns: per-bar returns of the ``benchmark`` strategy on the same bars, or None.
        symbol, strategy, metric, n_groups, n_test_groups, label_horizon, embargo, periods_per_year: inputs.
    """

    splits: pd.DataFrame
    paths: pd.DataFrame
    path_returns: pd.DataFrame
    trial_returns: F64 = field(repr=False)
    param_sets: list[dict[str, Any]] = field(repr=False)
    benchmark_returns: F64 | None = field(default=None, repr=False)
    symbol: str = ""
    strategy: str = ""
    metric: str = "sharpe"
    n_groups: int = 6
    n_test_groups: int = 2
    label_horizon: int = 0
    embargo: float = 0.0
    periods_per_year: float = 252.0

    def summary(self) -> dict[str, float]:
        """Distribution of the paths' OOS Sharpe ratio: mean, std, quantiles and P(Sharpe ≤ 0)."""
        s = self.paths["sharpe"].to_numpy(dtype=np.float64)
        s = s[np.isfinite(s)]
        if s.size == 0:
            return {"n_splits": float(len(self.splits)), "n_paths": float(len(self.paths))}
        return {
            "n_splits": float(len(self.splits)),
            "n_paths": float(len(self.paths)),
            "sharpe_mean": float(s.mean()),
            "sharpe_std": float(s.std(ddof=1)) if s.size > 1 else 0.0,
            "sharpe_min": float(s.min()),
            "sharpe_p05": float(np.quantile(s, 0.05)),
            "sharpe_median": float(np.median(s)),
            "sharpe_p95": float(np.quantile(s, 0.95)),
            "sharpe_max": float(s.max()),
            "prob_sharpe_le_0": float(np.mean(s <= 0)),
        }


def cpcv(
    data: DataLike,
    strategy: str | StrategySpec,
    grid: Mapping[str, Any],
    *,
    symbol: str | None = None,
    n_groups: int = 6,
    n_test_groups: int = 2,
    label_horizon: int = 0,
    embargo: float = 0.01,
    metric: str = "sharpe",
    config: ExecutionConfig | None = None,
    params: Mapping[str, Any] | None = None,
    periods_per_year: float | None = None,
    warmup_bars: int = 0,
    benchmark: str | StrategySpec | None = None,
) -> CPCVResult:
    """Combinatorial purged cross-validation of a grid search on one symbol.

    Every parameter set is simulated once over the symbol's history (:func:`trial_returns`: signals from bar
    0, the sample starting at ``warmup_bars``), giving a T × m matrix of per-bar returns. For each of the
    C(N, k) splits of :func:`cpcv_splits`, the set with the best ``metric`` on the (purged, embargoed)
    training bars is chosen and its returns on the test bars are kept. The OOS blocks are assembled into
    φ = C(N−1, k−1) backtest paths (:func:`cpcv_paths`), each a full-length OOS history; the distribution of
    the paths' Sharpe ratios is the CPCV estimate of the search's out-of-sample Sharpe.

    An observation is one bar's return; its "label" looks ``label_horizon`` bars ahead — set it to the
    typical holding period to purge trades that straddle a train/test boundary.

    Args:
        data: path/URL, frame, Panel, bar-array tuple or mapping (one symbol is used).
        strategy: registered name or StrategySpec.
        grid: parameter name → values.
        symbol: the symbol (optional when the data holds one).
        n_groups, n_test_groups: N and k.
        label_horizon: purge width h in bars.
        embargo: fraction of bars embargoed after each test block.
        metric: selection metric in ``CV_METRICS``.
        config: execution and costs.
        params: fixed values for parameters outside the grid.
        periods_per_year: annualisation (inferred by default).
        warmup_bars: bars left out at the start (indicator warm-up).
        benchmark: a strategy (e.g. ``"buy_and_hold"``, default parameters) simulated on the same bars with
            the same costs; its returns are kept as ``benchmark_returns`` for :func:`spa_test` /
            :func:`overfitting_report`.

    Example:
        >>> from quantray.data import sample_path
        >>> res = cpcv(sample_path(), "sma_cross", {"fast": [5, 10, 20], "slow": [50, 100]},
        ...            symbol="MSFT", n_groups=6, n_test_groups=2)
        >>> len(res.splits), len(res.paths)
        (15, 5)
    """
    spec = get_strategy(strategy)
    cfg = config or ExecutionConfig()
    if metric not in CV_METRICS:
        raise ParameterError(f"unknown CV metric {metric!r}; valid: {list(CV_METRICS)}")
    param_sets = expand(spec, grid, params)
    sd = load_symbols(data, [symbol] if symbol else None, periods_per_year)
    sym, arrays = one_symbol(sd, symbol)
    n = arrays[4].size
    warmup = check_positive_int(warmup_bars, "warmup_bars", 0)
    if warmup >= n - n_groups:
        raise ParameterError(f"`warmup_bars` must leave >= n_groups bars, got warmup_bars={warmup}, n={n}")
    ppy = sd.periods_per_year
    R = trial_returns(
        arrays,
        spec,
        param_sets,
        config=cfg,
        periods_per_year=ppy,
        bars_per_day=sd.bars_per_day,
        start=warmup,
    )
    bench = None
    if benchmark is not None:
        bspec = get_strategy(benchmark)
        bench = trial_returns(
            arrays,
            bspec,
            [bspec.validate_params(None)],
            config=cfg,
            periods_per_year=ppy,
            bars_per_day=sd.bars_per_day,
            start=warmup,
        )[:, 0]
    T = R.shape[0]
    splits = cpcv_splits(
        T, n_groups=n_groups, n_test_groups=n_test_groups, label_horizon=label_horizon, embargo=embargo
    )
    groups = cpcv_groups(T, n_groups)
    choice = np.empty(len(splits), dtype=np.int64)
    rows = []
    for sp in splits:
        if sp.train.size < 2:
            raise ParameterError(
                f"split {sp.index} keeps {sp.train.size} training bars after purge and embargo; "
                f"lower label_horizon={label_horizon} or embargo={embargo}, or use fewer groups"
            )
        sc = _scores(R[sp.train], metric, ppy)
        best = best_index(sc, lower_is_better=metric == "max_drawdown")
        choice[sp.index] = best
        oos = np.ascontiguousarray(R[sp.test, best])
        row: dict[str, Any] = {
            "split": sp.index,
            "test_groups": ",".join(map(str, sp.test_groups)),
            "train_bars": int(sp.train.size),
            "test_bars": int(sp.test.size),
        }
        row.update(param_sets[best])
        row["is_score"] = float(sc[best])
        row["oos_sharpe"] = _sharpe(oos, ppy)
        row["oos_total_return"] = total_return(oos)
        rows.append(row)
    path_map = cpcv_paths(n_groups, n_test_groups)
    P = np.empty((T, path_map.shape[0]))
    for p in range(path_map.shape[0]):
        for g, (a, b) in enumerate(groups):
            P[a:b, p] = R[a:b, choice[path_map[p, g]]]
    stats = []
    for p in range(P.shape[1]):
        r = np.ascontiguousarray(P[:, p])
        stats.append(
            {
                "path": p,
                "sharpe": _sharpe(r, ppy),
                "total_return": total_return(r),
                "cagr": cagr(r, ppy),
                "max_drawdown": max_drawdown(r),
                "volatility": _vol(r, ppy),
            }
        )
    idx = ts_index(arrays[0][warmup:])
    return CPCVResult(
        splits=pd.DataFrame(rows),
        paths=pd.DataFrame(stats),
        path_returns=pd.DataFrame(P, index=idx, columns=[f"path_{p}" for p in range(P.shape[1])]),
        trial_returns=R,
        param_sets=[dict(p) for p in param_sets],
        benchmark_returns=bench,
        symbol=sym,
        strategy=spec.name,
        metric=metric,
        n_groups=n_groups,
        n_test_groups=n_test_groups,
        label_horizon=label_horizon,
        embargo=float(embargo),
        periods_per_year=ppy,
    )
