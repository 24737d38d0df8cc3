"""The `KV` servicer: client requests -> shard group -> Raft -> reply.

Every request names a shard (or, for single-key calls, 0 to let the server
hash the key). The handler checks cluster id, shard ownership and that the
key belongs to the shard (WRONG_SHARD otherwise), validates limits before
anything reaches the log (INVALID_ARGUMENT), then:
- writes join the group's current turn and reply once applied (durable);
- reads wait per consistency level: ReadIndex (linearizable), the lease, the
  client's last seen index (sequential, any replica), or nothing (stale),
  then read from one LMDB read transaction.
A Batch's ops are independent: its writes are proposed together, its reads
share one read index, and each op gets its own result or error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from kvstore.errors import (
    InvalidArgument,
    KVError,
    NotLeader,
    Timeout,
    WrongCluster,
    WrongShard,
)
from kvstore.proto import kv_pb2
from kvstore.rpc_status import error_to_proto, map_errors
from kvstore.server import batch_stream, ops
from kvstore.server.cluster_view import ClusterView
from kvstore.server.config import NodeConfig
from kvstore.server.group import Group
from kvstore.server.host import MultiRaftHost
from kvstore.sharding import ShardMap
from kvstore.statemachine import StateMachine

_C = kv_pb2
_WRITES = (_C.OP_TYPE_PUT, _C.OP_TYPE_DELETE, _C.OP_TYPE_CAS)
MAX_SCAN_LIMIT = 10_000
# Requests of one MultiBatchStream running at once (a client sends about one
# per consistency level; the rest is a misbehaving client, held back).
STREAM_MAX_INFLIGHT = 16


@dataclass(slots=True)
class _Started:
    """A shard's batch submitted to its group, waiting to be answered."""

    request: kv_pb2.BatchRequest
    group: Group
    results: list[kv_pb2.OpResult | None]
    deadline: float  # loop time
    writes: list[int] = field(default_factory=list)  # indices of the ops submitted
    write_fut: asyncio.Future[list[Any]] | None = None  # all of them, one entry
    reads: list[int] = field(default_factory=list)
    # Reads alone: submitted with the batch (None for stale reads: read at once).
    barrier: asyncio.Future[int] | None = None


