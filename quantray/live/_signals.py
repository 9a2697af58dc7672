"""Live signals: registered strategies stepped incrementally on each closed bar.

Built-in strategies advance one bar at a time through their numba step kernel (the backtest's arithmetic);
user strategies (no ``builtin_id``) run their array ``signal_kernel`` over the bar history and take the last
value, which is the same function the backtest calls.

Example:
    >>> import numpy as np
    >>> from quantray.live._records import Bar
    >>> from quantray.strategies import get_strategy
    >>> closes = [5.0, 4.0, 3.0, 4.0, 5.0, 6.0, 5.0, 4.0, 3.0]
    >>> eng = SignalEngine([LiveStrategy(name="sma_cross", params={"fast": 2, "slow": 3}, interval_s=1)])
    >>> live = [eng.on_bar(Bar(i + 1, "X", 1, i, c, c, c, c, 1.0, c, 1))[0].position for i, c in enumerate(closes)]
    >>> x = np.array(closes)
    >>> live == get_strategy("sma_cross").signal(x, x, x, x, x, {"fast": 2, "slow": 3}).tolist()
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from quantray.errors import ConfigError
from quantray.live._records import Bar, Signal
from quantray.strategies import _kernels as sk
from quantray.strategies import get_strategy

__all__ = ["LiveStrategy", "SignalEngine"]


@dataclass(frozen=True, kw_only=True)
class LiveStrategy:
    """One strategy run live: registry name, parameters, bar interval and symbols (empty = every symbol)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    interval_s: int = 60
    symbols: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        spec = get_strategy(self.name)
        object.__setattr__(self, "params", spec.validate_params(self.params))
        object.__setattr__(self, "symbols", tuple(self.symbols))
        if self.interval_s < 1:
            raise ConfigError(f"strategy {self.name!r}: `interval_s` must be >= 1, got {self.interval_s}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LiveStrategy:
        valid = ["name", "params", "interval_s", "symbols"]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ConfigError(f"strategy entry: unknown key(s) {unknown}; valid: {valid}")
        if "name" not in d:
            raise ConfigError("strategy entry: missing `name`")
        return cls(
            name=d["name"],
            params=dict(d.get("params") or {}),
            interval_s=int(d.get("interval_s", 60)),
            symbols=tuple(d.get("symbols") or ()),
        )

    @property
    def key(self) -> str:
        return f"{self.name}({','.join(f'{k}={v}' for k, v in self.params.items())})"


class _Hist:
    __slots__ = ("c", "h", "l", "n", "o", "v")

    def __init__(self) -> None:
        self.n = 0
        self.o = np.empty(64)
        self.h = np.empty(64)
        self.l = np.empty(64)
        self.c = np.empty(64)
        self.v = np.empty(64)

    def push(self, b: Bar) -> None:
        if self.n == self.c.size:
            for name in ("o", "h", "l", "c", "v"):
                arr = getattr(self, name)
                new = np.empty(arr.size * 2)
                new[: self.n] = arr[: self.n]
                setattr(self, name, new)
        i = self.n
        self.o[i], self.h[i], self.l[i], self.c[i], self.v[i] = b.open, b.high, b.low, b.close, b.volume
        self.n += 1


class _Runner:
    def __init__(self, strat: LiveStrategy) -> None:
        self.strat = strat
        self.spec = get_strategy(strat.name)
        self.sid = self.spec.builtin_id
        vals = [*self.strat.params.values(), 0.0, 0.0, 0.0]
        self.scalars = sk.derive(
            self.sid if self.sid is not None else 0, float(vals[0]), float(vals[1]), float(vals[2])
        )
        self.state: dict[str, np.ndarray] = {}

    def step(self, h: _Hist, symbol: str) -> int:
        t = h.n - 1
        if self.sid is None:
            sig = self.spec.signal(
                h.o[: h.n], h.h[: h.n], h.l[: h.n], h.c[: h.n], h.v[: h.n], self.strat.params
            )
            return int(sig[-1])
        st = self.state.get(symbol)
        if st is None:
            st = self.state[symbol] = np.array(sk.init_state(self.sid), dtype=np.float64)
        from quantray.live._kernels import step_bar

        i0, i1, i2, f0, f1, f2 = self.scalars
        return int(step_bar(self.sid, t, h.h, h.l, h.c, i0, i1, i2, f0, f1, f2, st))


class SignalEngine:
    """Strategies × symbols; :meth:`on_bar` returns the signals a closed bar produced (numbered by ``seq``)."""

    def __init__(self, strategies: Iterable[LiveStrategy]) -> None:
        self.runners = [_Runner(s) for s in strategies]
        self.hist: dict[tuple[str, int], _Hist] = {}
        self.seq = 0
        self.last_bar_seq: dict[str, int] = {}
        self.history: list[Signal] = []

    def on_bar(self, bar: Bar, source: str = "") -> list[Signal]:
        """Feed one closed bar; bars numbered ``seq <= `` the last one seen from the same ``source`` (the
        market-state shard that numbered them) are skipped, so replays are idempotent."""
        if bar.seq <= self.last_bar_seq.get(source, 0):
            return []
        self.last_bar_seq[source] = bar.seq
        runners = [
            r
            for r in self.runners
            if r.strat.interval_s == bar.interval_s and (not r.strat.symbols or bar.symbol in r.strat.symbols)
        ]
        if not runners:
            return []
        key = (bar.symbol, bar.interval_s)
        h = self.hist.get(key)
        if h is None:
            h = self.hist[key] = _Hist()
        h.push(bar)
        out = []
        for r in runners:
            pos = r.step(h, bar.symbol)
            self.seq += 1
            s = Signal(
                self.seq,
                bar.symbol,
                r.strat.name,
                dict(r.strat.params),
                pos,
                bar.ts_ns,
                bar.close,
                bar.recv_ns,
                bar.interval_s,
            )
            out.append(s)
        self.history.extend(out)
        return out

    def latest(self) -> list[Signal]:
        last: dict[tuple[str, str, str], Signal] = {}
        for s in self.history:
            last[(s.symbol, s.strategy, json.dumps(s.params, sort_keys=True))] = s
        return list(last.values())

    # ------------------------------------------------------------------ checkpoints
    def to_tables(self) -> dict[str, pa.Table]:
        hist = {"symbol": [], "interval_s": [], "o": [], "h": [], "l": [], "c": [], "v": []}  # type: ignore[var-annotated]
        for (sym, iv), h in self.hist.items():
            hist["symbol"].append(sym)
            hist["interval_s"].append(iv)
            for name in ("o", "h", "l", "c", "v"):
                hist[name].append(getattr(h, name)[: h.n].tolist())
        sigs = {
            f: [getattr(s, f) for s in self.history]
            for f in ("seq", "symbol", "strategy", "position", "bar_ts_ns", "price", "recv_ns", "interval_s")
        }
        sigs["params"] = [json.dumps(s.params) for s in self.history]
        states = [[i, sym, st.tolist()] for i, r in enumerate(self.runners) for sym, st in r.state.items()]
        meta = {"seq": self.seq, "last_bar_seq": self.last_bar_seq, "states": states}
        return {
            "hist": pa.table(hist) if hist["symbol"] else pa.table({"symbol": pa.array([], pa.string())}),
            "signals": pa.table(sigs),
            "meta": pa.table({"json": [json.dumps(meta)]}),
        }

    def restore(self, tables: dict[str, pa.Table]) -> None:
        meta = json.loads(tables["meta"].column("json")[0].as_py())
        self.seq, self.last_bar_seq = meta["seq"], meta["last_bar_seq"]
        for i, sym, st in meta["states"]:
            self.runners[i].state[sym] = np.array(st, dtype=np.float64)
        hd = tables["hist"].to_pydict()
        for j in range(len(hd["symbol"])):
            h = _Hist()
            n = len(hd["c"][j])
            for name in ("o", "h", "l", "c", "v"):
                arr = np.empty(max(64, 2 * n))
                arr[:n] = hd[name][j]
                setattr(h, name, arr)
            h.n = n
            self.hist[(hd["symbol"][j], hd["interval_s"][j])] = h
        sd = tables["signals"].to_pydict()
        self.history = [
            Signal(
                sd["seq"][i],
                sd["symbol"][i],
                sd["strategy"][i],
                json.loads(sd["params"][i]),
                sd["position"][i],
                sd["bar_ts_ns"][i],
                sd["price"][i],
                sd["recv_ns"][i],
                sd["interval_s"][i],
            )
            for i in range(len(sd["seq"]))
        ]
