"""The HTTP/1.1 protocol `cameogate serve` speaks: uvicorn's httptools parser (C, llhttp) with a
bound on each request's head.

Why not uvicorn's default, h11: parsing in pure Python cost every request about 0.3 ms of the
event loop's CPU, a third of what /healthz costs the server; with httptools the benchmark's
saturated throughput rose 25-35% for both endpoints (docs/CONSENT.md, issue #4).

Why a subclass: uvicorn's httptools protocol puts no limit on a request line and headers (h11
stops at 16 KiB), so a client could make the server buffer headers without end. Here a head that
is still incomplete after MAX_HEAD_BYTES is answered with a 431 problem and the connection closed,
before anything reaches the app.
"""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gate import logs
from gate.errors import PROBLEM_JSON, problem_body

log = logging.getLogger(__name__)
MAX_HEAD_BYTES = 16 * 1024  # request line and headers, as h11's default


def too_large_answer(path: str | None) -> tuple[str, bytes]:
    """The 431 answer, in the app's problem shape: its own request id (the head that would have
    carried one was not read), and the path when the request line was complete."""
    rid = uuid.uuid4().hex
    body = json.dumps(
        problem_body(
            431, "headers_too_large", "Request headers too large",
            f"the request line and headers are limited to {MAX_HEAD_BYTES} bytes",
            instance=path, request_id=rid,
        )
    ).encode()  # fmt: skip
    head = (
        f"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: {PROBLEM_JSON}\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {rid}\r\nconnection: close\r\n\r\n"
    )
    return rid, head.encode() + body


def _path_of(url: bytes) -> str | None:
    """The request target's path, decoded as the app's `instance` is (None if it is not a URL)."""
    try:
        raw = httptools.parse_url(url).path
    except httptools.HttpParserInvalidURLError:
        return None
    return unquote(raw.decode("latin-1")) if raw else None


class HeadTooLarge(Exception):
    """Raised from a parser callback: stops httptools at once (the request never reaches the app)."""


class BoundedHttpTools(HttpToolsProtocol):
    """httptools, refusing a request head longer than MAX_HEAD_BYTES (431, connection closed).

    Two counts, because httptools hands over a head only in pieces it has completed:
    - the request line and each header as the parser completes them (on_url, on_header): exact,
      whatever the chunks were;
    - the chunks received while a head is incomplete, which bounds what httptools holds of a
      header not yet complete. A chunk in which a previous request also ended (keep-alive,
      pipelining) is not counted, as its share of the new head is unknown; nor is a chunk that
      completes a head, so a body sent along with its headers is never taken for them.
    What a connection can make the server buffer is thus MAX_HEAD_BYTES plus at most one chunk."""

    _in_head = True  # a connection's first bytes begin its first request's head
    _ended_here = False
    _chunk_bytes = 0
    _head_bytes = 0
    _url_whole = False  # the request line is complete once the parser hands over a header

    def data_received(self, data: bytes) -> None:
        self._ended_here = False
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        self._chunk_bytes = 0 if self._ended_here else self._chunk_bytes + len(data)
        if self._chunk_bytes > MAX_HEAD_BYTES:
            self._refuse()

    def on_message_begin(self) -> None:
        self._head_bytes, self._url_whole = 0, False
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._url_whole = True
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._chunk_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._ended_here = True, True  # the next request's head starts after it

    def send_400_response(self, msg: str) -> None:
        if not self.transport.is_closing():  # not after a 431 (the parser reports its stop as an error)
            super().send_400_response(msg)

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse()
            raise HeadTooLarge

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
        path = _path_of(self.url) if self._url_whole else None
        rid, answer = too_large_answer(path)
        token = logs.request_id.set(rid)
        try:
            log.info("request", extra={"path": path or "-", "status": 431, "code": "headers_too_large"})
        finally:
            logs.request_id.reset(token)
        self.transport.write(answer)
        self.transport.close()
