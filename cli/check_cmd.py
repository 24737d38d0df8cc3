"""`kvctl check`: check a recorded history for linearizability.

Role: a thin click wrapper over `kvstore.check`: load the file, check it, print
the verdict with a short explanation, optionally write the HTML timeline.

Invariants: the exit code is the verdict, 0 linearizable, 1 not linearizable,
2 unknown; bad input (missing file, malformed line, unknown op, unmatched
return) also exits 2, with an `error:` line on stderr and never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from kvstore.check import (
    FORMATS,
    MODELS,
    Verdict,
    explain,
    get_model,
    load_history,
    write_html,
)
from kvstore.check import check as check_history
from kvstore.errors import CheckError

EXIT_CODES = {Verdict.LINEARIZABLE: 0, Verdict.NOT_LINEARIZABLE: 1, Verdict.UNKNOWN: 2}
_COLORS = {Verdict.LINEARIZABLE: "green", Verdict.NOT_LINEARIZABLE: "red",
           Verdict.UNKNOWN: "yellow"}


@click.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--model", "model_name", type=click.Choice(sorted(MODELS)), required=True,
              help="Sequential model: one register (read/write/cas) or a kv map "
                   "(get/put/append/cas, checked per key).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="History format; detected from the first line when omitted.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              default=60.0, show_default=True, metavar="S",
              help="Give up (verdict unknown) after S seconds.")
@click.option("--max-memory-mb", type=click.IntRange(min=1), default=2048, show_default=True,
              metavar="MB",
              help="Give up (verdict unknown) when the search grows memory by this much.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="OUT", help="Also write a self-contained HTML timeline to this file.")
@click.pass_context
def check(ctx: click.Context, file: Path, model_name: str, fmt: str | None, timeout_s: float,
          max_memory_mb: int, html_out: Path | None) -> None:
    """Check the history in FILE for linearizability.

    Exit code: 0 linearizable, 1 not linearizable, 2 unknown or bad input.
    """
    model = get_model(model_name)
    try:
        history = load_history(file, fmt)
        result = check_history(history, model, timeout_s=timeout_s,
                               max_memory_bytes=max_memory_mb * 1024 * 1024)
    except CheckError as exc:
        click.echo(f"error: {exc.message}", err=True)
        ctx.exit(2)
    click.secho(result.verdict.value, fg=_COLORS[result.verdict], bold=True)
    for line in explain(result, history, model).splitlines():
        click.echo(f"  {line}")
    dropped = ", ".join(f"{n} {kind}" for kind, n in sorted(history.dropped.items()))
    if dropped:
        click.echo(f"  (dropped from the history: {dropped})")
    if html_out is not None:
        try:
            write_html(html_out, history, result, model)
        except OSError as exc:
            click.echo(f"error: cannot write {html_out}: {exc.strerror}", err=True)
            ctx.exit(2)
        click.echo(f"  timeline written to {html_out}")
    ctx.exit(EXIT_CODES[result.verdict])
