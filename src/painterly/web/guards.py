"""Request guards shared by the routes: JSON errors, body-size limits, headers read safely,
the Host and same-origin checks, and the one handler for errors no route answered."""

from __future__ import annotations

import errno
import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import one_line

log = logging.getLogger(__name__)

DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""OS errors that mean "no room to store this": answered 507 Insufficient Storage."""


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """Every error the studio answers: ``{"error": "one line"}``."""
    return JSONResponse({"error": " ".join(message.split())}, status_code=status,
                        headers=headers)


def shown(value: object, limit: int = 40) -> str:
    """A client's value for a message: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class TooLarge(Exception):
    """The body went past its limit while being read."""


class BadBody(ValueError):
    """A body that is not what the route reads; ``status`` is 400 or 413."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


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


async def read_json(request: Request, limit: int) -> object:
    """The body parsed as JSON; BadBody (413 past ``limit`` bytes, else 400) otherwise.

    Python's parser recurses once per level of nesting: a small body of ``[[[[...`` raises
    RecursionError, which is the client's mistake like any other bad JSON.
    """
    try:
        return json.loads(await read_body(request, limit))
    except TooLarge:
        raise BadBody(f"the request body is larger than {limit // 1024} KB", 413) from None
    except RecursionError:
        raise BadBody("the request body is JSON nested too deeply") from None
    except ValueError:  # (also bad UTF-8 and integers of more than 4300 digits)
        raise BadBody("the request body must be JSON") from None


def declared_length(request: Request) -> int | None:
    """The Content-Length header as a number, or None if absent or not ASCII digits."""
    return _digits(request.headers.get("content-length", ""))


def last_event_id(request: Request) -> int:
    """The Last-Event-ID an EventSource sends when it reconnects; 0 if absent or not a number
    (``str.isdigit`` alone would accept "²", which ``int`` refuses)."""
    return _digits(request.headers.get("last-event-id", "")) or 0


def _digits(text: str, max_digits: int = 18) -> int | None:
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def out_of_space(exc: BaseException) -> bool:
    """True if ``exc``, or an error it was raised from, says the disk (or quota) is full."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class TrustedHosts:
    """Refuse requests whose Host header names another server (400): a web page elsewhere
    must not reach this local server by pointing a name it controls at 127.0.0.1 (DNS
    rebinding). ``hosts``: the names and addresses accepted; ``("*",)`` for any."""

    def __init__(self, app, hosts: tuple[str, ...]):
        self.app = app
        self.any = "*" in hosts
        self.hosts = {host.strip("[]").lower() for host in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self.any:
            value = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_of(value) not in self.hosts:
                message = (f"the Host header {shown(value)} is not this studio's address"
                           if value else "the request has no Host header")
                await error(400, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_of(value: str) -> str | None:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> the host, lower case and without
    brackets; None if the value is none of those."""
    if value.startswith("["):
        host, bracket, port = value[1:].partition("]")
        if not bracket:
            return None
    else:
        host, colon, port = value.partition(":")
        port = colon + port
    if port and (port[0] != ":" or _digits(port[1:], 5) is None):
        return None
    return host.lower() or None


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


class Failsafe:
    """The one handler of exceptions that no route answered, outside every other guard.

    A full disk is a 507 with a one-line warning logged; anything else is a bug (a malformed
    request gets its 4xx from the route that reads it), answered 500 with the traceback
    logged. A response already under way (a stream) cannot be answered: that is re-raised.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            await failure(exc, scope.get("path", ""))(scope, receive, send)


def failure(exc: Exception, path: str) -> JSONResponse:
    """The answer to an exception that no route turned into one (see :class:`Failsafe`)."""
    reason = one_line(exc)
    if out_of_space(exc):
        log.warning("%s: the disk is full: %s", path, reason)
        return error(507, "the disk is full: nothing was stored; free some space and try again")
    log.error("%s: unexpected %s", path, type(exc).__name__, exc_info=exc)
    return error(500, f"unexpected {type(exc).__name__} in the studio (its log has the details)")
