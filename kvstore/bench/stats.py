"""Measurement primitives: latency recording, percentiles, medians and process CPU time.

- `Recorder` keeps per-op latencies (ns) in a preallocated `array('q')`, so the
  hot loop only stores an int (it doubles its buffer if a run outlives the guess).
- `summarize()` gives count, mean and nearest-rank p50/p99/p999/max in ms; the
  nearest-rank percentile is always an observed latency, never an interpolation.
- `proc_cpu_s()` reads utime+stime of a pid from /proc/PID/stat (psutil is not a
  dependency); it returns None for a process that is gone, so a crashed server
  shows up as a missing figure instead of a wrong one.
"""

from __future__ import annotations

import math
import os
import statistics
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PERCENTILES = (("p50", 0.50), ("p99", 0.99), ("p999", 0.999))


class Recorder:
    """Latencies of one op kind in one process, in nanoseconds."""

    __slots__ = ("buf", "n")

    def __init__(self, expected: int = 1 << 16) -> None:
        self.buf = array("q", bytes(8 * max(16, expected)))
        self.n = 0

    def add(self, latency_ns: int) -> None:
        n = self.n
        if n == len(self.buf):
            self.buf.extend(array("q", bytes(8 * n)))
        self.buf[n] = latency_ns
        self.n = n + 1

    def values(self) -> array[int]:
        return self.buf[: self.n]

    def to_bytes(self) -> bytes:
        return self.values().tobytes()


def from_bytes(chunks: Iterable[bytes]) -> array[int]:
    """Merge latency arrays sent by worker processes (native byte order, same host)."""
    out = array("q")
    for chunk in chunks:
        out.frombytes(chunk)
    return out


def percentile(sorted_ns: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of an ascending sequence (q in [0, 1])."""
    if not sorted_ns:
        raise ValueError("percentile of no samples")
    rank = max(1, math.ceil(q * len(sorted_ns)))
    return sorted_ns[min(rank, len(sorted_ns)) - 1]


def summarize(latencies_ns: Sequence[int]) -> dict[str, Any]:
    """count, mean_ms, p50_ms, p99_ms, p999_ms, max_ms (None when there are no samples)."""
    if not latencies_ns:
        return {"count": 0, "mean_ms": None, "max_ms": None,
                **{f"{name}_ms": None for name, _ in PERCENTILES}}
    s = sorted(latencies_ns)
    out: dict[str, Any] = {"count": len(s), "mean_ms": _ms(sum(s) / len(s))}
    for name, q in PERCENTILES:
        out[f"{name}_ms"] = _ms(percentile(s, q))
    out["max_ms"] = _ms(s[-1])
    return out


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def median_or_none(values: Iterable[float | None]) -> float | None:
    """Median of the values that are known; None if none is."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of `pid` so far, or None if it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw.rpartition(")")[2].split()
    try:
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    except (IndexError, ValueError):
        return None
    return (utime + stime) / _CLK_TCK


def total_cpu_s(pids: Iterable[int]) -> float | None:
    """Sum of `proc_cpu_s` over pids; None if any of them cannot be read."""
    total = 0.0
    for pid in pids:
        cpu = proc_cpu_s(pid)
        if cpu is None:
            return None
        total += cpu
    return total


def fs_type(path: str | Path) -> str:
    """The filesystem type holding `path` (from /proc/mounts), e.g. 'ext4' or 'tmpfs'.

    Recorded with results because fsync on tmpfs is free, which would make a
    'durable' benchmark meaningless."""
    target = str(Path(path).resolve())
    best, kind = "", "unknown"
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) >= len(best):
            best, kind = mnt, parts[2]
    return kind
