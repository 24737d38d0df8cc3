"""Swarm parameters: everything one seed varies, drawn from the seed's rng.

Swarm testing (Groce et al., used by FoundationDB and TigerBeetle's VOPR):
instead of one fault mix for all runs, each seed draws its own network fault
rates, nemesis frequencies, workload and the core's `Config`. Some seeds are
calm, some are brutal, and rare interleavings become likely in *some* seed.

Invariants:
- `draw_params` consumes the rng in a fixed order, so a seed always maps to the
  same parameters (the first step of "same seed, same trace").
- Virtual time is counted in microticks; one Raft tick is `TICK` microticks.
  Message delays are at most a third of the election timeout, so a healed
  network can always elect a leader (liveness is judged on a healed network).
- Lease reads are only drawn with `check_quorum` on and without pauses: a
  paused process stops its clock, which is unbounded clock drift, and the lease
  is only safe under bounded drift (see `kvstore/raft/config.py`).
- Membership changes are a separate swarm option (`with_membership`), drawn
  from an rng of its own after everything else, so a seed that draws it off
  runs exactly as it did before the option existed. With it on, the group
  starts from a snapshot at `INIT_INDEX` (as the node host bootstraps
  groups), so a member added later can only catch up from a snapshot, which
  carries the configuration. It needs PreVote or CheckQuorum (the node host
  runs both): without either, a removed or stale member that believes it is
  a voter inflates its term where the leader never hears it and ignores the
  leader's lower-term appends for good (Raft thesis §4.2.3); swarm mode then
  leaves membership off, `always` mode turns PreVote on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from kvstore.raft import Config, ReadOnlyOption

TICK = 10  # microticks per Raft tick

FIGURE8_SHARE = 0.35  # share of seeds drawing the `figure8` profile
MEMBER_SHARE = 0.5  # share of seeds drawing membership changes ("swarm" mode)
INIT_INDEX = 1  # membership seeds bootstrap from a snapshot here (kvstore/server/host.py)
MEMBERSHIP_MODES = ("swarm", "always", "never")

PARTITION_KINDS = ("halves", "isolate-leader", "ring", "bridge", "one-way")


@dataclass(slots=True, frozen=True)
class SimParams:
    """One seed's fault mix, workload and core configuration."""

    nodes: int
    steps: int
    profile: str  # "mixed" or "figure8" (see `_figure8`)
    # network (rates are per message; delays in microticks)
    drop_rate: float
    dup_rate: float
    min_delay: int
    max_delay: int
    reorder: bool
    wire_codec: bool
    # nemesis (rates are per step = per tick)
    partition_rate: float
    partition_kinds: tuple[str, ...]
    partition_ticks: tuple[int, int]
    crash_rate: float
    leader_crash_bias: float
    leader_kill_rate: float  # chance a new leader crashes a few ticks after election
    max_down: int
    down_ticks: tuple[int, int]
    pause_rate: float
    transfer_rate: float
    campaign_rate: float  # a host/operator forces an election on a random node
    # workload
    propose_rate: float
    max_batch: int
    max_pending: int  # closed-loop clients: outstanding proposals at most
    read_rate: float
    lease_reads: bool
    snapshot_interval: int  # applied entries between host snapshots; 0 = never
    compact_lag: int
    # core configuration
    election_ticks: int
    heartbeat_ticks: int
    max_size_per_msg: int
    max_inflight_msgs: int
    max_committed_size_per_ready: int
    max_uncommitted_entries_size: int
    check_quorum: bool
    pre_vote: bool
    # membership (see members.py); off unless `with_membership` drew it
    spares: int = 0  # hosts beyond the initial voters, holding no replica at first
    member_rate: float = 0.0  # conf change attempts per step
    joint: bool = False  # also replace voters through joint consensus
    promote_lag: int = 0  # a learner at most this far behind may be promoted
    member_leader_bias: float = 0.0  # chance a removal or demotion targets the leader
    retire_rate: float = 0.0  # chance a removed member is decommissioned
    member_burst: float = 0.0  # chance a second change races the first (two operators)

    @property
    def membership(self) -> bool:
        return self.member_rate > 0.0

    @property
    def hosts(self) -> int:
        return self.nodes + self.spares
    quiesce_ticks: int = 0  # idle groups go quiet (kvstore/raft/quiesce.py); 0 = never
    # Commit notices wait for the next append or the next tick (the host's timer,
    # kvstore/server/notices.py), as Config.defer_commit_notices.
    defer_notices: bool = False

    def config(self, node_id: int, applied: int) -> Config:
        """The core's Config for one node (re)started at `applied`."""
        cfg = Config(
            id=node_id,
            election_ticks=self.election_ticks,
            heartbeat_ticks=self.heartbeat_ticks,
            applied=applied,
            max_size_per_msg=self.max_size_per_msg,
            max_committed_size_per_ready=self.max_committed_size_per_ready,
            max_uncommitted_entries_size=self.max_uncommitted_entries_size,
            max_inflight_msgs=self.max_inflight_msgs,
            check_quorum=self.check_quorum,
            pre_vote=self.pre_vote,
            read_only_option=(
                ReadOnlyOption.LEASE_BASED if self.lease_reads else ReadOnlyOption.SAFE
            ),
            max_clock_drift_ticks=min(2, self.election_ticks - 1),
            quiesce_ticks=self.quiesce_ticks,
            defer_commit_notices=self.defer_notices,
        )
        cfg.validate()
        return cfg

    def summary(self) -> str:
        """A one-line description for traces and violation reports."""
        return (
            f"profile={self.profile} drop={self.drop_rate:.2f} dup={self.dup_rate:.2f} "
            f"delay={self.min_delay}-{self.max_delay}us reorder={self.reorder} "
            f"codec={self.wire_codec} partition={self.partition_rate:.3f}"
            f"{list(self.partition_kinds)} crash={self.crash_rate:.3f} "
            f"bias={self.leader_crash_bias:.1f} kill={self.leader_kill_rate:.2f} max_down={self.max_down} "
            f"pause={self.pause_rate:.3f} transfer={self.transfer_rate:.3f} "
            f"campaign={self.campaign_rate:.3f} "
            f"propose={self.propose_rate:.2f}x{self.max_batch}<={self.max_pending} read={self.read_rate:.2f} "
            f"lease={self.lease_reads} snap={self.snapshot_interval}/{self.compact_lag} "
            f"election={self.election_ticks} heartbeat={self.heartbeat_ticks} "
            f"max_msg={self.max_size_per_msg} inflight={self.max_inflight_msgs} "
            f"max_ready={self.max_committed_size_per_ready} "
            f"max_uncommitted={self.max_uncommitted_entries_size} "
            f"check_quorum={self.check_quorum} pre_vote={self.pre_vote}"
            + (f" member={self.member_rate:.3f} spares={self.spares} joint={self.joint} "
               f"promote_lag={self.promote_lag} member_bias={self.member_leader_bias:.1f} "
               f"retire={self.retire_rate:.1f} burst={self.member_burst:.1f}"
               if self.membership else "")
            + (f" quiesce={self.quiesce_ticks}" if self.quiesce_ticks else "")
            + (" defer_notices" if self.defer_notices else "")
        )


