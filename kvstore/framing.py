"""Frames, hellos and socket options of the raw TCP links (no dependencies of ours).

Two links use them: the peer Raft links (kvstore/transport/tcp.py) and the
client batch links (kvstore/server/kv_tcp.py, kvstore/client/tcp_link.py).
A frame is a u32 big-endian body length followed by the body. The reader's
limit is checked against the length before the body arrives, so a peer can
never make the other side buffer more than one frame's limit.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import msgpack

_LEN = struct.Struct(">I")
# Keepalive: notice a peer that vanished without closing (power loss, a blackhole).
_KEEPALIVE = (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 2))


class FrameError(Exception):
    """The byte stream is not frames within the limit: close the link."""


def parse_hello(body: bytes, magic: str, fields: int) -> list[Any]:
    """A link's first frame: a msgpack list of `fields` items starting with `magic`."""
    try:
        raw = msgpack.unpackb(body, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise FrameError(f"hello is not msgpack: {exc}") from exc
    if not (isinstance(raw, list) and len(raw) == fields and raw[0] == magic):
        raise FrameError(f"not a {magic} hello")
    return raw


def frame(body: bytes) -> list[bytes]:
    """The two buffers of one frame (for `writelines`: no copy of the body)."""
    return [_LEN.pack(len(body)), body]


def frame_bytes(body: bytes) -> bytes:
    """One frame as one buffer (for a plain `write`)."""
    return _LEN.pack(len(body)) + body


class FrameReader:
    """Splits what a socket delivers into frame bodies.

    Usage per `data_received`: `feed(data)`, then `next(limit)` until it returns
    None; the limit may differ per frame (a small hello, then big batches)."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def next(self, limit: int) -> bytes | None:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return None
        (size,) = _LEN.unpack_from(buf, pos)
        if size > limit:
            raise FrameError(f"frame of {size} bytes exceeds {limit}")
        end = pos + 4 + size
        if len(buf) < end:
            return None
        self._pos = end
        return bytes(buf[pos + 4:end])

    def clear(self) -> None:
        self._buf.clear()
        self._pos = 0


def tune_socket(sock: Any) -> None:
    """No Nagle delay (every frame is a whole message), and keepalive probes."""
    if sock is None:
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _KEEPALIVE:
        opt = getattr(socket, name, None)
        if opt is not None:
            sock.setsockopt(socket.IPPROTO_TCP, opt, value)
