"""`KVClient`: the asyncio client of kvstore.

    async with KVClient(["127.0.0.1:7001"]) as kv:
        await kv.put(b"k", b"v")
        await kv.get(b"k", consistency="sequential")

Every op: route (key -> shard -> leader or replica), coalesce into a Batch
RPC, and on failure retry with backoff until the op's deadline:
- NOT_LEADER: follow the hint (or try the next replica) at once;
- WRONG_SHARD: refresh the shard map and re-route;
- UNAVAILABLE / DEADLINE: count against the node's breaker, back off, retry.
Writes are retried safely because each carries (client_id, seq): the
server's session table answers a duplicate with the original result (Raft
thesis §6.3). A write whose deadline passes raises `Timeout`: it may or may
not have been applied.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from kvstore.client.batcher import Batcher, BatchKey
from kvstore.client.breaker import CircuitBreaker
from kvstore.client.retry import RetryPolicy
from kvstore.client.router import Router, check_key, check_value
from kvstore.client.session import ShardSession
from kvstore.client.stream import BatchStream, StreamUnsupported
from kvstore.client.tcp_link import TcpBatchLink, discover
from kvstore.errors import (
    InvalidArgument,
    KVError,
    NotLeader,
    SessionExpired,
    Timeout,
    Unavailable,
    WrongShard,
)
from kvstore.proto import admin_pb2, admin_pb2_grpc, kv_pb2, kv_pb2_grpc
from kvstore.proto_conv import shard_map_from_proto
from kvstore.rpc_status import error_from_proto, from_rpc_error

CONSISTENCY = {
    "linearizable": kv_pb2.CONSISTENCY_LINEARIZABLE,
    "lease": kv_pb2.CONSISTENCY_LEASE,
    "sequential": kv_pb2.CONSISTENCY_SEQUENTIAL,
    "stale": kv_pb2.CONSISTENCY_STALE,
}
_LEADER_LEVELS = (kv_pb2.CONSISTENCY_LINEARIZABLE, kv_pb2.CONSISTENCY_LEASE)
_WRITE = -1  # batch-key consistency slot for writes (always to the leader)
_NODE_FAILURES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
LINK_RECHECK_S = 60.0


def parse_consistency(level: str) -> int:
    try:
        return CONSISTENCY[level]
    except (KeyError, TypeError):
        raise InvalidArgument(f"unknown consistency level {level!r}; expected one of "
                              f"{', '.join(CONSISTENCY)}") from None


class KVClient:
    def __init__(self, endpoints: Sequence[str], *, consistency: str = "linearizable",
                 timeout: float = 10.0, rpc_timeout: float = 2.0, cluster_id: str = "",
                 coalesce: bool = True, max_batch_ops: int = 512,
                 max_inflight_batches: int = 1, stream_batches: bool = True,
                 tcp_batches: bool = True,
                 retry: RetryPolicy | None = None, seed: int | None = None,
                 interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
                 address_overrides: Mapping[int, str] | None = None,
                 link_overrides: Mapping[int, str] | None = None) -> None:
        # address_overrides: node id -> address to dial instead of the one the
        # cluster's shard map names (clients behind proxies or NAT).
        # max_inflight_batches: Batch RPCs in flight per (node, consistency); ops
        # arriving meanwhile join the next one (see kvstore/client/batcher.py).
        # stream_batches: send them as messages on one MultiBatchStream per node
        # (kvstore/client/stream.py) rather than as MultiBatch calls; unary
        # `interceptors` then see only the unary calls.
        # tcp_batches: where the node offers one, send them on its raw TCP link
        # (kvstore/client/tcp_link.py), a third of a stream message's CPU. Not for
        # nodes reached through address_overrides (the link would bypass the proxy)
        # unless link_overrides names the link's address (node id -> HOST:PORT).
        # stream_batches=False turns both off.
        if isinstance(endpoints, str):
            endpoints = [e for e in endpoints.split(",") if e.strip()]
        if not endpoints:
            raise InvalidArgument("no endpoints given: pass at least one HOST:PORT")
        self.endpoints = [e.strip() for e in endpoints]
        self.default_consistency = parse_consistency(consistency)
        self.timeout = timeout
        self.rpc_timeout = rpc_timeout
        self.cluster_id = cluster_id
        self.retry = retry or RetryPolicy()
        self.rng = random.Random(seed)
        self.router = Router(CircuitBreaker, address_overrides)
        self.batcher = Batcher(self._send_batch, max_batch_ops, coalesce,
                               max_inflight_batches)
        self.sessions: dict[int, ShardSession] = {}
        self.seen_index: dict[int, int] = {}  # shard -> highest applied index observed
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._kv: dict[str, kv_pb2_grpc.KVStub] = {}
        self._interceptors = list(interceptors)
        self.stream_batches = stream_batches
        self._streams: dict[str, BatchStream] = {}
        self.tcp_batches = tcp_batches and stream_batches
        self._links: dict[str, TcpBatchLink | None] = {}  # None: the node offers none
        # A node that offered no link is asked again after this long (it may have
        # been upgraded, or restarted with client_transport = "tcp").
        self.link_recheck_s = LINK_RECHECK_S
        self._no_link_until: dict[str, float] = {}
        self._proxied = frozenset((address_overrides or {}).values())
        links = link_overrides or {}
        self._link_at = {addr: links[nid] for nid, addr in (address_overrides or {}).items()
                         if nid in links}
        self._closed = False

    # --- lifecycle ------------------------------------------------------------
    async def __aenter__(self) -> KVClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Fetch the shard map. While no endpoint is reachable at all (nodes starting
        or restarting, gRPC reconnect backoff), retry with backoff until `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        attempt = 0
        while True:
            try:
                await self.refresh_map()
                return
            except Unavailable as exc:
                if not exc.details.get("unreachable"):
                    raise
                pause = self.retry.delay(attempt, self.rng)
                if loop.time() + pause >= deadline:
                    raise
            attempt += 1
            await asyncio.sleep(pause)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.batcher.aclose()
        for st in self._streams.values():
            await st.aclose()
        for link in self._links.values():
            if link is not None:
                await link.aclose()
        for ch in self._channels.values():
            await ch.close()

    def _channel(self, addr: str) -> grpc.aio.Channel:
        ch = self._channels.get(addr)
        if ch is None:
            ch = self._channels[addr] = grpc.aio.insecure_channel(addr, options=[
                ("grpc.max_receive_message_length", 64 << 20),
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ], interceptors=self._interceptors or None)
            self._kv[addr] = kv_pb2_grpc.KVStub(ch)
        return ch

    def kv_stub(self, addr: str) -> kv_pb2_grpc.KVStub:
        self._channel(addr)
        return self._kv[addr]

    def _stream(self, addr: str) -> BatchStream:
        st = self._streams.get(addr)
        if st is None:
            st = self._streams[addr] = BatchStream(self.kv_stub(addr).MultiBatchStream)
        return st

    async def _link(self, addr: str) -> TcpBatchLink | None:
        loop = asyncio.get_running_loop()
        if self._links.get(addr, False) is None and loop.time() >= self._no_link_until[addr]:
            del self._links[addr]
        if addr not in self._links and (at := self._link_at.get(addr)) is not None:
            host, port = at.rsplit(":", 1)  # as given: LinkInfo would name the node's port
            self._links[addr] = TcpBatchLink(host, int(port), self.cluster_id)
        if addr not in self._links:
            link = await discover(self.kv_stub(addr), addr, self.cluster_id, self.rpc_timeout)
            if addr in self._links:  # a concurrent caller was first
                if link is not None:
                    await link.aclose()
            else:
                self._links[addr] = link
                self._no_link_until[addr] = loop.time() + self.link_recheck_s
        return self._links[addr]

    async def _multi_batch(self, addr: str, req: kv_pb2.MultiBatchRequest
                           ) -> kv_pb2.MultiBatchResponse:
        """Raises KVError (a failed stream request) or AioRpcError (a failed call)."""
        if self.tcp_batches and (addr not in self._proxied or addr in self._link_at):
            link = await self._link(addr)
            if link is not None:
                try:
                    return await link.request(req, self.rpc_timeout)
                except Unavailable as exc:
                    if exc.details.get("unreachable"):  # restarted on another port?
                        self._links.pop(addr, None)
                    raise
        if self.stream_batches:
            st = self._stream(addr)
            if not st.unsupported:
                try:
                    return await st.request(req, self.rpc_timeout)
                except StreamUnsupported:
                    pass  # an older node: use the call from now on
        resp: kv_pb2.MultiBatchResponse = await self.kv_stub(addr).MultiBatch(
            req, timeout=self.rpc_timeout)
        return resp

    async def refresh_map(self) -> None:
        """Fetch the shard map from the first endpoint (or known node) that answers."""
        candidates = list(self.endpoints)
        if self.router.map is not None:
            candidates += [a for a in self.router.all_addresses() if a not in candidates]
        errors: list[str] = []
        unreachable = True  # every endpoint failed as a node does (not a refusal)
        for addr in candidates:
            try:
                stub = admin_pb2_grpc.AdminStub(self._channel(addr))
                info = await stub.ClusterInfo(
                    admin_pb2.ClusterInfoRequest(cluster_id=self.cluster_id),
                    timeout=self.rpc_timeout)
            except grpc.aio.AioRpcError as exc:
                errors.append(f"{addr}: {from_rpc_error(exc).message}")
                unreachable = unreachable and exc.code() in _NODE_FAILURES
                continue
            self.router.set_map(shard_map_from_proto(info))
            if not self.cluster_id:
                self.cluster_id = info.cluster_id
            return
        raise Unavailable("cannot reach any endpoint: " + "; ".join(errors),
                          unreachable=unreachable)

    # --- sessions ---------------------------------------------------------------
    def session(self, shard: int) -> ShardSession:
        s = self.sessions.get(shard)
        if s is None:
            s = self.sessions[shard] = ShardSession()
        return s

    # --- the RPC under a batch ------------------------------------------------
    def _header(self, shard: int, level: int) -> kv_pb2.RequestHeader:
        sess = self.session(shard)
        consistency = kv_pb2.CONSISTENCY_LINEARIZABLE if level == _WRITE else level
        return kv_pb2.RequestHeader(
            cluster_id=self.cluster_id, shard_id=shard, epoch=self.router.require_map().epoch,
            consistency=consistency, client_id=sess.client_id, ack_seq=sess.ack_seq(),
            min_applied_index=(self.seen_index.get(shard, 0)
                               if level == kv_pb2.CONSISTENCY_SEQUENTIAL else 0))

    async def _send_batch(self, key: BatchKey, shard_ops: dict[int, list[kv_pb2.Op]]
                          ) -> list[tuple[int, kv_pb2.BatchResponse]]:
        addr, level = key
        shards = list(shard_ops)
        req = kv_pb2.MultiBatchRequest(batches=[
            kv_pb2.BatchRequest(header=self._header(s, level), ops=shard_ops[s])
            for s in shards])
        breaker = self.router.breaker(addr)
        try:
            resp = await self._multi_batch(addr, req)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _NODE_FAILURES:
                breaker.record_failure()
            else:
                breaker.record_success()
            raise from_rpc_error(exc) from None
        except (Unavailable, Timeout):
            breaker.record_failure()
            raise
        except KVError:
            breaker.record_success()
            raise
        breaker.record_success()
        for shard, r in zip(shards, resp.responses, strict=False):
            h = r.header
            if h.applied_index > self.seen_index.get(shard, 0):
                self.seen_index[shard] = h.applied_index
            if h.leader_id:
                self.router.note_leader(shard, h.leader_id)
        return list(zip(shards, resp.responses, strict=False))

    # --- one op with routing and retries ------------------------------------
    async def _execute(self, key: bytes, op: kv_pb2.Op, level: int,
                       shard: int = 0) -> kv_pb2.OpResult:
        """Route `op` (to `shard` if given: the caller just looked it up), retrying."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        attempt = 0
        last: KVError | None = None
        while True:
            if not shard:
                if self.router.map is None:
                    await self.refresh_map()
                shard = self.router.shard_for(key)
            try:
                to_leader = level in _LEADER_LEVELS or level == _WRITE
                addr = (self.router.leader_addr(shard) if to_leader
                        else self.router.replica_addr(shard))
                result, _hdr = await self.batcher.submit((addr, level), shard, op)
                if not result.HasField("error"):
                    return result
                raise error_from_proto(result.error)
            except NotLeader as exc:
                last = exc
                believed = self.router.leaders.get(shard, 0)
                if exc.leader_hint and exc.leader_hint not in self.router.require_map().nodes:
                    # A node that joined after our map was fetched: a newer epoch knows it.
                    await self.refresh_map()
                if exc.leader_hint and exc.leader_hint != believed:
                    self.router.note_leader(shard, exc.leader_hint)
                    if attempt >= 2:  # hints can be stale during an election: slow down
                        await self._sleep(attempt, deadline)
                else:
                    # No news (or the hint is the leader we could not reach): the
                    # election is still running; try another replica after a pause.
                    self.router.rotate_leader(shard)
                    await self._sleep(attempt, deadline)
            except WrongShard as exc:
                last = exc
                await self.refresh_map()
            except (Unavailable, Timeout) as exc:
                last = exc
                if to_leader:
                    self.router.rotate_leader(shard)
                await self._sleep(attempt, deadline)
            attempt += 1
            if loop.time() >= deadline or attempt >= self.retry.max_attempts:
                what = "write may or may not have been applied" if level == _WRITE else "read"
                raise Timeout(f"shard {shard}: gave up after {attempt} attempts "
                              f"({what}); last error: {last.message if last else 'none'}")
            shard = 0  # look it up again: the map may have changed

    async def _sleep(self, attempt: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        delay = min(self.retry.delay(attempt, self.rng), max(0.0, deadline - loop.time()))
        await asyncio.sleep(delay)

    async def _write(self, key: bytes, op: kv_pb2.Op) -> kv_pb2.OpResult:
        if self.router.map is None:
            await self.refresh_map()
        shard = self.router.shard_for(key)
        sess = self.session(shard)
        op.seq = sess.next_seq()
        try:
            return await self._execute(key, op, _WRITE, shard)
        except SessionExpired:
            # The server forgot us: whether this write applied is unknown. Start afresh.
            self.sessions.pop(shard, None)
            raise
        finally:
            sess.done(op.seq)

    # --- public API -------------------------------------------------------------
    async def get(self, key: bytes, *, consistency: str | None = None) -> bytes | None:
        k = check_key(key)
        level = self.default_consistency if consistency is None else parse_consistency(consistency)
        r = await self._execute(k, kv_pb2.Op(type=kv_pb2.OP_TYPE_GET, key=k), level)
        return r.value if r.found else None

    async def put(self, key: bytes, value: bytes) -> None:
        k, v = check_key(key), check_value(value)
        await self._write(k, kv_pb2.Op(type=kv_pb2.OP_TYPE_PUT, key=k, value=v))

    async def delete(self, key: bytes) -> bool:
        k = check_key(key)
        r = await self._write(k, kv_pb2.Op(type=kv_pb2.OP_TYPE_DELETE, key=k))
        return bool(r.found)

    async def cas(self, key: bytes, expected: bytes | None, new: bytes) -> bool:
        """Set `key` to `new` iff its value is `expected` (None: iff it is absent)."""
        k, v = check_key(key), check_value(new)
        op = kv_pb2.Op(type=kv_pb2.OP_TYPE_CAS, key=k, value=v,
                       expect_absent=expected is None,
                       expected=b"" if expected is None else check_value(expected))
        r = await self._write(k, op)
        return bool(r.cas_succeeded)

    async def scan(self, start: bytes = b"", end: bytes = b"", *, prefix: bytes | None = None,
                   limit: int = 0, consistency: str | None = None) -> list[tuple[bytes, bytes]]:
        """Keys in [start, end) (or with `prefix`) from every shard, merged in key order."""
        from kvstore.client.scan import scan_all

        return await scan_all(self, start, end, prefix, limit, consistency)

    def stats(self) -> dict[str, Any]:
        return {"batches": self.batcher.batches_sent, "ops": self.batcher.ops_sent}
