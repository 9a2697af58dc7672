"""``quantray.sweep``: a universe × parameter grid fanned out on Ray, checkpointed per chunk, resumable."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from quantray._backtest import _bars_per_day, _grid_values, _to_panel, results_frame, run_symbol
from quantray.data import Panel
from quantray.engine import ExecutionConfig
from quantray.errors import ConfigError, QuantrayError
from quantray.strategies import StrategySpec, get_strategy

#: Conservative evaluation rate (bar × parameter-set per second per CPU) used to size chunks.
EVALS_PER_SECOND = 1.2e8


@dataclass(frozen=True, slots=True)
class SweepSlice:
    """One piece of a chunk: a symbol and a half-open range of parameter-set indices."""

    symbol: str
    start: int
    stop: int


@dataclass(frozen=True)
class SweepResult:
    """Results of :func:`sweep`.

    Attributes:
        table: the DESIGN.md results table, rows in chunk order (identical for a resumed and an
            uninterrupted run).
        out: URL of ``results.parquet`` when an output was given, else None.
        failures: chunks that failed (symbol, parameter range and error); their rows are missing.
        n_symbols, n_param_sets, n_chunks: the size of the job.
        chunks_run, chunks_skipped: chunks computed now / taken from checkpoints.
        elapsed_s: wall time of the fan-out.
        shared_bytes: bytes put into the object store once (the panel and parameter sets).
    """

    table: pd.DataFrame
    out: str | None
    failures: list[Any]
    n_symbols: int
    n_param_sets: int
    n_chunks: int
    chunks_run: int
    chunks_skipped: int
    elapsed_s: float
    shared_bytes: int


def plan_chunks(
    bars_per_symbol: Mapping[str, int], n_params: int, *, chunk_seconds: float = 0.25
) -> list[list[SweepSlice]]:
    """Split symbols × parameter sets into chunks of about ``chunk_seconds`` of work each (≥ 50 ms).

    A symbol whose whole grid is more work than one chunk is split by parameter range; small symbols are
    grouped. The plan depends only on its inputs, so a resumed job sees the same chunk ids.
    """
    if chunk_seconds < 0.05:
        raise ConfigError(f"`chunk_seconds` must be >= 0.05 (Ray overhead), got {chunk_seconds}")
    target = chunk_seconds * EVALS_PER_SECOND
    chunks: list[list[SweepSlice]] = []
    current: list[SweepSlice] = []
    work = 0.0
    for sym, n_bars in bars_per_symbol.items():
        per_set = max(int(n_bars), 1)
        whole = per_set * n_params
        if whole >= target:
            if current:
                chunks.append(current)
                current, work = [], 0.0
            step = max(1, int(target // per_set))
            for a in range(0, n_params, step):
                chunks.append([SweepSlice(sym, a, min(a + step, n_params))])
            continue
        current.append(SweepSlice(sym, 0, n_params))
        work += whole
        if work >= target:
            chunks.append(current)
            current, work = [], 0.0
    if current:
        chunks.append(current)
    return chunks


def sweep_chunk(
    panel: Panel,
    spec: StrategySpec,
    param_sets: Sequence[Mapping[str, Any]],
    config: ExecutionConfig,
    slices: Sequence[SweepSlice],
) -> pa.Table:
    """Evaluate one chunk (plain library code; Ray only schedules it). Errors name symbol and parameters."""
    ppy = float(panel.periods_per_year)
    bpd = _bars_per_day(panel, ppy)
    blocks = []
    for sl in slices:
        sets = list(param_sets[sl.start : sl.stop])
        try:
            metrics = run_symbol(spec, panel.arrays(sl.symbol), sets, config, ppy, bpd)
        except Exception as exc:
            first = dict(sets[0]) if sets else {}
            raise QuantrayError(
                f"symbol={sl.symbol} parameter sets [{sl.start}, {sl.stop}) (first {first}) failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        blocks.append((sl.symbol, sets, metrics))
    return pa.Table.from_pandas(results_frame(spec, blocks), preserve_index=False)


def _fingerprint(
    panel: Panel,
    spec: StrategySpec,
    param_sets: Sequence[Mapping[str, Any]],
    config: ExecutionConfig,
    plan: Any,
) -> dict[str, Any]:
    h = hashlib.sha256()
    for arr in (panel.index.view(np.int64), panel.close):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(repr(panel.symbols).encode())
    return {
        "strategy": spec.name,
        "params": hashlib.sha256(repr([sorted(p.items()) for p in param_sets]).encode()).hexdigest(),
        "n_param_sets": len(param_sets),
        "config": repr(config),
        "data": h.hexdigest(),
        "plan": hashlib.sha256(repr(plan).encode()).hexdigest(),
    }


def sweep(
    data: str | pd.DataFrame | Panel,
    strategy: str | StrategySpec,
    *,
    grid: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    symbols: Sequence[str] | None = None,
    config: ExecutionConfig | None = None,
    out: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
    chunk_seconds: float = 0.25,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Sweep a strategy's grid over a universe on Ray (embedded local cluster unless ``address``/RAY_ADDRESS).

    The panel is put into the object store once; tasks get (panel ref, chunk of symbols × parameter sets)
    sized to ``chunk_seconds`` of work; results stream into ``out`` (``chunks/part-*.parquet``, then
    ``results.parquet``) as chunks finish. ``resume=True`` recomputes only missing chunks and yields exactly
    the table of an uninterrupted run. Everything is validated before any task starts.

    Example:
        >>> import quantray
        >>> from quantray.data import sample_path
        >>> res = quantray.sweep(sample_path(), "sma_cross", grid={"fast": [5, 10], "slow": [50, 100]},
        ...                      symbols=["AAPL", "MSFT"], num_cpus=1, progress=False)  # doctest: +SKIP
        >>> len(res.table)  # doctest: +SKIP
        8
    """
    from quantray.dist import Chunk, ParquetSink, connect, fan_out

    spec = get_strategy(strategy)
    cfg = config or ExecutionConfig()
    if grid:
        param_sets = spec.expand_grid(_grid_values(spec, grid), fixed=params)
    else:
        param_sets = [spec.validate_params(params)]
    panel = _to_panel(data, symbols)
    if not panel.symbols:
        raise ConfigError("the universe is empty: no symbol to sweep")
    bars = {s: int(np.count_nonzero(~np.isnan(panel.close[:, panel.column(s)]))) for s in panel.symbols}
    plan = plan_chunks(bars, len(param_sets), chunk_seconds=chunk_seconds)
    sink = None
    skip: set[int] = set()
    if out:
        sink = ParquetSink(
            out,
            fingerprint=_fingerprint(panel, spec, param_sets, cfg, plan),
            resume=resume,
            overwrite=overwrite,
            storage_options=storage_options,
        )
        skip = sink.done()
    tables: dict[int, pa.Table] = {}

    def on_result(ch: Chunk, table: pa.Table) -> None:
        if sink is not None:
            sink.write(ch.id, table)
        else:
            tables[ch.id] = table
        if on_chunk is not None:
            on_chunk(ch.id, len(plan))

    connect(address, num_cpus=num_cpus)
    chunks = [
        Chunk(
            id=i,
            payload=slices,
            cost=sum(bars[s.symbol] * (s.stop - s.start) for s in slices),
            label=", ".join(f"{s.symbol}[{s.start}:{s.stop}]" for s in slices[:3])
            + ("..." if len(slices) > 3 else ""),
        )
        for i, slices in enumerate(plan)
    ]
    report = fan_out(
        sweep_chunk,
        chunks,
        shared=(panel, spec, param_sets, cfg),
        on_result=on_result,
        skip=skip,
        progress=progress,
        desc=f"sweep {spec.name}",
        address=address,
    )
    if sink is not None:
        final = sink.read_chunks()
        url: str | None = sink.finalize(final) if not report.failures else None
    else:
        final = pa.concat_tables([tables[i] for i in sorted(tables)]) if tables else pa.table({})
        url = None
    table = final.to_pandas() if final.num_columns else results_frame(spec, [])
    return SweepResult(
        table=table,
        out=url,
        failures=list(report.failures),
        n_symbols=len(panel.symbols),
        n_param_sets=len(param_sets),
        n_chunks=len(plan),
        chunks_run=report.completed,
        chunks_skipped=len(skip),
        elapsed_s=report.elapsed_s,
        shared_bytes=report.shared_bytes,
    )


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """Number of combinations in a grid (before constraints)."""
    return math.prod(len(v) for v in grid.values()) if grid else 1
