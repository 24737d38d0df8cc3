"""`kvctl status`: a rich table of shards x replicas (role, term, commit, applied)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cli.leader_cmd import describe_policy
from kvstore.cluster.probe import cluster_status


@click.command()
@click.option("--endpoints", envvar="KVSTORE_ENDPOINTS", required=True,
              help="Comma-separated HOST:PORT list (or env KVSTORE_ENDPOINTS).")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def status(endpoints: str, output: str) -> None:
    """Show every shard's leader and each replica's Raft state; exit 1 if anything is wrong.

    Each cell: role, term (t), commit (c) and applied (a) index, last snapshot
    index (snap) and the number of log entries kept after it (log). "target" is
    where the metadata group places the shard; "moving" marks a replica move in
    progress (learners catching up, promotions, removals)."""
    st = cluster_status([e for e in endpoints.split(",") if e])
    if output == "json":
        click.echo(json.dumps(st))
    else:
        _render(st)
    if st["problems"]:
        sys.exit(1)


def _render(st: dict[str, Any]) -> None:
    console = Console()
    if st["nodes"]:
        up = sum(1 for n in st["nodes"] if n["up"])
        console.print(f"cluster [bold]{st['cluster_id']}[/] epoch {st['epoch']}: "
                      f"{up}/{len(st['nodes'])} nodes up, {len(st['shards']) - 1} shards "
                      f"+ metadata group, {st['moves']} replica moves in progress, "
                      f"leader policy {describe_policy(st['leader_policy'], st['leader_node'])}")
        t = Table("shard", "leader", "target", *[
            f"node {n['id']}" + (" (removed)" if n["state"] == "removed" else "")
            for n in st["nodes"]])
        for s in st["shards"]:
            cells = []
            for n in st["nodes"]:
                r = next((r for r in s["replicas"] if r["node"] == n["id"]), None)
                if r is None:
                    cells.append("")
                elif not r["up"]:
                    cells.append("[red]down[/]")
                else:
                    color = {"leader": "green", "learner": "yellow"}.get(r["role"], "white")
                    cells.append(f"[{color}]{r['role']}[/] t{r['term']} "
                                 f"c{r['commit']} a{r['applied']} "
                                 f"snap{r['snapshot']} log{r['log_entries']}")
            target = ",".join(map(str, s["target"])) + (" [yellow]moving[/]" if s["moving"]
                                                        else "")
            t.add_row("meta" if s["id"] == 0 else str(s["id"]), str(s["leader"] or "-"),
                      target, *cells)
        console.print(t)
    for p in st["problems"]:
        console.print(f"[red]problem:[/] {p}")
