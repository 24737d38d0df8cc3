"""kvctl entry point: the click group and the registration of every command module."""

from __future__ import annotations

import click

from kvstore import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kvctl")
def cli() -> None:
    """kvctl: talk to a kvstore cluster, run benchmarks and check histories."""


def _register() -> None:
    # Each command lives in its own module; importing here keeps the group the
    # one place that knows them all.
    from cli import (
        bench_cmd,
        chaos_cmd,
        check_cmd,
        cluster_cmd,
        kv_cmd,
        leader_cmd,
        node_cmd,
        status_cmd,
    )

    cli.add_command(bench_cmd.bench)
    cli.add_command(chaos_cmd.chaos)
    cli.add_command(check_cmd.check)
    cli.add_command(cluster_cmd.cluster)
    cli.add_command(status_cmd.status)
    cli.add_command(leader_cmd.leader)
    cli.add_command(leader_cmd.member)
    cli.add_command(node_cmd.node)
    kv_cmd.register(cli)


def main() -> None:
    _register()
    cli()


if __name__ == "__main__":
    main()
