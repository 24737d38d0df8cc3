"""Issue 4 acceptance against a real 3-node cluster: failover under load, exactly-once
retries, read-your-writes, stale lag, and the circuit breaker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import grpc
import pytest

from kvstore.client import KVClient
from kvstore.client.breaker import BreakerState
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import node_status
from kvstore.errors import KVError, Timeout
from kvstore.proto import kv_pb2, kv_pb2_grpc
from tests.cluster.test_node import shard_leader


def test_leader_failover_under_load_has_no_client_visible_errors(
        cluster3: LocalCluster) -> None:
    errors: list[str] = []
    done = {"ops": 0}

    async def scenario() -> None:
        async with KVClient(cluster3.endpoints, timeout=15) as kv:
            stop = asyncio.Event()

            async def worker(w: int) -> None:
                i = 0
                while not stop.is_set():
                    k = b"f%d-%d" % (w, i % 50)
                    try:
                        await kv.put(k, b"%d" % i)
                        assert await kv.get(k) == b"%d" % i
                        done["ops"] += 2
                    except KVError as exc:
                        errors.append(f"{type(exc).__name__}: {exc.message}")
                    i += 1

            tasks = [asyncio.create_task(worker(w)) for w in range(16)]
            await asyncio.sleep(1.5)
            before = done["ops"]
            for shard in (1, 2):
                victim = shard_leader(cluster3, shard)
                if victim and cluster3.alive(victim):
                    await asyncio.to_thread(cluster3.kill, victim)
                    break
            await asyncio.sleep(3.0)
            stop.set()
            await asyncio.gather(*tasks)
            assert done["ops"] > before, "no progress after the leader was killed"

    asyncio.run(scenario())
    assert errors == []
    assert done["ops"] > 200


class DropFirstCasReply(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """A faulty network: the first MultiBatch carrying a CAS reaches the server and is
    applied, but its reply is lost on the way back."""

    def __init__(self) -> None:
        self.dropped = 0

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        call = await continuation(details, request)
        if (not self.dropped and details.method.endswith(b"/MultiBatch")
                and any(op.type == kv_pb2.OP_TYPE_CAS for b in request.batches for op in b.ops)):
            await call  # the server applied it
            self.dropped += 1
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(),
                                       grpc.aio.Metadata(), "reply lost (injected)")
        return call


def test_retried_write_after_dropped_reply_is_applied_once(cluster3: LocalCluster) -> None:
    drop = DropFirstCasReply()

    async def scenario() -> tuple[bool, bytes | None]:
        # Unary calls: the interceptor sees MultiBatch (streamed batches bypass it).
        async with KVClient(cluster3.endpoints, interceptors=[drop],
                            stream_batches=False) as kv:
            ok = await kv.cas(b"once", None, b"1")
            return ok, await kv.get(b"once")

    ok, value = asyncio.run(scenario())
    assert drop.dropped == 1
    # The retry was answered from the session table: the original result (swapped),
    # not a second application (which would see "1" and report not swapped).
    assert ok is True and value == b"1"


def test_without_a_session_the_same_retry_is_applied_twice(cluster3: LocalCluster) -> None:
    """The control: the very same request sent twice without client_id/seq."""
    async def scenario() -> list[bool]:
        async with KVClient(cluster3.endpoints) as kv:
            shard = kv.router.shard_for(b"twice")
            stub = kv.kv_stub(kv.router.leader_addr(shard))
            req = kv_pb2.BatchRequest(header=kv_pb2.RequestHeader(shard_id=shard), ops=[
                kv_pb2.Op(type=kv_pb2.OP_TYPE_CAS, key=b"twice", value=b"1",
                          expect_absent=True)])
            out = []
            for _ in range(2):
                r = await stub.Batch(req, timeout=5)
                out.append(r.results[0].cas_succeeded)
            return out

    assert asyncio.run(scenario()) == [True, False]


def _get(addr: str, key: bytes, consistency: int, min_index: int = 0,
         timeout: float = 5) -> bytes | None:
    with grpc.insecure_channel(addr) as ch:
        r = kv_pb2_grpc.KVStub(ch).Get(kv_pb2.GetRequest(key=key, header=kv_pb2.RequestHeader(
            consistency=consistency, min_applied_index=min_index)), timeout=timeout)
    return r.value if r.found else None


def test_sequential_reads_your_writes_and_stale_may_lag(cluster3: LocalCluster) -> None:
    async def write(kv: KVClient, v: bytes) -> int:
        await kv.put(b"ryw", v)
        return kv.seen_index[kv.router.shard_for(b"ryw")]

    async def setup() -> tuple[int, int, list[int], int]:
        async with KVClient(cluster3.endpoints) as kv:
            await write(kv, b"v1")
            shard = kv.router.shard_for(b"ryw")
            lead = shard_leader(cluster3, shard)
            followers = [n for n in cluster3.nodes if n != lead]
            cluster3.pause(followers[0])  # this follower will miss v2
            try:
                seen = await write(kv, b"v2")
            finally:
                cluster3.resume(followers[0])
            return seen, lead, followers, shard

    seen, lead, followers, shard = asyncio.run(setup())
    lagger = cluster3.nodes[followers[0]].addr
    # Read-your-writes on every replica, including the one that missed the write:
    # a sequential read waits until that replica has applied what we saw.
    for n in cluster3.nodes.values():
        assert _get(n.addr, b"ryw", kv_pb2.CONSISTENCY_SEQUENTIAL, seen) == b"v2"
    # Now isolate the lagger for good: pause it, write v3, kill the two others.
    cluster3.pause(followers[0])

    async def write3() -> int:
        async with KVClient(cluster3.endpoints) as kv:
            return await write(kv, b"v3")

    seen3 = asyncio.run(write3())
    cluster3.kill(lead)
    cluster3.kill(followers[1])
    cluster3.resume(followers[0])
    time.sleep(0.5)
    st = node_status(lagger)
    assert st is not None
    applied = next(g.applied_index for g in st.groups if g.group_id == shard)
    if applied >= seen3:
        # The leader's append and commit for v3 were already in the paused node's socket
        # buffer (sent while it was stopped); it applied them on resume. Not a lag.
        assert _get(lagger, b"ryw", kv_pb2.CONSISTENCY_STALE) == b"v3"
    else:
        # A stale read is served locally and shows the lag...
        assert _get(lagger, b"ryw", kv_pb2.CONSISTENCY_STALE) == b"v2"
        # ...while a sequential read refuses to go back in time: it waits, then times out.
        with pytest.raises(grpc.RpcError) as ei:
            _get(lagger, b"ryw", kv_pb2.CONSISTENCY_SEQUENTIAL, seen3, timeout=1.5)
        assert ei.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    cluster3.start(lead)
    cluster3.start(followers[1])
    assert _get(lagger, b"ryw", kv_pb2.CONSISTENCY_SEQUENTIAL, seen3, timeout=20) == b"v3"


def test_breaker_opens_on_dead_node_and_closes_after_recovery(cluster3: LocalCluster) -> None:
    async def scenario() -> None:
        async with KVClient(cluster3.endpoints, timeout=10) as kv:
            await kv.put(b"b", b"1")
            # Followers apply it within commit_notice_delay_ms: wait until every replica
            # serves it (stale reads rotate over the replicas).
            seen = 0
            for _ in range(500):
                seen = seen + 1 if await kv.get(b"b", consistency="stale") == b"1" else 0
                if seen == 6:
                    break
                await asyncio.sleep(0.01)
            assert seen == 6
            addr2 = cluster3.nodes[2].addr
            cluster3.kill(2)
            # Stale reads rotate over all replicas, so they keep trying node 2.
            for _ in range(30):
                assert await kv.get(b"b", consistency="stale") == b"1"
            assert kv.router.breaker(addr2).state == BreakerState.OPEN
            cluster3.start(2)
            deadline = time.monotonic() + 30
            while kv.router.breaker(addr2).state != BreakerState.CLOSED:
                assert time.monotonic() < deadline, "breaker never closed"
                with contextlib.suppress(Timeout):
                    await kv.get(b"b", consistency="stale")
                await asyncio.sleep(0.1)

    asyncio.run(scenario())


def test_connect_waits_for_a_cluster_that_is_still_starting(tmp_path: Any) -> None:
    """Nodes starting (or restarting after kill -9) refuse connections for a moment;
    a client opened then keeps trying until its timeout instead of failing at once."""
    c = LocalCluster.create(tmp_path / "c", 3, shards=2, tick_ms=20, election_ticks=10)

    async def scenario() -> None:
        async with KVClient(c.endpoints, timeout=1.0) as _never:
            pass

    # Nothing listens yet: Unavailable once the timeout has passed, naming the endpoints.
    with pytest.raises(KVError, match="cannot reach any endpoint"):
        asyncio.run(scenario())

    async def late_start() -> bytes | None:
        kv = KVClient(c.endpoints, timeout=60.0)
        opening = asyncio.create_task(kv.connect())
        await asyncio.sleep(1.0)
        assert not opening.done()  # still retrying, not failed
        await asyncio.to_thread(c.start)
        try:
            await opening
            await kv.put(b"late", b"ok")
            return await kv.get(b"late")
        finally:
            await kv.aclose()

    try:
        assert asyncio.run(late_start()) == b"ok"
    finally:
        c.stop()


def test_batch_stream_answers_every_request_once_and_survives_a_bad_one(
        cluster3: LocalCluster) -> None:
    """A client floods one node's MultiBatchStream past the node's per-stream limit,
    with a request too large to accept in the middle: every request gets exactly one
    answer with its id, the bad one a whole-request INVALID_ARGUMENT, and the stream
    keeps serving after it."""
    async def scenario() -> dict[int, kv_pb2.MultiBatchResponse]:
        async with KVClient(cluster3.endpoints) as kv:
            await kv.put(b"streamed", b"v")
            shard = kv.router.shard_for(b"streamed")
            addr = kv.router.leader_addr(shard)
            get = kv_pb2.BatchRequest(
                header=kv_pb2.RequestHeader(shard_id=shard),
                ops=[kv_pb2.Op(type=kv_pb2.OP_TYPE_GET, key=b"streamed")])
            huge = kv_pb2.BatchRequest(header=kv_pb2.RequestHeader(shard_id=shard), ops=[
                kv_pb2.Op(type=kv_pb2.OP_TYPE_GET, key=b"k")] * 40_000)
            call = kv.kv_stub(addr).MultiBatchStream()
            for rid in range(1, 41):
                batches = [huge] if rid == 20 else [get]
                await call.write(kv_pb2.MultiBatchRequest(request_id=rid, batches=batches))
            answers: dict[int, kv_pb2.MultiBatchResponse] = {}
            while len(answers) < 40:
                resp = await asyncio.wait_for(call.read(), 10)
                assert resp.request_id not in answers
                answers[resp.request_id] = resp
            await call.write(kv_pb2.MultiBatchRequest(request_id=41, batches=[get]))
            answers[41] = await asyncio.wait_for(call.read(), 10)
            await call.done_writing()
            return answers

    answers = asyncio.run(scenario())
    assert sorted(answers) == list(range(1, 42))
    bad = answers.pop(20)
    assert bad.error.type == "InvalidArgument" and not bad.responses
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    for resp in answers.values():
        assert not resp.HasField("error")
        assert resp.responses[0].results[0].value == b"v"
