"""`kvctl put|get|delete|cas|scan|status`: data commands and cluster status.

Endpoints come from `--endpoints` or `KVSTORE_ENDPOINTS`. Keys and values are
given as text (UTF-8). Errors print one actionable line to stderr and exit 1
(2 for usage errors); nothing here prints a traceback for a cluster problem.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from kvstore.client import CONSISTENCY, SyncKVClient
from kvstore.errors import KVError

F = TypeVar("F", bound=Callable[..., Any])


def _common(f: F) -> F:
    f = click.option("--endpoints", envvar="KVSTORE_ENDPOINTS", required=True,
                     help="Comma-separated HOST:PORT list (or env KVSTORE_ENDPOINTS).")(f)
    f = click.option("--timeout", default=10.0, show_default=True,
                     help="Seconds per operation, retries included.")(f)
    return f


def _output(f: F) -> F:
    return click.option("--output", "-o", type=click.Choice(["table", "json"]),
                        default="table", show_default=True)(f)


def _consistency(f: F) -> F:
    return click.option("--consistency", "-c", type=click.Choice(list(CONSISTENCY)),
                        default="linearizable", show_default=True)(f)


def _text(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", errors="backslashreplace")


@contextmanager
def _client(endpoints: str, timeout: float) -> Iterator[SyncKVClient]:
    try:
        with SyncKVClient(endpoints.split(","), timeout=timeout) as kv:
            yield kv
    except KVError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


def _emit(output: str, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data) if output == "json" else text)


@click.command()
@click.argument("key")
@click.argument("value")
@_common
@_output
def put(key: str, value: str, endpoints: str, timeout: float, output: str) -> None:
    """Set KEY to VALUE."""
    with _client(endpoints, timeout) as kv:
        kv.put(key.encode(), value.encode())
    _emit(output, {"key": key, "ok": True}, "OK")


@click.command()
@click.argument("key")
@_common
@_output
@_consistency
def get(key: str, endpoints: str, timeout: float, output: str, consistency: str) -> None:
    """Print the value of KEY (exit 1 if absent)."""
    with _client(endpoints, timeout) as kv:
        v = kv.get(key.encode(), consistency=consistency)
    _emit(output, {"key": key, "found": v is not None, "value": _text(v)},
          _text(v) if v is not None else "(not found)")
    if v is None:
        sys.exit(1)


@click.command()
@click.argument("key")
@_common
@_output
def delete(key: str, endpoints: str, timeout: float, output: str) -> None:
    """Delete KEY."""
    with _client(endpoints, timeout) as kv:
        found = kv.delete(key.encode())
    _emit(output, {"key": key, "deleted": found}, "deleted" if found else "(not found)")


@click.command()
@click.argument("key")
@click.argument("new")
@click.option("--expect", default=None, help="Expected current value.")
@click.option("--expect-absent", is_flag=True, help="Succeed only if KEY does not exist.")
@_common
@_output
def cas(key: str, new: str, expect: str | None, expect_absent: bool, endpoints: str,
        timeout: float, output: str) -> None:
    """Set KEY to NEW iff its value is --expect (or it is absent, --expect-absent)."""
    if (expect is None) == (not expect_absent):
        raise click.UsageError("give exactly one of --expect VALUE or --expect-absent")
    with _client(endpoints, timeout) as kv:
        ok = kv.cas(key.encode(), None if expect_absent else (expect or "").encode(),
                    new.encode())
    _emit(output, {"key": key, "swapped": ok}, "swapped" if ok else "not swapped")
    if not ok:
        sys.exit(1)


@click.command()
@click.option("--prefix", default=None, help="Keys starting with this prefix.")
@click.option("--start", default="", help="First key (inclusive).")
@click.option("--end", default="", help="Last key (exclusive).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(0))
@_common
@_output
@_consistency
def scan(prefix: str | None, start: str, end: str, limit: int, endpoints: str, timeout: float,
         output: str, consistency: str) -> None:
    """List keys in key order across all shards."""
    if prefix is not None and (start or end):
        raise click.UsageError("give either --prefix or --start/--end")
    with _client(endpoints, timeout) as kv:
        items = kv.scan(start.encode(), end.encode(),
                        prefix=prefix.encode() if prefix is not None else None,
                        limit=limit, consistency=consistency)
    if output == "json":
        click.echo(json.dumps([{"key": _text(k), "value": _text(v)} for k, v in items]))
    else:
        for k, v in items:
            click.echo(f"{_text(k)}\t{_text(v)}")


def register(group: click.Group) -> None:
    for cmd in (put, get, delete, cas, scan):
        group.add_command(cmd)
