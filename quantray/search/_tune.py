"""Hyperparameter search on Ray Tune: the search space from a StrategySpec, Optuna TPE / random / grid
searchers, multi-objective Pareto fronts, ASHA on per-fold intermediate results, persistent and resumable
experiments, and an untouched holdout to confirm the winner.

Objective. Each symbol's bars are split into a *search* segment (the first ``1 - holdout``) cut into ``folds``
contiguous folds, and a *holdout* (the tail) that no trial sees. A trial's parameter set is fixed (nothing is fit
on the bars it is scored on), so every fold scores it out of sample: signals are warmed up on all earlier history
and the fold is simulated starting flat in cash (``research.window_simulations``). The trial reports the running
mean over folds of the per-symbol-averaged metric after each fold (the intermediate results ASHA stops on); its
final score is the mean over all folds. The best configuration is then backtested on the holdout, with its
deflated Sharpe ratio for the number of trials run.

Each trial evaluates every symbol on every fold (a batch), so that its work dominates Tune's per-trial overhead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import io
import json
import logging
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from fsspec.implementations.local import LocalFileSystem

from quantray.engine import ExecutionConfig
from quantray.engine._config import METRIC_NAMES
from quantray.errors import ConfigError, ParameterError
from quantray.strategies import ParamSpace, StrategySpec, get_strategy

#: Score reported for a parameter set that breaks a constraint (e.g. fast >= slow) or never trades.
INVALID_SCORE = -10.0
_LOWER = frozenset({"max_drawdown", "max_drawdown_duration", "volatility"})
_IDX = {m: i for i, m in enumerate(METRIC_NAMES)}
log = logging.getLogger("quantray.search.tune")


def _home() -> Path:
    return Path(os.environ.get("QUANTRAY_HOME") or Path.home() / ".quantray")


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """A Tune search of one strategy.

    Attributes:
        strategy: a registered strategy name.
        space: optional narrowing of the spec's ParamSpaces: name -> (low, high) or (low, high, step); names
            not given keep the spec's space.
        fixed: parameters held fixed (not searched).
        searcher: ``"optuna"`` (TPE through Tune's OptunaSearch), ``"random"`` or ``"grid"``
            (BasicVariantGenerator; grid enumerates every step of every searched parameter once).
        metric: the objective when ``objectives`` is empty (one of ``METRIC_NAMES``); minimised for
            max_drawdown, max_drawdown_duration and volatility, else maximised.
        objectives: multi-objective search, e.g. ``(("sharpe", "max"), ("max_drawdown", "min"))``: Optuna's
            multi-objective TPE; the Pareto front is written out; no scheduler.
        scheduler: ``"asha"`` (early stopping on the per-fold running score) or ``"none"``.
        num_samples: trials (ignored by grid, which runs every grid point).
        max_concurrent: trials at once.
        folds, holdout: see the module docstring.
        seed: seeds the searcher.
        storage_path: local directory or ``s3://`` URL of the experiment (default ``$QUANTRAY_HOME/tune``).
        storage_options: for ``s3://`` storage, s3fs-style options (``key``, ``secret``, ``token``,
            ``endpoint_url`` or ``client_kwargs: {endpoint_url, region_name}``, ``region``); without them the
            standard AWS environment applies (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...). They travel to
            the Ray workers with the experiment, so workers need no credentials of their own.
        snapshot_s: seconds between snapshots of the experiment state (trial statuses, searcher, trial logs);
            a driver killed without warning (SIGKILL, a lost node) resumes from the last one, re-running the
            trials it had not recorded as finished. None: Tune's adaptive period (at least 10 s, at most 5 % of
            the run spent snapshotting). ``TUNE_GLOBAL_CHECKPOINT_S`` in the environment takes precedence.
        tensorboard: also write TensorBoard event files per trial (Tune's TBXLoggerCallback). Off by default:
            each trial's results are in its ``result.json`` and ``progress.csv`` (which ``trials.csv`` and
            ``Tuner.restore`` read), and the event writer cost ~7-10 ms of driver time per trial.
        name: experiment name (default ``tune-<strategy>``).
        execution: fills and costs.
        min_trades: a trial whose mean entries per symbol and fold is below this scores ``INVALID_SCORE``; a
            trial that never trades at all is invalid whatever this is (its Sharpe 0 and drawdown 0 are not a
            performance, and would win a drawdown objective).
    """

    strategy: str
    space: Mapping[str, Sequence[float]] = field(default_factory=dict)
    fixed: Mapping[str, float] = field(default_factory=dict)
    searcher: Literal["optuna", "random", "grid"] = "optuna"
    metric: str = "sharpe"
    objectives: tuple[tuple[str, str], ...] = ()
    scheduler: Literal["asha", "none"] = "asha"
    num_samples: int = 20
    max_concurrent: int = 2
    folds: int = 4
    holdout: float = 0.2
    seed: int = 0
    storage_path: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    snapshot_s: float | None = None
    tensorboard: bool = False
    name: str | None = None
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    min_trades: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, str):
            raise ConfigError(f"`strategy` must be a strategy name, got {self.strategy!r}")
        if not isinstance(self.metric, str):
            raise ConfigError(f"`metric` must be a metric name, got {self.metric!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"`seed` must be an integer >= 0, got {self.seed!r}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise ConfigError(f"`name` must be a non-empty string, got {self.name!r}")
        if self.name is not None and not _NAME.fullmatch(self.name):
            # the experiment's folder under the storage path: '../x', '/abs' or 'a/b' would write elsewhere
            raise ConfigError(
                f"`name` must be one folder name (letters, digits and _ . - = +, not starting with '.'; it is "
                f"the experiment's folder under the storage path), got {self.name!r}"
            )
        if not isinstance(self.fixed, Mapping):
            raise ConfigError(f"`fixed` must be a mapping of parameter -> value, got {self.fixed!r}")
        if not isinstance(self.execution, ExecutionConfig):
            raise ConfigError(f"`execution` must be a mapping of execution settings, got {self.execution!r}")
        if (
            isinstance(self.min_trades, bool)
            or not isinstance(self.min_trades, int | float)
            or not self.min_trades >= 0
        ):
            raise ConfigError(f"`min_trades` must be a number >= 0, got {self.min_trades!r}")
        spec = get_strategy(self.strategy)  # unknown names list the valid ones
        if self.searcher not in ("optuna", "random", "grid"):
            raise ConfigError(f"`searcher` must be one of 'optuna', 'random', 'grid', got {self.searcher!r}")
        if self.scheduler not in ("asha", "none"):
            raise ConfigError(f"`scheduler` must be 'asha' or 'none', got {self.scheduler!r}")
        for m, mode in self.objectives_or_metric():
            if m not in METRIC_NAMES:
                raise ConfigError(f"unknown metric {m!r}; valid: {list(METRIC_NAMES)}")
            if mode not in ("max", "min"):
                raise ConfigError(f"objective {m!r}: mode must be 'max' or 'min', got {mode!r}")
        if self.objectives and len(self.objectives) < 2:
            raise ConfigError("`objectives` needs at least two (metric, mode) pairs; use `metric` for one")
        if self.objectives and self.searcher == "grid":
            pass  # grid + several objectives: every point is run and the front is taken over them
        for name, low in (("num_samples", 1), ("max_concurrent", 1), ("folds", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"`{name}` must be an integer >= {low}, got {v!r}")
        if not isinstance(self.holdout, int | float) or not 0.0 <= self.holdout <= 0.8:
            raise ConfigError(f"`holdout` must be in [0, 0.8], got {self.holdout!r}")
        if self.snapshot_s is not None and (
            isinstance(self.snapshot_s, bool)
            or not isinstance(self.snapshot_s, int | float)
            or self.snapshot_s < 0
        ):
            raise ConfigError(f"`snapshot_s` must be a number of seconds >= 0, got {self.snapshot_s!r}")
        if not isinstance(self.tensorboard, bool):
            raise ConfigError(f"`tensorboard` must be true or false, got {self.tensorboard!r}")
        s3_options(self.storage_options)  # unknown or malformed options fail here
        if self.storage_options and not self.storage.startswith("s3://"):
            raise ConfigError(
                f"`storage_options` apply to s3:// storage only, got storage_path={self.storage!r}"
            )
        search_space(spec, self.space, self.fixed)  # malformed spaces fail here, before anything runs

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchConfig:
        """From a mapping (YAML): ``space`` as name -> [low, high(, step)] or "low:high(:step)", ``objectives``
        as [[metric, mode], ...] or "metric:mode,metric:mode", ``execution`` as a mapping; unknown keys rejected."""
        valid = list(cls.__dataclass_fields__)
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"unknown tune key(s) {unknown}; valid keys: {valid}")
        d = dict(data)
        if "strategy" not in d:
            raise ConfigError("tune: missing required key `strategy`")
        if isinstance(d.get("space"), Mapping):
            d["space"] = {str(k): parse_range(str(k), v) for k, v in d["space"].items()}
        elif "space" in d:
            raise ConfigError(f"tune `space` must be a mapping of parameter -> range, got {d['space']!r}")
        if "objectives" in d:
            d["objectives"] = parse_objectives(d["objectives"])
        if isinstance(d.get("execution"), Mapping):
            d["execution"] = ExecutionConfig.from_dict(dict(d["execution"]))
        return cls(**d)

    def objectives_or_metric(self) -> tuple[tuple[str, str], ...]:
        if self.objectives:
            return tuple((str(m), str(mode)) for m, mode in self.objectives)
        return ((self.metric, "min" if self.metric in _LOWER else "max"),)

    @property
    def experiment_name(self) -> str:
        return self.name or f"tune-{self.strategy}"

    @property
    def storage(self) -> str:
        return self.storage_path or str(_home() / "tune")


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]{0,127}")


def parse_range(name: str, value: Any) -> tuple[float, ...]:
    """A search range from text ``"low:high[:step]"`` or a list ``[low, high(, step)]``."""
    if isinstance(value, str):
        parts = value.split(":")
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise ConfigError(
            f"search space of `{name}` must be 'LOW:HIGH[:STEP]' or [low, high(, step)], got {value!r}"
        )
    if len(parts) not in (2, 3):
        raise ConfigError(f"search space of `{name}` must be 'LOW:HIGH[:STEP]', got {value!r}")
    try:
        if any(isinstance(p, bool) for p in parts):
            raise TypeError
        nums = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"search space of `{name}`: {value!r} must hold numbers") from None
    if not all(math.isfinite(x) for x in nums):
        raise ConfigError(f"search space of `{name}`: {value!r} must hold finite numbers (no inf or nan)")
    return tuple(int(x) if x.is_integer() else x for x in nums)


def parse_objectives(value: Any) -> tuple[tuple[str, str], ...]:
    """Objectives from ``"sharpe:max,max_drawdown:min"`` or ``[[metric, mode], ...]``."""
    items = [p.split(":") for p in value.split(",")] if isinstance(value, str) else value
    out = []
    for it in items or []:
        if not isinstance(it, list | tuple) or len(it) != 2:
            raise ConfigError(f"objectives must be METRIC:MODE pairs (mode max or min), got {value!r}")
        out.append((str(it[0]).strip(), str(it[1]).strip()))
    return tuple(out)


# ------------------------------------------------------------------------------------- experiment storage
_S3_KEYS = ("key", "secret", "token", "endpoint_url", "region", "client_kwargs")
_STATE_FILES = ("experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl")


def s3_options(options: Any) -> dict[str, str]:
    """s3fs-style ``storage_options`` normalised to ``key``, ``secret``, ``token``, ``endpoint_url``, ``region``.

    Example:
        >>> s3_options({"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}})
        {'key': 'k', 'secret': 's', 'endpoint_url': 'http://127.0.0.1:9000'}
    """
    if not isinstance(options, Mapping):
        raise ConfigError(f"`storage_options` must be a mapping, got {options!r}")
    unknown = sorted(set(options) - set(_S3_KEYS))
    if unknown:
        raise ConfigError(f"unknown storage option(s) {unknown}; valid: {list(_S3_KEYS)}")
    ck = options.get("client_kwargs") or {}
    if not isinstance(ck, Mapping) or set(ck) - {"endpoint_url", "region_name"}:
        raise ConfigError(
            f"storage option `client_kwargs` may hold endpoint_url and region_name only, got {ck!r}"
        )
    out = {k: str(options[k]) for k in ("key", "secret", "token") if options.get(k)}
    endpoint = options.get("endpoint_url") or ck.get("endpoint_url")
    if endpoint:
        if not str(endpoint).startswith(("http://", "https://")):
            raise ConfigError(
                f"storage option `endpoint_url` must start with http:// or https://, got {endpoint!r}"
            )
        out["endpoint_url"] = str(endpoint)
    region = options.get("region") or ck.get("region_name")
    if region:
        out["region"] = str(region)
    return out


class _AtomicFile(io.FileIO):
    """A file written under a hidden temporary name and renamed over its target on close, so that a process
    killed mid-write never leaves a truncated file. For Tune's state snapshots the replaced version is kept as
    ``<name>.prev`` (a hard link, so the target always exists)."""

    def __init__(self, path: str) -> None:
        self._final = path
        head, tail = os.path.split(path)
        self._tmp = os.path.join(head, f".{tail}.tmp-{os.getpid()}-{id(self):x}")
        os.makedirs(head or ".", exist_ok=True)
        super().__init__(self._tmp, "wb")

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        base = os.path.basename(self._final)
        if os.path.exists(self._final) and any(fnmatch.fnmatch(base, p) for p in _STATE_FILES):
            prev = self._final + ".prev"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(prev)
            try:
                os.link(self._final, prev)
            except OSError:  # a filesystem without hard links: a copy (the target still always exists)
                import shutil

                shutil.copyfile(self._final, prev)
        os.replace(self._tmp, self._final)


class _AtomicLocalFS(LocalFileSystem):
    """The local filesystem with atomic whole-file writes (see :class:`_AtomicFile`)."""

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        if "w" in mode:
            return _AtomicFile(self._strip_protocol(path))
        return super()._open(path, mode=mode, block_size=block_size, **kwargs)


@dataclass(frozen=True)
class ExperimentStore:
    """Where experiments live: ``url`` as the user wrote it, the pyarrow filesystem given to Tune (and to
    its workers) and the root's path on it."""

    url: str
    fs: Any
    root: str

    def path(self, name: str) -> str:
        """The fs path of experiment ``name``."""
        return f"{self.root.rstrip('/')}/{name}"

    def url_of(self, name: str) -> str:
        return f"{self.url.rstrip('/')}/{name}"

    def exists(self, path: str) -> bool:
        import pyarrow.fs as pafs

        return bool(self.fs.get_file_info(path).type != pafs.FileType.NotFound)

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(path) as fh:
            fh.write(data)

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as fh:
            return bytes(fh.readall())

    def listdir(self, path: str) -> list[str]:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        return sorted(i.base_name for i in infos)


def experiment_store(storage: str, options: Mapping[str, Any] | None = None) -> ExperimentStore:
    """The filesystem of a storage root: local directories get atomic writes (a killed driver never leaves a
    truncated experiment-state file); ``s3://bucket/prefix`` a pyarrow S3 filesystem built from ``options``
    (s3fs-style, see :func:`s3_options`) or, without them, from the AWS environment (``AWS_ENDPOINT_URL``...).
    """
    import pyarrow.fs as pafs

    opts = s3_options(options or {})
    if storage.startswith("s3://"):
        bucket_path = storage[len("s3://") :].strip("/")
        if not bucket_path:
            raise ConfigError(f"`storage_path` {storage!r} names no bucket")
        if not opts:
            fs, root = pafs.FileSystem.from_uri(storage)
            return ExperimentStore(storage, fs, root)
        kw: dict[str, Any] = {
            "access_key": opts.get("key"),
            "secret_key": opts.get("secret"),
            "session_token": opts.get("token"),
            "region": opts.get("region", "us-east-1"),
        }
        if "endpoint_url" in opts:
            scheme, _, host = opts["endpoint_url"].partition("://")
            kw.update(endpoint_override=host.rstrip("/"), scheme=scheme)
        return ExperimentStore(
            storage, pafs.S3FileSystem(**{k: v for k, v in kw.items() if v is not None}), bucket_path
        )
    if "://" in storage and not storage.startswith("file://"):
        raise ConfigError(f"`storage_path` must be a local directory or an s3:// URL, got {storage!r}")
    root = str(Path(storage.removeprefix("file://")).expanduser().resolve())
    return ExperimentStore(root, pafs.PyFileSystem(pafs.FSSpecHandler(_AtomicLocalFS())), root)


def _newest(names: Sequence[str], pattern: str) -> str | None:
    hits = fnmatch.filter(names, pattern)
    return max(hits) if hits else None


def repair_experiment_state(store: ExperimentStore, name: str) -> dict[str, Any]:
    """Make a stored experiment restorable after its driver was killed without warning.

    1. Each state file Tune restores from (``experiment_state-*.json``, ``search_gen_state-*.json``,
       ``searcher-state-*.pkl``) must load; a corrupt one is replaced by the newest valid earlier snapshot
       (``<name>.prev``), else a ConfigError names the file.
    2. The search state is reconciled with the trial state; they are separate files and may be a snapshot
       apart. An unfinished trial that Optuna does not hold as running is dropped (it would fail on its first
       report; the searcher suggests a new one in its place); the ConcurrencyLimiter's live trials become those
       the experiment will run again (a trial it waits for that never runs would block the search forever);
       the generator's trial counter becomes the number of trials kept (so exactly ``num_samples`` exist in
       the end). Finished trials are never touched.

    Returns what was done: ``{"fallbacks": [file, ...], "dropped": [...], "live_trials": [...],
    "counter": n}``.
    """
    import ray.cloudpickle as cloudpickle

    exp = store.path(name)
    names = store.listdir(exp)
    done: dict[str, Any] = {"fallbacks": []}
    loaded: dict[str, Any] = {}
    for pattern in _STATE_FILES:
        fname = _newest(names, pattern)
        if fname is None:
            continue
        path = f"{exp}/{fname}"

        def load(p: str, pat: str = pattern) -> Any:
            data = store.read_bytes(p)
            if pat.startswith("experiment_state"):
                obj = json.loads(data)
                if not isinstance(obj, dict) or "trial_data" not in obj or "runner_data" not in obj:
                    raise ValueError("not an experiment state (no trial_data/runner_data)")
                return obj
            return cloudpickle.loads(data)

        try:
            loaded[pattern] = load(path)
            continue
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
        prev = f"{path}.prev"
        try:
            if fname + ".prev" not in names:
                raise FileNotFoundError(prev)
            loaded[pattern] = load(prev)
        except Exception:
            raise ConfigError(
                f"experiment {store.url_of(name)}: state file {fname} cannot be read ({why[:200]}) and no earlier "
                "valid snapshot exists; start afresh with overwrite=True (--overwrite)"
            ) from None
        log.warning(
            "experiment %s: %s is corrupt (%s); falling back to the previous snapshot", exp, fname, why
        )
        store.write_bytes(path, store.read_bytes(prev))
        done["fallbacks"].append(fname)
    state = loaded.get(_STATE_FILES[0])
    gen = loaded.get(_STATE_FILES[1])
    opt = loaded.get(_STATE_FILES[2])
    if state is None or not isinstance(gen, dict):
        return done
    statuses = {}
    for trial_json, _meta in state["trial_data"]:
        t = json.loads(trial_json)
        statuses[str(t["trial_id"])] = str(t.get("status", ""))
    again = {tid for tid, st in statuses.items() if st != "TERMINATED"}
    dropped: set[str] = set()
    if isinstance(opt, dict) and isinstance(opt.get("_ot_trials"), dict):
        # a trial to run again that Optuna does not hold as running (never asked, or already told) would fail
        # on its first report: drop it (it had not finished); the searcher suggests a new trial in its place
        open_trials = set(opt["_ot_trials"]) - set(opt.get("_completed_trials") or ())
        dropped = again - open_trials
        again -= dropped
    if dropped:
        state["trial_data"] = [
            td for td in state["trial_data"] if str(json.loads(td[0])["trial_id"]) not in dropped
        ]
        fname = _newest(names, _STATE_FILES[0])
        store.write_bytes(f"{exp}/{fname}", json.dumps(state).encode())
        log.warning(
            "experiment %s: unfinished trials %s unknown to the searcher are dropped", exp, sorted(dropped)
        )
    done["dropped"] = sorted(dropped)
    changed = False
    lim = gen.get("name:ConcurrencyLimiter")
    if isinstance(lim, dict) and "live_trials" in lim:
        # the trials the limiter waits for are exactly those that will run again (one it waits for that never
        # runs would block the search forever; one it does not know would never be told to the searcher)
        live = again if isinstance(opt, dict) else set(lim["live_trials"]) & again
        if live != set(lim["live_trials"]):
            lim["live_trials"] = set(live)
            lim["num_unfinished_live_trials"] = len(live)
            changed = True
        done["live_trials"] = sorted(live)
    n_trials = len(statuses) - len(dropped)
    if "counter" in gen and gen["counter"] != n_trials:
        gen["counter"] = n_trials
        changed = True
    done["counter"] = gen.get("counter")
    if changed:
        fname = _newest(names, _STATE_FILES[1])
        store.write_bytes(f"{exp}/{fname}", cloudpickle.dumps(gen))
    return done


def search_space(
    spec: StrategySpec,
    overrides: Mapping[str, Sequence[float]] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> dict[str, ParamSpace]:
    """The ParamSpaces searched: the spec's, narrowed by ``overrides`` ``name -> (low, high[, step])``, minus
    ``fixed`` parameters. Malformed entries raise naming the parameter, the value and the rule."""
    overrides = dict(overrides or {})
    fixed = dict(fixed or {})
    unknown = sorted((set(overrides) | set(fixed)) - set(spec.params))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {unknown} for strategy {spec.name!r}; valid: {list(spec.params) or 'none'}"
        )
    both = sorted(set(overrides) & set(fixed))
    if both:
        raise ParameterError(f"parameter(s) {both} are both searched and fixed")
    for k, v in fixed.items():
        spec.params[k].coerce(k, v, strategy=spec.name)
    out: dict[str, ParamSpace] = {}
    for name, base in spec.params.items():
        if name in fixed:
            continue
        if name not in overrides:
            out[name] = base
            continue
        rng = overrides[name]
        if isinstance(rng, str) or not isinstance(rng, Sequence) or len(rng) not in (2, 3):
            raise ParameterError(
                f"search space of `{name}` must be (low, high) or (low, high, step), got {rng!r}"
            )
        try:
            lo, hi = float(rng[0]), float(rng[1])
            step = float(rng[2]) if len(rng) == 3 else base.step
        except (TypeError, ValueError):
            raise ParameterError(f"search space of `{name}`: {rng!r} must hold numbers") from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise ParameterError(
                f"search space of `{name}`: `low <= high` must hold, got low={lo:g}, high={hi:g}"
            )
        if lo < base.low or hi > base.high:
            raise ParameterError(
                f"search space of `{name}`: [{lo:g}, {hi:g}] leaves the strategy's space [{base.low:g}, {base.high:g}]"
            )
        if step is not None and not step > 0:
            raise ParameterError(f"search space of `{name}`: step must be > 0, got {step:g}")
        if base.kind == "int" and (
            lo != int(lo) or hi != int(hi) or (step is not None and step != int(step))
        ):
            raise ParameterError(f"search space of `{name}` is an integer space, got {rng!r}")
        out[name] = ParamSpace(
            kind=base.kind,
            low=lo,
            high=hi,
            default=min(max(base.default, lo), hi),
            step=step,
            log=base.log,
            doc=base.doc,
        )
    if not out:
        raise ParameterError(f"nothing to search: every parameter of strategy {spec.name!r} is fixed")
    _check_feasible(spec, out, fixed)
    return out


def _check_feasible(spec: StrategySpec, space: Mapping[str, ParamSpace], fixed: Mapping[str, Any]) -> None:
    """Refuse a space none of whose points the strategy accepts (``--param fast=60 --space slow=10:50`` under
    fast < slow: every trial would be invalid). Looks at up to 2,000 grid points (all of them, or a seeded
    sample) and stops at the first valid one."""
    import itertools
    import random

    grids = [sp.grid() for sp in space.values()]
    total = math.prod(len(g) for g in grids)
    if total <= 2000:
        points: Any = itertools.product(*grids)
    else:
        rng = random.Random(0)
        points = ([rng.choice(g) for g in grids] for _ in range(2000))
    first: str | None = None
    for point in points:
        try:
            spec.validate_params({**fixed, **dict(zip(space, point, strict=True))})
            return
        except ParameterError as exc:
            first = first or str(exc)
    raise ParameterError(
        f"no point of the search space satisfies strategy {spec.name!r}'s constraints "
        f"({min(total, 2000)} grid points tried; e.g. {first}): every trial would be invalid"
    )


def tune_param_space(
    space: Mapping[str, ParamSpace], searcher: str, stepped: Sequence[str] = ()
) -> dict[str, Any]:
    """Tune's param_space: an integer (on its step, 1 unless given) and a float named in ``stepped`` (its
    range gave a step, e.g. ``k=1:3:0.5``) are searched as a step index ``<name>__i``, so that every suggestion
    lands on the grid; any other float continuously, uniformly (log-uniformly if ``log``), since the spec's
    float steps are only its default grid resolution; grid as ``grid_search``."""
    from ray import tune

    ps: dict[str, Any] = {}
    for name, sp in space.items():
        if searcher == "grid":
            ps[name] = tune.grid_search(sp.grid())
        elif sp.kind == "int" or (name in stepped and sp.step is not None):
            ps[f"{name}__i"] = tune.randint(0, _grid_count(sp))
        elif sp.log and sp.low > 0:
            ps[name] = tune.loguniform(sp.low, sp.high)
        else:
            ps[name] = tune.uniform(sp.low, sp.high)
    return ps


def _explicit_steps(overrides: Mapping[str, Any]) -> list[str]:
    """The parameters whose search range gives its own step (``LOW:HIGH:STEP`` or a 3-item list)."""
    return [name for name, rng in overrides.items() if len(rng) == 3]  # validated by search_space


def _grid_count(sp: ParamSpace) -> int:
    step = sp.step or 1
    return math.floor((sp.high - sp.low) / step + 1e-9) + 1


def _grid_value(sp: ParamSpace, i: Any) -> int | float:
    """The ``i``-th point of a stepped space (as :meth:`ParamSpace.grid` spells it)."""
    v = sp.low + int(i) * (sp.step or 1)
    return round(v) if sp.kind == "int" else float(round(v, 12))


def decode(
    config: Mapping[str, Any], space: Mapping[str, ParamSpace], fixed: Mapping[str, Any]
) -> dict[str, Any]:
    """A Tune config back to strategy parameters."""
    out = dict(fixed)
    for name, sp in space.items():
        if f"{name}__i" in config:
            out[name] = _grid_value(sp, config[f"{name}__i"])
        else:
            v = config[name]
            out[name] = int(v) if sp.kind == "int" else float(v)
    return out


@dataclass(frozen=True)
class TrialData:
    """What every trial needs (passed once through ``tune.with_parameters``)."""

    strategy: StrategySpec
    arrays: dict[str, Any]
    folds: dict[str, np.ndarray]
    space: dict[str, ParamSpace]
    fixed: dict[str, Any]
    execution: ExecutionConfig
    periods_per_year: float
    bars_per_day: float
    objectives: tuple[tuple[str, str], ...]
    min_trades: float


def fold_scores(data: TrialData, params: Mapping[str, Any], fold: int) -> dict[str, float]:
    """Per-symbol-averaged metrics of ``params`` on fold ``fold`` (pure; used by the trainable and tests). A
    symbol without an entry in the fold scores Sharpe, Sortino and Calmar 0 (a flat book), not "undefined"."""
    from quantray.research._common import window_simulations

    rows = []
    for sym, arrays in data.arrays.items():
        s, e = data.folds[sym][fold]
        m, _ = window_simulations(
            data.strategy,
            arrays,
            [params],
            int(s),
            int(e),
            data.execution,
            data.periods_per_year,
            data.bars_per_day,
        )
        rows.append(m[0])
    mat = np.array(rows)
    # a symbol that made no entry in the fold held cash: its book earned 0 per unit of risk, so its undefined
    # Sharpe/Sortino/Calmar (no variance, no drawdown) count as 0 in the average. Dropping them (nanmean) let a
    # configuration that trades one symbol of twenty once score that one trade's Sharpe. Win rate and profit
    # factor stay averaged over the symbols that traded: they describe trades, and an idle symbol has none.
    idle = mat[:, _IDX["num_trades"]] == 0
    for name in ("sharpe", "sortino", "calmar"):
        col = mat[:, _IDX[name]]
        col[idle & ~np.isfinite(col)] = 0.0
    out = {}
    for name in METRIC_NAMES:
        col = mat[:, _IDX[name]]
        out[name] = float(np.nanmean(col)) if np.isfinite(col).any() else float("nan")
    if not math.isfinite(out["sharpe"]):
        out["sharpe"] = 0.0
    return out


def _trainable(config: dict[str, Any], data: TrialData) -> None:
    from ray import tune

    t0 = time.perf_counter()
    objectives = data.objectives
    try:
        params = data.strategy.validate_params(decode(config, data.space, data.fixed))
    except ParameterError as exc:
        bad = {m: (INVALID_SCORE if mode == "max" else -INVALID_SCORE) for m, mode in objectives}
        tune.report(
            {
                **bad,
                "score": bad[objectives[0][0]],
                "fold": 1,
                "valid": False,
                "error": str(exc),
                "done_folds": 1,
                "work_s": time.perf_counter() - t0,
            }
        )
        return
    sums: dict[str, float] = {}
    n_folds = len(next(iter(data.folds.values())))
    for i in range(n_folds):
        sc = fold_scores(data, params, i)
        for name, v in sc.items():
            sums[name] = sums.get(name, 0.0) + (v if math.isfinite(v) else 0.0)
        means = {name: s / (i + 1) for name, s in sums.items()}
        # trading enough is judged on all the folds: a slow configuration with no entry in the first fold yet
        # reported INVALID there, and ASHA stopped it at its first rung (and it left the DSR's count and PBO).
        # Until the last fold the running mean is reported (an idle symbol scoring a flat 0, fold_scores).
        last = i + 1 == n_folds
        valid = (means["num_trades"] >= data.min_trades and means["num_trades"] > 0.0) if last else True
        report = {
            m: (means[m] if valid else (INVALID_SCORE if mode == "max" else -INVALID_SCORE))
            for m, mode in objectives
        }
        for m in ("sharpe", "max_drawdown", "total_return", "num_trades"):
            report.setdefault(m, means[m])
        report.update(
            score=report[objectives[0][0]],
            fold=i + 1,
            valid=valid,
            done_folds=i + 1,
            work_s=time.perf_counter() - t0,
            **{f"param_{k}": v for k, v in params.items()},
        )
        tune.report(report)


@dataclass(frozen=True)
class TuneResult:
    """Results of :func:`tune`.

    Attributes:
        trials: one row per trial: ``trial_id``, the parameters, the objective metric(s) (mean over folds),
            ``folds`` reported (fewer when ASHA stopped it early), ``valid``, ``work_s`` (seconds of evaluation
            work in the trial).
        best: the best parameters (single objective) or None.
        best_score: its objective.
        pareto: the Pareto front (multi-objective), else an empty frame.
        holdout: the best parameters' holdout metrics (``bars``, ``sharpe``, ``mean_return`` annualised,
            ``max_drawdown``, ``total_return``, ``num_trades`` summed over symbols, ``dsr`` deflated for the
            trials run), ``pbo`` of the search's choice among its ``n_configs`` distinct valid configurations
            (see :func:`tune`), ``n_trials``; {} without a holdout or a single best (multi-objective).
        path: the experiment directory (local path or s3:// URL), for ``resume``.
        restored: whether this call resumed an earlier run.
        elapsed_s: wall time of the call.
        symbols: the symbols every trial evaluated.
        interrupted: the search stopped before all its trials finished (Ctrl-C / SIGINT, or SIGUSR1, which Tune
            turns into a clean stop): ``trials`` holds the finished ones only, the best is the best of those, and
            :func:`register_tuned` refuses it; ``tune(..., resume=True)`` finishes it.
        expected_trials: trials the search runs when it is not interrupted (``num_samples``, or the grid's size).
    """

    trials: pd.DataFrame
    best: dict[str, Any] | None
    best_score: float | None
    pareto: pd.DataFrame
    holdout: dict[str, Any]
    path: str
    restored: bool
    elapsed_s: float
    symbols: list[str] = field(default_factory=list)
    interrupted: bool = False
    expected_trials: int = 0


def _unfinished(grid: Any) -> set[str]:
    """Ids of the trials Tune left unfinished (neither terminated nor errored: running or pending when the
    experiment was stopped), from the grid's ExperimentAnalysis, as ResultGrid's own ``num_terminated`` reads it."""
    return {
        str(t.trial_id) for t in grid._experiment_analysis.trials if t.status not in ("TERMINATED", "ERROR")
    }


def pareto_front(df: pd.DataFrame, objectives: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Rows of ``df`` not dominated on ``objectives`` (``(column, "max"|"min")``), in the order they appear."""
    vals = np.column_stack(
        [df[m].to_numpy(float) * (1.0 if mode == "max" else -1.0) for m, mode in objectives]
    )
    keep = []
    for i in range(len(vals)):
        vi = vals[i]
        if not np.isfinite(vi).all():
            continue
        dominated = np.any(np.all(vals >= vi, axis=1) & np.any(vals > vi, axis=1))
        if not dominated:
            keep.append(i)
    return df.iloc[keep].reset_index(drop=True)


def _split_folds(n: int, folds: int, holdout: float, symbol: str = "") -> tuple[np.ndarray, int]:
    hs = round(n * (1.0 - holdout))
    of = f"{symbol}: " if symbol else ""
    if hs < 2 * folds:
        raise ParameterError(
            f"{of}{n} bars are too few for {folds} folds (`folds`, --folds) with a {holdout:g} holdout"
        )
    if holdout > 0 and n - hs < 2:
        raise ParameterError(
            f"{of}a {holdout:g} holdout (`holdout`, --holdout) of {n} bars leaves {n - hs} bar(s) to validate "
            "on; at least 2 are needed"
        )
    edges = np.linspace(0, hs, folds + 1).round().astype(np.int64)
    return np.stack([edges[:-1], edges[1:]], axis=1), hs


def tune(
    data: Any,
    config: SearchConfig,
    *,
    symbols: Sequence[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
) -> TuneResult:
    """Search ``config.strategy``'s parameters on Ray Tune (see the module docstring for the objective).

    Args:
        data: path/URL, DataFrame of bars, Panel, or (mapping of) bar arrays.
        config: the search (see :class:`SearchConfig`).
        symbols: restrict to these symbols (every trial evaluates all of them on every fold).
        resume: continue the experiment stored at ``storage/name`` (``Tuner.restore``): finished trials are
            kept, unfinished ones run again, the searcher continues where it stopped.
        overwrite: start afresh even if the experiment exists (else an existing one without ``resume`` is an
            error, so results are never silently mixed).
        address, num_cpus: the Ray cluster to use when this process is not connected yet (see
            :func:`quantray.dist.connect`); connected only after the data and the folds are checked.

    Example:
        >>> from quantray.data import sample_path
        >>> cfg = SearchConfig(strategy="sma_cross", space={"fast": (5, 20, 5), "slow": (50, 100, 50)},
        ...                    searcher="grid", scheduler="none", storage_path="/tmp/qr-doctest-tune")
        >>> res = tune(sample_path(), cfg, symbols=["MSFT"], overwrite=True)  # doctest: +SKIP
    """
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    from ray import tune as rt
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from quantray.dist import connect
    from quantray.research._common import common_bars, load_symbols

    t0 = time.perf_counter()
    spec = get_strategy(config.strategy)
    space = search_space(spec, config.space, config.fixed)
    sd = load_symbols(data, symbols)
    arrays, folds, hstart = {}, {}, {}
    for sym, a in sd.arrays.items():
        f, hs = _split_folds(a[4].size, config.folds, config.holdout, sym)
        arrays[sym], folds[sym], hstart[sym] = a, f, hs
    # symbols whose holdout or search segments share no date: refused before the search
    if config.holdout > 0:
        ts = {s: a[0] for s, a in arrays.items()}
        common_bars(ts, hstart, {s: a[4].size for s, a in arrays.items()}, what="tune holdout")
        common_bars(ts, dict.fromkeys(arrays, 0), hstart, what="tune search")
    objectives = config.objectives_or_metric()
    tdata = TrialData(
        spec,
        arrays,
        folds,
        space,
        dict(config.fixed),
        config.execution,
        sd.periods_per_year,
        sd.bars_per_day,
        objectives,
        float(config.min_trades),
    )
    name = config.experiment_name
    store = experiment_store(config.storage, config.storage_options)
    path = store.url_of(name)
    fs_path = store.path(name)
    try:
        exists = rt.Tuner.can_restore(fs_path, storage_filesystem=store.fs)
    except OSError as exc:  # an unreachable endpoint, denied credentials, a missing bucket
        raise ConfigError(f"tune storage {path}: cannot be read: {str(exc).splitlines()[0][:300]}") from None
    if resume and overwrite:
        raise ConfigError(
            "resume and overwrite exclude each other: --resume continues an experiment, --overwrite deletes it"
        )
    if resume and not exists:
        # a mistyped --name must not start a new search under the wrong name
        known = [n for n in store.listdir(store.root) if not n.startswith(".")][:20]
        raise ConfigError(
            f"resume: no experiment {name!r} under {store.url} ("
            + (f"experiments there: {', '.join(known)}" if known else "nothing there yet")
            + "); check --storage and --name, or drop --resume to start it"
        )
    connect(address, num_cpus=num_cpus)
    trainable = rt.with_parameters(_trainable, data=tdata)
    metric_names = [m for m, _ in objectives]
    modes = [mode for _, mode in objectives]
    run_cfg = rt.RunConfig(
        name=name,
        storage_path=store.root,
        storage_filesystem=store.fs,
        verbose=0,
        failure_config=rt.FailureConfig(max_failures=2),
        callbacks=_logger_callbacks(config.tensorboard),
    )
    restored = False
    fingerprint = _fingerprint(config, sorted(sd.arrays))
    if resume and exists:
        _check_fingerprint(store, fs_path, path, fingerprint)
        repair_experiment_state(store, name)
        tuner = rt.Tuner.restore(
            fs_path,
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=True,
            storage_filesystem=store.fs,
        )
        restored = True
    else:
        if exists and not overwrite:
            raise ConfigError(
                f"experiment {path} exists: pass resume=True (--resume) to continue it or overwrite=True "
                "(--overwrite) to start afresh"
            )
        if exists and overwrite:
            store.fs.delete_dir(fs_path)
        store.fs.create_dir(fs_path, recursive=True)
        store.write_bytes(f"{fs_path}/{_FINGERPRINT}", json.dumps(fingerprint, sort_keys=True).encode())
        multi = len(objectives) > 1
        if config.searcher == "optuna":
            from optuna.samplers import TPESampler
            from ray.tune.search.optuna import OptunaSearch

            alg: Any = OptunaSearch(
                metric=metric_names if multi else metric_names[0],
                mode=modes if multi else modes[0],
                sampler=TPESampler(seed=config.seed, multivariate=True),
            )
        else:
            alg = BasicVariantGenerator(random_state=config.seed, max_concurrent=config.max_concurrent)
        if config.searcher == "optuna":
            from ray.tune.search import ConcurrencyLimiter

            alg = ConcurrencyLimiter(alg, max_concurrent=config.max_concurrent)
        sched = None
        if config.scheduler == "asha" and not multi and config.folds > 1:
            sched = ASHAScheduler(time_attr="fold", max_t=config.folds, grace_period=1, reduction_factor=2)
        tcfg = rt.TuneConfig(
            metric=None if multi else metric_names[0],
            mode=None if multi else modes[0],
            search_alg=alg,
            scheduler=sched,
            num_samples=1 if config.searcher == "grid" else config.num_samples,
            # the limit is the searcher's own (BasicVariantGenerator's max_concurrent, or the ConcurrencyLimiter):
            # Tune ignores max_concurrent_trials for a SearchGenerator, with a warning on every run
            max_concurrent_trials=None,
            reuse_actors=True,
        )
        tuner = rt.Tuner(
            trainable,
            param_space=tune_param_space(space, config.searcher, _explicit_steps(config.space)),
            tune_config=tcfg,
            run_config=run_cfg,
        )
    with _snapshot_period(config.snapshot_s), _env("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"):
        grid = tuner.fit()
    expected = (
        math.prod(len(sp.grid()) for sp in space.values())
        if config.searcher == "grid"
        else config.num_samples
    )
    unfinished = _unfinished(grid)
    trials = _trials_frame(grid, space, objectives)
    # a stopped search: the trials in flight run again on resume, so they are not results (one showed folds=0)
    # (and a trial that reported no fold: stopped before its first, its parameters unknown to the table)
    trials = trials[~trials["trial_id"].astype(str).isin(unfinished) & (trials["folds"] > 0)].reset_index(
        drop=True
    )
    interrupted = bool(unfinished) or len(grid) < expected
    best: dict[str, Any] | None = None
    best_score: float | None = None
    pareto = pd.DataFrame()
    holdout: dict[str, Any] = {}
    if len(objectives) > 1:
        pareto = pareto_front(trials[trials["valid"]], objectives) if len(trials) else pareto
        _write_table(store, pareto, f"{fs_path}/pareto.csv")
    elif len(trials) and trials["valid"].astype(bool).any():  # no valid trial: no best (nothing to register)
        m, mode = objectives[0]
        valid = trials[trials["valid"].astype(bool)]
        full = valid[valid["folds"] == config.folds]
        pool = full if len(full) else valid
        vals = pool[m].to_numpy(float) * (1.0 if mode == "max" else -1.0)
        row = pool.iloc[int(np.nanargmax(np.where(np.isfinite(vals), vals, -np.inf)))]
        best = spec.validate_params(_row_params(row, space, config.fixed))
        best_score = float(row[m])
        if config.holdout > 0:
            holdout = _holdout(spec, best, sd, hstart, config, trials, space)
    _write_table(store, trials, f"{fs_path}/trials.csv")
    return TuneResult(
        trials=trials,
        best=best,
        best_score=best_score,
        pareto=pareto,
        holdout=holdout,
        path=path,
        restored=restored,
        elapsed_s=time.perf_counter() - t0,
        symbols=sorted(sd.arrays),
        interrupted=interrupted,
        expected_trials=int(expected),
    )


def check_registrable(config: SearchConfig, name: str, registry: str | None = None) -> None:
    """Refuse, before a search runs, a registration it could not make: a multi-objective search (a Pareto front,
    no single best), no holdout (nothing to validate on), a name already in the registry."""
    from quantray.search._lifecycle import Registry, check_registry, registry_file
    from quantray.strategies import list_strategies

    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"register: the candidate's name must be a non-empty string, got {name!r}")
    if any(sp.name == name for sp in list_strategies()):
        raise ConfigError(
            f"register {name!r}: that is a strategy's name (looking it up would find the strategy, not the "
            "candidate); choose another"
        )
    if len(config.objectives_or_metric()) > 1:
        raise ConfigError(
            f"register {name!r}: a multi-objective search has a Pareto front, not one best to register"
        )
    if config.holdout <= 0:
        raise ConfigError(
            f"register {name!r} needs a holdout (`holdout` > 0, --holdout): the validation gates are measured on it"
        )
    url = check_registry(registry)  # creates nothing
    path = registry_file(url)
    if path is not None and not path.exists():
        return  # nothing registered yet
    with Registry(url) as reg:
        if name in reg:
            raise ConfigError(f"register {name!r}: the name is already in the registry {reg.url}")


def register_tuned(result: TuneResult, config: SearchConfig, name: str, registry: str | None = None) -> bool:
    """Add a search's best configuration to the lifecycle registry as a ``candidate`` (source ``tune``) with
    :func:`tune_candidate_metrics`; False (nothing written) when the search has no best (every trial invalid)."""
    from quantray.search._lifecycle import Registry

    if result.interrupted:
        raise ConfigError(
            f"register {name!r}: the search was interrupted after {len(result.trials)} of {result.expected_trials} "
            f"trials; its best is not the search's best. Finish it first (--resume), then register"
        )
    if result.best is None:
        return False
    metrics = tune_candidate_metrics(
        result.holdout, symbols=sorted(result.symbols), execution=dataclasses.asdict(config.execution)
    )
    with Registry(registry) as reg:
        reg.add_candidate(
            name,
            strategy=config.strategy,
            params=result.best,
            metrics=metrics,
            source="tune",
            reason=f"best of {len(result.trials)} trials ({config.searcher}, {config.experiment_name})",
        )
    return True


def tune_candidate_metrics(
    holdout: Mapping[str, Any], *, symbols: Sequence[str], execution: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The lifecycle registry's metrics for a tuned configuration, from :attr:`TuneResult.holdout`: the
    out-of-sample statistics under the names the validation gates and the monitor read (``oos_sharpe``,
    ``oos_mean_return``, ``oos_max_drawdown``, ``oos_total_return``, ``oos_trades``, ``dsr``, ``pbo``),
    ``n_trials``, ``n_configs``, ``holdout_bars``, the ``symbols`` and the ``execution`` costs they were measured
    with (what ``strategies monitor`` judges it under unless told otherwise)."""
    if not holdout:
        raise ConfigError("a tuned configuration without holdout metrics cannot be registered (holdout = 0)")
    return {
        "oos_sharpe": holdout["sharpe"],
        "oos_mean_return": holdout["mean_return"],
        "oos_max_drawdown": holdout["max_drawdown"],
        "oos_total_return": holdout["total_return"],
        "oos_trades": holdout["num_trades"],
        "dsr": holdout["dsr"],
        "pbo": holdout["pbo"],
        "n_trials": holdout["n_trials"],
        "n_configs": holdout["n_configs"],
        "holdout_bars": holdout["bars"],
        "pbo_metric": holdout.get("pbo_metric", "sharpe"),
        "symbols": list(symbols),
        "execution": dict(execution) if execution else None,
        "periods_per_year": holdout.get("periods_per_year"),
    }


def _pbo_metric(objective: str) -> Literal["sharpe", "mean"]:
    """CSCV ranks configurations by Sharpe, or by mean return for a return objective (total_return, cagr);
    path metrics (drawdown, win rate...) have no per-block form, so they are ranked by Sharpe."""
    return "mean" if objective in ("total_return", "cagr") else "sharpe"


#: Memory a PBO trial matrix may take (bytes); a longer one compounds consecutive bars into each row.
PBO_MATRIX_BYTES = 256 << 20


def search_matrix(
    spec: StrategySpec,
    arrays: Mapping[str, Any],
    sets: Sequence[Mapping[str, Any]],
    hstart: Mapping[str, int],
    execution: ExecutionConfig,
    periods_per_year: float,
    bars_per_day: float = 1.0,
    budget: int = PBO_MATRIX_BYTES,
) -> tuple[np.ndarray, int]:
    """The T x N trial matrix of PBO over the search segment: column j holds ``sets[j]``'s per-bar returns on each
    symbol's bars ``[0, hstart)`` (simulated from flat), averaged over symbols on the bars they share (matched by
    timestamp, :func:`common_bars`; a symbol's returns on bars another lacks compound into its next shared bar,
    :func:`shared_returns`). Returns ``(matrix, k)``: when the matrix would exceed ``budget`` bytes, each
    row compounds ``k`` consecutive shared bars (the oldest ``T mod k`` dropped), and configurations are
    simulated a chunk at a time, so memory stays bounded (1,000,000 hourly bars x 200 configurations would be
    1.6 GB a symbol)."""
    from quantray.research._common import common_bars, shared_returns, window_simulations
    from quantray.research._kernels import equity_returns

    n = len(sets)
    cb = common_bars(
        {s: a[0] for s, a in arrays.items()}, dict.fromkeys(arrays, 0), hstart, what="tune search"
    )
    slen = cb.ts.size
    k = max(1, math.ceil(slen * n * 8 / budget))
    rows = slen // k
    chunk = max(1, budget // (4 * 8 * max(hstart.values())))  # a chunk takes ~4 arrays of its equity size
    total = np.zeros((rows, n))
    for sym, a in arrays.items():
        for j in range(0, n, chunk):
            part = list(sets[j : j + chunk])
            _m, eq = window_simulations(
                spec, a, part, 0, int(hstart[sym]), execution, float(periods_per_year), bars_per_day
            )
            r = shared_returns(np.asarray(equity_returns(eq, execution.init_cash)), cb.pos[sym])[
                slen - rows * k :
            ]
            if k > 1:
                r = np.prod(1.0 + r.reshape(rows, k, len(part)), axis=1) - 1.0
            total[:, j : j + len(part)] += r
    return total / len(arrays), k


def _row_params(row: Any, space: Mapping[str, ParamSpace], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The parameter set of one row of the trials table: the searched values typed as their space, the fixed."""
    out = {k: int(row[k]) if sp.kind == "int" else float(row[k]) for k, sp in space.items()}
    return {**out, **dict(fixed)}


#: The settings an experiment was started with (a resume with other settings would mix two searches).
_FINGERPRINT = "quantray_search.json"


def _fingerprint(config: SearchConfig, symbols: Sequence[str]) -> dict[str, Any]:
    """What defines a search: a resume must ask for the same (storage, concurrency and logging may change)."""
    return {
        "strategy": config.strategy,
        "symbols": list(symbols),
        "space": {k: [float(x) for x in v] for k, v in sorted(config.space.items())},
        "fixed": {k: float(v) for k, v in sorted(config.fixed.items())},
        "searcher": config.searcher,
        "objectives": [list(o) for o in config.objectives_or_metric()],
        "scheduler": config.scheduler,
        "num_samples": int(config.num_samples),
        "folds": int(config.folds),
        "holdout": float(config.holdout),
        "seed": int(config.seed),
        "min_trades": float(config.min_trades),
        "execution": {k: (v if isinstance(v, str | int | float | bool) or v is None else repr(v))
                      for k, v in sorted(dataclasses.asdict(config.execution).items())},
    }  # fmt: skip


def _check_fingerprint(store: ExperimentStore, fs_path: str, path: str, want: dict[str, Any]) -> None:
    """Refuse to resume an experiment started with other settings (nothing is written)."""
    f = f"{fs_path}/{_FINGERPRINT}"
    if not store.exists(f):
        return  # started before the settings were recorded: nothing to compare
    have = json.loads(store.read_bytes(f))
    diff = [f"{k}: stored {have.get(k)!r}, asked {v!r}" for k, v in want.items() if have.get(k) != v]
    if diff:
        raise ConfigError(
            f"experiment {path} was started with other settings; resuming would mix two searches ("
            + "; ".join(diff)
            + "): resume with the same settings, or start afresh with --overwrite or another --name"
        )


def _logger_callbacks(tensorboard: bool) -> list[Any]:
    """The per-trial loggers: JSON and CSV always (results and resume read them), TensorBoard on request.
    Tune would add all three by itself; :func:`tune` turns that off (``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``)
    and passes these."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback

    out: list[Any] = [JsonLoggerCallback(), CSVLoggerCallback()]
    if tensorboard:
        out.append(TBXLoggerCallback())
    return out


@contextlib.contextmanager
def _env(key: str, value: str) -> Any:
    """Set an environment variable for the duration of the block (restoring what was there)."""
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@contextlib.contextmanager
def _snapshot_period(seconds: float | None) -> Any:
    """Tune reads its experiment-snapshot period from ``TUNE_GLOBAL_CHECKPOINT_S`` when the run starts; set it
    for this run unless the environment already does (or ``seconds`` is None: Tune's adaptive period)."""
    key = "TUNE_GLOBAL_CHECKPOINT_S"
    if seconds is None or key in os.environ:
        yield
        return
    with _env(key, repr(float(seconds))):
        yield


def _write_table(store: ExperimentStore, df: pd.DataFrame, fs_path: str) -> None:
    store.write_bytes(fs_path, df.to_csv(index=False).encode())


def _trials_frame(
    grid: Any, space: Mapping[str, ParamSpace], objectives: Sequence[tuple[str, str]]
) -> pd.DataFrame:
    rows = []
    for res in grid:
        m = res.metrics or {}
        if not m:
            continue
        row: dict[str, Any] = {"trial_id": m.get("trial_id")}
        for name in space:
            row[name] = m.get(f"param_{name}")
            if row[name] is None:  # an invalid set reports no parameters: decode the config
                cfg = res.config or {}
                sp = space[name]
                row[name] = _grid_value(sp, cfg[f"{name}__i"]) if f"{name}__i" in cfg else cfg.get(name)
        for mname, _ in objectives:
            row[mname] = m.get(mname)
        for extra in ("sharpe", "max_drawdown", "total_return", "num_trades"):
            row.setdefault(extra, m.get(extra))
        row["folds"] = int(m.get("done_folds", 0))
        row["valid"] = bool(m.get("valid", False))
        row["work_s"] = float(m.get("work_s", float("nan")))
        rows.append(row)
    cols = [
        "trial_id",
        *space,
        *dict.fromkeys([o for o, _ in objectives] + ["sharpe", "max_drawdown", "total_return", "num_trades"]),
        "folds",
        "valid",
        "work_s",
    ]
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values("trial_id", kind="mergesort").reset_index(drop=True)


def _holdout(
    spec: StrategySpec,
    params: Mapping[str, Any],
    sd: Any,
    hstart: Mapping[str, int],
    config: SearchConfig,
    trials: pd.DataFrame,
    space: Mapping[str, ParamSpace],
) -> dict[str, Any]:
    """The best parameters on the holdout, and the selection's overfitting statistics.

    Holdout: the bars every symbol has after its own ``hstart`` (matched by timestamp, :func:`common_bars`; a
    symbol is simulated from the first shared bar, signals warmed up on the history before it, starting flat in
    cash), returns averaged over symbols; trades summed over the same bars. DSR deflates its Sharpe for the trials
    run: N (``n_trials``) the distinct valid configurations, the variance of their Sharpes over the ``n_full``
    that ran every fold. PBO (CSCV, ranking by Sharpe) is over the same configurations: the matrix of their
    returns over the search segment (:func:`search_matrix`), so a candidate registered from a search carries the
    statistics the validation gates need. ``trials_run`` counts every trial, repeats and invalid ones included."""
    from quantray.engine import max_drawdown, sharpe_ratio
    from quantray.research import deflated_sharpe_ratio, probability_of_backtest_overfitting
    from quantray.research._common import holdout_matrix

    ppy = sd.periods_per_year
    R, n_trades = holdout_matrix(
        sd.arrays, [(spec, params)], hstart, config.execution, ppy, sd.bars_per_day, what="tune holdout"
    )
    r, trades, length = R[:, 0], int(n_trades[0]), R.shape[0]
    # the search's distinct valid configurations (a searcher may propose one twice: one trial, not two), each
    # with its trial that ran the most folds
    sets: list[dict[str, Any]] = []
    scored: dict[str, tuple[int, float]] = {}
    for _, row in trials[trials["valid"]].iterrows():
        try:
            p = spec.validate_params(_row_params(row, space, config.fixed))
        except (ParameterError, TypeError, ValueError):
            continue
        key = json.dumps(p, sort_keys=True, default=str)
        if key not in scored:
            sets.append(p)
        folds, sharpe = int(row["folds"]), float(row["sharpe"])
        if key not in scored or folds > scored[key][0]:
            scored[key] = (folds, sharpe)
    # DSR: N = the distinct configurations tried (those ASHA stopped early included: they were tried and
    # dropped on their scores); the variance of their Sharpes over those that ran every fold, whose scores are
    # comparable (a 1-fold running mean is noisier, and inflated the variance: a DSR 0.935 instead of 0.962)
    full = [sr for f, sr in scored.values() if f == config.folds and math.isfinite(sr)]
    pool = full if len(full) > 1 else [sr for _f, sr in scored.values() if math.isfinite(sr)]
    var = float(np.var(pool, ddof=1)) if len(pool) > 1 else 0.0
    try:
        dsr = deflated_sharpe_ratio(r, n_trials=max(len(sets), 1), sr_variance=var, periods_per_year=ppy)
    except ParameterError:
        dsr = float("nan")
    # PBO of the search's choice: every distinct valid configuration's returns over the search segment
    # one configuration: no selection to overfit; none: nothing to say
    pbo = 0.0 if len(sets) == 1 else float("nan")
    agg = 1
    pbo_metric = _pbo_metric(config.objectives_or_metric()[0][0])
    if len(sets) >= 2:
        R, agg = search_matrix(spec, sd.arrays, sets, hstart, config.execution, ppy, sd.bars_per_day)
        S = min(16, max(2, (R.shape[0] // 4) // 2 * 2))
        with contextlib.suppress(ParameterError):
            pbo = probability_of_backtest_overfitting(
                R, n_partitions=S, metric=pbo_metric, periods_per_year=ppy / agg
            ).pbo
    return {
        "bars": int(length),
        "sharpe": float(sharpe_ratio(r, ppy)),
        "mean_return": float(r.mean() * ppy),
        "max_drawdown": float(max_drawdown(r)),
        "total_return": float(np.prod(1.0 + r) - 1.0),
        "num_trades": trades,
        "dsr": dsr,
        "pbo": pbo,
        "pbo_metric": pbo_metric,
        "pbo_bars_per_row": agg,
        "n_configs": len(sets),
        "n_trials": len(sets),
        "n_full": len(full),
        "trials_run": len(trials),
        "periods_per_year": float(ppy),
    }
