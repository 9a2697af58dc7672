"""``quantray serve run`` and ``quantray keys create|list|rotate|revoke`` (the Ray Serve API and its keys).

``serve run`` starts an embedded local Ray (through :func:`quantray.dist.connect`; ``RAY_ADDRESS`` attaches to a
cluster instead), deploys ``serve/app.py`` on ``--host``/``--port`` (TLS with ``--ssl-certfile``/``--ssl-keyfile``)
and stays in the foreground; Ctrl-C (or SIGTERM) shuts Serve and Ray down cleanly. ``keys`` manage the API keys
in ``$QUANTRAY_HOME/keys.json`` (default ``~/.quantray``); the key text is printed once, at creation/rotation.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["add_serve_parsers"]


def replica_env(home: str, root: Any, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the Serve replicas: the repository on ``PYTHONPATH``, ``QUANTRAY_HOME``, and every
    other ``QUANTRAY_*`` setting of ``environ`` (serve/_settings.py reads them; on a remote cluster nothing else
    carries them, so a fixed list silently dropped the ones added later).

    Example:
        >>> replica_env("/h", "/repo", {"QUANTRAY_REPORTS_ROOT": "/r", "HOME": "/root", "QUANTRAY_X": ""})
        {'PYTHONPATH': '/repo', 'QUANTRAY_HOME': '/h', 'QUANTRAY_REPORTS_ROOT': '/r'}
    """
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), environ.get("PYTHONPATH")])),
        "QUANTRAY_HOME": home,
    }
    for var, value in environ.items():
        if var.startswith("QUANTRAY_") and var != "QUANTRAY_HOME" and value:
            env[var] = value
    return env


def _repo_root() -> Path:
    """The directory holding the ``serve`` package (the repository root in a checkout or image)."""
    import quantray
    from quantray.errors import ConfigError

    for cand in (Path.cwd(), Path(quantray.__file__).resolve().parents[1]):
        if (cand / "serve" / "app.py").is_file():
            return cand
    raise ConfigError(
        "serve run: cannot find serve/app.py (run from the repository root, or install the checkout)"
    )


def _cmd_serve_run(args: argparse.Namespace) -> int:
    from quantray.errors import ConfigError

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {args.port}")
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise ConfigError("--ssl-certfile and --ssl-keyfile go together")
    for f in (args.ssl_certfile, args.ssl_keyfile):
        if f and not Path(f).is_file():
            raise ConfigError(f"TLS file {f!r} does not exist")
    root = _repo_root()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from quantray.security import quantray_home

    home = str(quantray_home())
    os.environ["QUANTRAY_HOME"] = home
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    from quantray import dist

    dist.connect(address=args.address, num_cpus=args.num_cpus)
    # after connecting: ray.init installs its own SIGTERM handler in the driver, which aborted the process and
    # left the embedded Ray's dashboard and runtime-env agents running; SIGTERM now stops like Ctrl-C
    signal.signal(signal.SIGTERM, _stop)
    from ray import serve

    scheme = "https" if args.ssl_certfile else "http"
    try:
        http: dict[str, Any] = {"host": args.host, "port": args.port}
        if args.ssl_certfile:
            http.update(
                ssl_certfile=str(Path(args.ssl_certfile).resolve()),
                ssl_keyfile=str(Path(args.ssl_keyfile).resolve()),
            )
        serve.start(http_options=http)
        import importlib

        app_mod = importlib.import_module("serve.app")

        renv = {"env_vars": replica_env(home, root, os.environ)}
        application = app_mod.compose(  # the ingress with the Signals, Reports, Models, Backtests deployments
            ingress_options={"ray_actor_options": {"num_cpus": 1, "runtime_env": renv}},
            backend_options={"ray_actor_options": {"num_cpus": 0, "runtime_env": renv}},
        )
        serve.run(application, name="quantray", route_prefix="/", blocking=False)
        print(
            f"quantray API on {scheme}://{args.host}:{args.port}/v1 (QUANTRAY_HOME={home}); Ctrl-C stops it",
            flush=True,
        )
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("quantray: stopping the API", file=sys.stderr, flush=True)
    finally:
        try:
            serve.shutdown()
        finally:
            dist.shutdown()
    print("quantray: stopped", file=sys.stderr, flush=True)
    return 0


