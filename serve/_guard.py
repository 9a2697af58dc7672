"""Authentication, scopes and rate limits (a FastAPI dependency), and the body-size + audit middleware."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from quantray.reports.tradingview import MAX_BODY_BYTES as TV_MAX_BODY_BYTES
from quantray.security import ApiKey, scope_allows
from serve._runtime import runtime

__all__ = ["TV_PATH", "GuardMiddleware", "require", "unauthorized"]

TV_PATH = "/v1/tradingview/webhook"
UNAUTHORIZED = "invalid or missing credentials"

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer qr_<id>_<secret>`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: qr_<id>_<secret>`")


def unauthorized() -> HTTPException:
    """401 that never says which part failed (unknown, malformed, revoked or expired key alike)."""
    return HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


def require(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: a valid key (Bearer or X-API-Key) within its rate limit and with at least ``scope``."""

    async def dependency(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        header_key: Annotated[str | None, Security(api_key_header)],
    ) -> ApiKey:
        rt = runtime()
        text = creds.credentials if creds is not None else header_key
        key = rt.keys.verify(text)
        if key is None:
            raise unauthorized()
        request.state.key_id = key.key_id
        s = rt.settings()
        ok, retry_after = rt.limiter.check(
            key.key_id, rate=key.rate_per_s or s.rate_per_s, burst=key.burst or s.burst
        )
        if not ok:
            raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": str(retry_after)})
        if not scope_allows(key.scope, scope):
            raise HTTPException(403, "forbidden")
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency


async def _send_json(
    send: Callable[[dict[str, Any]], Awaitable[None]], status: int, body: dict[str, Any]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


class GuardMiddleware:
    """ASGI middleware: 413 for bodies over the limit (``Content-Length`` or streamed), and one audit record per
    mutating call (any method but GET/HEAD/OPTIONS, except the read-only GraphQL endpoint)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rt = runtime()
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        limit = TV_MAX_BODY_BYTES if path == TV_PATH else rt.settings().max_body_bytes
        status: list[int] = []
        cut_off = False  # we answered 413 mid-body: drop whatever the app still tries to send

        async def send_wrapper(message: dict[str, Any]) -> None:
            if cut_off:
                return
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        length = headers.get("content-length")
        too_large = length is not None and (not length.strip().isdigit() or int(length) > limit)
        detail = f"request body over the limit of {limit} bytes"
        if too_large:
            await _send_json(send_wrapper, 413, {"detail": detail})
        else:
            received = 0

            async def limited_receive() -> dict[str, Any]:
                nonlocal received, cut_off
                if cut_off:
                    return {"type": "http.disconnect"}
                message: dict[str, Any] = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        if not status:
                            await _send_json(send_wrapper, 413, {"detail": detail})
                        cut_off = True
                        return {"type": "http.disconnect"}
                return message

            await self.app(scope, limited_receive, send_wrapper)
        if method in ("GET", "HEAD", "OPTIONS") or path == "/v1/graphql":
            return
        state = scope.get("state") or {}
        key_id = state.get("key_id")
        if key_id is None:
            auth = headers.get("authorization", "")
            text = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key")
            key = rt.keys.verify(text)
            key_id = key.key_id if key is not None else None
        route = scope.get("route")
        action = f"{method} {getattr(route, 'path', path)}"
        client = scope.get("client")
        await asyncio.to_thread(
            rt.audit.append,
            key_id=key_id,
            action=action,
            target=str(state.get("audit_target") or path),
            outcome=status[0] if status else 500,
            detail=state.get("audit_detail"),
            client=client[0] if client else None,
        )
