"""Request dependencies: the context, and the bearer token when one is set."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .context import WebContext

bearer = HTTPBearer(auto_error=False, description="The token given to `lookalike serve --token`.")


def get_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.lookalike
    return context


def require_token(context: Annotated[WebContext, Depends(get_context)],
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """401 unless the request carries `Authorization: Bearer <token>` (when the server has a token)."""
    if context.token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), context.token.encode()):
        reason = "wrong token" if given else "missing token (send the header Authorization: Bearer <token>)"
        raise HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})
