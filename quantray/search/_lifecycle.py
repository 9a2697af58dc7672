"""The strategy lifecycle: candidate -> validated -> live -> retired, validation gates, monitoring with automatic
retirement, persisted in SQLite (default) or PostgreSQL through a small repository layer.

Allowed transitions (anything else is refused with a :class:`LifecycleError` and nothing is written):

====================  ==============================================================================
candidate → validated  only when the validation gates pass on the recorded out-of-sample statistics
validated → live       promotion
live → retired         by hand (``retire``) or automatically by :meth:`Registry.monitor`
====================  ==============================================================================

Every transition is one database transaction that re-reads the current state under a lock
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), updates the row and appends an event
with its reason, so concurrent writers cannot both move the same strategy.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from quantray.errors import ConfigError, ParameterError, QuantrayError

STATES: tuple[str, ...] = ("candidate", "validated", "live", "retired")
#: (from, to) pairs a strategy may move along.
TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {("candidate", "validated"), ("validated", "live"), ("live", "retired")}
)


class LifecycleError(QuantrayError, ValueError):
    """A lifecycle operation that is not allowed (unknown strategy, a transition outside ``TRANSITIONS``, a
    gate that fails); nothing has been written."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _number(x: Any) -> float | None:
    """``x`` as a finite float if it is a real number (not a string, not a bool), else None."""
    if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
        return None
    return _finite(x)


# ------------------------------------------------------------------------------------------------ gates
@dataclass(frozen=True, kw_only=True)
class Gates:
    """Validation gates a candidate must pass to become ``validated``.

    Attributes:
        min_dsr: deflated Sharpe ratio (probability the true Sharpe is > 0 after selection) at least this.
        max_pbo: probability of backtest overfitting at most this.
        min_trades: out-of-sample entries at least this.
        min_oos_sharpe: annualised out-of-sample Sharpe at least this.

    Example:
        >>> Gates(min_dsr=0.9).check({"dsr": 0.95, "pbo": 0.2, "oos_trades": 12, "oos_sharpe": 1.1})
        []
    """

    min_dsr: float = 0.95
    max_pbo: float = 0.5
    min_trades: int = 5
    min_oos_sharpe: float = 0.0

    def __post_init__(self) -> None:
        for name in ("min_dsr", "max_pbo"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"gate `{name}` must be a probability in [0, 1], got {v!r}")
        if isinstance(self.min_trades, bool) or not isinstance(self.min_trades, int) or self.min_trades < 0:
            raise ConfigError(f"gate `min_trades` must be an integer >= 0, got {self.min_trades!r}")
        if _number(self.min_oos_sharpe) is None:
            raise ConfigError(f"gate `min_oos_sharpe` must be a finite number, got {self.min_oos_sharpe!r}")

    def rules(self) -> tuple[tuple[str, str, float], ...]:
        """``(statistic, operator, limit)`` of each gate, in the order they are checked."""
        return (
            ("dsr", ">=", self.min_dsr),
            ("pbo", "<=", self.max_pbo),
            ("oos_trades", ">=", self.min_trades),
            ("oos_sharpe", ">=", self.min_oos_sharpe),
        )

    def describe(self) -> str:
        """The gates as one line, e.g. ``dsr >= 0.95, pbo <= 0.5, oos_trades >= 5, oos_sharpe >= 0``."""
        return ", ".join(f"{key} {op} {limit:g}" for key, op, limit in self.rules())

    def failing(self, metrics: Mapping[str, Any]) -> list[str]:
        """The statistics whose gate ``metrics`` fail (a missing one fails), in :meth:`rules` order."""
        return [key for key, _op, _limit, _v in self._failures(metrics)]

    def check(self, metrics: Mapping[str, Any]) -> list[str]:
        """The reasons ``metrics`` fail the gates (empty when they pass); a missing statistic fails its gate."""
        return [
            (
                f"{key} is missing (gate {key} {op} {limit:g})"
                if metrics.get(key) is None
                else f"{key} is undefined ({metrics.get(key)!r}; gate {key} {op} {limit:g})"
            )
            if v is None
            else f"{key}={v:.4g} fails {key} {op} {limit:g}"
            for key, op, limit, v in self._failures(metrics)
        ]

    def _failures(self, metrics: Mapping[str, Any]) -> list[tuple[str, str, float, float | None]]:
        out = []
        for key, op, limit in self.rules():
            v = _finite(metrics.get(key))
            if v is None or (op == ">=" and not v >= limit) or (op == "<=" and not v <= limit):
                out.append((key, op, limit, v))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gates:
        valid = list(cls.__dataclass_fields__)
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"unknown gate key(s) {unknown}; valid keys: {valid}")
        return cls(**dict(data))


