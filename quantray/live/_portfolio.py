"""Live portfolio: positions per (strategy, symbol), cash, mark-to-market, realised and unrealised P&L.

Each signal moves the (strategy, symbol) position to ``position × notional / price`` units when the target
changes, filled at the signal bar's close (``execution="close"``) with proportional ``fees``. Marks come from
every signal's bar close. A drawdown of total equity beyond ``max_drawdown`` from its peak is an event.

Example:
    >>> from quantray.live._records import Signal
    >>> pf = Portfolio(PortfolioConfig(init_cash=1000.0, notional=100.0))
    >>> _ = pf.on_signal(Signal(1, "X", "s", {}, 1, 0, 10.0))
    >>> _ = pf.on_signal(Signal(2, "X", "s", {}, 0, 1, 12.0))
    >>> round(pf.totals()["realized"], 6)
    20.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from quantray.errors import ConfigError
from quantray.live._records import Event, Signal

__all__ = ["PNL_COLUMNS", "Portfolio", "PortfolioConfig"]

PNL_COLUMNS = [
    "ts",
    "strategy",
    "params",
    "symbol",
    "position",
    "qty",
    "price",
    "avg_price",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "pnl",
]


@dataclass(frozen=True, kw_only=True)
class PortfolioConfig:
    """Sizing and costs of the live portfolio.

    Attributes:
        init_cash: starting cash (quote currency).
        notional: quote-currency value of one unit of target position per (strategy, symbol).
        fees: proportional fee on traded value.
        max_drawdown: equity drawdown from its peak (fraction) that raises a ``drawdown_breach`` event.
    """

    init_cash: float = 1_000_000.0
    notional: float = 10_000.0
    fees: float = 0.0
    max_drawdown: float = 0.05

    def __post_init__(self) -> None:
        if not self.init_cash > 0:
            raise ConfigError(f"portfolio `init_cash` must be > 0, got {self.init_cash}")
        if not self.notional > 0:
            raise ConfigError(f"portfolio `notional` must be > 0, got {self.notional}")
        if not 0 <= self.fees < 1:
            raise ConfigError(f"portfolio `fees` must be in [0, 1), got {self.fees}")
        if not 0 < self.max_drawdown <= 1:
            raise ConfigError(f"portfolio `max_drawdown` must be in (0, 1], got {self.max_drawdown}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PortfolioConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"portfolio: unknown key(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**{k: float(v) for k, v in d.items()})


class Portfolio:
    """Applies signals; per (strategy, parameters, symbol) a signal for a bar not newer than the last applied one
    is skipped, so replays are idempotent and sleeves do not depend on how symbols interleave."""

    def __init__(self, config: PortfolioConfig | None = None) -> None:
        self.config = config or PortfolioConfig()
        self.cash = self.config.init_cash
        self.pos: dict[tuple[str, str], dict[str, Any]] = {}
        self.marks: dict[str, float] = {}
        self.last_seq = 0
        self.peak = self.config.init_cash
        self.breached = False
        self.rows: list[tuple[Any, ...]] = []

    def on_signal(self, s: Signal) -> list[Event]:
        params = json.dumps(s.params, sort_keys=True)
        key = (s.strategy + params, s.symbol)
        p = self.pos.get(key)
        if p is None:
            p = self.pos[key] = {
                "target": 0.0,
                "qty": 0.0,
                "avg": 0.0,
                "realized": 0.0,
                "fees": 0.0,
                "strategy": s.strategy,
                "last_ts": -1,
            }
        self.last_seq = max(self.last_seq, s.seq)
        if s.bar_ts_ns <= p["last_ts"]:
            return []
        p["last_ts"] = s.bar_ts_ns
        self.marks[s.symbol] = s.price
        if s.position != p["target"]:
            new_qty = s.position * self.config.notional / s.price if s.position else 0.0
            self._trade(p, new_qty - p["qty"], s.price)
            p["target"] = float(s.position)
        unreal = p["qty"] * (s.price - p["avg"])
        equity = self.equity()
        self.rows.append(
            (
                s.bar_ts_ns,
                s.strategy,
                params,
                s.symbol,
                s.position,
                p["qty"],
                s.price,
                p["avg"],
                p["realized"],
                unreal,
                p["fees"],
                p["realized"] + unreal - p["fees"],
            )
        )
        events = []
        self.peak = max(self.peak, equity)
        dd = 1.0 - equity / self.peak
        if dd > self.config.max_drawdown and not self.breached:
            self.breached = True
            events.append(
                Event(
                    s.bar_ts_ns,
                    "drawdown_breach",
                    s.symbol,
                    {"drawdown": dd, "equity": equity, "peak": self.peak},
                    "portfolio",
                    s.seq,
                )
            )
        elif dd <= self.config.max_drawdown:
            self.breached = False
        return events

    def _trade(self, p: dict[str, Any], dq: float, price: float) -> None:
        if dq == 0.0:
            return
        fee = abs(dq) * price * self.config.fees
        self.cash -= dq * price + fee
        p["fees"] += fee
        q = p["qty"]
        if q == 0.0 or (q > 0) == (dq > 0):  # open or add
            p["avg"] = (p["avg"] * q + price * dq) / (q + dq)
        else:  # reduce, close or flip
            closed = min(abs(dq), abs(q))
            p["realized"] += closed * (price - p["avg"]) * (1.0 if q > 0 else -1.0)
            if abs(dq) > abs(q):
                p["avg"] = price
        p["qty"] = q + dq
        if abs(p["qty"]) < 1e-12:
            p["qty"] = 0.0
            p["avg"] = 0.0

    def equity(self) -> float:
        return self.cash + sum(p["qty"] * self.marks.get(sym, p["avg"]) for (_, sym), p in self.pos.items())

    def totals(self) -> dict[str, float]:
        realized = sum(p["realized"] for p in self.pos.values())
        unreal = sum(
            p["qty"] * (self.marks.get(sym, p["avg"]) - p["avg"]) for (_, sym), p in self.pos.items()
        )
        return {"equity": self.equity(), "cash": self.cash, "realized": realized, "unrealized": unreal}

    def positions(self) -> list[dict[str, Any]]:
        out = []
        for (_, sym), p in sorted(self.pos.items()):
            mark = self.marks.get(sym, p["avg"])
            out.append(
                {
                    "strategy": p["strategy"],
                    "symbol": sym,
                    "qty": p["qty"],
                    "avg_price": p["avg"],
                    "mark": mark,
                    "unrealized_pnl": p["qty"] * (mark - p["avg"]),
                    "realized_pnl": p["realized"],
                }
            )
        return out

    def pnl_table(self) -> pa.Table:
        cols: list[Any] = list(zip(*self.rows, strict=True)) if self.rows else [[] for _ in PNL_COLUMNS]
        types = [pa.int64(), pa.string(), pa.string(), pa.string(), pa.int8()] + [pa.float64()] * 7
        t = pa.table(
            {c: list(v) for c, v in zip(PNL_COLUMNS, cols, strict=True)},
            schema=pa.schema(list(zip(PNL_COLUMNS, types, strict=True))),
        )
        return t

    def to_tables(self) -> dict[str, pa.Table]:
        meta = {
            "cash": self.cash,
            "last_seq": self.last_seq,
            "peak": self.peak,
            "breached": self.breached,
            "marks": self.marks,
            "pos": [[k[0], k[1], v] for k, v in self.pos.items()],
        }
        return {"pnl": self.pnl_table(), "meta": pa.table({"json": [json.dumps(meta)]})}

    def restore(self, tables: dict[str, pa.Table]) -> None:
        meta = json.loads(tables["meta"].column("json")[0].as_py())
        self.cash, self.last_seq, self.peak, self.breached = (
            meta["cash"],
            meta["last_seq"],
            meta["peak"],
            meta["breached"],
        )
        self.marks = meta["marks"]
        self.pos = {(a, b): v for a, b, v in meta["pos"]}
        d = tables["pnl"].to_pydict()
        self.rows = list(zip(*(d[c] for c in PNL_COLUMNS), strict=True))
