"""`kvstore-node`: the node daemon's command line and process lifecycle.

Configuration comes from `--config FILE.toml` and/or flags (flags win).
SIGTERM and SIGINT shut down gracefully: stop accepting requests, fail
waiting clients with UNAVAILABLE, close peer streams, close LMDB.
Runs on uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import click

from kvstore.errors import InternalError, KVError
from kvstore.logging import configure, get_logger
from kvstore.server.config import load_config, parse_peers
from kvstore.sharding.meta import LEADER_POLICY_NAMES


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML configuration file.")
@click.option("--node-id", type=int, default=None, help="This node's id (positive).")
@click.option("--listen", default=None, help="HOST:PORT to serve gRPC on.")
@click.option("--peers", default=None, help="All members: 1=HOST:PORT,2=HOST:PORT,...")
@click.option("--join", default=None,
              help="Seeds of a running cluster to join: HOST:PORT,HOST:PORT (no --peers).")
@click.option("--data-dir", default=None, help="Directory for this node's LMDB data.")
@click.option("--cluster-id", default=None, help="Cluster id; peers of another are refused.")
@click.option("--shards", type=int, default=None, help="Number of shards (Raft groups).")
@click.option("--replication", type=int, default=None, help="Replicas per shard.")
@click.option("--leader-policy", type=click.Choice(LEADER_POLICY_NAMES), default=None,
              help="Initial members: where shard leaders sit (see kvctl leader policy).")
@click.option("--tick-ms", type=int, default=None, help="Raft tick period in ms.")
@click.option("--election-ticks", type=int, default=None, help="Election timeout in ticks.")
@click.option("--heartbeat-ticks", type=int, default=None, help="Heartbeat period in ticks.")
@click.option("--quiesce-ticks", type=int, default=None,
              help="Idle ticks before a shard stops heartbeating (0: never).")
@click.option("--log-level", default=None, help="debug, info, warning or error.")
@click.option("--log-json/--no-log-json", default=None, help="JSON-lines logs.")
def cli(config_path: str | None, **flags: Any) -> None:
    """Run one kvstore node."""
    if flags.get("peers") is not None:
        try:
            flags["peers"] = parse_peers(flags["peers"])
        except KVError as exc:
            raise click.UsageError(exc.message) from exc
    if flags.get("join") is not None:
        flags["join"] = [a.strip() for a in flags["join"].split(",") if a.strip()]
    try:
        cfg = load_config(config_path, flags)
    except KVError as exc:
        raise click.UsageError(exc.message) from exc
    configure(cfg.log_level, cfg.log_json)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(_serve(cfg))
    except KVError as exc:
        get_logger().error("node.failed", error=exc.message)
        sys.exit(1)


async def _serve(cfg: Any) -> None:
    from kvstore.server.node import Node

    node = Node(cfg)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    failed = asyncio.ensure_future(node.failed.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        failed.cancel()
        stopped.cancel()
        await node.aclose()
    if node.failed.is_set():
        raise InternalError("the Raft host loop failed; see the log above")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
