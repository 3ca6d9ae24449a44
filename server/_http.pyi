"""Typed stubs of the server's compiled HTTP half (server/_http.pyx).

``FastPath`` reads and answers the common request shape in C and hands
anything else back to server/http.py (httptools); ``encode_response``
writes every answer's bytes; ``Forwarded`` is a forwarded request's answer
to come.  See the module doc of the .pyx.
"""

from collections.abc import Callable, Generator
from typing import Any, Literal

JSON_1_0: bytes
JSON_1_1: bytes
JSON: bytes
STATUS_LINES: dict[int, bytes]

def parse(
    data: bytes, max_body: int
) -> tuple[list[tuple[bytes | None, bytes, bytes, bool]], int, Literal["done", "close", "need", "fallback"]]:
    """The fast-shape requests at the start of ``data``: ``(target, content_type,
    body, close)`` each, the bytes they took, and what the rest is."""

def encode_response(status: int, body: bytes, content_type: bytes, connection: bytes, with_body: bool) -> bytes:
    """Status line, x-amzn-RequestId, x-amz-crc32, Content-Type, Content-Length,
    Date, ``connection`` (b"" or a whole header line), and the body if ``with_body``."""

def new_request_id() -> bytes:
    """A fresh 52-character request id ([0-9A-Z])."""

def set_id_prefix(prefix: bytes) -> None:
    """Set the 40-character request-id prefix and restart the counter."""

def http_date() -> bytes:
    """The Date header's value for now (cached per second)."""

class FastPath:
    def __init__(
        self, protocol: Any, transport: Any, direct: bool, internal_error: bytes, waiting: list[Any] | None = None
    ) -> None:
        """``waiting``: the protocol's queue of answers not written yet (an
        ordered protocol): an answer is written here when it is ready (a
        nonzero int status) and that list is empty, and a :class:`Forwarded`
        one is queued here and written as soon as it and those before it
        are answered."""
    def feed(self, data: bytes) -> bytes | None:
        """None: every byte taken; else the bytes, from the first request it
        cannot take, that httptools must read instead."""

class Forwarded:
    """A forwarded request's ``(status, payload)`` to come, future-like."""

    status: int
    payload: Any
    error: BaseException | None
    def __call__(self, status: int, payload: Any) -> None: ...
    def done(self) -> bool: ...
    def result(self) -> tuple[int, bytes]: ...
    def add_done_callback(self, callback: Callable[[Forwarded], Any]) -> None: ...
    def remove_done_callback(self, callback: Callable[[Forwarded], Any]) -> int: ...
    def __await__(self) -> Generator[Any, None, tuple[int, bytes]]: ...
