"""Fault-injecting TCP proxies, one per directed link (as etcd's robustness tests do).

A `LinkProxy` listens on 127.0.0.1 (ephemeral port) and forwards each accepted
connection to one target address. The nemesis sets its state:
- OPEN: bytes flow both ways, with backpressure (a stalled target stalls the
  source, as a real TCP window does);
- DROP: every live connection is reset and new ones are reset on accept, like
  a REJECT rule with tcp-reset: the endpoints notice at once;
- BLACKHOLE: live connections stay up but every byte in either direction is
  discarded, and new connections are accepted and then fed nothing, like an
  iptables DROP: the endpoints notice only by their own timeouts.

Invariants: a connection forwards bytes only while its link is OPEN and it was
never blocked. A connection that was blackholed is never resumed (its byte
streams lost data, so resuming would corrupt HTTP/2 framing): healing resets
it and the endpoints reconnect. All proxies run on the caller's event loop;
`aclose()` closes the listener and resets every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from enum import Enum

from kvstore.logging import get_logger

log = get_logger("kvstore.chaos.proxy")

#: Bytes buffered toward one side before reading from the other side pauses.
MAX_BUFFER_BYTES = 1 << 20


class LinkState(Enum):
    OPEN = "open"
    DROP = "drop"
    BLACKHOLE = "blackhole"


def _reset(transport: asyncio.BaseTransport | None) -> None:
    """Close with an RST (SO_LINGER 0), as a refused or cut connection looks."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]


class _Side(asyncio.Protocol):
    """One TCP side of a proxied connection; forwards what it receives to the other."""

    def __init__(self, conn: _Conn) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=MAX_BUFFER_BYTES)
        if self is self.conn.inbound:
            self.conn.proxy._admit(self.conn)

    def data_received(self, data: bytes) -> None:
        self.conn.forward(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.close()

    # Flow control: our outgoing buffer is full, so stop reading from the other side.
    def pause_writing(self) -> None:
        other = self.conn.other(self)
        if other.transport is not None and not other.transport.is_closing():
            other.transport.pause_reading()

    def resume_writing(self) -> None:
        other = self.conn.other(self)
        if other.transport is not None and not other.transport.is_closing():
            other.transport.resume_reading()


class _Conn:
    """A proxied connection: the accepted (inbound) side and the dialled (outbound) side."""

    def __init__(self, proxy: LinkProxy) -> None:
        self.proxy = proxy
        self.inbound = _Side(self)
        self.outbound = _Side(self)
        self.blackholed = False
        self.closed = False
        self.early: list[bytes] = []  # inbound bytes that arrived before the dial finished

    def other(self, side: _Side) -> _Side:
        return self.outbound if side is self.inbound else self.inbound

    def forward(self, side: _Side, data: bytes) -> None:
        if self.blackholed or self.closed:
            return
        dst = self.other(side)
        if dst.transport is None:
            self.early.append(data)
            return
        self.proxy.bytes_forwarded += len(data)
        dst.transport.write(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.conns.discard(self)
        _reset(self.inbound.transport)
        _reset(self.outbound.transport)


class LinkProxy:
    """Forwards connections accepted on `address` to `target`, unless the link is cut."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target
        self.state = LinkState.OPEN
        self.conns: set[_Conn] = set()
        self.address = ""
        self.accepted = 0
        self.refused = 0
        self.bytes_forwarded = 0
        self._server: asyncio.Server | None = None
        self._dials: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"

    def _accept(self) -> _Side:
        return _Conn(self).inbound

    def _admit(self, conn: _Conn) -> None:
        """A new inbound connection is up: dial the target, hold it, or reset it."""
        self.accepted += 1
        if self.state is LinkState.OPEN:
            self.conns.add(conn)
            task = asyncio.ensure_future(self._dial(conn))
            self._dials.add(task)
            task.add_done_callback(self._dials.discard)
        elif self.state is LinkState.BLACKHOLE:
            conn.blackholed = True
            self.conns.add(conn)
        else:
            self.refused += 1
            conn.close()

    async def _dial(self, conn: _Conn) -> None:
        host, _, port = self.target.rpartition(":")
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: conn.outbound, host, int(port))
        except OSError:
            conn.close()  # target down: the client sees a reset, as with no proxy
            return
        if conn.closed or conn.blackholed:
            _reset(conn.outbound.transport)
            return
        for chunk in conn.early:
            conn.forward(conn.inbound, chunk)
        conn.early.clear()

    def set_state(self, state: LinkState) -> None:
        """Cut (DROP or BLACKHOLE) or heal (OPEN) this link."""
        if state is self.state:
            return
        previous, self.state = self.state, state
        if state is LinkState.DROP or (state is LinkState.OPEN
                                       and previous is LinkState.BLACKHOLE):
            for conn in list(self.conns):
                conn.close()
        elif state is LinkState.BLACKHOLE:
            for conn in self.conns:
                conn.blackholed = True

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._dials):
            task.cancel()
        await asyncio.gather(*self._dials, return_exceptions=True)
        for conn in list(self.conns):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
