"""W5: genetic discovery, DEAP population 64 x 20 generations on a 1,000,000-bar symbol.

quantray: :func:`quantray.search.discover` — typed rules run by long-lived evaluators (one Ray actor per CPU,
2 here) that keep node values across generations (LRU cache by subtree, 512 MiB each) and are fed
cache-affinely; repeated rules are served from the GA's fitness cache.
Baseline: the textbook setup — DEAP with ``multiprocessing.Pool`` (2 processes, data loaded once per process) and
a pandas evaluation per individual that computes the GA's own fitness: rolling/ewm indicators, the engine's
execution model as a vectorised pandas backtest (next-open fills, all-in, fees; each fold starting flat), fold
Sharpes, entries, exposure and drawdowns, DiscoverConfig's penalties and parsimony. The run checks that both
sides give the same fitness for every rule the GA evaluated (~1e-12 apart; exit status 1 above 1e-9), and
tests/search/test_w5_baseline.py checks it on real bars for every primitive, gaps and random rules. Until
2026-11-26 the baseline computed a cheaper textbook objective instead (position x close-to-close return minus
fees on position changes: a different number, up to ~1e-2 apart); its rate is still printed on the last row.

The 1,000,000-bar series is built from REAL bars: the hourly Binance panel in ../shared/data/crypto (8 pairs,
2022-04 → 2025-04, 204,707 bars). Each bar is taken relative to its pair's previous close (open/close, high/close,
low/close, close/close ratios; volume in quote currency over the pair's median), the pairs are chained in the
order BTC, ETH, BNB, SOL, XRP, DOGE, LTC, MATIC and the chain is cycled until 1,000,000 bars, then prices are
rebuilt from 100 by compounding the close ratios (no jumps at the joins). Hourly timestamps are synthetic.

Figures: evaluations/s of the quantray evolution (fitness evaluations the GA requested / wall time of the
generations, repeats included, as DEAP counts them) against the baseline GA's: DEAP's ``eaSimple`` evaluates every
invalid individual through ``toolbox.map`` = ``Pool.map``, so the baseline is timed on exactly the evaluations the
quantray run made (``DiscoveryResult.evaluated``: each distinct rule with the number of times the GA asked for it),
through the Pool one generation at a time: measured, not extrapolated. A rule's repeated asks are replayed in the
generation that first asked for it (``evaluated`` has no per-generation counts): the same work and the same number
of ``Pool.map`` barriers; with ``chunksize=1`` a barrier's tail costs at most one evaluation (eaSimple's default
chunk size, ~6 here, would make the baseline slower). Fitness values are the same on both sides (checked for every
rule of the run: exit status 1 above 1e-9), so the baseline GA would take the same path. quantray serves repeated
rules from its fitness cache (976 asks, 819 distinct rules); a second baseline row times a DEAP user who memoises
fitness too (each distinct rule once). The Ray runtime stays up, idle (~1 % of a core), while the Pool runs. Also
printed: the whole ``discover()`` call (plus loading, the holdout validation with DSR/PBO and registration, which
the baseline does not do at all), and both sides' evaluation alone on a uniform sample of the run's rules through
fresh evaluators (cold caches; quantray then has no node reuse across generations), with the textbook objective
on the same sample. Each side's timing is the best of ``--repeat`` (3): the same seeded discover() run with fresh
evaluators (the whole call's time is that of the run with the fastest evolution), the same replay through the Pool. Both sides compute on the same bars: the discovery segment (the first
700,000; the folds end there and the holdout is only for validation). Until 2026-11-25 the baseline computed its
indicators over all 1,000,000 bars (~1.5x slower than it needs to be); until 2026-11-26 its rate was measured on
the hall of fame (10 evolved rules, larger than the average rule: pandas scored them at 29/s against 35/s on a
uniform sample of the same run's rules) and extrapolated, which overstated the ratio by that factor (~20 %).

Where the time goes (1,000,000 bars, 2 evaluators, 2 shared cores), ~4.3-6.3 ms of evaluator CPU per distinct
rule (~4.1-4.7 replayed alone: two evaluators share the memory bandwidth), replayed kernel by kernel: the fold
simulation ~1.75-2 ms (runs of same-side orders, their ends found 8 bars per word; a batch of runs' fills first,
then their marks; flat runs in O(1); long bars marked in a tight loop, ~1.4 ns per bar alone and ~2.3 in a run,
where ~18,000 position switches per rule, ~45 ns each, are new to the branch predictor), rsi ~0.5 (~1.7 ms per
node), highest/lowest ~0.55 (~1.1 ms per node), sma/ema ~0.8 (one operation per bar on the loop-carried chain;
two independent rows share one loop), lag and arithmetic ~0.25, the target ~0.35. Of ~1,800 node values
computed per run ~1,280 are distinct (the rest: computed on both evaluators, or again after eviction). The
evaluators idle ~15 % of the evolution: each generation's last call and Ray's latency between calls.

    python -m benchmarks.w5_deap                   # full size (~3.5 min on 2 cores: each baseline replay ~30 s, x2 x3)
    python -m benchmarks.w5_deap --bars 200000 --generations 5 --sample 8   # quick
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ORDER = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "LTCUSDT", "MATICUSDT"]
RESULTS = Path(__file__).resolve().parent / "results"
ANN = 8760.0  # hourly bars, every hour of the year


def data_path() -> Path:
    env = os.environ.get("QUANTRAY_TEST_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "crypto" / "binance_spot_1h_8pairs_2022-04_2025-04.parquet"


def build_series(n_bars: int) -> dict[str, np.ndarray]:
    df = pd.read_parquet(data_path())
    parts = []
    for sym in ORDER:
        d = df[df["symbol"] == sym].sort_values("date")
        c = d["close"].to_numpy(float)
        cp = c[:-1]
        qv = (d["volume"].to_numpy(float) * c)[1:]
        parts.append(
            np.column_stack([d["open"].to_numpy(float)[1:] / cp, d["high"].to_numpy(float)[1:] / cp,
                             d["low"].to_numpy(float)[1:] / cp, c[1:] / cp, qv / np.median(qv)])
        )  # fmt: skip
    chain = np.concatenate(parts)
    reps = math.ceil(n_bars / len(chain))
    r = np.concatenate([chain] * reps)[:n_bars]
    close = 100.0 * np.cumprod(r[:, 3])
    prev = np.concatenate([[100.0], close[:-1]])
    o, h, lo = prev * r[:, 0], prev * r[:, 1], prev * r[:, 2]
    h = np.maximum.reduce([h, o, close])
    lo = np.minimum.reduce([lo, o, close])
    ts = (np.datetime64("2000-01-01T00:00", "ns") + np.arange(n_bars) * np.timedelta64(1, "h")).astype(
        "datetime64[ns]"
    )
    return {"ts": ts, "open": o, "high": h, "low": lo, "close": close, "volume": r[:, 4] * 1e6}


# ------------------------------------------------------------------------------------------- pandas baseline
# The GA's fitness written the way a pandas user would: indicators with pandas' rolling/ewm (ema and rsi seeded
# with the mean of their first n values, as TradingView and TA-Lib seed them, and seeded again after a gap, as
# quantray does; sma as the engine's running sum; overflows undefined), then the engine's execution model
# vectorised: a signal on bar t's close is filled at bar t+1's open, all-in, with proportional fees and slippage,
# each fold starting flat in cash; per fold the Sharpe of the equity's simple returns, the entries, the exposure
# and the max drawdown; then DiscoverConfig's fitness (mean fold Sharpe, PENALTY below min_trades or above
# max_exposure, minus parsimony per node). main() checks that it equals quantray's fitness on the sample of rules
# (to ~1e-12: the same objective on both sides).
# ``simple_fitness`` is the cheaper textbook objective (position x close-to-close return minus fees on position
# changes, the folds cut from one continuous run), kept as a second row: it is not the GA's fitness.
_B: dict[str, Any] = {}


def _init(arrs: dict[str, np.ndarray], folds: list[tuple[int, int]], params: dict[str, float]) -> None:
    """Per-process state: the bars as a DataFrame and what does not depend on the rule (fill-price factors)."""
    df = pd.DataFrame({k: arrs[k] for k in ("open", "high", "low", "close", "volume")})
    o, c = df["open"], df["close"]
    c_prev = c.shift(1)
    start = pd.Series(False, index=df.index)
    start.iloc[[s for s, _e in folds]] = True
    _B.update(
        df=df, folds=folds, p=params, fold_start=start, hold=c / c_prev,
        entry=c / (o * (1.0 + params["slippage"]) * (1.0 + params["fees"])),
        exit=o * (1.0 - params["slippage"]) * (1.0 - params["fees"]) / c_prev,
    )  # fmt: skip


def _sma(x: pd.Series, n: int) -> pd.Series:
    """Mean of the last n values, undefined unless all n are defined, as the running sum of ``x[t] - x[t-n]``:
    the engine's arithmetic (pandas' ``rolling().mean()`` compensates its sum and differs in the last bits,
    which can flip a comparison of two nearly equal averages)."""
    v = x.fillna(0.0)
    total = (v - v.shift(n, fill_value=0.0)).cumsum()
    count = x.notna().cumsum()
    return (total / n).where((count - count.shift(n, fill_value=0)) == n)


def _seeded(x: pd.Series, n: int, alpha: float) -> pd.Series:
    """Exponential average (``y = alpha*x + (1-alpha)*y_prev``) seeded with the mean of its first n values
    (summed in order), undefined before; after an undefined value it starts again, seeded with the mean of the
    next n (quantray's convention). A series defined from its first defined value on is one ``ewm``; one with
    gaps inside (a division by zero upstream) is one ``ewm`` per stretch of defined values (``groupby``)."""
    defined = x.notna()
    y = pd.Series(np.nan, index=x.index)
    if not defined.any():
        return y
    first = int(defined.to_numpy().argmax())
    if defined.iloc[first:].all():
        i0 = first + n - 1
        if i0 >= len(x):
            return y
        y.iloc[i0] = x.iloc[first : i0 + 1].cumsum().iloc[-1] / n
        y.iloc[i0 + 1 :] = x.iloc[i0 + 1 :]
        return y.ewm(alpha=alpha, adjust=False).mean()
    stretch = (~defined).cumsum()  # a new stretch after each undefined value
    pos = defined.astype(np.int64).groupby(stretch).cumsum()  # 1, 2, ... along a stretch's defined values
    seed = pos == n
    y = x.where(pos > n)
    y[seed] = x.fillna(0.0).groupby(stretch).cumsum()[seed] / n
    out = y.groupby(stretch).ewm(alpha=alpha, adjust=False).mean()
    return out.reset_index(level=0, drop=True).sort_index()


def _fin(x: pd.Series) -> pd.Series:
    """Non-finite values (an overflow) are undefined, as in quantray's kernels."""
    return x.where(np.isfinite(x))


def _pd_node(n: Any, df: pd.DataFrame) -> pd.Series:
    if n.name in df.columns:
        return df[n.name]
    a = n.args
    nm = n.name
    if nm in ("sma", "ema", "rsi", "highest", "lowest", "lag"):
        x, w = _pd_node(a[0], df), int(a[1].value)
        if nm == "sma":
            return _sma(x, w)
        if nm == "ema":
            return _seeded(x, w, 2.0 / (w + 1.0))
        if nm == "highest":
            return x.rolling(w).max()
        if nm == "lowest":
            return x.rolling(w).min()
        if nm == "lag":
            return x.shift(w)
        d = x.diff()
        up = _seeded(d.clip(lower=0.0), w, 1.0 / w)
        dn = _seeded((-d).clip(lower=0.0), w, 1.0 / w)
        return (100.0 * (up / (up + dn))).mask(dn == 0.0, 100.0)  # ta.rsi: 100 when the average loss is 0
    if nm in ("above", "below"):
        x = _pd_node(a[0], df)
        return x > a[1].value if nm == "above" else x < a[1].value
    if nm == "not":
        return ~_pd_node(a[0], df).astype(bool)
    x, y = _pd_node(a[0], df), _pd_node(a[1], df)
    if nm == "add":
        return _fin(x + y)
    if nm == "sub":
        return _fin(x - y)
    if nm == "mul":
        return _fin(x * y)
    if nm == "div":
        return (x / y.where(y != 0)).replace([np.inf, -np.inf], np.nan)
    if nm == "gt":
        return x > y
    if nm == "lt":
        return x < y
    if nm == "cross_above":
        return (x > y) & (x.shift(1) <= y.shift(1))
    if nm == "cross_below":
        return (x < y) & (x.shift(1) >= y.shift(1))
    if nm == "and":
        return x.astype(bool) & y.astype(bool)
    return x.astype(bool) | y.astype(bool)


def pandas_fold_metrics(rule: Any) -> np.ndarray:
    """(folds, 4): Sharpe, entries, exposure, max drawdown of each fold, the engine's execution vectorised
    (``rule``: its text or its parsed tree)."""
    from quantray.search import parse_rule

    df, p = _B["df"], _B["p"]
    sig = _pd_node(parse_rule(rule) if isinstance(rule, str) else rule, df).fillna(False).astype(bool)
    pos = sig.shift(1, fill_value=False) & ~_B["fold_start"]  # held at bar t's close; each fold starts flat
    prev = pos.shift(1, fill_value=False) & ~_B["fold_start"]
    entry = pos & ~prev
    growth = _B["hold"].where(pos & prev, 1.0).mask(entry, _B["entry"]).mask(prev & ~pos, _B["exit"])
    ret = growth - 1.0
    rows = []
    for s, e in _B["folds"]:
        r = ret.iloc[s:e]
        sd = r.std()
        eq = growth.iloc[s:e].cumprod()
        mdd = float((1.0 - eq / eq.cummax().clip(lower=1.0)).max())
        sharpe = float(r.mean() / sd * math.sqrt(p["ann"])) if sd > 0 else math.nan
        rows.append((sharpe, float(entry.iloc[s:e].sum()), float(pos.iloc[s:e].mean()), mdd))
    return np.array(rows)


def pandas_fitness(rule: str) -> float:
    """One individual, the pandas way: the GA's fitness (see the comment above)."""
    from quantray.search import parse_rule

    p = _B["p"]
    node = parse_rule(rule)
    m = pandas_fold_metrics(node)
    raw = float(np.nan_to_num(m[:, 0], nan=0.0).mean())
    ok = m[:, 1].sum() >= p["min_trades"] and float(np.nanmean(m[:, 2])) <= p["max_exposure"]
    return (raw if ok else p["penalty"]) - p["parsimony"] * node.size


def simple_fitness(rule: str) -> float:
    """The textbook objective: mean fold Sharpe of position x close-to-close return minus fees on position
    changes, minus parsimony (cheaper than the GA's, and a different number)."""
    from quantray.search import parse_rule

    df, p = _B["df"], _B["p"]
    node = parse_rule(rule)
    sig = _pd_node(node, df).fillna(False).astype(bool)
    pos = sig.astype(float).shift(1).fillna(0.0)
    ret = pos * df["close"].pct_change().fillna(0.0) - p["fees"] * pos.diff().abs().fillna(0.0)
    srs = []
    for s, e in _B["folds"]:
        r = ret.iloc[s:e]
        sd = r.std()
        srs.append(float(r.mean() / sd * math.sqrt(p["ann"])) if sd > 0 else 0.0)
    return float(np.mean(srs)) - p["parsimony"] * node.size


def baseline_params(cfg: Any, ann: float) -> dict[str, float]:
    """What the pandas fitness needs from a DiscoverConfig (long/flat, next-open fills, no fixed fee)."""
    from quantray.search._discover import PENALTY

    ex = cfg.execution
    if ex.execution != "next_open" or ex.fixed_fee != 0.0:
        raise ValueError("the pandas baseline models next-open fills without a fixed fee")
    return {"fees": ex.fees, "slippage": ex.slippage, "ann": ann, "min_trades": cfg.min_trades,
            "max_exposure": cfg.max_exposure, "parsimony": cfg.parsimony, "penalty": PENALTY}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks.w5_deap", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--population", type=int, default=64)
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument(
        "--sample", type=int, default=24, help="rules evaluated cold by both sides (a uniform sample)"
    )
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--cache-mb", type=float, default=512.0, help="node cache per evaluator (MiB)")
    ap.add_argument("--workers", type=int, default=None, help="quantray evaluators (default: one per CPU)")
    ap.add_argument("--repeat", type=int, default=3, help="timings of each side (best kept)")
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from quantray.dist import connect
    from quantray.search import DiscoverConfig, discover, parse_rule
    from quantray.search._discover import EvalData, EvaluatorPool, _split, fitness_of

    t0 = time.perf_counter()
    arrs = build_series(args.bars)
    t_data = time.perf_counter() - t0
    connect(num_cpus=args.cpus, object_store_memory_mb=400)
    cfg = DiscoverConfig(population=args.population, generations=args.generations, seed=0, backend="ray",
                         batch_size=max(1, args.population // (2 * args.cpus)), min_trades=10, hall_of_fame=10,
                         cache_mb=args.cache_mb, workers=args.workers)  # fmt: skip
    bars = {"SYN": (arrs["ts"], arrs["open"], arrs["high"], arrs["low"], arrs["close"], arrs["volume"])}
    # warm-up: compile/load the kernels in this process and the workers (not timed)
    discover(bars, config=DiscoverConfig(population=4, generations=0, seed=1, backend="ray", batch_size=1,
                                         hall_of_fame=1), progress=False)  # fmt: skip
    res, t_ga = None, math.inf
    for _ in range(args.repeat):  # the same seeded run each time (fresh evaluators): the fastest is kept
        t1 = time.perf_counter()
        r = discover(bars, config=cfg)
        dt = time.perf_counter() - t1
        if res is None or r.timings["evolve"] < res.timings["evolve"]:
            res, t_ga = r, dt
    assert res is not None
    requested = int(res.generations["requested"].iloc[-1])
    distinct = res.n_evaluated
    t_evolve = res.timings["evolve"]
    ev = res.evaluated
    if int(ev["requests"].sum()) != requested:
        raise AssertionError(f"evaluated.requests sums to {int(ev['requests'].sum())}, not {requested}")
    # the baseline GA: the same evaluations (every request, repeats included: DEAP evaluates each invalid
    # individual), generation by generation through the Pool (eaSimple's toolbox.map barrier)
    groups = [g for _, g in ev.groupby("gen", sort=True)]
    per_gen = [
        [rule for rule, k in zip(g["rule"], g["requests"], strict=True) for _ in range(int(k))]
        for g in groups
    ]
    # a DEAP user who adds a fitness memo computes each distinct rule once, in the generation first asking for it
    per_gen_memo = [g["rule"].tolist() for g in groups]
    rules = random.Random(0).sample(ev["rule"].tolist(), min(args.sample, len(ev)))
    b, hs = _split(args.bars, cfg)
    folds = [(int(s), int(e)) for s, e in b]
    # the sample through fresh evaluators (cold caches), on the discovery segment as discover() evaluates it
    ex = cfg.execution
    ed = EvalData(arrays={"SYN": tuple(arrs[k][:hs] for k in ("open", "high", "low", "close", "volume"))},
                  bounds={"SYN": b}, exec_args=(ex.execution == "next_open", ex.fees, ex.slippage, ex.fixed_fee,
                                                ex.init_cash), periods_per_year=ANN)  # fmt: skip
    pool = EvaluatorPool(ed, n=args.cpus, backend="ray", batch_size=max(1, len(rules) // args.cpus))
    pool(["gt(close,open)"] * args.cpus)
    t_q_sample = math.inf
    for _ in range(args.repeat):
        pool.pool.gather([pool.pool.submit(i, "clear") for i in range(args.cpus)])  # cold caches
        pool.mirror = [set() for _ in range(args.cpus)]
        t2 = time.perf_counter()
        q_mets = pool(rules)
        t_q_sample = min(t_q_sample, time.perf_counter() - t2)
    pool.close()
    q_sample_fit = np.array(
        [fitness_of(m, parse_rule(r).size, cfg)[0] for r, m in zip(rules, q_mets, strict=True)]
    )
    ctx = mp.get_context("fork")
    # the baseline gets the same bars quantray evolves on: the discovery segment (its folds end there; the
    # holdout is for validation only), so neither side computes indicators over bars it never scores
    disc = {key: arr[:hs] for key, arr in arrs.items()}
    with ctx.Pool(args.cpus, initializer=_init, initargs=(disc, folds, baseline_params(cfg, ANN))) as mpool:
        mpool.map(pandas_fitness, rules[:2])
        mpool.map(simple_fitness, rules[:2])
        t_pd_ga = t_pd_memo = t_pd_sample = t_simple = math.inf
        pd_fit: dict[str, float] = {}
        for _ in range(args.repeat):  # as for quantray's run, the best of a few timings
            t3 = time.perf_counter()
            for gen_rules in per_gen:
                pd_fit.update(zip(gen_rules, mpool.map(pandas_fitness, gen_rules, chunksize=1), strict=True))
            t_pd_ga = min(t_pd_ga, time.perf_counter() - t3)
            t3 = time.perf_counter()
            for gen_rules in per_gen_memo:
                mpool.map(pandas_fitness, gen_rules, chunksize=1)
            t_pd_memo = min(t_pd_memo, time.perf_counter() - t3)
            t4 = time.perf_counter()
            pd_sample_fit = np.array(mpool.map(pandas_fitness, rules, chunksize=1))
            t_pd_sample = min(t_pd_sample, time.perf_counter() - t4)
            t5 = time.perf_counter()
            mpool.map(simple_fitness, rules, chunksize=1)
            t_simple = min(t_simple, time.perf_counter() - t5)
    q_all = ev.set_index("rule")["score"]
    fit_diff = max(
        float(np.max(np.abs(np.array([pd_fit[r] for r in q_all.index]) - q_all.to_numpy()))),
        float(np.max(np.abs(pd_sample_fit - q_sample_fit))),
    )
    q_rate_evolve = requested / t_evolve
    q_rate_ga = requested / t_ga
    pd_rate_ga = requested / t_pd_ga
    q_rate_eval = len(rules) / t_q_sample
    pd_rate = len(rules) / t_pd_sample
    simple_rate = len(rules) / t_simple
    rows = [
        ("bars", f"{args.bars:,}", f"{args.bars:,}", ""),
        ("population x generations", f"{args.population} x {args.generations}", "same", ""),
        ("evaluations/s, evolution (DEAP count)", f"{q_rate_evolve:,.1f}", f"{pd_rate_ga:,.2f} (no cache)",
         f"{q_rate_evolve / pd_rate_ga:,.1f}x"),
        ("evolution wall time", f"{t_evolve:,.2f} s", f"{t_pd_ga:,.1f} s", f"{t_pd_ga / t_evolve:,.1f}x"),
        ("  baseline with a fitness memo", "", f"{t_pd_memo:,.1f} s ({distinct} rules)",
         f"{t_pd_memo / t_evolve:,.1f}x"),
        ("evaluations/s, whole discover() call", f"{q_rate_ga:,.1f}", f"{pd_rate_ga:,.2f} (evaluation only)",
         f"{q_rate_ga / pd_rate_ga:,.1f}x"),
        (f"evaluations/s, {len(rules)} rules, cold caches", f"{q_rate_eval:,.1f}", f"{pd_rate:,.2f}",
         f"{q_rate_eval / pd_rate:,.1f}x"),
        ("  same rules, a simpler pandas objective", "", f"{simple_rate:,.2f} (not the GA's)",
         f"{q_rate_eval / simple_rate:,.1f}x"),
    ]  # fmt: skip
    print(f"W5 DEAP discovery on a {args.bars:,}-bar series built from real hourly crypto bars "
          f"({args.cpus} CPUs, data built in {t_data:.1f}s)")  # fmt: skip
    print(f"{'':40s} {'quantray (numba + Ray)':>24s} {'DEAP Pool + pandas':>26s} {'ratio':>8s}")
    for name, a, b_, r in rows:
        print(f"{name:40s} {a:>24s} {b_:>26s} {r:>8s}")
    tm = res.timings
    print(f"GA: {requested} evaluations requested over {len(per_gen)} generations, {distinct} distinct rules "
          f"computed, {res.tasks} evaluator calls; the baseline evaluates all {requested}, generation by "
          f"generation (a rule's repeats in the generation first asking for it); target >= 20x")  # fmt: skip
    print(f"same fitness on both sides: max |pandas - quantray| over all {distinct} rules = {fit_diff:.1e}"
          + ("" if fit_diff < 1e-9 else "  MISMATCH: the baseline does not compute the GA's fitness"))  # fmt: skip
    print(f"discover() {t_ga:.1f} s = load {tm['load']:.2f} + workers {tm['workers']:.2f} + evolve {tm['evolve']:.2f} "
          f"+ holdout validation {tm['validate']:.2f} (+ registration, Pine); evaluators' CPU "
          f"{tm['evaluator_cpu']:.2f} s = {1e3 * tm['evaluator_cpu'] / max(distinct, 1):.1f} ms per distinct rule; "
          f"node cache {tm['node_hits']:.0f} hits / {tm['node_misses']:.0f} misses")  # fmt: skip
    out = {
        "workload": "W5", "bars": args.bars, "population": args.population, "generations": args.generations,
        "cpus": args.cpus, "ga_seconds": t_ga, "requested_evaluations": requested, "distinct_evaluations": distinct,
        "timings": res.timings, "quantray_evals_per_s_evolve": q_rate_evolve,
        "baseline_evals_per_s_evolve": pd_rate_ga, "baseline_evolve_seconds": t_pd_ga,
        "baseline_memo_evolve_seconds": t_pd_memo, "ratio_evolve_memo": t_pd_memo / t_evolve,
        "ratio_evolve": q_rate_evolve / pd_rate_ga, "quantray_evals_per_s_ga": q_rate_ga,
        "ratio_ga": q_rate_ga / pd_rate_ga, "quantray_evals_per_s_sample": q_rate_eval,
        "baseline_evals_per_s_sample": pd_rate, "ratio_sample": q_rate_eval / pd_rate,
        "baseline_simple_objective_evals_per_s_sample": simple_rate, "max_fitness_difference": fit_diff,
        "sample_rules": rules, "best_rule": res.hall_of_fame.iloc[0]["rule"],
        "machine": platform.platform(), "cpu_count": os.cpu_count(),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "w5_deap.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"results: {RESULTS / 'w5_deap.json'}")
    return 0 if fit_diff < 1e-9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
