"""Typed stubs of the compiled half of server/peers.py (server/_peer.pyx).

``LinkBase`` is a peer link's state and per-frame work (peers.py's
``_Link`` subclasses it); ``forward`` is ``PeerNode.forward``;
``read_frames`` reads a link's frames; ``append_forward`` and
``append_answer`` write the two lean kinds (a forwarded request's answer
to come is ``server._http.Forwarded``).  See the module doc of the .pyx.
"""

from collections.abc import Callable
from typing import Any

FORWARD: int
ANSWER: int
MAX_FRAME: int
MAX_ID: int

class LinkBase:
    """The hot half of a peer link: its state, reading, answering, flushing."""

    node: Any
    peer: int | None
    transport: Any
    buffer: bytearray
    flush_scheduled: bool
    pending: dict[int, Any]
    forwards: dict[int, Callable[[int, Any], Any]]
    inbox: bytearray
    closed: bool
    def __init__(self, node: Any, peer: int | None = None) -> None: ...
    def send_answer(self, forward_id: int, status: int, payload: bytes) -> None:
        """An answer frame: the status and the raw answer bytes."""
    def _schedule_flush(self) -> None: ...
    def flush(self) -> None: ...
    def data_received(self, data: bytes) -> None: ...

def forward(node: Any, peer: int, op: str, body: bytes | bytearray | memoryview,
            done: Callable[[int, Any], Any]) -> None:
    """``PeerNode.forward(peer, op, body, done)``."""

def read_frames(link: LinkBase, data: bytes | bytearray, error: Callable[[str], Exception]) -> int:
    """Handle the whole frames at the start of ``data``: the bytes they took,
    or -1 at a malformed frame."""

def append_forward(buf: bytearray, frame_id: int, op: bytes, body: bytes | bytearray | memoryview) -> None:
    """Add a forward frame to ``buf`` (a bytes or bytearray body copied straight in)."""

def append_answer(buf: bytearray, frame_id: int, status: int, payload: bytes) -> None:
    """Add an answer frame to ``buf``."""
