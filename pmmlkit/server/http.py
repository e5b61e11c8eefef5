"""uvicorn's HTTP protocol (httptools) with read deadlines, as ``pmmlkit serve`` runs it.

uvicorn times out idle keep-alive connections, but not a client that opens a connection and
never finishes its headers, nor one that declares a body and never sends it: each holds a
connection (and, for the body, a request) open for ever. The rules:

- the headers of a request must be complete within ``header_timeout`` seconds of its first
  byte (of the connection, for the first request);
- its body within ``body_timeout`` seconds of the end of its headers;
- otherwise the server answers ``408 Request Timeout`` (when no response has started) and
  closes the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 60.0


def protocol(header_timeout: float = DEFAULT_HEADER_TIMEOUT,
             body_timeout: float = DEFAULT_BODY_TIMEOUT) -> type[HttpToolsProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``."""

    class DeadlineProtocol(_Deadlines):
        pass

    DeadlineProtocol.header_timeout = header_timeout
    DeadlineProtocol.body_timeout = body_timeout
    return DeadlineProtocol


class _Deadlines(HttpToolsProtocol):
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm(self.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self._between_requests():
            self._arm(self.header_timeout, "headers")  # a new request on a kept-alive one
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._arm(self.body_timeout, "body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._disarm()
        super().on_response_complete()

    def _expired(self, what: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        started = self.cycle is not None and self.cycle.response_started
        if not started:
            message = (f"the request's {what} did not arrive within {seconds:g} s").encode()
            self.transport.write(b"".join([
                b"HTTP/1.1 408 Request Timeout\r\n",
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: ", str(len(message)).encode(), b"\r\n",
                b"connection: close\r\n\r\n", message]))
        self.logger.info("closed a connection: its %s did not arrive within %g s", what,
                         seconds)
        self.transport.close()  # the app sees a disconnect; its answer goes nowhere
