"""An ASGI middleware in front of the app: requests whose Host is not this machine are refused when no
token is set (a web page elsewhere cannot reach a loopback server by DNS rebinding); cross-site browser
requests are refused on every POST and on the heavy GETs (another site's page cannot make a visitor's
browser search, compare or list duplicates here); and request bodies are capped (413 as soon as the
declared or received length passes the limit, before parsing)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEAVY_PATHS = frozenset({"/api/pairs"})  # GETs that make the server work hard (duplicates: a POSTed job)


class _BodyTooLarge(Exception):
    """Raised from `receive` once the body passes the limit."""


def host_name(header: str) -> str:
    """The host of a Host header, without its port."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def cross_site(scope: Scope, headers: dict[str, str]) -> bool:
    """Whether a browser says this request comes from another site: `Sec-Fetch-Site: cross-site`, or an
    `Origin` other than this server's own (scheme://host:port as the request addressed it). Requests
    with neither header (scripts, curl, the CLI) are not cross-site."""
    if headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
    return origin.strip().lower().rstrip("/") != own


def state_changing_or_heavy(scope: Scope) -> bool:
    return scope.get("method", "GET").upper() not in SAFE_METHODS or scope.get("path", "") in HEAVY_PATHS


async def send_json(send: Send, status: int, body: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class Guard:
    """Host check (when `loopback_only`), cross-site refusal and a cap of `max_body` bytes on request bodies."""

    def __init__(self, app: ASGIApp, max_body: int, loopback_only: bool) -> None:
        self.app = app
        self.max_body = max_body
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        if self.loopback_only and host_name(headers.get("host", "")).lower() not in LOOPBACK_NAMES:
            await send_json(send, 400, {"error": "this server answers only on 127.0.0.1 (start it with --token "
                                                 "to serve other hosts)", "kind": "bad_host"})
            return
        if state_changing_or_heavy(scope) and cross_site(scope, headers):
            await send_json(send, 403, {"error": "cross-site requests are refused here (this endpoint answers "
                                                 "only pages of this server and clients that send no Origin)",
                                        "kind": "cross_site"})
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await send_json(send, 413, self._too_large())
            return
        received, over = 0, False

        async def capped_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    over = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if not over:  # once over the limit, whatever the app makes of the cut body is replaced
                await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except _BodyTooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over:
            await send_json(send, 413, self._too_large())

    def _too_large(self) -> dict[str, str]:
        return {"error": f"request body is larger than {self.max_body:,} bytes", "kind": "too_large"}
