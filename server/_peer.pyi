"""Typed stubs of the compiled frames of forwarded requests (server/_peer.pyx).

``read_frames`` reads a peer link's frames; ``append_forward`` and
``append_answer`` write the two lean kinds (a forwarded request's answer
to come is ``server._http.Forwarded``).  See the module doc of the .pyx.
"""

from collections.abc import Callable
from typing import Any

FORWARD: int
ANSWER: int
MAX_FRAME: int

def read_frames(link: Any, data: bytes | bytearray, error: Callable[[str], Exception]) -> int:
    """Handle the whole frames at the start of ``data``: the bytes they took,
    or -1 at a malformed frame."""

def append_forward(buf: bytearray, frame_id: int, op: bytes, body: bytes) -> None:
    """Add a forward frame to ``buf``."""

def append_answer(buf: bytearray, frame_id: int, status: int, payload: bytes) -> None:
    """Add an answer frame to ``buf``."""
