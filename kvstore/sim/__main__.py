"""`python -m kvstore.sim`: run the deterministic cluster simulator from the command line.

    python -m kvstore.sim --seeds 2000 [--nodes 3|5] [--steps S] [--jobs J]
    python -m kvstore.sim --seed K --nodes N --steps S --trace     # replay one seed
    python -m kvstore.sim --seeds 300 --broken commit-old-term     # must find violations
    python -m kvstore.sim --seeds 300 --membership always --broken conf-change-unchecked

Membership changes are in the swarm mix for about half of the seeds;
`--membership always|never` forces them on or off for every seed. Deferred
commit notices (kvstore/server/notices.py) are on for half the seeds;
`--notices deferred|eager` forces them.

Prints one summary line `seeds=N violations=V commits=C conf_changes=K
elapsed=Xs commits_per_sec=Y seeds_per_min=Z` (K: committed conf changes
that changed the configuration), preceded by a report (rule, trace tail,
reproduce command) for the first `--show` failing seeds. Exit code 1 on any
violation, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys

from kvstore.sim.broken import BROKEN_CORES
from kvstore.sim.params import MEMBERSHIP_MODES, NOTICE_MODES
from kvstore.sim.runner import report, run_seed, run_seeds
from kvstore.sim.sim import SimResult
from kvstore.sim.trace import Trace

DEFAULT_STEPS = 600


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {v}")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {v}")
    return v


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m kvstore.sim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--seeds", type=_positive, default=100, help="run seeds [first, first+N)")
    which.add_argument("--seed", type=_seed, help="run this one seed")
    ap.add_argument("--first-seed", type=_seed, default=0)
    ap.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    ap.add_argument("--steps", type=_positive, default=DEFAULT_STEPS,
                    help="ticks of chaos before healing")
    ap.add_argument("--jobs", type=_positive, default=1, help="worker processes")
    ap.add_argument("--trace", action="store_true", help="print the full trace (one seed)")
    ap.add_argument("--membership", choices=MEMBERSHIP_MODES, default="swarm",
                    help="conf changes: for a swarm share of seeds, always or never")
    ap.add_argument("--notices", choices=NOTICE_MODES, default="swarm",
                    help="deferred commit notices: for half the seeds, always or never")
    ap.add_argument("--broken", choices=sorted(BROKEN_CORES),
                    help="TEST-ONLY: simulate a deliberately broken core")
    ap.add_argument("--stop-after", type=_positive, default=None,
                    help="stop after this many violations")
    ap.add_argument("--show", type=int, default=3, help="failing seeds to report in full")
    args = ap.parse_args(argv)
    if args.trace and args.seed is None:
        ap.error("--trace needs --seed K (it prints every event of one run)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seed is not None:
        trace = Trace(echo=print) if args.trace else None
        res = run_seed(args.seed, args.nodes, args.steps, args.broken, trace, args.membership,
                       args.notices)
        if not res.ok:
            print(report(res))
        print(f"seed={res.seed} nodes={res.nodes} violations={0 if res.ok else 1} "
              f"commits={res.commits} conf_changes={res.stats.get('conf_changes', 0)} "
              f"ticks={res.ticks} digest={res.digest:#x}")
        return 0 if res.ok else 1
    shown = 0

    def show(res_: SimResult) -> None:
        nonlocal shown
        if not res_.ok and shown < args.show:
            shown += 1
            print(report(res_), flush=True)

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    summary = run_seeds(seeds, args.nodes, args.steps, args.broken, args.jobs,
                        args.stop_after or 0, show, args.membership, args.notices)
    print(summary.coverage())
    if summary.failures:
        print("failing seeds: " + " ".join(str(r.seed) for r in summary.failures))
    print(summary.line())
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
