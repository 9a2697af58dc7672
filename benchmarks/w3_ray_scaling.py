"""W3: 50 symbols x 200,000 one-minute bars x 100 sma_cross parameter sets on a local Ray — scaling and overhead.

Targets (from the issue), on this machine's 2 cores:

* speed-up of :func:`quantray.sweep` from 1 to 2 Ray CPUs >= 1.8x;
* Ray at 1 CPU no more than 10 % slower than a direct in-process call of the same work
  (:func:`quantray._backtest.run_symbol` in a loop over the symbols, numba at 1 thread, as each Ray task runs);
* the panel goes into the object store once: ``SweepResult.shared_bytes`` vs the panel's ``nbytes``, and the
  object store's own usage read from Ray while the sweep runs.

Ray at 1 CPU and Ray at 2 CPUs run in two subprocesses (one Ray per process), each timed after a small
warm-up sweep that starts the workers and loads the numba kernels from the on-disk cache. The direct loop runs
in the 1-CPU process while its Ray is idle, bracketing the sweep (symbols 1-25 just before it, 26-50 just
after) so that the drifting speed of a shared machine affects both sides alike; the 2-CPU process runs the
direct loop at 2 numba threads after its sweep, for reference. A pure-compute check of what 2 threads deliver
over 1 is printed before, between and after the cases: it bounds any speed-up measurable at that moment.
Memory is the peak over each child's process tree (see ``benchmarks.w2_many_params.TreeSampler``).

The data: a long DataFrame of bars (``ts`` at 1-minute steps from 2020-01-01, ``symbol``, open/high/low/
close/volume), 50 symbols x 200,000 bars = 10 M rows, built from the real hourly bars of the 8 Binance pairs
in ``../shared/data/crypto`` (real log returns and bar shapes; symbol k starts k x 4,093 bars further into
the concatenated series, wrapping around — so the symbols are shifted copies of one real series); validated
with ``quantray.data.read_bars(on_bad="raise")`` and pivoted with ``Panel.from_bars`` once in this process,
then handed to the children as arrays. Grid: fast 5..50 step 5 x slow 60..240 step 20 (W1's), fees 10 bp,
close execution. The Ray object store is given 1,024 MB (the panel is 401 MB; the 300 MB default is for tests).

    python -m benchmarks.w3_ray_scaling        # ~2.5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.w2_many_params import (
    breakdown,
    capacity_line,
    make_bars,
    parallel_capacity,
    phase,
    provenance,
    provenance_line,
    real_bar_source,
    self_peak_mb,
    spawn,
    tree_peak,
)

N_SYMBOLS = 50
N_BARS = 200_000
FEES = 0.001
GRID = {"fast": list(range(5, 51, 5)), "slow": list(range(60, 241, 20))}
OBJECT_STORE_MB = 1024
TARGET_SPEEDUP = 1.8
TARGET_OVERHEAD = 0.10
ROOT = Path(__file__).resolve().parents[1]
MODULE = "benchmarks.w3_ray_scaling"
FIELDS = ("open", "high", "low", "close", "volume")


# ------------------------------------------------------------------------------------------ data
def build_bars() -> tuple[Any, str]:
    """The long DataFrame of bars (10 M rows) and a description of where it comes from."""
    import pandas as pd

    src, label = real_bar_source()
    stride = src["logret"].size // N_SYMBOLS
    frames = []
    for k in range(N_SYMBOLS):
        ts, o, h, lo, c, v = make_bars(N_BARS, src, offset=k * stride, start=20.0 + 4.0 * k)
        frames.append(
            pd.DataFrame(
                {
                    "ts": pd.to_datetime(ts, utc=True),
                    "symbol": f"S{k:02d}",
                    "open": o,
                    "high": h,
                    "low": lo,
                    "close": c,
                    "volume": v,
                }
            )
        )
    bars = pd.concat(frames, ignore_index=True)
    return bars, f"{label}; symbol k starts k x {stride:,} bars further in (wrapping)"


def save_panel(path: Path, panel: Any) -> None:
    np.savez(
        path,
        index=panel.index.view(np.int64),
        symbols=np.array(panel.symbols),
        **{f: getattr(panel, f) for f in FIELDS},
    )


def load_panel(path: Path) -> Any:
    import pandas as pd

    from quantray.data import Panel

    with np.load(path) as z:
        return Panel(
            index=z["index"].view("datetime64[ns]"),
            symbols=tuple(str(s) for s in z["symbols"]),
            interval=pd.Timedelta("1min"),
            calendar="crypto",
            **{f: z[f] for f in FIELDS},
        )


# ------------------------------------------------------------------------------------------ children
def plasma_usage() -> dict[str, Any]:
    """The object store's usage as Ray reports it (``ray memory --stats-only``), parsed."""
    try:
        from ray._private.internal_api import memory_summary

        text = memory_summary(stats_only=True)
    except Exception as exc:  # a report, not a requirement
        return {"error": f"{type(exc).__name__}: {exc}"}
    m = re.search(r"Plasma memory usage (\d+) MiB, (\d+) objects", text)
    if not m:
        return {"raw": text[-400:]}
    return {"plasma_mib": int(m.group(1)), "objects": int(m.group(2))}