def _audit(action: str, target: str) -> None:
    from quantray.security import AuditLog

    AuditLog().append(
        key_id=None,
        action=f"cli keys {action}",
        target=target,
        outcome="ok",
        client=f"cli:{os.environ.get('USER', '?')}",
    )


def _print_key(args: argparse.Namespace, key: Any, text: str, verb: str) -> None:
    if args.quiet:
        print(text)
    elif getattr(args, "json", False):
        print(json.dumps({**key.public(), "key": text}))
    else:
        print(
            f"{verb} key {key.key_id} (name={key.name}, scope={key.scope}); store it now, it is not shown again:"
        )
        print(text)


def _cmd_keys_create(args: argparse.Namespace) -> int:
    from quantray.security import KeyStore

    key, text = KeyStore().create(name=args.name, scope=args.scope, rate_per_s=args.rate, burst=args.burst)
    _audit("create", key.key_id)
    _print_key(args, key, text, "created")
    return 0


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    from quantray.security import KeyStore

    store = KeyStore()
    old = store.get(args.key)
    key, text = store.rotate(args.key, overlap_s=args.overlap)
    _audit("rotate", f"{old.key_id}->{key.key_id}")
    if not args.quiet and not args.json:
        print(f"{old.key_id} keeps working for {args.overlap:g} s", file=sys.stderr)
    _print_key(args, key, text, "rotated: new")
    return 0


def _cmd_keys_revoke(args: argparse.Namespace) -> int:
    from quantray.security import KeyStore

    key = KeyStore().revoke(args.key)
    _audit("revoke", key.key_id)
    if args.json:
        print(json.dumps(key.public()))
    else:
        print(f"revoked key {key.key_id} (name={key.name})")
    return 0


def _cmd_keys_list(args: argparse.Namespace) -> int:
    from quantray.security import KeyStore

    keys = [k.public() for k in KeyStore().list()]
    if args.json:
        print(json.dumps({"keys": keys}))
        return 0
    if not keys:
        print("no API keys (create one: quantray keys create --scope read --name NAME)")
        return 0
    print(f"{'id':<12}  {'name':<20}  {'scope':<5}  {'status':<8}  created (UTC)")
    for k in keys:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(k["created_at"]))
        print(f"{k['key_id']:<12}  {k['name']:<20}  {k['scope']:<5}  {k['status']:<8}  {created}")
    return 0


def add_serve_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``serve run`` and ``keys create|list|rotate|revoke``."""
    s = subparsers.add_parser("serve", help="run the HTTP API (Ray Serve)")
    ssub = s.add_subparsers(dest="serve_verb", required=True, parser_class=parser_class)
    run = ssub.add_parser("run", help="start an embedded Ray with the API in the foreground (Ctrl-C stops)")
    run.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    run.add_argument("--ssl-certfile", help="TLS certificate (PEM); with --ssl-keyfile serves HTTPS")
    run.add_argument("--ssl-keyfile", help="TLS private key (PEM)")
    run.add_argument("--num-cpus", type=int, help="CPUs of the embedded Ray (default: all)")
    run.add_argument(
        "--address", help="attach to this Ray cluster instead (default RAY_ADDRESS, else embedded)"
    )
    run.set_defaults(func=_cmd_serve_run)

    k = subparsers.add_parser("keys", help="API keys of the HTTP API (in $QUANTRAY_HOME)")
    ksub = k.add_subparsers(dest="keys_verb", required=True, parser_class=parser_class)
    c = ksub.add_parser("create", help="create a key and print it (once)")
    c.add_argument("--name", required=True)
    c.add_argument("--scope", choices=["read", "trade", "admin"], default="read")
    c.add_argument("--rate", type=float, help="requests per second for this key (default: the server's)")
    c.add_argument("--burst", type=float, help="token-bucket capacity for this key (default: the server's)")
    c.add_argument("--quiet", action="store_true", help="print the key alone")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_cmd_keys_create)
    ls = ksub.add_parser("list", help="list keys (never their secrets)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_cmd_keys_list)
    r = ksub.add_parser("rotate", help="replace a key; the old one works for --overlap more seconds")
    r.add_argument("key", help="key id, or the name of one active key")
    r.add_argument("--overlap", type=float, default=3600.0, help="seconds the old key keeps working (3600)")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_cmd_keys_rotate)
    v = ksub.add_parser("revoke", help="revoke a key now")
    v.add_argument("key", help="key id, or the name of one active key")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_cmd_keys_revoke)
