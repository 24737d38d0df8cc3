"""`kvctl leader transfer --shard S --to NODE`: move a shard's leadership."""

from __future__ import annotations

import sys
import time

import click
import grpc

from kvstore.cluster.probe import cluster_info
from kvstore.proto import admin_pb2, admin_pb2_grpc
from kvstore.rpc_status import from_rpc_error


@click.group()
def leader() -> None:
    """Leadership operations."""


@leader.command()
@click.option("--shard", required=True, type=click.IntRange(1))
@click.option("--to", "to_node", required=True, type=click.IntRange(1), help="Target node id.")
@click.option("--endpoints", envvar="KVSTORE_ENDPOINTS", required=True)
@click.option("--timeout", default=10.0, show_default=True)
def transfer(shard: int, to_node: int, endpoints: str, timeout: float) -> None:
    """Ask SHARD's leader to hand leadership to node TO and wait until it has."""
    eps = [e for e in endpoints.split(",") if e]
    info = cluster_info(eps)
    if info is None:
        raise click.ClickException(f"no endpoint answered ({endpoints})")
    addrs = {n.id: n.address for n in info.nodes}
    shard_info = next((s for s in info.shards if s.id == shard), None)
    if shard_info is None:
        raise click.ClickException(f"no shard {shard}: the cluster has shards 1..{len(info.shards)}")
    if to_node not in shard_info.replicas:
        raise click.ClickException(f"node {to_node} is not a replica of shard {shard} "
                                   f"(replicas: {list(shard_info.replicas)})")
    target = shard_info.leader_hint or shard_info.replicas[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with grpc.insecure_channel(addrs[target]) as ch:
                r = admin_pb2_grpc.AdminStub(ch).TransferLeader(admin_pb2.TransferLeaderRequest(
                    shard_id=shard, to_node=to_node), timeout=2)
        except grpc.RpcError as exc:
            err = from_rpc_error(exc)
            hint = getattr(err, "leader_hint", 0)
            if hint and hint in addrs:
                target = hint  # follow the leader hint
                continue
            time.sleep(0.1)
            continue
        if r.leader_id == to_node:
            click.echo(f"shard {shard}: node {to_node} leads (term {r.term})")
            return
        time.sleep(0.1)
        target = to_node  # once it leads, asking it again confirms
    click.echo(f"error: shard {shard}: node {to_node} did not take over within {timeout:.0f}s",
               err=True)
    sys.exit(1)
