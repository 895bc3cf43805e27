"""What keeps a retrieval server alive and small under broken or hostile clients.

Two layers, because uvicorn hands a request to the application only once its headers are complete:

* :func:`protocol_class`, uvicorn's h11 protocol with deadlines. A connection must deliver a request's
  headers within ``read_timeout`` seconds of opening (or of its first byte after the previous reply),
  so an idle connection or one that trickles its headers is closed; an idle keep-alive connection
  is closed after ``keep_alive`` seconds (uvicorn's own timer); a client that stops reading its reply
  is cut off once the reply has waited ``send_timeout`` seconds; connections beyond
  ``max_connections`` are refused. Its refusals (408, 503, uvicorn's 400 for a malformed request) are
  JSON like every other error.
* :class:`RequestLimits`, an ASGI middleware. At most ``max_in_flight`` requests are read, searched and
  answered at once (the others wait up to ``queue_timeout`` seconds, then get 503); the body is read in
  chunks and refused with 413 as soon as it passes ``max_body_bytes``, whether or not it announced a
  ``Content-Length`` (a chunked 1 GiB body costs the server at most ``max_body_bytes``), and with 408 if
  it is not complete ``read_timeout`` seconds after the headers; any exception becomes a JSON 500.
  Refusals close the connection, so the rest of an oversized upload is not read.

Memory is therefore bounded by ``max_in_flight * (max_body_bytes + the largest reply)`` plus
``max_connections`` small buffers, plus the caches, each bounded in bytes (the analyzer's word memo:
:class:`jade_env.retrieval.analysis.Analyzer`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("jade_env.retrieval.server")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Every limit of the retrieval server (``jade-rag serve-retriever --help`` lists them as flags)."""

    max_body_bytes: int = 4 << 20
    max_queries: int = 1024
    max_k: int = 100
    #: queries x k of one request: bounds the reply (16,384 hits of ~1 KB passages is ~16 MB of JSON)
    max_hits: int = 16_384
    default_k: int = 3
    max_in_flight: int = 32
    queue_timeout: float = 10.0
    max_connections: int = 256
    read_timeout: float = 10.0
    keep_alive: float = 5.0
    send_timeout: float = 30.0
    #: bytes of every memo in the server (the analyzer's word -> stem cache)
    max_cache_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or value != value or value == float("inf"):
                raise ValueError(f"server limit {name}={value!r}: expected a finite number above 0")


def json_bytes(status: int, message: str, reason: str) -> bytes:
    """A complete HTTP/1.1 error reply that closes the connection, for the protocol layer."""
    body = json.dumps({"error": message}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


def protocol_class(limits: ServerLimits) -> type:
    """uvicorn's ``H11Protocol`` with the deadlines of the module docstring."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_timer: asyncio.TimerHandle | None = None
            self._write_timer: asyncio.TimerHandle | None = None
            if len(self.connections) > limits.max_connections:
                self._refuse(503, "Service Unavailable", f"more than {limits.max_connections} open connections; retry later")
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(limits.read_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _refuse(self, status: int, reason: str, message: str) -> None:
            if not self.transport.is_closing():
                self.transport.write(json_bytes(status, message, reason))
                self.transport.close()

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.cycle is None or self.cycle.response_complete:  # no request in progress: idle or trickling headers
                self._refuse(408, "Request Timeout", f"no complete request headers within {limits.read_timeout:g} s")

        def data_received(self, data: bytes) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and self._header_timer is None:
                self._arm()  # the first byte of the next request on a kept-alive connection
            previous = self.cycle
            super().data_received(data)
            if self.cycle is not previous:  # the headers are complete: the body's deadline is the middleware's
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._write_timer is not None:
                self._write_timer.cancel()
            super().connection_lost(exc)

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._write_timer is None:
                self._write_timer = self.loop.call_later(limits.send_timeout, self._client_not_reading)

        def resume_writing(self) -> None:
            super().resume_writing()
            if self._write_timer is not None:
                self._write_timer.cancel()
                self._write_timer = None

        def _client_not_reading(self) -> None:
            log.warning("a client did not read its reply for %g s; connection dropped", limits.send_timeout)
            self.transport.abort()

        def send_400_response(self, msg: str) -> None:
            body = json.dumps({"error": f"{msg.rstrip('.')}: expected an HTTP/1.1 request (headers of at most 64 KiB, "
                                        "a valid Content-Length or chunked framing)"}).encode()
            output = self.conn.send(h11.Response(status_code=400, reason=b"Bad Request", headers=[
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]))
            self.transport.write(output)
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            self.transport.close()

    return DeadlineH11Protocol


async def send_json(send: Any, status: int, message: str, close: bool = False, **extra: Any) -> None:
    """Answer an ASGI request with ``{"error": message}``."""
    body = json.dumps({"error": message, **extra}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class RequestLimits:
    """ASGI middleware: concurrency, body size and body deadline, JSON 500s (see the module docstring)."""

    def __init__(self, app: Any, limits: ServerLimits, exempt: tuple[str, ...] = ("/health", "/info")) -> None:
        self.app, self.limits, self.exempt = app, limits, exempt
        self.slots: asyncio.Semaphore | None = None
        self.refused = {"413": 0, "408": 0, "503": 0, "500": 0}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            if scope["method"] == "GET" and scope["path"] in self.exempt:
                await self.app(scope, receive, tracked)
                return
            if self.slots is None:
                self.slots = asyncio.Semaphore(self.limits.max_in_flight)
            try:
                await asyncio.wait_for(self.slots.acquire(), self.limits.queue_timeout)
            except TimeoutError:
                self.refused["503"] += 1
                await send_json(tracked, 503, f"{self.limits.max_in_flight} requests are in progress and none finished within "
                                f"{self.limits.queue_timeout:g} s; retry later", close=True)
                return
            try:
                body = await self._read_body(scope, receive, tracked)
                if body is not None:
                    await self.app(scope, _replay(body, receive), tracked)
            finally:
                self.slots.release()
        except Exception as err:  # noqa: BLE001 - the one place every failure becomes a JSON reply
            log.exception("request failed")
            if not started:
                self.refused["500"] += 1
                await send_json(tracked, 500, f"internal error: {type(err).__name__}: {str(err)[:300]}", close=True)

    async def _read_body(self, scope: dict, receive: Any, send: Any) -> bytes | None:
        limit = self.limits.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            self.refused["413"] += 1
            await send_json(send, 413, f"request body of {declared.decode('latin-1')[:20]} bytes; at most {limit}", close=True)
            return None
        ends = time.monotonic() + self.limits.read_timeout
        chunks, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(ends - time.monotonic(), 0.0))
            except TimeoutError:
                self.refused["408"] += 1
                await send_json(send, 408, f"the request body did not arrive within {self.limits.read_timeout:g} s "
                                f"({size} bytes came)", close=True)
                return None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                self.refused["413"] += 1
                await send_json(send, 413, f"request body over {limit} bytes (read {size} and stopped)", close=True)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that gives the body read already, then waits on the connection as before."""
    done = False

    async def replay() -> dict:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