@dataclass(frozen=True, kw_only=True)
class MonitorConfig:
    """How a live strategy is judged against what validation promised.

    Attributes:
        drawdown_alpha: retire when a strategy performing as validated would draw down as deep as the realised
            max drawdown, over as many bars, with probability below this (see :func:`drawdown_p_value`).
        max_drawdown: an absolute drawdown limit (fraction): a breach whatever the test says.
        decay_alpha: retire when the one-sided test of H0 "true Sharpe >= expected Sharpe" rejects at this level
            (p-value = PSR of the realised returns against the expected Sharpe, Bailey & López de Prado).
        min_bars: fewer realised bars than this: no Sharpe-decay test (nor a drawdown test that would need the
            realised volatility).
        drawdown_paths: simulated paths of the drawdown test (seeded: the same returns give the same p-value).
        volatility: the drawdown test's volatility: ``"validated"`` (``oos_mean_return / oos_sharpe``, falling
            back to the realised one when not recorded) or ``"realised"`` (for returns of other symbols than
            validation measured, e.g. one stock of a validated portfolio: its volatility is its own).
    """

    drawdown_alpha: float = 0.01
    max_drawdown: float | None = None
    decay_alpha: float = 0.05
    min_bars: int = 20
    drawdown_paths: int = 4000
    volatility: str = "validated"

    def __post_init__(self) -> None:
        da = _number(self.drawdown_alpha)
        if da is None or not 0 < da < 1:
            raise ConfigError(f"`drawdown_alpha` must be in (0, 1), got {self.drawdown_alpha!r}")
        dp = self.drawdown_paths
        if isinstance(dp, bool) or not isinstance(dp, int) or dp < 100:
            raise ConfigError(f"`drawdown_paths` must be an integer >= 100, got {dp!r}")
        if self.volatility not in ("validated", "realised"):
            raise ConfigError(f"`volatility` must be 'validated' or 'realised', got {self.volatility!r}")
        mdd = _number(self.max_drawdown)
        if self.max_drawdown is not None and (mdd is None or not 0 < mdd <= 1):
            raise ConfigError(f"`max_drawdown` must be in (0, 1], got {self.max_drawdown!r}")
        alpha = _number(self.decay_alpha)
        if alpha is None or not 0 < alpha < 1:
            raise ConfigError(f"`decay_alpha` must be in (0, 1), got {self.decay_alpha!r}")
        if isinstance(self.min_bars, bool) or not isinstance(self.min_bars, int) or self.min_bars < 3:
            raise ConfigError(f"`min_bars` must be an integer >= 3, got {self.min_bars!r}")