def _rate(rng: random.Random, hi: float, p_zero: float = 0.25) -> float:
    """A rate in [0, hi], exactly zero with probability p_zero (swarm: faults off)."""
    return 0.0 if rng.random() < p_zero else rng.uniform(0.0, hi)


def draw_params(rng: random.Random, nodes: int, steps: int) -> SimParams:
    """Draw one seed's parameters; `rng` must be fresh from the seed."""
    election = rng.choice((5, 8, 10, 10, 15, 20))
    heartbeat = rng.choice((1, 1, 2, min(3, election // 2)))
    max_delay = rng.choice((2, 5, 10, 15, 20, 40))
    max_delay = max(2, min(max_delay, election * TICK // 3))
    min_delay = rng.randint(1, max(1, max_delay // 3))
    check_quorum = rng.random() < 0.7
    pre_vote = rng.random() < 0.7
    pause_rate = _rate(rng, 0.01, p_zero=0.6)
    lease = check_quorum and pause_rate == 0.0 and rng.random() < 0.3
    kinds = tuple(k for k in PARTITION_KINDS if rng.random() < 0.6) or ("halves",)
    p = SimParams(
        nodes=nodes,
        steps=steps,
        profile="mixed",
        drop_rate=_rate(rng, 0.2),
        dup_rate=_rate(rng, 0.1, p_zero=0.4),
        min_delay=min_delay,
        max_delay=max_delay,
        reorder=rng.random() < 0.6,
        wire_codec=rng.random() < 0.3,
        partition_rate=_rate(rng, 0.03),
        partition_kinds=kinds,
        partition_ticks=(election, election * rng.choice((3, 6, 12))),
        crash_rate=_rate(rng, 0.03),
        leader_crash_bias=rng.choice((0.0, 0.5, 0.9)),
        leader_kill_rate=_rate(rng, 0.6, p_zero=0.5),
        max_down=nodes // 2 if rng.random() < 0.8 else nodes,
        down_ticks=(1, election * rng.choice((1, 3, 8))),
        pause_rate=pause_rate,
        transfer_rate=_rate(rng, 0.01, p_zero=0.5),
        propose_rate=rng.choice((0.05, 0.2, 0.5, 1.0)),
        max_batch=rng.choice((1, 1, 3, 8)),
        max_pending=rng.choice((4, 32, 256)),
        read_rate=_rate(rng, 0.2, p_zero=0.3),
        lease_reads=lease,
        snapshot_interval=rng.choice((0, 5, 20, 100)),
        compact_lag=rng.choice((0, 2, 10)),
        election_ticks=election,
        heartbeat_ticks=heartbeat,
        max_size_per_msg=rng.choice((1, 1, 64, 1024, 1 << 20)),
        max_inflight_msgs=rng.choice((1, 2, 4, 16, 256)),
        max_committed_size_per_ready=rng.choice((1, 256, 1 << 24)),
        max_uncommitted_entries_size=rng.choice((0, 0, 0, 512)),
        check_quorum=check_quorum,
        pre_vote=pre_vote,
        campaign_rate=_rate(rng, 0.01, p_zero=0.5),
    )
    p = _figure8(p, rng) if rng.random() < FIGURE8_SHARE else p
    # Drawn last, so the draws above keep their values.
    return replace(p, quiesce_ticks=rng.choice((0, 0, 1, 2, 5, 3 * election)))


def _figure8(p: SimParams, rng: random.Random) -> SimParams:
    """Pressure towards Figure 8 of the Raft paper, where §5.4.2 matters.

    Stale leaders (isolated by partitions, and without CheckQuorum never
    stepping down by themselves) keep accepting proposals, so nodes grow long
    divergent tails of different terms; one entry per message and one in
    flight make re-replicating such a tail slow; leader-biased crashes and
    short-lived leaders end leaderships in the middle of it. Observed with 600
    steps: a core that commits old-term entries by counting replicas fails in
    about 1 of 5 such seeds, with 3 nodes as with 5.
    """
    kinds = tuple(sorted({*p.partition_kinds, "isolate-leader", "halves", "one-way"}))
    return replace(
        p,
        profile="figure8",
        drop_rate=rng.uniform(0.0, 0.1),
        partition_rate=rng.uniform(0.03, 0.08),
        partition_kinds=kinds,
        crash_rate=rng.uniform(0.03, 0.08),
        leader_crash_bias=0.9,
        leader_kill_rate=rng.uniform(0.5, 0.9),
        max_down=p.nodes // 2,
        propose_rate=1.0,
        max_batch=8,
        max_pending=256,
        max_size_per_msg=1,
        max_inflight_msgs=rng.choice((1, 1, 2)),
        check_quorum=False,
        lease_reads=False,
        pre_vote=rng.random() < 0.5,
    )


NOTICE_MODES = ("swarm", "deferred", "eager")


def with_notices(p: SimParams, rng: random.Random, mode: str = "swarm",
                 drawn: bool = True) -> SimParams:
    """Draw the deferred commit notices option (swarm: half the seeds). Given
    parameters (`drawn` False) keep theirs in swarm mode. Its own rng, drawn after
    everything else, keeps older seeds' other draws unchanged."""
    if mode not in NOTICE_MODES:
        raise ValueError(f"notices mode must be one of {NOTICE_MODES}, not {mode!r}")
    if mode == "swarm":
        return replace(p, defer_notices=rng.random() < 0.5) if drawn else p
    return replace(p, defer_notices=mode == "deferred")


def with_membership(p: SimParams, rng: random.Random, mode: str = "swarm") -> SimParams:
    """Draw the membership option (`mode`: swarm = for MEMBER_SHARE of seeds)."""
    if mode not in MEMBERSHIP_MODES:
        raise ValueError(f"membership mode must be one of {MEMBERSHIP_MODES}, not {mode!r}")
    on = rng.random() < MEMBER_SHARE and (p.pre_vote or p.check_quorum)
    if mode == "never" or (mode == "swarm" and not on):
        return p
    return replace(
        p,
        pre_vote=p.pre_vote or not p.check_quorum,
        spares=rng.choice((0, 1, 2)),
        member_rate=rng.uniform(0.005, 0.05),
        joint=rng.random() < 0.4,
        promote_lag=rng.choice((0, 5, 100)),
        member_leader_bias=rng.choice((0.0, 0.3, 0.7)),
        retire_rate=rng.choice((0.0, 0.5, 1.0)),
        member_burst=rng.choice((0.0, 0.3, 0.7)),
    )
