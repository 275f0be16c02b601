"""Request dependencies: the context, and the bearer token when one is set (wrong tokens are logged and
throttled per client address)."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .context import WebContext

logger = logging.getLogger("lookalike.web")
bearer = HTTPBearer(auto_error=False, description="The token given to `lookalike serve --token`.")


def get_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.lookalike
    return context


def _too_many(wait: int) -> HTTPException:
    return HTTPException(429, f"too many wrong tokens from this address: try again in {wait} s",
                         headers={"Retry-After": str(wait)})


def require_token(request: Request, context: Annotated[WebContext, Depends(get_context)],
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """401 unless the request carries `Authorization: Bearer <token>` (when the server has a token);
    429 with Retry-After while the client's address is waiting after too many wrong tokens."""
    if context.token is None:
        return
    client = request.client.host if request.client else "unknown"
    wait = context.throttle.wait(client)
    if wait:
        raise _too_many(wait)
    given = credentials.credentials if credentials is not None else ""
    if hmac.compare_digest(given.encode(), context.token.encode()):
        context.throttle.succeeded(client)
        return
    if not given:
        raise HTTPException(401, "missing token (send the header Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    failures, wait = context.throttle.failed(client)
    logger.warning("wrong token from %s on %s %s (%d in a row%s)", client, request.method, request.url.path,
                   failures, f"; refused for {wait} s" if wait else "")
    if wait:
        raise _too_many(wait)
    raise HTTPException(401, "wrong token", headers={"WWW-Authenticate": "Bearer"})