# ------------------------------------------------------------------------------------------------ records
@dataclass(frozen=True, slots=True)
class StrategyRecord:
    """One strategy in the registry.

    Attributes:
        name: unique key (a registered strategy name, or a discovered rule's ``gp_<hash>``).
        state: one of ``STATES``.
        source: where it came from (``discover``, ``tune``, ``manual``).
        strategy: the StrategySpec name it runs (for a discovered rule: its own name).
        params: the parameter set.
        rule: a discovered rule's text (re-creates its StrategySpec with ``rule_spec``), else None.
        metrics: the out-of-sample statistics validation judged (``dsr``, ``pbo``, ``oos_sharpe``, ...).
        created_at, updated_at: ISO timestamps (UTC).
    """

    name: str
    state: str
    source: str
    strategy: str
    params: dict[str, Any]
    rule: str | None
    metrics: dict[str, Any]
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "source": self.source,
            "strategy": self.strategy,
            "params": self.params,
            "rule": self.rule,
            "metrics": self.metrics,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """One recorded transition: ``from_state`` is None for the creation event."""

    name: str
    at: str
    from_state: str | None
    to_state: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MonitorReport:
    """What :meth:`Registry.monitor` concluded.

    Attributes:
        n_bars: realised bars judged.
        realised_sharpe, expected_sharpe: annualised.
        realised_return, expected_return: annualised mean simple return (expected from ``oos_mean_return``).
        realised_max_drawdown, drawdown_limit: fractions; the limit is ``max_drawdown`` when given, else the
            drawdown a strategy performing as validated exceeds with probability ``drawdown_alpha`` over these
            bars (None when no test could be made).
        drawdown_p_value: probability that a strategy performing as validated draws down at least as deep over
            these bars (None when no test could be made).
        decay_p_value: p-value of H0 "true Sharpe >= expected" (None when undefined).
        breaches: the reasons found (empty = healthy).
        retired: whether the strategy was retired by this call.
        notes: checks that could not be made (e.g. the Sharpe-decay test with fewer than ``min_bars`` bars, or
            without an expected Sharpe); empty when every check ran.
    """

    name: str
    n_bars: int
    realised_sharpe: float | None
    expected_sharpe: float | None
    realised_return: float | None
    expected_return: float | None
    realised_max_drawdown: float
    drawdown_limit: float | None
    drawdown_p_value: float | None
    decay_p_value: float | None
    breaches: list[str]
    retired: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def drawdown_p_value(
    max_dd: float,
    n_bars: int,
    mean: float,
    vol: float,
    *,
    alpha: float = 0.01,
    paths: int = 4000,
    seed: int = 0,
) -> tuple[float, float]:
    """How surprising a max drawdown is for a strategy that performs as expected: ``(p, limit)``.

    H0: the per-bar simple returns are independent normal with ``mean`` and ``vol`` (per bar). ``paths`` seeded
    paths of ``n_bars`` bars are simulated; ``p = (1 + #{path drawdown >= max_dd}) / (1 + paths)`` and ``limit``
    is the drawdown they exceed with probability ``alpha`` (their ``1 - alpha`` quantile). Drawdowns deepen with
    the horizon and the volatility and shrink with the Sharpe ratio, so one fixed limit would be wrong on every
    window but the one it was measured on.

    Example:
        >>> p, limit = drawdown_p_value(0.05, 252, 0.0004, 0.01)
        >>> p > 0.5 and 0.1 < limit < 0.4   # a 5% drawdown in a year at 16% vol is ordinary
        True
    """
    rng = np.random.default_rng(seed)
    dds = np.empty(paths)
    step = max(1, min(paths, (8 << 20) // max(n_bars, 1)))  # <= ~64 MiB of draws at a time
    for lo in range(0, paths, step):
        hi = min(paths, lo + step)
        r = np.maximum(mean + vol * rng.standard_normal((hi - lo, n_bars)), -1.0)
        eq = np.cumprod(1.0 + r, axis=1)
        peak = np.maximum(np.maximum.accumulate(eq, axis=1), 1.0)  # the start (equity 1) is the first peak
        dds[lo:hi] = (1.0 - eq / peak).max(axis=1) if n_bars else 0.0
    p = (1.0 + float((dds >= max_dd).sum())) / (1.0 + paths)
    return p, float(np.quantile(dds, 1.0 - alpha))


# ------------------------------------------------------------------------------------------------ storage
def default_registry_url() -> str:
    """``sqlite:///$QUANTRAY_HOME/registry.db`` (``QUANTRAY_HOME`` defaults to ``~/.quantray``)."""
    home = Path(os.environ.get("QUANTRAY_HOME") or Path.home() / ".quantray")
    return f"sqlite:///{home / 'registry.db'}"


def registry_file(url: str) -> Path | None:
    """The SQLite file a registry URL names (``sqlite:///PATH`` or a plain path; ``~`` expanded), None for
    ``:memory:`` or a server URL."""
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else (None if "://" in url else url)
    return Path(path).expanduser() if path and path != ":memory:" else None


def unusable_ancestor(path: Path) -> tuple[Path, str] | None:
    """Why ``path`` (a file or folder to be created, or a folder that exists) could not be written, looking
    only: ``(its nearest existing ancestor, "is not a folder" | "is not writable")``, or None if it could. The
    path itself counts as its own nearest ancestor when it exists."""
    anc = path
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        return anc, "is not a folder"
    if not os.access(anc, os.W_OK | os.X_OK):
        return anc, "is not writable"
    return None


def check_creatable(url: str) -> None:
    """Refuse, without creating anything, a SQLite registry file that could not be created: its nearest existing
    ancestor is not a folder, or cannot be written. A file that exists, or a server URL, passes."""
    path = registry_file(url)
    if path is None or path.exists():
        return
    bad = unusable_ancestor(path)
    if bad is not None:
        raise ConfigError(f"registry {url!r}: cannot create {str(path)!r}: {str(bad[0])!r} {bad[1]}")


def check_registry(url: str | None = None) -> str:
    """Check, before work whose results may be registered, that the registry at ``url`` (default:
    :func:`default_registry_url`) can take them, creating nothing: a SQLite file that does not exist yet must be
    creatable (:func:`check_creatable`); an existing file or a server is opened (readable, a registry) and closed.
    Returns the URL. The registry file is only created when something is registered."""
    url = url or default_registry_url()
    path = registry_file(url)
    if path is not None and not path.exists():
        check_creatable(url)
    else:
        Registry(url).close()
    return url


def require_registry(url: str | None, action: str) -> str:
    """The registry URL for ``action`` (e.g. ``"promote 'x'"``) on strategies that must already be registered:
    a SQLite file that does not exist is an error that says so (opening it would create an empty registry)."""
    url = url or default_registry_url()
    path = registry_file(url)
    if path is not None and not path.exists():
        raise ConfigError(
            f"{action}: no registry at {url} (no file {str(path)!r}: nothing registered there yet)"
        )
    return url


class _Store:
    """The tiny SQL layer: one connection, the dialect's placeholder and locking, two tables."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg
            except ImportError as exc:  # pragma: no cover - psycopg is installed with the search extra
                raise ConfigError(
                    "a PostgreSQL registry needs psycopg 3: pip install 'psycopg[binary]'"
                ) from exc
            try:
                self.conn: Any = psycopg.connect(url, autocommit=False)
            except Exception as exc:
                raise ConfigError(f"cannot connect to the registry database {_redact(url)}: {exc}") from None
            self.dialect = "postgresql"
            self.ph = "%s"
            serial = "BIGSERIAL PRIMARY KEY"
        else:
            path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
            if "://" in path:
                raise ConfigError(
                    f"registry URL {url!r}: use sqlite:///PATH, a file path, or postgresql://USER@HOST/DB"
                )
            if not path.strip():
                raise ConfigError(f"registry URL {url!r} names no file: use sqlite:///PATH or a file path")
            target = registry_file(url)
            if target is not None:
                if target.is_dir():
                    raise ConfigError(
                        f"registry {url!r}: {str(target)!r} is a directory, not a database file"
                    )
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"registry {url!r}: cannot create the folder {str(target.parent)!r}: {exc}"
                    ) from None
                path = str(target)
            try:
                self.conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            except sqlite3.Error as exc:
                raise ConfigError(f"registry {url!r}: cannot open {path!r}: {exc}") from None
            self.dialect = "sqlite"
            self.ph = "?"
            serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
        with self.tx() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS qr_strategies (name TEXT PRIMARY KEY, state TEXT NOT NULL, "
                "source TEXT NOT NULL, strategy TEXT NOT NULL, params TEXT NOT NULL, rule TEXT, "
                "metrics TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS qr_events (id {serial}, name TEXT NOT NULL, at TEXT NOT NULL, "
                "from_state TEXT, to_state TEXT NOT NULL, reason TEXT NOT NULL, details TEXT NOT NULL)"
            )

    @contextmanager
    def tx(self) -> Iterator[Any]:
        """One transaction; a database error (not a SQLite database, a read-only file, a lost connection)
        becomes a :class:`ConfigError` naming the registry, after the transaction is rolled back."""
        cur = self.conn.cursor()
        begun = self.dialect == "postgresql"
        try:
            if self.dialect == "sqlite":
                cur.execute("BEGIN IMMEDIATE")
                begun = True
            yield cur
        except BaseException as exc:
            if begun:
                with suppress(Exception):  # the original error is the one to report
                    self.conn.rollback() if self.dialect == "postgresql" else cur.execute("ROLLBACK")
            if isinstance(exc, QuantrayError) or not _is_db_error(exc):
                raise
            raise ConfigError(f"registry {_redact(self.url)}: {type(exc).__name__}: {exc}") from None
        else:
            try:
                self.conn.commit() if self.dialect == "postgresql" else cur.execute("COMMIT")
            except Exception as exc:
                if not _is_db_error(exc):
                    raise
                raise ConfigError(f"registry {_redact(self.url)}: {type(exc).__name__}: {exc}") from None
        finally:
            cur.close()

    def q(self, sql: str) -> str:
        return sql.replace("?", self.ph)

    def close(self) -> None:
        self.conn.close()


def _is_db_error(exc: BaseException) -> bool:
    """A SQLite or PostgreSQL (psycopg) error, or the OS refusing the database file."""
    if isinstance(exc, sqlite3.Error | OSError):
        return True
    return type(exc).__module__.split(".")[0] == "psycopg"


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _check_runnable(name: str, strategy: str, params: Mapping[str, Any] | None, rule: str | None) -> None:
    """Refuse a candidate that could never run: an unknown strategy, invalid parameters, a rule that does
    not parse."""
    try:
        if rule is not None:
            from quantray.search._discover import rule_spec

            rule_spec(rule, name=strategy).validate_params(params)
        else:
            from quantray.strategies import get_strategy

            get_strategy(strategy).validate_params(params)
    except QuantrayError as exc:
        raise LifecycleError(f"candidate {name!r} cannot run: {exc}") from None


def _json_field(name: str, what: str, value: Any) -> str:
    try:
        return _dumps(value)
    except (TypeError, ValueError) as exc:
        raise LifecycleError(
            f"candidate {name!r}: `{what}` must hold JSON values (numbers, strings, lists, mappings): {exc}"
        ) from None


_COLS = "name, state, source, strategy, params, rule, metrics, created_at, updated_at"


def _record(row: Any) -> StrategyRecord:
    return StrategyRecord(
        name=row[0],
        state=row[1],
        source=row[2],
        strategy=row[3],
        params=json.loads(row[4]),
        rule=row[5],
        metrics=json.loads(row[6]),
        created_at=row[7],
        updated_at=row[8],
    )


def _dumps(x: Any) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): clean(w) for k, w in v.items()}
        if isinstance(v, list | tuple):
            return [clean(w) for w in v]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return json.dumps(clean(x), sort_keys=True)


class Registry:
    """The lifecycle registry (see the module docstring for the states and transitions).

    Args:
        url: ``sqlite:///PATH`` or a plain path (default :func:`default_registry_url`), or a PostgreSQL URL
            ``postgresql://USER:PASS@HOST:PORT/DB`` (psycopg 3).
        gates: the validation gates :meth:`promote` applies to a candidate.

    Example:
        >>> reg = Registry("sqlite:///:memory:")
        >>> _ = reg.add_candidate("sma_fast", strategy="sma_cross", params={"fast": 5, "slow": 50},
        ...                       metrics={"dsr": 0.97, "pbo": 0.1, "oos_trades": 9, "oos_sharpe": 1.2})
        >>> reg.promote("sma_fast").state, reg.promote("sma_fast").state
        ('validated', 'live')
        >>> reg.retire("sma_fast", reason="regime change").state
        'retired'
    """

    def __init__(self, url: str | None = None, *, gates: Gates | None = None) -> None:
        self.url = url or default_registry_url()
        self.gates = gates or Gates()
        self._db = _Store(self.url)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------- reading
    def _fetch(self, cur: Any, name: str, *, lock: bool = False) -> StrategyRecord | None:
        sql = f"SELECT {_COLS} FROM qr_strategies WHERE name = ?"
        if lock and self._db.dialect == "postgresql":
            sql += " FOR UPDATE"
        cur.execute(self._db.q(sql), (name,))
        row = cur.fetchone()
        return _record(row) if row else None

    def _unknown(self, name: str, cur: Any = None) -> LifecycleError:
        if cur is None:
            names = [r.name for r in self.list()]
        else:  # inside a transaction: read with its cursor (a second transaction cannot start)
            cur.execute("SELECT name FROM qr_strategies ORDER BY name")
            names = [r[0] for r in cur.fetchall()]
        return LifecycleError(
            f"unknown strategy {name!r} in the registry {_redact(self.url)}; known: {names[:20]}"
        )

    def get(self, name: str) -> StrategyRecord:
        """The record of ``name`` (unknown names list the known ones)."""
        with self._db.tx() as cur:
            rec = self._fetch(cur, name)
        if rec is None:
            raise self._unknown(name)
        return rec

    def __contains__(self, name: object) -> bool:
        with self._db.tx() as cur:
            return isinstance(name, str) and self._fetch(cur, name) is not None

    def list(self, state: str | None = None) -> list[StrategyRecord]:
        """Every record (optionally only those in ``state``), by name."""
        if state is not None and state not in STATES:
            raise LifecycleError(f"unknown state {state!r}; valid: {list(STATES)}")
        with self._db.tx() as cur:
            if state is None:
                cur.execute(f"SELECT {_COLS} FROM qr_strategies ORDER BY name")
            else:
                cur.execute(
                    self._db.q(f"SELECT {_COLS} FROM qr_strategies WHERE state = ? ORDER BY name"), (state,)
                )
            return [_record(r) for r in cur.fetchall()]

    def history(self, name: str) -> builtins.list[LifecycleEvent]:
        """The events of ``name``, oldest first."""
        with self._db.tx() as cur:
            cur.execute(
                self._db.q(
                    "SELECT name, at, from_state, to_state, reason, details FROM qr_events WHERE name = ? "
                    "ORDER BY id"
                ),
                (name,),
            )
            rows = cur.fetchall()
        if not rows and name not in self:
            raise self._unknown(name)
        return [LifecycleEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    # ---------------------------------------------------------------------------------------- writing
    def add_candidate(
        self,
        name: str,
        *,
        strategy: str,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        rule: str | None = None,
        source: str = "manual",
        reason: str = "registered as a candidate",
    ) -> StrategyRecord:
        """Register a new candidate (an existing name is an error).

        ``strategy`` must be a strategy registered in this process (import the module that defines a user
        strategy first) and ``params`` valid for it; a discovered rule gives its ``rule`` text instead, which
        must parse. Nothing is written when either check fails."""
        if not isinstance(name, str) or not name.strip():
            raise LifecycleError(f"strategy name must be a non-empty string, got {name!r}")
        _check_runnable(name, strategy, params, rule)
        params_json = _json_field(name, "params", params or {})
        metrics_json = _json_field(name, "metrics", metrics or {})
        now = _now()
        with self._db.tx() as cur:
            if self._fetch(cur, name, lock=True) is not None:
                raise LifecycleError(f"strategy {name!r} is already in the registry")
            cur.execute(
                self._db.q(f"INSERT INTO qr_strategies ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                (
                    name,
                    "candidate",
                    source,
                    strategy,
                    params_json,
                    rule,
                    metrics_json,
                    now,
                    now,
                ),
            )
            self._event(cur, name, now, None, "candidate", reason, {"source": source})
        return self.get(name)

    def _event(
        self, cur: Any, name: str, at: str, frm: str | None, to: str, reason: str, details: Mapping[str, Any]
    ) -> None:
        cur.execute(
            self._db.q(
                "INSERT INTO qr_events (name, at, from_state, to_state, reason, details) VALUES (?, ?, ?, ?, ?, ?)"
            ),
            (name, at, frm, to, reason, _dumps(details)),
        )

    def transition(
        self,
        name: str,
        to: str,
        *,
        reason: str,
        metrics: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        gates: Gates | None = None,
    ) -> StrategyRecord:
        """Move ``name`` to state ``to`` if ``TRANSITIONS`` allows it (and, into ``validated``, if the gates pass
        on its metrics, updated with ``metrics`` when given; ``gates``: these instead of the registry's).
        Refused moves raise and write nothing."""
        if to not in STATES:
            raise LifecycleError(f"unknown state {to!r}; valid: {list(STATES)}")
        if not isinstance(reason, str) or not reason.strip():
            raise LifecycleError("a transition needs a non-empty reason")
        now = _now()
        with self._db.tx() as cur:
            rec = self._fetch(cur, name, lock=True)
            if rec is None:
                raise self._unknown(name, cur)
            if (rec.state, to) not in TRANSITIONS:
                allowed = sorted(t for f, t in TRANSITIONS if f == rec.state)
                hint = {
                    (
                        "candidate",
                        "live",
                    ): "; promote it to validated first (it must pass the validation gates)",
                    ("validated", "retired"): "; only live strategies are retired",
                    ("candidate", "retired"): "; only live strategies are retired",
                }.get((rec.state, to), "")
                raise LifecycleError(
                    f"strategy {name!r} is {rec.state}: moving it to {to} is not allowed (allowed from "
                    f"{rec.state}: {allowed or 'none, it is final'}){hint}"
                )
            new_metrics = {**rec.metrics, **dict(metrics or {})}
            changed = {
                key: {"before": rec.metrics.get(key), "after": v}
                for key, v in dict(metrics or {}).items()
                if rec.metrics.get(key) != v
            }
            if changed:  # the event keeps what the metrics were, so an override never erases the record
                details = {**dict(details or {}), "metrics_changed": changed}
            _json_field(name, "metrics", new_metrics)
            if to == "validated":
                failed = (gates or self.gates).check(new_metrics)
                if failed:
                    raise LifecycleError(f"strategy {name!r} fails the validation gates: {'; '.join(failed)}")
            cur.execute(
                self._db.q("UPDATE qr_strategies SET state = ?, metrics = ?, updated_at = ? WHERE name = ?"),
                (to, _dumps(new_metrics), now, name),
            )
            self._event(cur, name, now, rec.state, to, reason, details or {})
        return self.get(name)

    def promote(
        self,
        name: str,
        *,
        reason: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        gates: Gates | None = None,
    ) -> StrategyRecord:
        """candidate → validated (the registry's gates applied, or ``gates``; recorded with the event) or
        validated → live."""
        rec = self.get(name)
        to = {"candidate": "validated", "validated": "live"}.get(rec.state)
        if to is None:
            raise LifecycleError(
                f"strategy {name!r} is {rec.state}: promote moves candidate -> validated -> live only"
            )
        why = reason or ("passed the validation gates" if to == "validated" else "promoted to live")
        details = {"gates": (gates or self.gates).__dict__} if to == "validated" else {}
        return self.transition(name, to, reason=why, metrics=metrics, details=details, gates=gates)

    def retire(self, name: str, *, reason: str, details: Mapping[str, Any] | None = None) -> StrategyRecord:
        """live → retired, with the reason recorded."""
        return self.transition(name, "retired", reason=reason, details=details)

    # ---------------------------------------------------------------------------------------- monitoring
    def monitor(
        self,
        name: str,
        returns: ArrayLike,
        *,
        periods_per_year: float | None = None,
        config: MonitorConfig | None = None,
        retire: bool = True,
    ) -> MonitorReport:
        """Judge a live strategy's realised per-bar simple returns against its recorded expectations and, when
        a limit is breached and ``retire`` is set, retire it with the reasons.

        Checks:

        * drawdown: the realised max drawdown is one a strategy performing as validated would reach over as many
          bars with probability below ``drawdown_alpha`` (:func:`drawdown_p_value`: normal returns with the
          expected Sharpe ``oos_sharpe``, at the volatility validation measured, ``oos_mean_return /
          oos_sharpe``, or, when that is not recorded, at the realised volatility, from ``min_bars`` bars on).
          The horizon matters: a drawdown 1.2 times the holdout's over three times as many bars is ordinary.
          ``max_drawdown``, when given, is a hard limit on any number of bars;
        * Sharpe decay, from ``min_bars`` bars on: the one-sided p-value of H0 "true Sharpe >= expected
          ``oos_sharpe``" (the PSR of the realised returns against that benchmark, which accounts for skewness,
          kurtosis and the track record's length) below ``decay_alpha``.

        Realised vs expected mean return is reported; a check that could not be made is named in ``notes``.

        ``periods_per_year``: bars per year of ``returns`` (the expectations are annualised, so returns of
        another frequency can be judged when it is given); by default the frequency the strategy was validated at
        (``metrics["periods_per_year"]``, recorded by discover and tune), else 252 with a note. Hourly returns
        judged at 252 bars a year looked ~6x less volatile than validated and were retired.
        """
        from quantray.engine import max_drawdown
        from quantray.research import psr_from_stats, sharpe_stats

        cfg = config or MonitorConfig()
        rec = self.get(name)
        if rec.state != "live":
            raise LifecycleError(f"strategy {name!r} is {rec.state}: only live strategies are monitored")
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 1 or not np.isfinite(r).all():
            raise ParameterError("`returns` must be a one-dimensional array of finite per-bar returns")
        assumed = False
        if periods_per_year is None:
            periods_per_year = _finite(rec.metrics.get("periods_per_year"))
            if periods_per_year is None:
                periods_per_year, assumed = 252.0, True
        ppy = _finite(periods_per_year)
        if ppy is None or ppy <= 0:
            raise ParameterError(f"`periods_per_year` must be a number > 0, got {periods_per_year!r}")
        exp_sr = _finite(rec.metrics.get("oos_sharpe"))
        exp_ret = _finite(rec.metrics.get("oos_mean_return"))
        mdd = float(max_drawdown(r)) if r.size else 0.0
        breaches: list[str] = []
        notes: list[str] = []
        if assumed:
            notes.append(
                f"{name!r} records no bar frequency (periods_per_year) and none was given: returns taken as daily "
                "(252 bars a year)"
            )
        sr_real: float | None = None
        # constant returns (relative to their size: 0.001 repeated has a ~1e-19 rounding std) have no Sharpe; it
        # was reported as 7e16
        flat = not r.size or not float(np.std(r)) > 1e-12 * float(np.abs(r).max())
        pval: float | None = None
        dd_p: float | None = None
        limit: float | None = None
        # the drawdown test's null: the expected Sharpe at the validated volatility, else at the realised one
        vol: float | None = None
        if (
            cfg.volatility == "validated"
            and exp_sr is not None
            and exp_ret is not None
            and exp_sr > 0 < exp_ret
        ):
            vol = exp_ret / exp_sr / math.sqrt(ppy)
        elif r.size >= cfg.min_bars and not flat:
            vol = float(np.std(r, ddof=1))
        if exp_sr is None:
            notes.append("no drawdown test: no expected oos_sharpe recorded")
        elif vol is None:
            notes.append(
                f"no drawdown test: no validated volatility recorded (oos_mean_return) and {r.size} bars < "
                f"min_bars {cfg.min_bars} to measure one"
            )
        elif r.size:
            dd_p, limit = drawdown_p_value(
                mdd, int(r.size), exp_sr / math.sqrt(ppy) * vol, vol,
                alpha=cfg.drawdown_alpha, paths=cfg.drawdown_paths,
            )  # fmt: skip
            if dd_p < cfg.drawdown_alpha:
                breaches.append(
                    f"drawdown breach: realised max drawdown {mdd:.4f} over {r.size} bars, p={dd_p:.4g} < "
                    f"{cfg.drawdown_alpha:g} for Sharpe {exp_sr:.3f} at {vol * math.sqrt(ppy):.1%} volatility "
                    f"(limit {limit:.4f})"
                )
        if cfg.max_drawdown is not None:
            limit = float(cfg.max_drawdown)
            if mdd > limit and not any(b.startswith("drawdown breach") for b in breaches):
                breaches.append(
                    f"drawdown breach: realised max drawdown {mdd:.4f} > max_drawdown {limit:.4f}"
                )
        if r.size < cfg.min_bars:
            notes.append(f"no Sharpe-decay test: {r.size} bars < min_bars {cfg.min_bars}")
        else:
            try:
                st = None if flat else sharpe_stats(r)
            except ParameterError:
                st = None
            if st is not None:
                sr_real = st.sharpe * math.sqrt(ppy)
            if st is None:
                notes.append("no Sharpe-decay test: the realised returns are constant")
            elif exp_sr is None:
                notes.append("no Sharpe-decay test: no expected oos_sharpe recorded")
            else:
                try:
                    pval = psr_from_stats(
                        st.sharpe,
                        st.n,
                        sr_benchmark=exp_sr / math.sqrt(ppy),
                        skew=st.skew,
                        kurtosis=st.kurtosis,
                    )
                except ParameterError:
                    pval = None
                if pval is None:
                    notes.append("no Sharpe-decay test: the PSR is undefined for these returns")
                elif pval < cfg.decay_alpha:
                    breaches.append(
                        f"Sharpe decay: realised Sharpe {sr_real:.3f} vs expected {exp_sr:.3f}, p={pval:.4g} "
                        f"< {cfg.decay_alpha:g}"
                    )
        retired = False
        if breaches and retire:
            self.retire(
                name,
                reason="automatic retirement: " + "; ".join(breaches),
                details={
                    "n_bars": int(r.size),
                    "realised_max_drawdown": mdd,
                    "drawdown_p_value": dd_p,
                    "decay_p_value": pval,
                },
            )
            retired = True
        return MonitorReport(
            name=name,
            n_bars=int(r.size),
            realised_sharpe=sr_real,
            expected_sharpe=exp_sr,
            realised_return=float(r.mean() * ppy) if r.size else None,
            expected_return=exp_ret,
            realised_max_drawdown=mdd,
            drawdown_limit=limit,
            drawdown_p_value=dd_p,
            decay_p_value=pval,
            breaches=breaches,
            retired=retired,
            notes=notes,
        )
