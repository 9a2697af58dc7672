"""DESIGN.md §3: in ``close`` mode with the same fees, slippage and sizing, final equity and the number of trades
equal vectorbt 1.2.0's ``Portfolio.from_signals(close, entries, exits, fees=, slippage=, init_cash=)`` to 1e-9
relative. Checked on real S&P 500 daily bars and Binance BTC hourly bars, through ``simulate`` and through the
public ``quantray.backtest`` table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import quantray
from quantray.data import Panel, read_bars
from quantray.engine import ExecutionConfig, simulate
from quantray.strategies import get_strategy

vbt = pytest.importorskip("vectorbt")

INIT_CASH = 100_000.0
PARAMS = [
    {"fast": 5, "slow": 20},
    {"fast": 10, "slow": 50},
    {"fast": 20, "slow": 100},
    {"fast": 2, "slow": 3},
]
COSTS = [(0.0, 0.0), (0.001, 0.0005), (0.005, 0.001)]


def test_vectorbt_version() -> None:
    assert vbt.__version__ == "1.2.0"


@pytest.fixture(scope="module")
def sp500(sp500_path: Path) -> Panel:
    panel = Panel.from_bars(read_bars(sp500_path, on_bad="repair"))
    complete = [s for s in panel.symbols if np.isfinite(panel.close[:, panel.column(s)]).all()]
    chosen = complete[::20]  # ~24 symbols spread over the alphabet, deterministic
    assert len(chosen) >= 20
    return panel.select(chosen)


@pytest.fixture(scope="module")
def btc(crypto_path: Path) -> Panel:
    bars = read_bars(crypto_path, symbols=["BTCUSDT"], on_bad="repair")
    panel = Panel.from_bars(bars)
    assert panel.calendar == "crypto" and panel.periods_per_year == 8760.0
    return panel


def _entries_exits(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """entry = the target becomes 1, exit = the target leaves 1."""
    prev = np.concatenate([[0], target[:-1]])
    return (target == 1) & (prev != 1), (target != 1) & (prev == 1)


def _vbt_frames(panel: Panel, spec_name: str, params: list[dict]):
    spec = get_strategy(spec_name)
    closes, entries, exits, targets = {}, {}, {}, {}
    for i, p in enumerate(params):
        for sym in panel.symbols:
            _, o, h, lo, c, v = panel.arrays(sym)
            tgt = spec.signal(o, h, lo, c, v, p)
            assert set(np.unique(tgt)) <= {0, 1}
            key = (i, sym)
            closes[key], targets[key] = c, tgt
            entries[key], exits[key] = _entries_exits(tgt)
    return pd.DataFrame(closes), pd.DataFrame(entries), pd.DataFrame(exits), targets


@pytest.mark.parametrize(("fees", "slippage"), COSTS)
def test_simulate_equals_vectorbt_on_sp500(sp500: Panel, fees: float, slippage: float) -> None:
    close, entries, exits, targets = _vbt_frames(sp500, "sma_cross", PARAMS)
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, fees=float(fees), slippage=float(slippage), init_cash=INIT_CASH, freq="1D"
    )
    final, count, mdd = pf.final_value(), pf.trades.count(), pf.max_drawdown()
    cfg = ExecutionConfig(execution="close", fees=fees, slippage=slippage, init_cash=INIT_CASH)
    total_trades = 0
    for key, tgt in targets.items():
        c = close[key].to_numpy()
        r = simulate(c, c, c, c, np.ones_like(c), tgt, config=cfg)
        assert r.metrics["num_trades"] == count[key], key
        assert r.metrics["final_equity"] == pytest.approx(final[key], rel=1e-9), key
        assert r.metrics["max_drawdown"] == pytest.approx(-mdd[key], rel=1e-9, abs=1e-12), key
        np.testing.assert_allclose(r.equity, pf.value()[key].to_numpy(), rtol=1e-9)
        total_trades += int(count[key])
    assert total_trades > 500


@pytest.mark.parametrize(("fees", "slippage"), COSTS)
def test_public_backtest_table_equals_vectorbt(sp500: Panel, fees: float, slippage: float) -> None:
    res = quantray.backtest(
        sp500,
        "sma_cross",
        grid={"fast": [p["fast"] for p in PARAMS], "slow": sorted({p["slow"] for p in PARAMS})},
        execution="close",
        fees=fees,
        slippage=slippage,
        init_cash=INIT_CASH,
    )
    table = res.table.set_index(["symbol", "fast", "slow"])
    close, entries, exits, _ = _vbt_frames(sp500, "sma_cross", PARAMS)
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, fees=float(fees), slippage=float(slippage), init_cash=INIT_CASH, freq="1D"
    )
    final, count, mdd = pf.final_value(), pf.trades.count(), pf.max_drawdown()
    for (i, sym), fv in final.items():
        row = table.loc[(sym, PARAMS[i]["fast"], PARAMS[i]["slow"])]
        assert row["num_trades"] == count[(i, sym)], (sym, PARAMS[i])
        assert row["final_equity"] == pytest.approx(fv, rel=1e-9), (sym, PARAMS[i])
        assert row["max_drawdown"] == pytest.approx(-mdd[(i, sym)], rel=1e-9, abs=1e-12)
        assert row["total_return"] == pytest.approx(pf.total_return()[(i, sym)], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "name", ["ema_cross", "rsi_reversion", "donchian_breakout", "macd", "bollinger_reversion"]
)
def test_other_long_only_builtins_equal_vectorbt(sp500: Panel, name: str) -> None:
    panel = sp500.select(list(sp500.symbols[:8]))
    close, entries, exits, targets = _vbt_frames(panel, name, [{}])
    pf = vbt.Portfolio.from_signals(close, entries, exits, fees=0.001, slippage=0.0005, init_cash=INIT_CASH)
    cfg = ExecutionConfig(execution="close", fees=0.001, slippage=0.0005, init_cash=INIT_CASH)
    for key, tgt in targets.items():
        c = close[key].to_numpy()
        r = simulate(c, c, c, c, np.ones_like(c), tgt, config=cfg)
        assert r.metrics["num_trades"] == pf.trades.count()[key], key
        assert r.metrics["final_equity"] == pytest.approx(pf.final_value()[key], rel=1e-9), key


@pytest.mark.parametrize(("fees", "slippage"), [(0.0, 0.0), (0.001, 0.0005)])
def test_btc_hourly_equals_vectorbt(btc: Panel, fees: float, slippage: float) -> None:
    params = [{"fast": 12, "slow": 48}, {"fast": 24, "slow": 168}, {"fast": 3, "slow": 10}]
    close, entries, exits, _targets = _vbt_frames(btc, "sma_cross", params)
    assert len(close) > 26_000
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, fees=float(fees), slippage=float(slippage), init_cash=INIT_CASH, freq="1h"
    )
    res = quantray.backtest(
        btc,
        "sma_cross",
        grid={"fast": [3, 12, 24], "slow": [10, 48, 168]},
        execution="close",
        fees=fees,
        slippage=slippage,
        init_cash=INIT_CASH,
    )
    table = res.table.set_index(["fast", "slow"])
    for (i, sym), fv in pf.final_value().items():
        row = table.loc[(params[i]["fast"], params[i]["slow"])]
        assert row["symbol"] == "BTCUSDT"
        assert row["num_trades"] == pf.trades.count()[(i, sym)] > 50
        assert row["final_equity"] == pytest.approx(fv, rel=1e-9)
        assert row["max_drawdown"] == pytest.approx(-pf.max_drawdown()[(i, sym)], rel=1e-9)


def test_fixed_fees_equal_vectorbt(sp500: Panel) -> None:
    """Not required by DESIGN.md, but the sizing formula is vectorbt's: a fixed fee per order must agree too."""
    close, entries, exits, targets = _vbt_frames(
        sp500.select(list(sp500.symbols[:5])), "sma_cross", PARAMS[:2]
    )
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, fees=0.001, fixed_fees=5.0, slippage=0.0005, init_cash=INIT_CASH
    )
    cfg = ExecutionConfig(execution="close", fees=0.001, fixed_fee=5.0, slippage=0.0005, init_cash=INIT_CASH)
    for key, tgt in targets.items():
        c = close[key].to_numpy()
        r = simulate(c, c, c, c, np.ones_like(c), tgt, config=cfg)
        assert r.metrics["num_trades"] == pf.trades.count()[key]
        assert r.metrics["final_equity"] == pytest.approx(pf.final_value()[key], rel=1e-9)
