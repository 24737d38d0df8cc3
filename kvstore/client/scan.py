"""Cross-shard scans: page through every shard's `KV.Scan` and merge in key order.

Keys are hashed to shards, so any range touches every shard. Each shard is
paged (`next_start_key`) on its own, all shards in parallel; the results are
merged with heapq and cut at `limit`.
"""

from __future__ import annotations

import asyncio
import heapq
from typing import TYPE_CHECKING

import grpc

from kvstore.errors import InvalidArgument, KVError, NotLeader
from kvstore.proto import kv_pb2
from kvstore.rpc_status import from_rpc_error

if TYPE_CHECKING:
    from kvstore.client.core import KVClient

PAGE = 1000


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix` (b"" = no bound)."""
    p = bytearray(prefix)
    while p:
        if p[-1] < 0xFF:
            p[-1] += 1
            return bytes(p)
        p.pop()
    return b""


async def scan_all(kv: KVClient, start: bytes, end: bytes, prefix: bytes | None, limit: int,
                   consistency: str | None) -> list[tuple[bytes, bytes]]:
    from kvstore.client.core import parse_consistency

    if prefix is not None:
        if start or end:
            raise InvalidArgument("give either prefix or start/end, not both")
        start, end = prefix, prefix_end(prefix)
    if limit < 0:
        raise InvalidArgument("limit must be >= 0")
    level = kv.default_consistency if consistency is None else parse_consistency(consistency)
    if kv.router.map is None:
        await kv.refresh_map()
    parts = await asyncio.gather(*(
        _scan_shard(kv, s, start, end, limit, level) for s in kv.router.shard_ids()))
    merged = heapq.merge(*parts)
    return list(merged)[:limit] if limit else list(merged)


async def _scan_shard(kv: KVClient, shard: int, start: bytes, end: bytes, limit: int,
                      level: int) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    cursor = start
    attempts = 0
    while True:
        page = min(PAGE, limit - len(out)) if limit else PAGE
        try:
            resp = await _scan_page(kv, shard, cursor, end, page, level)
        except NotLeader as exc:
            attempts += 1
            if attempts > 20:
                raise
            if exc.leader_hint:
                kv.router.note_leader(shard, exc.leader_hint)
            else:
                kv.router.rotate_leader(shard)
                await asyncio.sleep(0.05)
            continue
        out.extend((it.key, it.value) for it in resp.items)
        if not resp.more or (limit and len(out) >= limit):
            return out
        cursor = resp.next_start_key


async def _scan_page(kv: KVClient, shard: int, start: bytes, end: bytes, limit: int,
                     level: int) -> kv_pb2.ScanResponse:
    leader_levels = (kv_pb2.CONSISTENCY_LINEARIZABLE, kv_pb2.CONSISTENCY_LEASE)
    addr = (kv.router.leader_addr(shard) if level in leader_levels
            else kv.router.replica_addr(shard))
    header = kv_pb2.RequestHeader(
        cluster_id=kv.cluster_id, shard_id=shard, epoch=kv.router.require_map().epoch,
        consistency=level, min_applied_index=kv.seen_index.get(shard, 0))
    try:
        return await kv.kv_stub(addr).Scan(
            kv_pb2.ScanRequest(header=header, start_key=start, end_key=end, limit=limit),
            timeout=kv.timeout)
    except grpc.aio.AioRpcError as exc:
        err: KVError = from_rpc_error(exc)
        raise err from None
