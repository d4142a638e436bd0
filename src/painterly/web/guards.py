"""Request guards shared by the routes: JSON errors, body-size limits, same-origin checks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """Every error the studio answers: ``{"error": "one line"}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class TooLarge(Exception):
    """The body went past its limit while being read."""


def limited(request: Request, limit: int) -> Request:
    """The same request, whose body reading raises TooLarge past ``limit`` bytes (a client
    may send no Content-Length, or a false one)."""
    received = 0

    async def receive():
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise TooLarge()
        return message

    return Request(request.scope, receive)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or TooLarge past ``limit`` bytes."""
    chunks = []
    async for chunk in limited(request, limit).stream():
        chunks.append(chunk)
    return b"".join(chunks)


class SameOrigin:
    """Refuse state-changing requests that a browser sends from another site's page (a
    page elsewhere must not start jobs or upload files to this local server)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(scope["headers"])
            origin, host = headers.get(b"origin"), headers.get(b"host", b"")
            if origin is not None and origin.split(b"://", 1)[-1] != host:
                response = error(403, "requests from other sites are not allowed")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
