"""Combinatorial purged cross-validation: split invariants, path assembly, and a brute-force re-computation on
real data with the engine's public simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantray.data import Panel
from quantray.engine import ExecutionConfig, sharpe_ratio, simulate
from quantray.errors import ParameterError
from quantray.research import cpcv, cpcv_groups, cpcv_paths, cpcv_splits
from quantray.strategies import get_strategy


@pytest.mark.parametrize(
    ("n", "N", "k", "h", "emb"),
    [
        (60, 6, 2, 0, 0.0),
        (100, 6, 2, 3, 0.02),
        (97, 5, 1, 2, 0.05),
        (250, 10, 3, 5, 0.01),
        (40, 4, 3, 1, 0.1),
    ],
)
def test_split_invariants(n: int, N: int, k: int, h: int, emb: float) -> None:
    splits = cpcv_splits(n, n_groups=N, n_test_groups=k, label_horizon=h, embargo=emb)
    groups = cpcv_groups(n, N)
    e = math.ceil(emb * n)
    assert len(splits) == math.comb(N, k)
    assert [b - a for a, b in groups] == sorted([b - a for a, b in groups], reverse=True)
    assert groups[0][0] == 0 and groups[-1][1] == n
    tested = np.zeros(N, dtype=int)
    for sp in splits:
        test, train = sp.test, sp.train
        assert np.intersect1d(test, train).size == 0
        assert np.array_equal(test, np.concatenate([np.arange(*groups[g]) for g in sp.test_groups]))
        for g in sp.test_groups:
            tested[g] += 1
        # purge: no training label span [i, i+h] overlaps a test label span [j, j+h]
        dist = np.abs(train[:, None] - test[None, :]).min(axis=1)
        assert (dist > h).all()
        # embargo: nothing in the e bars after each test block's purge zone
        is_test = np.zeros(n, dtype=bool)
        is_test[test] = True
        ends = np.flatnonzero(is_test[:-1] & ~is_test[1:]) + 1  # first bar after a test block
        for b in ends:
            assert not np.isin(np.arange(b, min(n, b + h + e)), train).any()
        # and nothing else is dropped: every other non-test bar is a training bar
        near = np.zeros(n, dtype=bool)
        starts = np.flatnonzero(~is_test[:-1] & is_test[1:]) + 1
        starts = np.r_[[0] if is_test[0] else [], starts].astype(int)
        for a in starts:
            near[max(0, a - h) : a] = True
        for b in ends:
            near[b : min(n, b + h + e)] = True
        assert np.array_equal(np.sort(train), np.flatnonzero(~is_test & ~near))
    # each group is a test group in exactly C(N-1, k-1) splits; that many paths
    assert (tested == math.comb(N - 1, k - 1)).all()
    paths = cpcv_paths(N, k)
    assert paths.shape == (math.comb(N, k) * k // N, N) == (math.comb(N - 1, k - 1), N)
    for p in range(paths.shape[0]):
        for g in range(N):
            assert g in splits[paths[p, g]].test_groups
    # every split feeds exactly k (path, group) cells: the paths use every OOS block once
    assert np.array_equal(np.bincount(paths.ravel(), minlength=len(splits)), np.full(len(splits), k))


def test_split_errors_name_the_parameter() -> None:
    with pytest.raises(ParameterError, match="n_test_groups < n_groups"):
        cpcv_splits(100, n_groups=4, n_test_groups=4)
    with pytest.raises(ParameterError, match="embargo"):
        cpcv_splits(100, embargo=1.5)
    with pytest.raises(ParameterError, match="n_groups <= n_obs"):
        cpcv_groups(3, 6)


def test_cpcv_on_real_data_matches_a_brute_force_recomputation(sp500_panel: Panel) -> None:
    spec = get_strategy("sma_cross")
    grid = {"fast": [5, 10, 20], "slow": [50, 100, 200]}
    cfg = ExecutionConfig(fees=0.0005)
    res = cpcv(
        sp500_panel,
        spec,
        grid,
        symbol="XOM",
        n_groups=6,
        n_test_groups=2,
        label_horizon=5,
        embargo=0.01,
        config=cfg,
        warmup_bars=200,
        benchmark="buy_and_hold",
    )
    ts, o, h, lo, c, v = sp500_panel.arrays("XOM")
    hold = simulate(o[200:], h[200:], lo[200:], c[200:], v[200:], np.ones(c.size - 200), config=cfg)
    assert res.benchmark_returns is not None
    np.testing.assert_allclose(res.benchmark_returns, hold.returns, rtol=0, atol=1e-12)
    sets = spec.expand_grid(grid)
    # reference trial returns: the public signal + simulate on the bars from 200 on, signals from bar 0
    ref = np.column_stack(
        [
            np.diff(np.r_[cfg.init_cash, sim.equity]) / np.r_[cfg.init_cash, sim.equity[:-1]]
            for sim in (
                simulate(
                    o[200:],
                    h[200:],
                    lo[200:],
                    c[200:],
                    v[200:],
                    spec.signal(o, h, lo, c, v, p)[200:],
                    config=cfg,
                )
                for p in sets
            )
        ]
    )
    np.testing.assert_allclose(res.trial_returns, ref, rtol=0, atol=1e-12)
    T = ref.shape[0]
    splits = cpcv_splits(T, n_groups=6, n_test_groups=2, label_horizon=5, embargo=0.01)
    choice = []
    for sp, row in zip(splits, res.splits.itertuples(), strict=True):
        sr = [sharpe_ratio(ref[sp.train, j], 252) for j in range(len(sets))]
        best = int(np.nanargmax(sr))
        choice.append(best)
        assert (row.fast, row.slow) == (sets[best]["fast"], sets[best]["slow"])
        assert row.is_score == pytest.approx(sr[best])
        assert row.oos_sharpe == pytest.approx(sharpe_ratio(ref[sp.test, best], 252))
    groups = cpcv_groups(T, 6)
    paths = cpcv_paths(6, 2)
    assert res.path_returns.shape == (T, 5)
    assert res.path_returns.index[0].value == ts[200]
    for p in range(paths.shape[0]):
        R = res.trial_returns  # equal to the reference above to 1e-12
        expect = np.concatenate([R[a:b, choice[paths[p, g]]] for g, (a, b) in enumerate(groups)])
        np.testing.assert_array_equal(res.path_returns[f"path_{p}"].to_numpy(), expect)
        assert res.paths.loc[p, "sharpe"] == pytest.approx(sharpe_ratio(expect, 252))
    s = res.summary()
    assert s["n_paths"] == 5 and s["n_splits"] == 15
    assert s["sharpe_min"] <= s["sharpe_median"] <= s["sharpe_max"]


def test_cpcv_requires_a_symbol_for_a_multi_symbol_panel(sp500_panel: Panel) -> None:
    with pytest.raises(ParameterError, match="`symbol` is required"):
        cpcv(sp500_panel, "sma_cross", {"fast": [5], "slow": [50]})
    with pytest.raises(ParameterError, match="unknown CV metric"):
        cpcv(sp500_panel, "sma_cross", {"fast": [5], "slow": [50]}, symbol="XOM", metric="hit")
