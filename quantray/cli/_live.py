"""``quantray stream run|replay|replay-server``: live market state on Ray actors.

``stream replay --file F [--file G] [--speed max] --out DIR [--kill ACTOR:N]`` runs the whole actor graph on an
embedded local Ray against replay servers of the recordings and writes DIR/bars_1m.parquet,
DIR/book_top.parquet and DIR/pnl.parquet. ``stream replay-server --file F [--speed X] [--faults SPEC]
[--port P] [--venue binance|coinbase|alpaca]`` serves a recording over a websocket speaking that venue's protocol
(a Binance recording is rewritten into Coinbase/Alpaca messages). ``stream run --config live.yaml``
runs a graph from a config until interrupted (or ``--seconds``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

__all__ = ["add_live_parsers"]


def _kill(texts: list[str] | None) -> list[tuple[str, int]]:
    return [_one_kill(t) for t in texts or []]


def _one_kill(text: str) -> tuple[str, int]:
    from quantray.errors import ConfigError

    name, sep, n = text.partition(":")
    if not sep or not n.isdigit() or int(n) < 1:
        raise ConfigError(
            f"--kill {text!r}: expected ACTOR:N with N >= 1 (ACTOR in feed, state, signal, portfolio)"
        )
    return name, int(n)


def _connect() -> None:
    from quantray.dist import connect

    connect(num_cpus=2, object_store_memory_mb=300)


def _cmd_replay(args: argparse.Namespace) -> int:
    from quantray.live import replay

    kill = _kill(args.kill)
    _connect()
    res = replay(
        args.file,
        out=args.out,
        speed=args.speed,
        kill=kill,
        checkpoint_url=args.checkpoint,
        fast=not args.reference,
        feed_options={"transport": args.transport} if not args.reference else None,
    )
    f = res.frames
    payload = {
        "seconds": round(res.seconds, 3),
        "ingest_seconds": round(res.run_seconds, 3),
        "messages": sum(int(s["session"]["messages"]) for s in res.feeds),
        "bars_1m": len(f["bars_1m"]),
        "book_top": len(f["book_top"]),
        "pnl": len(f["pnl"]),
        "outputs": res.paths,
        "feeds": res.feeds,
    }
    if args.json:
        print(json.dumps(payload, default=str))
    else:
        print(
            f"replayed {payload['messages']} messages in {payload['seconds']:.1f}s through the actor graph"
            f"{' (killed ' + ', '.join(f'{a} after {n}' for a, n in kill) + ' messages)' if kill else ''}: "
            f"{payload['bars_1m']} 1-min bars, "
            f"{payload['book_top']} book tops, {payload['pnl']} P&L rows"
        )
        for k, v in res.paths.items():
            print(f"{k}: {v}")
    return 0


def _venue_fixture(path: str, venue: str) -> tuple[str, str]:
    """The file to serve for a Coinbase/Alpaca server: a venue fixture as is, a Binance recording rewritten."""
    import json
    import tempfile

    from quantray.errors import DataError
    from quantray.live._files import iter_recording
    from quantray.live._venues import binance_to_venue

    first = next(iter_recording(path), None)
    if first is None:
        raise DataError(f"--file {path}: the recording is empty")
    try:
        msg = json.loads(first.raw)
    except ValueError:
        raise DataError(f"--file {path}: line 1 is not JSON: {first.raw[:80]!r}") from None
    is_venue = isinstance(msg, list) if venue == "alpaca" else isinstance(msg, dict) and "channel" in msg
    if is_venue:
        return path, "venue fixture"
    if not (first.snapshot or (isinstance(msg, dict) and ("stream" in msg or "e" in msg))):
        raise DataError(
            f"--file {path}: neither a {venue} fixture nor a Binance recording (line 1: {first.raw[:80]!r})"
        )
    out = Path(tempfile.mkdtemp(prefix="qr-venue-")) / f"{venue}.jsonl.gz"
    binance_to_venue(path, out, venue=venue)
    return str(out), f"rewritten from the Binance recording into {out}"


def _cmd_server(args: argparse.Namespace) -> int:
    import asyncio

    from quantray.errors import ConfigError
    from quantray.live import ReplayServer
    from quantray.live._venues import VenueReplayServer

    async def main() -> None:
        if args.venue == "binance":
            srv = ReplayServer(
                args.file, speed=args.speed, faults=args.faults, mode=args.mode, port=args.port
            )
            await srv.start()
            print(
                f"replay server for {args.file} ({srv.market}, {args.mode} mode) on {srv.url} "
                f"(REST {srv.rest_url}); Ctrl-C stops",
                flush=True,
            )
        else:
            path, how = _venue_fixture(args.file, args.venue)
            speed: str | float = args.speed
            if speed != "max":
                try:
                    speed = float(speed)
                except ValueError:
                    raise ConfigError(f"--speed must be 'max' or a number, got {args.speed!r}") from None
            vsrv = VenueReplayServer(path, venue=args.venue, faults=args.faults, speed=speed, port=args.port)
            await vsrv.start()
            print(
                f"{args.venue} replay server for {args.file} ({how}) on {vsrv.url}; Ctrl-C stops", flush=True
            )
        try:
            await asyncio.Future()
        finally:
            await (srv.stop() if args.venue == "binance" else vsrv.stop())

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import yaml

    from quantray.errors import ConfigError
    from quantray.live._graph import run_from_dict

    try:
        with open(args.config, encoding="utf-8") as fh:
            raw: Any = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError(f"--config {args.config}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {args.config}: invalid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {args.config}: expected a mapping")
    ray = raw.pop("ray", None) or {}  # the same section jobs.stream reads: used, not silently dropped
    valid = ["address", "num_cpus", "object_store_memory_mb"]
    if not isinstance(ray, dict) or set(ray) - set(valid):
        raise ConfigError(f"--config {args.config}: `ray` must be a mapping of {valid}, got {ray!r}")
    from quantray._sweep_config import RayConfig
    from quantray.dist import connect

    rc = RayConfig(**ray)
    connect(rc.address, num_cpus=rc.num_cpus or 2, object_store_memory_mb=rc.object_store_memory_mb or 300)
    print("live graph starting; snapshot: quantray.live.get_live_snapshot()", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        summary = run_from_dict(raw, seconds=args.seconds or None)
        print(json.dumps(summary, default=str))
    return 0


def add_live_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``stream run|replay|replay-server``."""
    p = subparsers.add_parser(
        "stream", help="live market state on Ray actors (feeds, books, bars, signals, P&L)"
    )
    sub = p.add_subparsers(dest="stream_verb", required=True, parser_class=parser_class)

    r = sub.add_parser("replay", help="replay recordings through the whole actor graph on local Ray")
    r.add_argument("--file", action="append", required=True, help="a .jsonl[.gz] recording (repeatable)")
    r.add_argument("--speed", default="max", help="'max' or a factor of real time")
    r.add_argument("--out", required=True, help="folder for bars_1m.parquet, book_top.parquet, pnl.parquet")
    r.add_argument(
        "--kill",
        action="append",
        help="ACTOR:N kills feed|state|signal|portfolio once after N messages (repeatable)",
    )
    r.add_argument("--checkpoint", help="checkpoint URL (local folder or s3://...); a temp folder by default")
    r.add_argument(
        "--transport",
        default="websockets",
        choices=["websockets", "picows"],
        help="websocket client of the feeds (picows: the fast one, see docs/live.md W7)",
    )
    r.add_argument(
        "--reference", action="store_true", help="run the record-based reference path instead of the kernels"
    )
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=_cmd_replay)

    s = sub.add_parser(
        "replay-server", help="serve a recording over a websocket (Binance, Coinbase or Alpaca protocol)"
    )
    s.add_argument("--file", required=True)
    s.add_argument(
        "--venue",
        default="binance",
        choices=["binance", "coinbase", "alpaca"],
        help="protocol to speak; a Binance recording is rewritten into Coinbase/Alpaca messages",
    )
    s.add_argument("--speed", default="max")
    s.add_argument(
        "--faults", help="e.g. drop=0.01,dup=0.01,reorder=0.01,disconnect=5000,stall=3000:0.5,seed=1"
    )
    s.add_argument("--mode", default="live", choices=["live", "session"])
    s.add_argument("--port", type=int, default=0)
    s.set_defaults(func=_cmd_server)

    u = sub.add_parser("run", help="run a live graph from a YAML config on embedded local Ray")
    u.add_argument("--config", required=True)
    u.add_argument(
        "--seconds", type=float, default=0.0, help="stop after this many seconds (0: until the end)"
    )
    u.set_defaults(func=_cmd_run)
