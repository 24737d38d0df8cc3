"""`kvctl node add|remove|list`: cluster membership of whole nodes (the metadata group).

Adding or removing a node changes the metadata record (epoch + 1); every
shard leader then moves its replicas to the new placement online
(add learner, catch up, promote, remove). `--wait` blocks until no move is
in progress.
"""

from __future__ import annotations

import sys

import click

from kvstore.cluster.admin import add_node, remove_node, wait_placement
from kvstore.cluster.probe import cluster_status
from kvstore.errors import KVError
from kvstore.proto import admin_pb2


def _endpoints(endpoints: str) -> list[str]:
    return [e for e in endpoints.split(",") if e]


def _fail(exc: KVError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(1)


def _report(r: admin_pb2.NodeChangeResponse) -> None:
    removed = set(r.removed_nodes)
    active = [n.id for n in r.nodes if n.id not in removed]
    click.echo(f"epoch {r.epoch}: active nodes {active}"
               + (f", removed {sorted(removed)}" if removed else ""))


def _wait(endpoints: list[str], timeout: float) -> None:
    st = wait_placement(endpoints, timeout)
    click.echo(f"placement reached: {len(st['shards'])} groups led, no moves in progress")


@click.group()
def node() -> None:
    """Add or remove whole nodes; replicas move to the new placement online."""


@node.command("add")
@click.argument("address")
@click.option("--endpoints", envvar="KVSTORE_ENDPOINTS", required=True)
@click.option("--wait/--no-wait", default=False, help="Wait until every replica has moved.")
@click.option("--timeout", default=120.0, show_default=True)
def add(address: str, endpoints: str, wait: bool, timeout: float) -> None:
    """Add the node serving at ADDRESS (started with `join` seeds) to the cluster."""
    eps = _endpoints(endpoints)
    try:
        _report(add_node(eps, address))
        if wait:
            _wait([*eps, address], timeout)
    except KVError as exc:
        _fail(exc)


@node.command("remove")
@click.argument("node_id", type=click.IntRange(1))
@click.option("--endpoints", envvar="KVSTORE_ENDPOINTS", required=True)
@click.option("--wait/--no-wait", default=False,
              help="Wait until the node holds no replica (then it can be stopped).")
@click.option("--timeout", default=120.0, show_default=True)
def remove(node_id: int, endpoints: str, wait: bool, timeout: float) -> None:
    """Remove node NODE_ID: its replicas move away; stop it once that is done."""
    eps = _endpoints(endpoints)
    try:
        _report(remove_node(eps, node_id))
        if wait:
            _wait(eps, timeout)
            click.echo(f"node {node_id} holds no voting replica; it can be stopped")
    except KVError as exc:
        _fail(exc)


@node.command("list")
@click.option("--endpoints", envvar="KVSTORE_ENDPOINTS", required=True)
def list_nodes(endpoints: str) -> None:
    """Nodes with their state and how many groups each is a member of."""
    st = cluster_status(_endpoints(endpoints))
    counts: dict[int, int] = {}
    for s in st["shards"]:  # type: ignore[attr-defined]
        for r in s["replicas"]:
            counts[r["node"]] = counts.get(r["node"], 0) + 1
    click.echo(f"epoch {st.get('epoch')}, {st.get('moves', 0)} groups moving")
    for n in st["nodes"]:  # type: ignore[attr-defined]
        click.echo(f"node {n['id']:>3}  {n['address']:<22} {n['state']:<8} "
                   f"{'up' if n['up'] else 'down':<5} replicas {counts.get(n['id'], 0)}")
    if st["problems"]:
        sys.exit(1)
