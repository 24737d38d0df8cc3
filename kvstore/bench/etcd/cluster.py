"""A throwaway etcd cluster on 127.0.0.1 for the benchmark comparison.

`EtcdCluster.start()` launches N `etcd` members (default 3), each with its own
data dir under `root`, client and peer URLs on ephemeral loopback ports and a
static `--initial-cluster`. Writes stay durable: etcd fsyncs its WAL by default
and we never pass `--unsafe-no-fsync`. `wait_ready()` polls Maintenance.Status
until every member names the same leader and a linearizable Range succeeds.
`stop()` always reaps every member (SIGTERM, then SIGKILL), so a failed or
interrupted benchmark leaves no etcd behind; use the cluster as a context manager.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import grpc

from kvstore.bench.etcd import etcd_rpc_pb2 as pb
from kvstore.bench.etcd import etcd_rpc_pb2_grpc as pb_grpc
from kvstore.cluster.local import free_ports
from kvstore.errors import ConfigError, Unavailable

INSTALL_HINT = ("install it with 'apt-get update && apt-get install -y etcd-server' "
                "(Debian/Ubuntu) or pass --etcd-bin PATH")


def find_etcd(explicit: str | None = None) -> tuple[str | None, str]:
    """(path to an executable etcd, '') or (None, why not)."""
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit, ""
        return None, f"etcd binary {explicit!r} not found or not executable; {INSTALL_HINT}"
    found = shutil.which("etcd")
    if found is None:
        return None, f"etcd is not installed (no 'etcd' on PATH); {INSTALL_HINT}"
    return found, ""


def etcd_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    m = re.search(r"etcd Version:\s*(\S+)", out)
    return m.group(1) if m else "unknown"


@dataclass
class EtcdMember:
    name: str
    client_addr: str
    peer_addr: str
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / "etcd.log"


class EtcdCluster:
    def __init__(self, binary: str, root: Path, members: int = 3) -> None:
        if members < 1:
            raise ConfigError("an etcd cluster needs at least one member")
        self.binary = binary
        self.root = root
        ports = free_ports(2 * members)
        self.members = [
            EtcdMember(f"m{i}", f"127.0.0.1:{ports[2 * i - 2]}",
                       f"127.0.0.1:{ports[2 * i - 1]}", root / f"m{i}")
            for i in range(1, members + 1)
        ]

    def __enter__(self) -> EtcdCluster:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def endpoints(self) -> list[str]:
        return [m.client_addr for m in self.members]

    @property
    def pids(self) -> list[int]:
        return [m.proc.pid for m in self.members if m.proc is not None]

    def _args(self, m: EtcdMember) -> list[str]:
        initial = ",".join(f"{x.name}=http://{x.peer_addr}" for x in self.members)
        return [
            self.binary, "--name", m.name, "--data-dir", str(m.dir / "data"),
            "--listen-client-urls", f"http://{m.client_addr}",
            "--advertise-client-urls", f"http://{m.client_addr}",
            "--listen-peer-urls", f"http://{m.peer_addr}",
            "--initial-advertise-peer-urls", f"http://{m.peer_addr}",
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", f"kvbench-{os.getpid()}",
            "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
        ]

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            for m in self.members:
                m.dir.mkdir(parents=True, exist_ok=True)
                with open(m.log_path, "ab") as logf:
                    m.proc = subprocess.Popen(self._args(m), stdout=logf,
                                              stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL,
                                              start_new_session=True)
        except OSError as exc:
            self.stop()
            raise Unavailable(f"cannot start etcd ({self.binary}): {exc}") from exc

    def stop(self, timeout: float = 2.0) -> None:
        # A leader that gets SIGTERM first tries to hand over leadership to peers that
        # are shutting down too, which can take ~7 s; the data is throwaway, so after a
        # short grace period SIGKILL is fine.
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                m.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for m in self.members:
            if m.proc is None:
                continue
            try:
                m.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait(timeout=5)
            m.proc = None

    def port_clash(self) -> bool:
        """Did a member exit because another process took its port (free_port's race)?"""
        for m in self.members:
            if m.proc is not None and m.proc.poll() is not None:
                try:
                    if "address already in use" in m.log_path.read_text(errors="replace"):
                        return True
                except OSError:
                    continue
        return False

    def status(self, m: EtcdMember, timeout: float = 1.0) -> pb.StatusResponse | None:
        try:
            with grpc.insecure_channel(m.client_addr) as ch:
                resp: pb.StatusResponse = pb_grpc.MaintenanceStub(ch).Status(
                    pb.StatusRequest(), timeout=timeout)
                return resp
        except grpc.RpcError:
            return None

    def wait_ready(self, timeout: float = 30.0) -> str:
        """Block until all members agree on a leader; return the leader's client address."""
        deadline = time.monotonic() + timeout
        last = "no member answered"
        while time.monotonic() < deadline:
            for m in self.members:
                if m.proc is not None and m.proc.poll() is not None:
                    raise Unavailable(f"etcd member {m.name} exited with {m.proc.returncode}; "
                                      f"see {m.log_path}")
            leader, last = self._agreed_leader()
            if leader is not None and self._linearizable_read_ok(leader):
                return leader
            time.sleep(0.1)
        raise Unavailable(f"etcd cluster not ready after {timeout:.0f}s: {last}")

    def _agreed_leader(self) -> tuple[str | None, str]:
        by_member: dict[int, str] = {}
        leaders: set[int] = set()
        for m in self.members:
            st = self.status(m)
            if st is None:
                return None, f"member {m.name} does not answer Status yet"
            by_member[st.header.member_id] = m.client_addr
            leaders.add(st.leader)
        if len(leaders) != 1 or 0 in leaders:
            return None, f"no agreed leader yet (members report {sorted(leaders)})"
        leader = leaders.pop()
        if leader not in by_member:
            return None, f"leader {leader:x} is not one of our members"
        return by_member[leader], "ready"

    def _linearizable_read_ok(self, addr: str) -> bool:
        try:
            with grpc.insecure_channel(addr) as ch:
                pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"kvbench-probe"), timeout=2.0)
            return True
        except grpc.RpcError:
            return False
