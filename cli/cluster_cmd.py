"""`kvctl cluster up|down|status`: a local cluster of real node processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from click.core import ParameterSource

from kvstore.cluster.local import LocalCluster
from kvstore.errors import KVError
from kvstore.sharding.meta import LEADER_POLICY_NAMES


@click.group()
def cluster() -> None:
    """Start and stop a local cluster on 127.0.0.1."""


@cluster.command()
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 7))
@click.option("--dir", "root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the nodes' data, logs and pid files.")
@click.option("--shards", default=8, show_default=True, type=click.IntRange(1, 8192))
@click.option("--replication", default=3, show_default=True, type=click.IntRange(1, 7))
@click.option("--leader-policy", type=click.Choice(LEADER_POLICY_NAMES), default="spread",
              show_default=True, help="Where shard leaders sit (see kvctl leader policy).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for leaders.")
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C stops the cluster.")
def up(nodes: int, root: Path, shards: int, replication: int, leader_policy: str,
       timeout: float, foreground: bool) -> None:
    """Launch NODES kvstore-node processes and wait until every shard has a leader.

    A DIR that holds a stopped cluster gets that cluster back: its nodes restart
    with their data, addresses and configuration (the layout options must then
    match it or be left out)."""
    if (root / "cluster.json").exists():
        c = LocalCluster.load(root)
        if any(c.alive(n) for n in c.nodes):
            raise click.ClickException(f"a cluster is already running in {root}; "
                                       f"run 'kvctl cluster down --dir {root}' first")
        _check_resume(c, root, nodes=len(c.nodes), shards=c.shards,
                      replication=c.replication)
        click.echo(f"restarting the cluster in {root} (its data, addresses and config)",
                   err=True)
    else:
        c = LocalCluster.create(root, nodes, shards=shards, replication=replication,
                                extra={"leader_policy": leader_policy})
    c.start()
    try:
        c.wait_ready(timeout)
    except KVError as exc:
        c.stop()
        raise click.ClickException(exc.message) from exc
    click.echo(",".join(c.endpoints))
    if foreground:
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            click.echo("stopping cluster", err=True)
            c.stop()


def _check_resume(c: LocalCluster, root: Path, **existing: int) -> None:
    """Refuse layout options given on the command line that differ from the cluster's."""
    ctx = click.get_current_context()
    for name, have in existing.items():
        given = ctx.params[name]
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE and given != have:
            raise click.ClickException(
                f"{root} holds a {have}-{name} cluster, not {given}: leave --{name} out "
                f"to restart it, or use another --dir")
    if ctx.get_parameter_source("leader_policy") == ParameterSource.COMMANDLINE:
        raise click.ClickException(f"{root} holds a cluster: change its policy with "
                                   f"'kvctl leader policy' once it runs")


@cluster.command()
@click.option("--dir", "root", required=True, type=click.Path(file_okay=False, path_type=Path))
def down(root: Path) -> None:
    """Stop the cluster in DIR (SIGTERM, then SIGKILL after 10 s)."""
    try:
        c = LocalCluster.load(root)
    except KVError as exc:
        raise click.ClickException(exc.message) from exc
    c.stop()
    click.echo(f"stopped {len(c.nodes)} nodes")


@cluster.command()
@click.option("--dir", "root", required=True, type=click.Path(file_okay=False, path_type=Path))
def endpoints(root: Path) -> None:
    """Print the client endpoints of the cluster in DIR (and which nodes are alive)."""
    try:
        c = LocalCluster.load(root)
    except KVError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(json.dumps({str(n): {"addr": c.nodes[n].addr, "alive": c.alive(n)}
                           for n in sorted(c.nodes)}))


@cluster.command("new-node")
@click.option("--dir", "root", required=True, type=click.Path(file_okay=False, path_type=Path))
def new_node(root: Path) -> None:
    """Start one more node in DIR, configured to join; prints its address.

    It holds nothing until `kvctl node add ADDRESS` adds it to the cluster."""
    try:
        c = LocalCluster.load(root)
        node = c.add_node()
        c.start(node.node_id)
    except KVError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(node.addr)