class KVService:
    def __init__(self, host: MultiRaftHost, sm: StateMachine, view: ClusterView,
                 cfg: NodeConfig) -> None:
        self.host = host
        self.sm = sm
        self.view = view
        self.cfg = cfg
        self.tcp_port = 0  # the raw client-link listener's (kvstore/server/kv_tcp.py), if any

    @property
    def map(self) -> ShardMap:
        return self.view.map

    # --- request checks ------------------------------------------------------
    def _check_cluster(self, cluster_id: str) -> None:
        if cluster_id and cluster_id != self.cfg.cluster_id:
            raise WrongCluster(f"request for cluster {cluster_id!r} reached cluster "
                               f"{self.cfg.cluster_id!r}")

    def _group(self, header: kv_pb2.RequestHeader, key: bytes | None) -> Group:
        self._check_cluster(header.cluster_id)
        shard = header.shard_id
        if shard == 0:
            if key is None:
                raise InvalidArgument("shard_id is required for this call")
            shard = self.map.shard_for_key(key)
        elif not 1 <= shard <= self.cfg.shards:
            raise InvalidArgument(f"unknown shard {shard}: this cluster has shards "
                                  f"1..{self.cfg.shards}")
        elif key is not None and self.map.shard_for_key(key) != shard:
            raise WrongShard(f"key does not belong to shard {shard}", epoch=self.map.epoch)
        g = self.host.group(shard)
        if g is None:
            lead = self.map.shard(shard).replicas[0]
            raise NotLeader(f"node {self.cfg.node_id} has no replica of shard {shard}",
                            shard=shard, leader_hint=lead, leader_addr=self.map.address(lead))
        return g

    @contextlib.contextmanager
    def _read_txn(self, g: Group) -> Iterator[Any]:
        """A read transaction of `g`'s data, refused if the replica was destroyed meanwhile.

        A read's barrier completes in one loop turn and its handler resumes later; in
        between, the host may delete a replica that applied its own removal (replica
        GC). LMDB's snapshot isolation makes the check exact: a transaction begun
        before the deletion still sees the data, one begun after it sees the group
        gone from `host.groups` here."""
        with self.host.store.read() as txn:
            if self.host.groups.get(g.gid) is not g:
                raise self._not_leader(NotLeader(
                    f"node {self.cfg.node_id} no longer holds shard {g.gid}", shard=g.gid,
                    leader_hint=g.core.leader_id))
            yield txn

    def _not_leader(self, exc: NotLeader) -> NotLeader:
        lead = exc.leader_hint
        exc.leader_addr = self.map.nodes.get(lead, "") if lead else ""
        return exc

    def _header(self, g: Group) -> kv_pb2.ResponseHeader:
        c = g.core
        return kv_pb2.ResponseHeader(node_id=self.cfg.node_id, leader_id=c.leader_id,
                                     applied_index=max(c.applied_index, g.resolved_index),
                                     commit_index=c.commit_index, epoch=self.map.epoch)

    async def _wait(self, fut: asyncio.Future[Any], deadline: float | None = None) -> Any:
        try:
            if fut.done():  # resolved with an earlier shard's of the same MultiBatch
                return fut.result()
            self.host.wake()
            return await asyncio.wait_for(fut, self._timeout(deadline))
        except TimeoutError:
            raise Timeout("request timed out in the node; a write may or may not apply") from None
        except NotLeader as exc:
            raise self._not_leader(exc) from None

    async def _read_barrier(self, g: Group, header: kv_pb2.RequestHeader) -> None:
        barrier = self._submit_barrier(g, header)
        if barrier is not None:
            await self._wait(barrier)

    def _submit_barrier(self, g: Group, header: kv_pb2.RequestHeader
                        ) -> asyncio.Future[int] | None:
        """The future a read at `header`'s consistency waits for (None: read now)."""
        level = header.consistency
        try:
            if level in (_C.CONSISTENCY_UNSPECIFIED, _C.CONSISTENCY_LINEARIZABLE):
                return g.submit_linearizable_read()
            if level == _C.CONSISTENCY_LEASE:
                return g.submit_lease_read(self.host.lease_clock_ok())
            if level == _C.CONSISTENCY_SEQUENTIAL:
                return g.wait_applied(header.min_applied_index)
            if level != _C.CONSISTENCY_STALE:
                raise InvalidArgument(f"unknown consistency level {level}")
            return None
        except NotLeader as exc:
            raise self._not_leader(exc) from None

    # --- Batch: the client's coalesced path ------------------------------------
    @map_errors
    async def Batch(self, request: kv_pb2.BatchRequest,
                    context: grpc.aio.ServicerContext[Any, Any]) -> kv_pb2.BatchResponse:
        return await self._batch(request)

    @map_errors
    async def MultiBatch(self, request: kv_pb2.MultiBatchRequest,
                         context: grpc.aio.ServicerContext[Any, Any]
                         ) -> kv_pb2.MultiBatchResponse:
        return await self.multi_batch(request)

    @map_errors
    async def LinkInfo(self, request: kv_pb2.LinkInfoRequest,
                       context: grpc.aio.ServicerContext[Any, Any]) -> kv_pb2.LinkInfoResponse:
        self._check_cluster(request.cluster_id)
        return kv_pb2.LinkInfoResponse(node_id=self.cfg.node_id, tcp_port=self.tcp_port)

    async def MultiBatchStream(self, requests: AsyncIterator[kv_pb2.MultiBatchRequest],
                               context: grpc.aio.ServicerContext[Any, Any]
                               ) -> AsyncIterator[kv_pb2.MultiBatchResponse]:
        # An async generator, as grpc.aio needs for a response stream.
        async for resp in batch_stream.serve(requests, self.multi_batch, STREAM_MAX_INFLIGHT):
            yield resp

    async def multi_batch(self, request: kv_pb2.MultiBatchRequest
                           ) -> kv_pb2.MultiBatchResponse:
        total = sum(len(b.ops) for b in request.batches)
        if total > self.cfg.max_batch_ops * 8:
            raise InvalidArgument(f"multi-batch of {total} ops exceeds "
                                  f"{self.cfg.max_batch_ops * 8}")
        # Every shard's ops join the host's next turn before any is awaited (no
        # task per shard); one shard's failure must not fail the others.
        started = [self._start_or_error(b) for b in request.batches]
        return kv_pb2.MultiBatchResponse(responses=[
            st if isinstance(st, kv_pb2.BatchResponse) else await self._finish_or_error(st)
            for st in started])

    def _start_or_error(self, request: kv_pb2.BatchRequest) -> _Started | kv_pb2.BatchResponse:
        try:
            return self._start(request)
        except Exception as exc:
            return self._error_response(exc)

    async def _finish_or_error(self, st: _Started) -> kv_pb2.BatchResponse:
        try:
            return await self._finish(st)
        except Exception as exc:
            return self._error_response(exc)

    def _error_response(self, exc: Exception) -> kv_pb2.BatchResponse:
        if isinstance(exc, NotLeader):
            exc = self._not_leader(exc)
        return kv_pb2.BatchResponse(error=error_to_proto(exc))

    async def _batch(self, request: kv_pb2.BatchRequest) -> kv_pb2.BatchResponse:
        return await self._finish(self._start(request))

    def _start(self, request: kv_pb2.BatchRequest) -> _Started:
        """Check a shard's batch and submit its writes (and, for reads alone, its read
        barrier) to the group; raises for a failure of the whole batch."""
        h = request.header
        if len(request.ops) > self.cfg.max_batch_ops:
            raise InvalidArgument(f"batch of {len(request.ops)} ops exceeds "
                                  f"{self.cfg.max_batch_ops}")
        g = self._group(h, None)
        # One deadline for the whole batch: a MultiBatch awaits its shards in turn.
        deadline = asyncio.get_running_loop().time() + self.cfg.request_timeout_s
        st = _Started(request, g, [None] * len(request.ops), deadline)
        cmds = []
        for i, op in enumerate(request.ops):
            try:
                self._check_op_shard(g.gid, op)
                if op.type in _WRITES:
                    cmds.append(ops.command(self.sm, op, h.client_id, h.ack_seq))
                    st.writes.append(i)
                elif op.type == _C.OP_TYPE_GET:
                    ops.check_key(self.sm, op.key)
                    st.reads.append(i)
                else:
                    raise InvalidArgument(f"unknown op type {op.type}")
            except KVError as exc:
                st.results[i] = kv_pb2.OpResult(error=error_to_proto(exc))
        if cmds:
            try:
                st.write_fut = g.submit_writes(cmds)
            except NotLeader as exc:
                raise self._not_leader(exc) from None
            except KVError as exc:  # Overloaded: the writes fail, the reads go on
                for i in st.writes:
                    st.results[i] = kv_pb2.OpResult(error=error_to_proto(exc))
                st.writes = []
        if st.reads and not st.writes:
            st.barrier = self._submit_barrier(g, h)
        return st

    async def _finish(self, st: _Started) -> kv_pb2.BatchResponse:
        g, results = st.group, st.results
        await self._finish_writes(st)
        if st.reads:
            # Reads of a batch with writes start after them: they see the writes.
            barrier = st.barrier if not st.writes else self._submit_barrier(g, st.request.header)
            if barrier is not None:
                await self._wait(barrier, st.deadline)
            with self._read_txn(g) as txn:
                for i in st.reads:
                    results[i] = ops.get_result(self.sm, txn, g.gid, st.request.ops[i].key)
        return kv_pb2.BatchResponse(header=self._header(g),
                                    results=[r or kv_pb2.OpResult() for r in results])

    def _check_op_shard(self, gid: int, op: kv_pb2.Op) -> None:
        if op.key and self.map.shard_for_key(op.key) != gid:
            raise WrongShard(f"key does not belong to shard {gid}", epoch=self.map.epoch)

    def _timeout(self, deadline: float | None) -> float:
        if deadline is None:
            return self.cfg.request_timeout_s
        return max(0.0, deadline - asyncio.get_running_loop().time())

    async def _finish_writes(self, st: _Started) -> None:
        fut, results = st.write_fut, st.results
        if fut is None:
            return
        # A MultiBatch's shards are mostly answered by one host turn: once the first
        # shard's wait returns, the others' futures are done, and a wait would
        # still cost each of them a loop iteration.
        if not fut.done():
            self.host.wake()
            await asyncio.wait([fut], timeout=self._timeout(st.deadline))
        if not fut.done():
            fut.cancel()
            err: BaseException = Timeout("write timed out in the node; it may or may not apply")
        elif fut.exception() is not None:
            err = fut.exception()  # type: ignore[assignment]
            if isinstance(err, NotLeader):
                err = self._not_leader(err)
        else:
            for i, res in zip(st.writes, fut.result(), strict=False):
                results[i] = ops.write_result(res)
            return
        failed = kv_pb2.OpResult(error=error_to_proto(err))  # type: ignore[arg-type]
        for i in st.writes:
            results[i] = failed

    # --- single-op calls (kvctl, simple apps) ------------------------------------
    async def _one(self, header: kv_pb2.RequestHeader, op: kv_pb2.Op
                   ) -> tuple[kv_pb2.OpResult, kv_pb2.ResponseHeader]:
        g = self._group(header, op.key)
        if op.type == _C.OP_TYPE_GET:
            ops.check_key(self.sm, op.key)
            await self._read_barrier(g, header)
            with self._read_txn(g) as txn:
                return ops.get_result(self.sm, txn, g.gid, op.key), self._header(g)
        try:
            fut = g.submit_write(ops.command(self.sm, op, header.client_id, header.ack_seq))
        except NotLeader as exc:
            raise self._not_leader(exc) from None
        res = ops.write_result(await self._wait(fut))
        if res.HasField("error"):
            from kvstore.rpc_status import error_from_proto

            raise error_from_proto(res.error)
        return res, self._header(g)

    @map_errors
    async def Get(self, request: kv_pb2.GetRequest,
                  context: grpc.aio.ServicerContext[Any, Any]) -> kv_pb2.GetResponse:
        r, h = await self._one(request.header, kv_pb2.Op(type=_C.OP_TYPE_GET, key=request.key))
        return kv_pb2.GetResponse(header=h, found=r.found, value=r.value)

    @map_errors
    async def Put(self, request: kv_pb2.PutRequest,
                  context: grpc.aio.ServicerContext[Any, Any]) -> kv_pb2.PutResponse:
        _, h = await self._one(request.header, kv_pb2.Op(
            type=_C.OP_TYPE_PUT, key=request.key, value=request.value, seq=request.seq))
        return kv_pb2.PutResponse(header=h)

    @map_errors
    async def Delete(self, request: kv_pb2.DeleteRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> kv_pb2.DeleteResponse:
        r, h = await self._one(request.header, kv_pb2.Op(
            type=_C.OP_TYPE_DELETE, key=request.key, seq=request.seq))
        return kv_pb2.DeleteResponse(header=h, found=r.found)

    @map_errors
    async def CompareAndSwap(self, request: kv_pb2.CompareAndSwapRequest,
                             context: grpc.aio.ServicerContext[Any, Any]
                             ) -> kv_pb2.CompareAndSwapResponse:
        r, h = await self._one(request.header, kv_pb2.Op(
            type=_C.OP_TYPE_CAS, key=request.key, value=request.value, seq=request.seq,
            expected=request.expected, expect_absent=request.expect_absent))
        return kv_pb2.CompareAndSwapResponse(header=h, succeeded=r.cas_succeeded,
                                             found=r.found, current=r.value)

    @map_errors
    async def Scan(self, request: kv_pb2.ScanRequest,
                   context: grpc.aio.ServicerContext[Any, Any]) -> kv_pb2.ScanResponse:
        h = request.header
        if h.shard_id == 0:
            raise InvalidArgument("Scan needs a shard_id (the client fans out to every shard)")
        g = self._group(h, None)
        limit = min(request.limit or MAX_SCAN_LIMIT, MAX_SCAN_LIMIT)
        await self._read_barrier(g, h)
        with self._read_txn(g) as txn:
            items = self.sm.scan(txn, g.gid, request.start_key, request.end_key or None,
                                 limit + 1)
        more = len(items) > limit
        items = items[:limit]
        return kv_pb2.ScanResponse(
            header=self._header(g), more=more,
            next_start_key=items[-1][0] + b"\x00" if more and items else b"",
            items=[kv_pb2.KeyValue(key=k, value=b"" if request.keys_only else v)
                   for k, v in items])
