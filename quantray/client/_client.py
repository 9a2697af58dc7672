"""A typed Python client of the quantray HTTP API (``serve/openapi.json``), on httpx.

Every method maps to one operation of the OpenAPI document (``QuantrayClient.OPERATIONS``; a test checks that the
two cover each other). Errors raise :class:`ApiError` with the HTTP status, the server's ``detail`` and, for 429,
``retry_after`` seconds.
"""

from __future__ import annotations

import time
from typing import Any, Literal, TypedDict
from urllib.parse import quote

import httpx

from quantray.errors import QuantrayError

__all__ = [
    "ApiError",
    "BacktestJob",
    "BacktestResult",
    "QuantrayClient",
    "SignalDict",
    "SignalsResult",
    "WhoAmI",
]


def _seg(value: object) -> str:
    """One URL path segment: ``/``, ``?``, ``#``, spaces and non-ASCII percent-encoded, so a symbol such as
    ``BRK/B`` or a name with ``?`` addresses the resource it names instead of another route."""
    return quote(str(value), safe="")


class ApiError(QuantrayError):
    """A non-2xx answer: ``status``, ``detail`` and (for 429) ``retry_after`` seconds."""

    def __init__(self, status: int, detail: Any, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class WhoAmI(TypedDict):
    key_id: str
    name: str
    scope: Literal["read", "trade", "admin"]


class SignalDict(TypedDict):
    symbol: str
    strategy: str
    params: dict[str, Any]
    position: int
    bar_ts: str | None
    price: float | None
    since: str | None
    source: Literal["live", "bars"]


class SignalsResult(TypedDict):
    as_of: str | None
    source: Literal["live", "bars"]
    universe: str
    signals: list[SignalDict]


class BacktestResult(TypedDict):
    strategy: str
    periods_per_year: float
    rank_by: str
    columns: list[str]
    rows: list[dict[str, Any]]


class BacktestJob(TypedDict):
    job_id: str
    status: Literal["running", "done", "failed"]
    submitted: float
    finished: float | None
    error: str | None


class QuantrayClient:
    """Client of one quantray API server.

    Args:
        base_url: e.g. ``"http://127.0.0.1:8000"`` (no ``/v1``).
        api_key: a key from ``quantray keys create`` (sent as ``Authorization: Bearer``).
        timeout: seconds per request.
        verify: TLS verification (``True``, ``False`` or a CA bundle path) for ``https://`` servers.

    Example:
        >>> client = QuantrayClient("http://127.0.0.1:8000", api_key="qr_...")  # doctest: +SKIP
        >>> client.signal("AAPL", "sma_cross")["signals"][0]["position"]  # doctest: +SKIP
        1
    """

    #: (method, path template) of every operation this client calls.
    OPERATIONS: tuple[tuple[str, str], ...] = (
        ("GET", "/v1/health"),
        ("GET", "/v1/whoami"),
        ("GET", "/v1/strategies"),
        ("GET", "/v1/signals"),
        ("GET", "/v1/signals/{symbol}/{strategy}"),
        ("GET", "/v1/signals/{symbol}/{strategy}/history"),
        ("POST", "/v1/signals/refresh"),
        ("GET", "/v1/portfolio"),
        ("GET", "/v1/reports/latest"),
        ("GET", "/v1/reports/latest/top"),
        ("POST", "/v1/backtest"),
        ("POST", "/v1/backtests"),
        ("GET", "/v1/backtests/{job_id}"),
        ("GET", "/v1/backtests/{job_id}/result"),
        ("POST", "/v1/tradingview/webhook"),
        ("GET", "/v1/alerts"),
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("DELETE", "/v1/webhooks/{sub_id}"),
        ("POST", "/v1/webhooks/{sub_id}/ping"),
        ("GET", "/v1/webhooks/dead-letters"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/{name}"),
    )

    def __init__(
        self, base_url: str, *, api_key: str | None = None, timeout: float = 60.0, verify: bool | str = True
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, verify=verify
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> QuantrayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._http.request(method, path, **kwargs)
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail")
            except ValueError:
                detail = resp.text
            retry = resp.headers.get("Retry-After")
            raise ApiError(resp.status_code, detail, float(retry) if retry else None)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    # ---------------------------------------------------------------------------------------------- meta
    def health(self) -> dict[str, Any]:
        return self._call("GET", "/v1/health")

    def whoami(self) -> WhoAmI:
        return self._call("GET", "/v1/whoami")

    def strategies(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/strategies")["strategies"]

    def audit(self, *, limit: int = 100) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/audit", params={"limit": limit})["records"]

    # ------------------------------------------------------------------------------------------- signals
    def signals(self, *, symbol: str | None = None, strategy: str | None = None) -> SignalsResult:
        params = {k: v for k, v in (("symbol", symbol), ("strategy", strategy)) if v is not None}
        return self._call("GET", "/v1/signals", params=params)

    def signal(self, symbol: str, strategy: str) -> SignalsResult:
        return self._call("GET", f"/v1/signals/{_seg(symbol)}/{_seg(strategy)}")

    def signal_history(self, symbol: str, strategy: str, *, limit: int = 100) -> list[dict[str, Any]]:
        out = self._call(
            "GET", f"/v1/signals/{_seg(symbol)}/{_seg(strategy)}/history", params={"limit": limit}
        )
        return out["history"]

    def refresh_signals(self) -> SignalsResult:
        return self._call("POST", "/v1/signals/refresh")

    def portfolio(self) -> dict[str, Any]:
        return self._call("GET", "/v1/portfolio")

    # ------------------------------------------------------------------------------------------- reports
    def report(self, *, portfolio: str | None = None) -> dict[str, Any]:
        """The latest quarterly report (``QuarterlyReport.to_dict()``) of ``portfolio`` (default: the server's)."""
        params = {"portfolio": portfolio} if portfolio else {}
        return self._call("GET", "/v1/reports/latest", params=params)

    def top_performers(
        self, n: int = 10, *, metric: str = "sharpe", portfolio: str | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"n": n, "metric": metric}
        if portfolio:
            params["portfolio"] = portfolio
        out = self._call("GET", "/v1/reports/latest/top", params=params)
        return out["rows"]

    # -------------------------------------------------------------------------------------------- models
    def models(self) -> list[dict[str, Any]]:
        """Models registered for serving (metadata)."""
        return self._call("GET", "/v1/models")["models"]

    def model(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/models/{_seg(name)}")

    # ----------------------------------------------------------------------------------------- backtests
    def backtest(self, strategy: str, **request: Any) -> BacktestResult:
        """A synchronous backtest; ``request`` holds the other ``BacktestRequest`` fields."""
        return self._call("POST", "/v1/backtest", json={"strategy": strategy, **request})

    def submit_backtest(self, strategy: str, **request: Any) -> BacktestJob:
        return self._call("POST", "/v1/backtests", json={"strategy": strategy, **request})

    def job_status(self, job_id: str) -> BacktestJob:
        return self._call("GET", f"/v1/backtests/{_seg(job_id)}")

    def job_result(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/backtests/{_seg(job_id)}/result")

    def wait_for_job(self, job_id: str, *, timeout: float = 300.0, poll: float = 0.5) -> BacktestResult:
        """Poll until the job is done and return its result; :class:`ApiError` 500 if it failed."""
        deadline = time.monotonic() + timeout
        while True:
            res = self.job_result(job_id)
            if res["status"] == "done":
                return res["result"]
            if res["status"] == "failed":
                raise ApiError(500, f"job {job_id} failed: {res['error']}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still running after {timeout:g} s")
            time.sleep(poll)

    # ------------------------------------------------------------------------------- alerts and webhooks
    def send_tradingview_alert(self, body: str | dict[str, Any]) -> dict[str, Any]:
        """POST an alert as TradingView would (a JSON object, or text ``key=value`` pairs)."""
        if isinstance(body, dict):
            return self._call("POST", "/v1/tradingview/webhook", json=body)
        return self._call(
            "POST", "/v1/tradingview/webhook", content=body.encode(), headers={"Content-Type": "text/plain"}
        )

    def alerts(self, *, limit: int = 100) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/alerts", params={"limit": limit})["alerts"]

    def create_webhook(self, url: str, events: list[str], *, description: str = "") -> dict[str, Any]:
        """Subscribe ``url``; the answer carries the signing ``secret`` (shown once)."""
        body = {"url": url, "events": events, "description": description}
        return self._call("POST", "/v1/webhooks", json=body)

    def webhooks(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/webhooks")

    def delete_webhook(self, sub_id: str) -> None:
        self._call("DELETE", f"/v1/webhooks/{_seg(sub_id)}")

    def ping_webhook(self, sub_id: str) -> None:
        self._call("POST", f"/v1/webhooks/{_seg(sub_id)}/ping")

    def dead_letters(self, *, limit: int = 100) -> list[dict[str, Any]]:
        out = self._call("GET", "/v1/webhooks/dead-letters", params={"limit": limit})
        return out["records"]

    # ------------------------------------------------------------------------------------------- graphql
    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a GraphQL query at ``/v1/graphql``; GraphQL errors raise :class:`ApiError` (status 200)."""
        out = self._call("POST", "/v1/graphql", json={"query": query, "variables": variables or {}})
        if out.get("errors"):
            raise ApiError(200, out["errors"])
        return out["data"]
