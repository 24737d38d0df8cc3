"""`scripts/bench-scale`: the scaling measurements of `kvstore.bench.scale` from a shell.

    python -m kvstore.bench.scale_cli shards [--shards 1,8,64,256] [--smoke] [--json F]
    python -m kvstore.bench.scale_cli keys --keys 1000000 [--smoke] [--json F]
    python -m kvstore.bench.scale_cli disk --duration 120 [--node-opt snapshot_entries=1000]

Prints a Markdown table on stdout (progress notes go to stderr) and, with
`--json`, the raw rows. `--node-opt KEY=VALUE` sets a node configuration key
(a TOML value) on every node, e.g. `--node-opt quiesce=false` to measure
without idle-group quiescence. `--smoke` runs a tiny version in seconds (the
test suite uses it to check that the script works, never how fast).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import replace
from typing import Any

from kvstore.bench.scale import ScaleConfig, format_table, run_scale
from kvstore.bench.scale_disk import DiskConfig, format_disk_table, run_disk
from kvstore.bench.scale_keys import KeysConfig, format_keys_table, run_keys


def _note(msg: str) -> None:
    print(f"bench-scale: {msg}", file=sys.stderr, flush=True)


def _node_options(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--node-opt needs KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench-scale", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    for name in ("shards", "keys", "disk"):
        s = sub.add_parser(name)
        s.add_argument("--smoke", action="store_true", help="tiny run, a few seconds")
        s.add_argument("--json", metavar="FILE", help="write the raw rows to FILE")
        s.add_argument("--node-opt", action="append", default=[], metavar="KEY=VALUE")
        s.add_argument("--dir", help="data directory (kept); default: a temp dir, removed")
        s.add_argument("--concurrency", type=int)
        s.add_argument("--processes", type=int, help="client processes")
    sh = sub.choices["shards"]
    sh.add_argument("--shards", help="comma-separated shard counts, e.g. 1,8,64,256")
    sh.add_argument("--idle", type=float, help="seconds of idle CPU sampling")
    sh.add_argument("--put", type=float, help="measured seconds of puts")
    ks = sub.choices["keys"]
    ks.add_argument("--keys", type=int, help="keys to load")
    ks.add_argument("--shards", type=int)
    ks.add_argument("--duration", type=float, help="measured seconds per put/get case")
    dk = sub.choices["disk"]
    dk.add_argument("--duration", type=float, help="seconds of constant writes")
    dk.add_argument("--sample", type=float, help="seconds between disk samples")
    dk.add_argument("--keys", type=int, help="size of the overwritten key space")
    dk.add_argument("--shards", type=int)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    opts = _node_options(args.node_opt)
    rows: list[dict[str, Any]]
    if args.mode == "shards":
        cfg = ScaleConfig.smoke() if args.smoke else ScaleConfig()
        changes: dict[str, Any] = {"node_options": opts, "work_dir": args.dir}
        if args.shards:
            changes["shards"] = tuple(int(s) for s in args.shards.split(",") if s.strip())
        for attr, val in (("idle_s", args.idle), ("put_s", args.put),
                          ("concurrency", args.concurrency), ("processes", args.processes)):
            if val is not None:
                changes[attr] = val
        rows = run_scale(replace(cfg, **changes), _note)
        print(format_table(rows))
    elif args.mode == "disk":
        dcfg = DiskConfig.smoke() if args.smoke else DiskConfig()
        dchanges: dict[str, Any] = {"work_dir": args.dir}
        if opts or not args.smoke:
            dchanges["node_options"] = opts
        for attr, val in (("duration_s", args.duration), ("sample_s", args.sample),
                          ("keys", args.keys), ("shards", args.shards),
                          ("concurrency", args.concurrency), ("processes", args.processes)):
            if val is not None:
                dchanges[attr] = val
        rows = [run_disk(replace(dcfg, **dchanges), _note)]
        print(format_disk_table(rows[0]))
    else:
        kcfg = KeysConfig.smoke() if args.smoke else KeysConfig()
        kchanges: dict[str, Any] = {"node_options": opts, "work_dir": args.dir}
        for attr, val in (("keys", args.keys), ("shards", args.shards),
                          ("duration_s", args.duration), ("concurrency", args.concurrency),
                          ("processes", args.processes)):
            if val is not None:
                kchanges[attr] = val
        rows = [run_keys(replace(kcfg, **kchanges), _note)]
        print(format_keys_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
