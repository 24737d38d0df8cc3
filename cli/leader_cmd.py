"""`kvctl leader transfer|policy` and `kvctl member add-learner|promote|remove`: shard
operations."""

from __future__ import annotations

import sys
import time

import click

from kvstore.cluster.admin import (
    call_shard_leader,
    change_member,
    set_leader_policy,
    wait_leaders,
)
from kvstore.cluster.probe import cluster_status
from kvstore.errors import KVError
from kvstore.proto import admin_pb2
from kvstore.sharding.meta import LEADER_POLICY_NAMES


def _endpoints(endpoints: str) -> list[str]:
    return [e for e in endpoints.split(",") if e]


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
    req = admin_pb2.TransferLeaderRequest(shard_id=shard, to_node=to_node)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r = call_shard_leader(_endpoints(endpoints), shard,
                                  lambda stub: stub.TransferLeader(req, timeout=2), timeout)
            if r.leader_id == to_node:
                click.echo(f"shard {shard}: node {to_node} leads (term {r.term})")
                return
            time.sleep(0.1)
    except KVError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"error: shard {shard}: node {to_node} did not take over within {timeout:.0f}s",
               err=True)
    sys.exit(1)


@leader.command()
@click.argument("policy", required=False, type=click.Choice(LEADER_POLICY_NAMES))
@click.option("--node", "leader_node", default=0, type=click.IntRange(0),
              help="With pack: the node that leads first (default: the lowest id).")
@click.option("--endpoints", envvar="KVSTORE_ENDPOINTS", required=True)
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until every shard is led by its preferred leader.")
@click.option("--timeout", default=60.0, show_default=True)
def policy(policy: str | None, leader_node: int, endpoints: str, wait: bool,
           timeout: float) -> None:
    """Show or set where shard leaders sit, for the whole cluster.

    spread: each shard prefers its first placed replica, so leaders spread over
    the nodes (the default). pack: every shard prefers one node (--node, else
    its voter with the lowest id), so one node leads every shard it holds, as
    in etcd; a Raft round of all shards then shares that node's transactions
    and peer messages (see README, Performance). Leaders move on their own,
    one transfer per shard."""
    eps = _endpoints(endpoints)
    try:
        if policy is None:
            if leader_node:
                raise click.UsageError("--node needs a policy (pack)")
            st = cluster_status(eps)
            if not st["nodes"]:
                raise KVError(str(st["problems"][0]))
            click.echo(f"leader policy: {describe_policy(st['leader_policy'], st['leader_node'])}")
            return
        r = set_leader_policy(eps, policy, leader_node, timeout)
        click.echo(f"leader policy {describe_policy(r.policy, r.leader_node)} "
                   f"(metadata epoch {r.epoch})")
        if wait:
            st = wait_leaders(eps, timeout)
            click.echo(f"{len(st['shards']) - 1} shards and the metadata group are led by "
                       "their preferred leaders")
    except KVError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


def describe_policy(policy: str, leader_node: int) -> str:
    if policy != "pack":
        return policy or "unknown"
    return f"pack (node {leader_node} first)" if leader_node else "pack (lowest id first)"


@click.group()
def member() -> None:
    """Change a shard's Raft membership, one single-step change at a time."""


def _change(action: str, shard: int, node: int, endpoints: str, timeout: float) -> None:
    try:
        r = change_member(_endpoints(endpoints), shard, action, node, timeout)
    except KVError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"shard {shard}: voters {list(r.voters)} learners {list(r.learners)} "
               f"(at index {r.index})")


def _member_command(name: str, doc: str) -> click.Command:
    @click.option("--shard", required=True, type=click.IntRange(1))
    @click.option("--node", required=True, type=click.IntRange(1))
    @click.option("--endpoints", envvar="KVSTORE_ENDPOINTS", required=True)
    @click.option("--timeout", default=10.0, show_default=True)
    def cmd(shard: int, node: int, endpoints: str, timeout: float) -> None:
        _change(name, shard, node, endpoints, timeout)

    cmd.__doc__ = doc
    return click.command(name)(cmd)


member.add_command(_member_command("add-learner", "Add NODE to SHARD as a non-voting learner."))
member.add_command(_member_command(
    "promote", "Promote learner NODE of SHARD to voter (retried until it caught up)."))
member.add_command(_member_command(
    "remove", "Remove NODE from SHARD (a removed leader steps down)."))
