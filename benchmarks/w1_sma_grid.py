"""W1: one symbol x 1,000,000 one-minute bars x 100 sma_cross parameter sets — quantray vs vectorbt 1.2.0.

Each engine runs in its own subprocess (so peak memory is its own), on the same bars, in one invocation:

* quantray: the fused parallel batch kernel (``execution="close"``, fees 10 bp) — one call, all 100 sets;
* vectorbt: ``vbt.MA.run`` + crossings + ``Portfolio.from_signals``, chunked 10 sets at a time (its
  recommended way to stay within memory), computing the same four metrics;
* quantray "cold": a fresh process whose kernels come from numba's on-disk cache (no recompilation).

The bars: the real hourly log returns of the 8 Binance pairs in ``../shared/data/crypto`` concatenated and
tiled to 1,000,000 steps, relabelled as one-minute bars (real return distribution, synthetic timeline); when
that file is absent, a seeded GBM with the same length. Prints a table with wall time, peak RSS and the ratios,
checks the two engines agree on final equity and trade counts, and writes ``benchmarks/results/w1.json``.

    python -m benchmarks.w1_sma_grid            # or: make bench
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_BARS = 1_000_000
FEES = 0.001
FAST = list(range(5, 51, 5))
SLOW = list(range(60, 241, 20))
PAIRS = [(f, s) for f in FAST for s in SLOW]
ROOT = Path(__file__).resolve().parents[1]


def make_close(n: int = N_BARS) -> tuple[np.ndarray, str]:
    data = Path(os.environ.get("QUANTRAY_TEST_DATA", ROOT.parent / "shared" / "data"))
    path = data / "crypto" / "binance_spot_1h_8pairs_2022-04_2025-04.parquet"
    if path.is_file():
        import pandas as pd

        df = pd.read_parquet(path)
        sym = "symbol" if "symbol" in df.columns else df.columns[1]
        rets = []
        for _, g in df.sort_values([sym, df.columns[0]]).groupby(sym, sort=True):
            c = g["close"].to_numpy(float)
            rets.append(np.diff(np.log(c)))
        r = np.concatenate(rets)
        r = np.tile(r, n // r.size + 1)[: n - 1]
        source = f"real hourly log returns of {df[sym].nunique()} Binance pairs, tiled to {n:,} bars"
    else:
        r = np.random.default_rng(7).normal(0.0, 1e-3, n - 1)
        source = f"seeded GBM, {n:,} bars (shared data absent)"
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    return close, source


def run_quantray(close: np.ndarray) -> dict[str, object]:
    t0 = time.perf_counter()
    from quantray.engine import METRIC_NAMES
    from quantray.strategies import get_strategy
    from quantray.strategies._kernels import batch_run

    t_import = time.perf_counter() - t0
    spec = get_strategy("sma_cross")
    params = np.array([[f, s, 0.0] for f, s in PAIRS])
    o = np.r_[close[0], close[:-1]]
    z = np.zeros_like(close)
    args = (spec.builtin_id, o, close, close, close, z + 1.0, z, z, params, False, FEES, 0.0, 0.0, 0.0, 0.0)
    t1 = time.perf_counter()
    out = batch_run(*args, 100_000.0, 525_600.0, 0.0)
    first = time.perf_counter() - t1
    times = []
    for _ in range(3):
        t2 = time.perf_counter()
        out = batch_run(*args, 100_000.0, 525_600.0, 0.0)
        times.append(time.perf_counter() - t2)
    idx = {m: METRIC_NAMES.index(m) for m in ("final_equity", "num_trades", "sharpe", "max_drawdown")}
    return {
        "import_s": t_import,
        "first_call_s": first,
        "wall_s": min(times),
        "final_equity": out[:, idx["final_equity"]].tolist(),
        "num_trades": out[:, idx["num_trades"]].tolist(),
    }


def run_vectorbt(close: np.ndarray, chunk: int = 10) -> dict[str, object]:
    import pandas as pd
    import vectorbt as vbt

    s = pd.Series(close, index=pd.date_range("2020-01-01", periods=close.size, freq="1min"))
    t0 = time.perf_counter()
    finals: list[float] = []
    trades: list[float] = []
    for a in range(0, len(PAIRS), chunk):
        pairs = PAIRS[a : a + chunk]
        fast = vbt.MA.run(s, [p[0] for p in pairs], short_name="fast").ma.to_numpy()
        slow = vbt.MA.run(s, [p[1] for p in pairs], short_name="slow").ma.to_numpy()
        d = fast - slow
        prev = np.vstack([np.full((1, d.shape[1]), np.nan), d[:-1]])
        entries = (d > 0) & (prev <= 0)
        exits = (d < 0) & (prev >= 0)
        pf = vbt.Portfolio.from_signals(
            s,
            pd.DataFrame(entries, index=s.index),
            pd.DataFrame(exits, index=s.index),
            fees=FEES,
            init_cash=100_000.0,
            freq="1min",
        )
        finals += [float(x) for x in np.asarray(pf.final_value())]
        trades += [float(x) for x in np.asarray(pf.trades.count())]
        _ = (pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown())
    return {"wall_s": time.perf_counter() - t0, "final_equity": finals, "num_trades": trades}


def child(engine: str) -> None:
    close, _ = make_close()
    res = run_quantray(close) if engine == "quantray" else run_vectorbt(close)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(res))


def spawn(engine: str) -> dict[str, object]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.w1_sma_grid", "--child", engine],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    res: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t0
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description="W1 benchmark: quantray vs vectorbt")
    ap.add_argument("--child", choices=["quantray", "vectorbt"])
    ap.add_argument("--skip-vectorbt", action="store_true")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return 0
    _, source = make_close()
    evals = N_BARS * len(PAIRS)
    q = spawn("quantray")  # compiles (or loads) the kernels
    q_cold = spawn("quantray")  # a second process: must load from the JIT cache, not recompile
    v = None if args.skip_vectorbt else spawn("vectorbt")
    cores = os.cpu_count() or 1
    rows = [
        ("quantray (fused, 100 sets, 1 call)", float(q["wall_s"]), float(q["peak_rss_mb"])),
        ("quantray 2nd process: first call", float(q_cold["first_call_s"]), float(q_cold["peak_rss_mb"])),
    ]
    if v is not None:
        rows.append(("vectorbt 1.2.0 (chunks of 10)", float(v["wall_s"]), float(v["peak_rss_mb"])))
    print(f"W1: 1 symbol x {N_BARS:,} bars x {len(PAIRS)} sma_cross sets, fees {FEES}, close execution")
    print(f"data: {source}; machine: {cores} cores")
    print(f"{'engine':<40}{'wall s':>10}{'peak RSS MB':>14}")
    for name, wall, rss in rows:
        print(f"{name:<40}{wall:>10.3f}{rss:>14.0f}")
    result: dict[str, object] = {
        "workload": "W1",
        "bars": N_BARS,
        "param_sets": len(PAIRS),
        "data": source,
        "cores": cores,
        "quantray": q,
        "quantray_second_process": q_cold,
        "evals_per_s": evals / float(q["wall_s"]),
        "evals_per_s_per_core": evals / float(q["wall_s"]) / cores,
    }
    print(
        f"quantray: {evals / float(q['wall_s']):.3g} bar x set evaluations/s ({evals / float(q['wall_s']) / cores:.3g} per core); "
        f"first call in a fresh process {float(q_cold['first_call_s']):.2f}s (JIT cache: first process {float(q['first_call_s']):.2f}s)"
    )
    if v is not None:
        speed = float(v["wall_s"]) / float(q["wall_s"])
        mem = float(v["peak_rss_mb"]) / float(q["peak_rss_mb"])
        fe_q, fe_v = np.array(q["final_equity"]), np.array(v["final_equity"])
        agree = float(np.max(np.abs(fe_q / fe_v - 1.0)))
        trades_equal = bool(np.array_equal(np.array(q["num_trades"]), np.array(v["num_trades"])))
        print(
            f"ratio: quantray is {speed:.1f}x faster with {mem:.1f}x less peak memory than chunked vectorbt"
        )
        print(f"agreement: max |final equity rel diff| = {agree:.2e}; trade counts equal: {trades_equal}")
        result.update(
            vectorbt=v, speedup=speed, memory_ratio=mem, max_rel_diff=agree, trades_equal=trades_equal
        )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    for side in ("quantray", "quantray_second_process", "vectorbt"):
        if isinstance(result.get(side), dict):
            result[side] = {
                k: val for k, val in result[side].items() if k not in ("final_equity", "num_trades")
            }  # type: ignore[union-attr]
    (out / "w1.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'w1.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