def direct_loop(panel: Any, symbols: Any, threads: int) -> tuple[float, list[np.ndarray]]:
    """The same work without Ray: ``run_symbol`` for every symbol in turn (numba at ``threads`` threads)."""
    import numba

    from quantray._backtest import _bars_per_day, run_symbol
    from quantray.engine import ExecutionConfig
    from quantray.engine._config import METRIC_NAMES
    from quantray.strategies import get_strategy

    spec = get_strategy("sma_cross")
    cfg = ExecutionConfig(execution="close", fees=FEES)
    sets = spec.expand_grid(GRID)
    ppy = float(panel.periods_per_year)
    bpd = _bars_per_day(panel, ppy)
    fe = METRIC_NAMES.index("final_equity")
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    t0 = time.perf_counter()
    finals = [run_symbol(spec, panel.arrays(sym), sets, cfg, ppy, bpd)[:, fe] for sym in symbols]
    return time.perf_counter() - t0, finals


def run_case(panel: Any, num_cpus: int) -> dict[str, Any]:
    """Ray at ``num_cpus`` CPUs, and the direct loop in the same process (Ray idle meanwhile).

    At 1 CPU the direct loop brackets the sweep — the first 25 symbols before it, the last 25 after — so that
    a slow drift of the shared machine's speed falls on both sides of the comparison alike. At 2 CPUs the
    direct loop (numba at 2 threads, for reference) runs after the sweep.
    """
    import quantray
    from quantray.dist import connect, shutdown
    from quantray.engine import ExecutionConfig

    cfg = ExecutionConfig(execution="close", fees=FEES)
    phase("ray-start")
    t0 = time.perf_counter()
    info = connect(num_cpus=num_cpus, object_store_memory_mb=OBJECT_STORE_MB)
    start_s = time.perf_counter() - t0
    phase("warmup")
    t1 = time.perf_counter()
    warm = panel.select(list(panel.symbols[:4])).slice(None, panel.index[49_999])
    quantray.sweep(
        warm,
        "sma_cross",
        grid={"fast": list(range(5, 35, 5)), "slow": list(range(40, 140, 10))},
        config=cfg,
        num_cpus=num_cpus,
        chunk_seconds=0.05,
        progress=False,
    )
    direct_loop(warm, warm.symbols[:1], num_cpus)  # loads the kernels in this process too
    warm_s = time.perf_counter() - t1
    out: dict[str, Any] = {"num_cpus": info.num_cpus, "ray_start_s": start_s, "warmup_s": warm_s}
    half = len(panel.symbols) // 2
    finals: list[np.ndarray] = []
    if num_cpus == 1:
        phase("direct")
        d1, f1 = direct_loop(panel, panel.symbols[:half], 1)
        finals += f1
    store: dict[str, Any] = {}

    def on_chunk(chunk_id: int, total: int) -> None:
        if not store:  # once, when the first chunk is back: the panel is in the store, tasks are running
            store.update(plasma_usage())

    phase("timed")
    t2 = time.perf_counter()
    res = quantray.sweep(
        panel, "sma_cross", grid=GRID, config=cfg, num_cpus=num_cpus, progress=False, on_chunk=on_chunk
    )
    out["wall_s"] = time.perf_counter() - t2
    phase("direct")
    if num_cpus == 1:
        d2, f2 = direct_loop(panel, panel.symbols[half:], 1)
        finals += f2
        out.update(direct_s=d1 + d2, direct_before_s=d1, direct_after_s=d2, direct_threads=1)
    else:
        d, finals = direct_loop(panel, panel.symbols, 2)
        out.update(direct_s=d, direct_threads=2)
    phase("done")
    tab = res.table.sort_values(["symbol", "fast", "slow"])
    shutdown()
    out.update(
        fanout_s=res.elapsed_s,
        n_chunks=res.n_chunks,
        failures=len(res.failures),
        rows=len(res.table),
        shared_bytes=res.shared_bytes,
        panel_nbytes=panel.nbytes,
        object_store=store,
        final_equity=tab["final_equity"].astype(float).tolist(),
        direct_final_equity=np.concatenate(finals).tolist(),
    )
    return out


