"""`kvctl chaos run`: a Jepsen-style chaos run against a fresh local cluster.

A thin click wrapper over `kvstore.chaos`: parse options, print the seed
first (the unit of reproduction), run, print the verdict, the op counts, the
checker's time and where the report folder is. The exit code is the run's:
0 linearizable (and every key read back after healing), 1 not linearizable,
2 unknown, 3 the cluster did not recover; bad options exit 2 with a message.
"""

from __future__ import annotations

import random
from pathlib import Path

import click

from kvstore.chaos import CLIENT_CUTS, KINDS, WORKLOADS, ChaosConfig, run
from kvstore.client import CONSISTENCY
from kvstore.errors import KVError
from kvstore.sharding.meta import LEADER_POLICY_NAMES

_COLORS = {"linearizable": "green", "not linearizable": "red", "unknown": "yellow"}


def _nemesis(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    kinds = [k.strip() for k in value.split(",") if k.strip() and k.strip() != "none"]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise click.BadParameter(f"unknown fault {', '.join(unknown)}; choose from "
                                 f"{', '.join(KINDS)} (comma-separated) or none")
    return kinds


@click.group()
def chaos() -> None:
    """Jepsen-style chaos testing of a local cluster (kill, pause, partition)."""


@chaos.command("run")
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 7))
@click.option("--shards", default=4, show_default=True, type=click.IntRange(1, 256))
@click.option("--leader-policy", default="spread", show_default=True,
              type=click.Choice(LEADER_POLICY_NAMES), help="Where shard leaders sit.")
@click.option("--workload", default="register", show_default=True,
              type=click.Choice(WORKLOADS))
@click.option("--nemesis", default="partition,kill,pause", show_default=True,
              callback=_nemesis, help=f"Comma-separated faults: {', '.join(KINDS)}, or none.")
@click.option("--time", "time_s", default=60.0, show_default=True,
              type=click.FloatRange(min=1), metavar="S", help="Seconds of workload.")
@click.option("--interval", "interval_s", default=5.0, show_default=True,
              type=click.FloatRange(min=0.5), metavar="S",
              help="About S seconds of quiet, then S seconds of fault, and so on.")
@click.option("--concurrency", default=10, show_default=True, type=click.IntRange(1, 200),
              help="Logical clients, each with one op in flight.")
@click.option("--consistency", default="linearizable", show_default=True,
              type=click.Choice(list(CONSISTENCY)),
              help="Read consistency of the workload (stale: the canary that must fail).")
@click.option("--seed", type=int, default=None, help="Seed of every random choice "
              "(default: a random one, printed).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder (default: chaos-out/<workload>-<seed>).")
@click.option("--op-timeout", "op_timeout_s", default=1.5, show_default=True,
              type=click.FloatRange(min=0.1), metavar="S",
              help="Client deadline per op; past it the op is indeterminate.")
@click.option("--keys", type=click.IntRange(1, 10_000), default=None,
              help="Live keys (default: register 8, kv 32).")
@click.option("--ops-per-key", type=click.IntRange(1), default=None,
              help="Ops before a key slot moves to a fresh key (default: register 400, kv 200).")
@click.option("--client-cuts", default="sometimes", show_default=True,
              type=click.Choice(CLIENT_CUTS),
              help="Whether partitions also cut the clients off the minority side.")
@click.option("--check-timeout", "check_timeout_s", default=120.0, show_default=True,
              type=click.FloatRange(min=1), metavar="S",
              help="Give up checking after S seconds (verdict unknown, exit 2).")
@click.option("--keep-data", is_flag=True, help="Keep the nodes' data directories.")
def run_cmd(seed: int | None, out: Path | None, nemesis: list[str], **opts: object) -> None:
    """Run a workload against a fresh cluster under faults, then check the history."""
    seed = random.randrange(1 << 31) if seed is None else seed
    out = out or Path("chaos-out") / f"{opts['workload']}-{seed}"
    click.echo(f"seed {seed}  (reproduce with --seed {seed})")
    click.echo(f"report folder {out}")
    try:
        report = run(ChaosConfig(out=out, seed=seed, nemesis=nemesis, **opts))  # type: ignore[arg-type]
    except (KVError, ValueError, OSError) as exc:
        msg = exc.message if isinstance(exc, KVError) else str(exc)
        raise click.ClickException(f"{msg} (seed {seed}; node logs under {out})") from exc
    c = report.counts
    click.secho(report.verdict.value, fg=_COLORS[report.verdict.value], bold=True)
    for line in report.explanation.splitlines():
        click.echo(f"  {line}")
    click.echo(f"ops: {c['ok']} ok, {c['fail']} failed, {c['info']} indeterminate "
               f"({report.n_checked} checked); faults: "
               + (", ".join(f"{n} {k}" for k, n in sorted(report.nemesis.items())) or "none"))
    waits = [s for _, s in report.recovery_s if s is not None]
    if waits:
        click.echo(f"recovery after a fault heals: max {max(waits):.2f} s, "
                   f"mean {sum(waits) / len(waits):.2f} s")
    click.echo(f"final reads: {report.final_ok}/{report.keys} keys"
               + ("" if report.recovered else "; NOT RECOVERED: some node did not come back "
                                           "with every shard led in time"))
    click.echo(f"checker: {report.check_s:.2f} s; run: {report.run_s:.1f} s; {report.plots}")
    click.echo(f"seed {seed}; report in {out}")
    raise SystemExit(report.exit_code)
