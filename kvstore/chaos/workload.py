"""Workloads: what the chaos clients do, and how each outcome is recorded.

- `register` (checker model "register"): read, write and cas on a few keys;
  every written value is unique, and a cas expects the last value any client
  saw for that key (so many succeed).
- `kv` (checker model "kv"): get, put and append across many keys and shards.
  The client has no append, so an append is a cas loop: read the value, then
  cas(value, value + suffix) until a cas succeeds. A successful cas IS the
  append at that instant (same state before and after), so the op is recorded
  as `append(suffix)`; every suffix is unique.

Keys rotate (Jepsen's `independent`): a key slot moves to a fresh key after
`ops_per_key` ops, which bounds the work of the checker per key.

Recording rules (the heart of soundness):
- `ok`: the op took effect with this result;
- `fail`: it certainly did not: a read that errored (reads change nothing), a
  cas that answered "not swapped", an append whose every cas answered "not
  swapped" or that failed before its first cas;
- `info` (indeterminate): any error or timeout of a write, or of an append
  after it sent a cas. Never `fail` for those: a timed-out write may still apply.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass
from typing import Protocol

from kvstore.client import KVClient
from kvstore.errors import KVError

Value = str | tuple[str | None, str] | None

WORKLOADS = ("register", "kv")


@dataclass(slots=True)
class Op:
    f: str
    key: str
    value: Value = None


@dataclass(slots=True)
class Outcome:
    type: str  # "ok" | "fail" | "info"
    value: Value = None
    error: str = ""


def _error(exc: BaseException) -> str:
    if isinstance(exc, KVError):
        return f"{type(exc).__name__}: {exc.message}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _decode(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()


class KeySpace:
    """`slots` live keys; a slot moves to a new key after `ops_per_key` ops."""

    def __init__(self, prefix: str, slots: int, ops_per_key: int) -> None:
        if slots < 1 or ops_per_key < 1:
            raise ValueError("keys and ops per key must be at least 1")
        self.prefix = prefix
        self.ops_per_key = ops_per_key
        self.gen = [0] * slots
        self.count = [0] * slots
        self.used: dict[str, None] = {}  # insertion-ordered set

    def pick(self, rng: random.Random) -> str:
        slot = rng.randrange(len(self.gen))
        self.count[slot] += 1
        if self.count[slot] > self.ops_per_key:
            self.gen[slot] += 1
            self.count[slot] = 1
        key = f"{self.prefix}{slot}.{self.gen[slot]}"
        self.used[key] = None
        return key

    def all_keys(self) -> list[str]:
        return list(self.used)


class Workload(Protocol):
    name: str
    model: str
    read_f: str

    def next_op(self, rng: random.Random) -> Op: ...

    async def execute(self, kv: KVClient, op: Op, consistency: str | None = None
                      ) -> Outcome: ...

    def keys(self) -> list[str]: ...


class RegisterWorkload:
    name = "register"
    model = "register"
    read_f = "read"

    def __init__(self, keys: int = 8, ops_per_key: int = 400, consistency: str = "linearizable",
                 read_ratio: float = 0.5) -> None:
        self.space = KeySpace("r", keys, ops_per_key)
        self.consistency = consistency
        self.read_ratio = read_ratio
        self.last: dict[str, str | None] = {}
        self._values = itertools.count(1)

    def keys(self) -> list[str]:
        return self.space.all_keys()

    def next_op(self, rng: random.Random) -> Op:
        key = self.space.pick(rng)
        r = rng.random()
        if r < self.read_ratio:
            return Op("read", key)
        new = str(next(self._values))
        if r < (1 + self.read_ratio) / 2:
            return Op("write", key, new)
        return Op("cas", key, (self.last.get(key), new))

    async def execute(self, kv: KVClient, op: Op, consistency: str | None = None) -> Outcome:
        k = op.key.encode()
        try:
            if op.f == "read":
                got = _decode(await kv.get(k, consistency=consistency or self.consistency))
                self.last[op.key] = got
                return Outcome("ok", got)
            if op.f == "write":
                assert isinstance(op.value, str)
                await kv.put(k, op.value.encode())
                self.last[op.key] = op.value
                return Outcome("ok", op.value)
            assert isinstance(op.value, tuple)
            frm, to = op.value
            swapped = await kv.cas(k, None if frm is None else frm.encode(), to.encode())
        except (KVError, TimeoutError) as exc:
            return Outcome("fail" if op.f == "read" else "info", error=_error(exc))
        if not swapped:
            return Outcome("fail", op.value, "NotSwapped: cas found another value")
        self.last[op.key] = to
        return Outcome("ok", op.value)


class KVWorkload:
    name = "kv"
    model = "kv"
    read_f = "get"

    def __init__(self, keys: int = 32, ops_per_key: int = 200, consistency: str = "linearizable",
                 read_ratio: float = 0.4) -> None:
        self.space = KeySpace("k", keys, ops_per_key)
        self.consistency = consistency
        self.read_ratio = read_ratio
        self._tokens = itertools.count(1)

    def keys(self) -> list[str]:
        return self.space.all_keys()

    def next_op(self, rng: random.Random) -> Op:
        key = self.space.pick(rng)
        r = rng.random()
        if r < self.read_ratio:
            return Op("get", key)
        token = next(self._tokens)
        if r < self.read_ratio + (1 - self.read_ratio) / 3:
            return Op("put", key, f"={token};")
        return Op("append", key, f"{token};")

    async def execute(self, kv: KVClient, op: Op, consistency: str | None = None) -> Outcome:
        k = op.key.encode()
        if op.f == "append":
            return await self._append(kv, k, op)
        try:
            if op.f == "get":
                got = await kv.get(k, consistency=consistency or self.consistency)
                return Outcome("ok", _decode(got))
            assert isinstance(op.value, str)
            await kv.put(k, op.value.encode())
            return Outcome("ok", op.value)
        except (KVError, TimeoutError) as exc:
            return Outcome("fail" if op.f == "get" else "info", error=_error(exc))

    async def _append(self, kv: KVClient, k: bytes, op: Op) -> Outcome:
        assert isinstance(op.value, str)
        suffix = op.value.encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + kv.timeout
        sent_cas = False
        try:
            while loop.time() < deadline:
                cur = await kv.get(k, consistency="linearizable")
                sent_cas = True
                if await kv.cas(k, cur, (cur or b"") + suffix):
                    return Outcome("ok", op.value)
                sent_cas = False  # "not swapped" is definite: nothing applied so far
        except (KVError, TimeoutError) as exc:
            return Outcome("info" if sent_cas else "fail", error=_error(exc))
        return Outcome("fail", error="NotSwapped: every cas of the append lost a race")


def make_workload(name: str, *, keys: int | None = None, ops_per_key: int | None = None,
                  consistency: str = "linearizable") -> Workload:
    if name == "register":
        return RegisterWorkload(keys or 8, ops_per_key or 400, consistency)
    if name == "kv":
        return KVWorkload(keys or 32, ops_per_key or 200, consistency)
    raise ValueError(f"unknown workload {name!r}; expected one of {', '.join(WORKLOADS)}")