def child(case: str, data: Path) -> None:
    panel = load_panel(data)
    res = run_case(panel, int(case[-1]))
    res["self_peak_rss_mb"] = self_peak_mb()
    print(json.dumps(res), flush=True)


# ------------------------------------------------------------------------------------------ report
def strip(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("final_equity", "direct_final_equity")}


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> int:
    ap = argparse.ArgumentParser(description="W3 benchmark: Ray scaling of quantray.sweep")
    ap.add_argument("--child", choices=["ray1", "ray2"])
    ap.add_argument("data", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.data))
        return 0

    from quantray.data import Panel, read_bars

    prov = provenance()
    t0 = time.perf_counter()
    bars, label = build_bars()
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    bars = read_bars(bars, on_bad="raise")
    t_read = time.perf_counter() - t1
    t2 = time.perf_counter()
    panel = Panel.from_bars(bars, calendar="crypto")
    t_panel = time.perf_counter() - t2
    n_rows = len(bars)
    del bars
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="qr-w3-") as tmp:
        data = Path(tmp) / "panel.npz"
        save_panel(data, panel)
        cap1 = parallel_capacity(reps=2)
        r1 = spawn(MODULE, ["ray1", str(data)])
        cap2 = parallel_capacity(reps=2)
        r2 = spawn(MODULE, ["ray2", str(data)])
        cap3 = parallel_capacity(reps=2)

    n_sets = len(GRID["fast"]) * len(GRID["slow"])
    evals = N_SYMBOLS * N_BARS * n_sets
    w1, w2 = float(r1["wall_s"]), float(r2["wall_s"])
    wd, wd2 = float(r1["direct_s"]), float(r2["direct_s"])
    speedup = w1 / w2
    overhead = w1 / wd - 1.0
    same = bool(
        r1["final_equity"] == r2["final_equity"]
        and np.array_equal(r1["final_equity"], r1["direct_final_equity"])
        and np.array_equal(r2["final_equity"], r2["direct_final_equity"])
    )
    caps = [c["ratio"] for c in (cap1, cap2, cap3)]
    print(
        f"W3: {N_SYMBOLS} symbols x {N_BARS:,} one-minute bars x {n_sets} sma_cross sets "
        f"(fast 5..50/5 x slow 60..240/20), fees {FEES}, close execution"
    )
    print(f"    data: {label}")
    print(
        f"    long bars frame: {n_rows:,} rows built in {t_build:.1f}s, read_bars(on_bad='raise') {t_read:.1f}s, "
        f"Panel.from_bars {t_panel:.1f}s (not timed below); panel {panel.nbytes / 2**20:.0f} MiB"
    )
    print(
        f"    machine: {cores} cores; memory = peak PSS sum over each child's process tree (RSS every 50 ms, "
        f"PSS every 0.5 s + at RSS highs)"
    )
    print(f"    {provenance_line(prov)}")
    print(f"    {capacity_line([cap1, cap2, cap3])} (before / between / after the two cases)")
    hdr = f"{'case':<56}{'wall s':>9}{'chunks':>8}{'tree PSS MB':>13}{'whole-run PSS':>15}"
    print(hdr)
    print("-" * len(hdr))
    rows = [
        ("direct in-process: run_symbol loop, numba 1 thread *", wd, "-", None, None),
        ("quantray.sweep, local Ray, 1 CPU", w1, r1["n_chunks"], r1, "timed"),
        ("quantray.sweep, local Ray, 2 CPUs", w2, r2["n_chunks"], r2, "timed"),
        ("direct in-process: run_symbol loop, numba 2 threads", wd2, "-", None, None),
    ]
    for name, wall, chunks, res, ph in rows:
        mem = (
            f"{tree_peak(res, ph):>13.0f}{tree_peak(res):>15.0f}"
            if res is not None
            else f"{'-':>13}{'-':>15}"
        )
        print(f"{name:<56}{wall:>9.2f}{chunks:>8}{mem}")
    print(
        f"  * in the 1-CPU child, with Ray idle: symbols 1-25 before the sweep ({float(r1['direct_before_s']):.2f}s)"
        f" and 26-50 after it ({float(r1['direct_after_s']):.2f}s)"
    )
    print()
    print(
        f"speed-up 1 -> 2 Ray CPUs: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x) -> {verdict(speedup >= TARGET_SPEEDUP)}"
        f"   [fan-out only: {float(r1['fanout_s']) / float(r2['fanout_s']):.2f}x; machine check around it:"
        f" {' / '.join(f'{c:.2f}x' for c in caps)}]"
    )
    print(
        f"Ray at 1 CPU vs direct in-process (1 thread): {100 * overhead:+.1f}% (target <= +{100 * TARGET_OVERHEAD:.0f}%)"
        f" -> {verdict(overhead <= TARGET_OVERHEAD)}"
    )
    print(
        f"Ray at 2 CPUs vs direct in-process at 2 numba threads: {100 * (w2 / wd2 - 1.0):+.1f}%;"
        f" throughput at 2 CPUs {evals / w2:.3g} bar x set evaluations/s"
    )
    st = r1.get("object_store", {})
    store_txt = (
        f"object store during the 1-CPU sweep: {st['plasma_mib']} MiB in {st['objects']} objects"
        if "plasma_mib" in st
        else f"object store: {st}"
    )
    print(
        f"put once: shared_bytes {int(r1['shared_bytes']) / 2**20:.1f} MiB (panel + spec + {n_sets}"
        f" parameter sets + config) vs panel.nbytes {int(r1['panel_nbytes']) / 2**20:.1f} MiB"
        f" (ratio {int(r1['shared_bytes']) / int(r1['panel_nbytes']):.4f}); {store_txt}"
    )
    print(
        f"Ray startup {float(r1['ray_start_s']):.1f}s / {float(r2['ray_start_s']):.1f}s and warm-ups "
        f"{float(r1['warmup_s']):.1f}s / {float(r2['warmup_s']):.1f}s are not in the wall times; results identical"
        f" (Ray 1 CPU, Ray 2 CPUs, direct): {same}"
    )
    print(f"  Ray 2-CPU tree at its PSS peak (MB): {breakdown(r2)}")
    result: dict[str, Any] = {
        "workload": "W3",
        "symbols": N_SYMBOLS,
        "bars": N_BARS,
        "param_sets": n_sets,
        "data": label,
        "cores": cores,
        "code": prov,
        "parallel_capacity": [cap1, cap2, cap3],
        "data_prep_s": {"build": t_build, "read_bars": t_read, "panel": t_panel},
        "object_store_mb": OBJECT_STORE_MB,
        "ray_1cpu": strip(r1),
        "ray_2cpu": strip(r2),
        "speedup_1_to_2": speedup,
        "speedup_target": TARGET_SPEEDUP,
        "speedup_target_met": speedup >= TARGET_SPEEDUP,
        "ray1_vs_direct_overhead": overhead,
        "overhead_target": TARGET_OVERHEAD,
        "overhead_target_met": overhead <= TARGET_OVERHEAD,
        "ray2_vs_direct_2_threads": w2 / wd2 - 1.0,
        "results_identical": same,
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "w3.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'w3.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
