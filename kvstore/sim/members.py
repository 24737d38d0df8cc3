"""Membership faults: conf changes on the leader, spare hosts, retired members.

`change` (one row of the nemesis table, rate `member_rate`) proposes one
ConfChange through the real core API, `propose_conf_change` on the current
leader, as the node host's Admin.ChangeMembership does
(kvstore/server/admin_service.py), computed from the leader's configuration:
- add-learner X: X is a host outside the configuration: a spare that never
  held a replica (its host creates one, empty, when the leader first contacts
  it, and it catches up from a snapshot), or a removed member, which keeps its
  storage (an id re-added with wiped state could vote twice in one term);
- promote X: a learner at most `promote_lag` entries behind the leader (the
  host's MAX_PROMOTE_LAG rule) that has acknowledged the leader. The host
  does not check the latter: in a young log it may promote a learner that
  never heard from a leader, whose host then holds no replica and drops the
  vote requests it needs to help elect one (it creates replicas for leader
  messages only). Removing the leader next leaves the group leaderless
  forever; tests/sim/test_membership.py pins that host behaviour (xfail);
- remove X: a voter while there are at least 2 (the leader itself with
  `member_leader_bias`), or any learner;
- demote X: a voter becomes a learner, while there are at least 2 voters.
With `member_burst`, a second change is requested right after the first, as
two operators racing would (the core must refuse it while the first is
pending). With `joint` (a swarm option): replace = [promote learner A, remove or
demote voter B] in one ConfChange, which enters a joint configuration that
the leader leaves by itself (auto_leave), and an explicit leave (an empty
ConfChange) while joint.

The one-at-a-time rule is the core's: a change proposed while another is
pending (appended, not yet applied by the leader) is refused with
ProposalDropped, which the host reports to its caller (counted here as
`cc_refused`).

Down to one voter: from 2 voters to 1 (or from a joint configuration
whose outgoing half is small) the remaining members need the removed node's
vote until they apply the change, which it gives because a leader being
removed appends nothing after its removal (kvstore/raft/core.py), and which
they can ask for at its term: a vote request of a lower term is refused with
the voter's term, so a removed member raising that term (it may not know it
was removed, and without pre-vote it campaigns) cannot keep them behind.
The chaos member nemesis keeps 3 voters before a removal; the simulator goes
further.

Retirement: with `retire_rate`, an operator decommissions a removed member
once every member of the current configuration has applied its removal
(before that, a member still in an older configuration may need its vote):
it is crashed for good or cut from every host, and stays so through the
heal. Liveness only asks a quorum of the current configuration to be up and
connected. Re-adding it first brings it back, with its storage. Retirement
waits for the next step, since a removal is observed in the middle of a
node's Ready handling.
"""

from __future__ import annotations

import random
from typing import Protocol

from kvstore.raft import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    NotLeaderError,
    ProposalDropped,
    RaftCore,
)
from kvstore.sim.nemesis import Cluster, Nemesis, leader_of
from kvstore.sim.params import SimParams
from kvstore.sim.trace import Trace

CT = ConfChangeType
MIN_VOTERS_TO_REMOVE = 2  # a removal or demotion leaves at least one voter


class MemberCluster(Cluster, Protocol):
    def member_ids(self) -> list[int]:
        """The members (voters and learners) of the current configuration."""
        ...


def single(typ: ConfChangeType, node: int) -> ConfChange:
    return ConfChange([ConfChangeSingle(typ, node)])


_SHORT = {CT.ADD_NODE: "v", CT.ADD_LEARNER: "l", CT.REMOVE_NODE: "r"}


def _describe(cc: ConfChange) -> str:
    """As the datadriven files write them: v4 l5 r2; `leave` for an empty change."""
    return " ".join(f"{_SHORT[ch.type]}{ch.node_id}" for ch in cc.changes) or "leave"


class MemberNemesis:
    """Conf changes through the leader, and the decommissioning of removed members."""

    def __init__(self, params: SimParams, rng: random.Random, trace: Trace,
                 nemesis: Nemesis) -> None:
        self._p = params
        self._rng = rng
        self._trace = trace
        self._nemesis = nemesis  # owns the restart and kill schedules
        self.retired: dict[int, str] = {}  # node -> "crash" or "isolate"
        self._to_retire: list[tuple[int, int]] = []  # (node, index of its removal)

    # --- the nemesis action -------------------------------------------------
    def change(self, c: Cluster) -> None:
        self._change(c)
        if self._p.member_burst and self._rng.random() < self._p.member_burst:
            self._change(c)

    def _change(self, c: Cluster) -> None:
        lead = leader_of(c)
        if not lead:
            return
        core = c.nodes[lead].core
        assert core is not None
        ops = self._ops(c, core)
        if not ops:
            return
        kind = self._rng.choice(sorted(ops))
        cc, target = self._pick(kind, ops[kind], lead)
        readd = kind == "add-learner" and c.nodes[target].hosted
        if kind == "add-learner":
            self._bring_back(c, target)
        try:
            index = core.propose_conf_change(cc)
        except (NotLeaderError, ProposalDropped) as exc:
            self._trace.note(c.now, "member", f"{lead}: {kind} {target} refused ({exc})")
            self._trace.tally("cc_refused")
            return
        self._trace.note(c.now, "member", f"{lead}: {kind} {_describe(cc)} -> "
                         f"{core.term}/{index}")
        self._trace.tally("cc_" + kind)
        if target == lead and kind in ("remove", "demote", "replace"):
            self._trace.tally("cc_leader_out")
        if readd:
            self._trace.tally("cc_readd")

    def _ops(self, c: Cluster, core: RaftCore) -> dict[str, list[tuple[int, int]]]:
        """Candidate (target, newcomer) pairs per kind of change, from the leader's config."""
        cfg = core.trk.config
        if cfg.joint():
            return {"leave-joint": [(0, 0)]} if self._p.joint else {}
        members = set(cfg.all_ids())
        voters = sorted(cfg.incoming)
        ready = [n for n in sorted(cfg.learners) if core.trk.progress[n].match > 0
                 and core.last_index - core.trk.progress[n].match <= self._p.promote_lag]
        ops: dict[str, list[tuple[int, int]]] = {}
        outsiders = [(h, 0) for h in sorted(c.nodes) if h not in members]
        if outsiders:
            ops["add-learner"] = outsiders
        if ready:
            ops["promote"] = [(n, 0) for n in ready]
        removable = [(v, 0) for v in voters] if len(voters) >= MIN_VOTERS_TO_REMOVE else []
        if removable or cfg.learners:
            ops["remove"] = removable + [(n, 0) for n in sorted(cfg.learners)]
        if removable:
            ops["demote"] = removable
        if self._p.joint and ready:
            ops["replace"] = [(v, n) for v in voters for n in ready]
        return ops

    def _pick(self, kind: str, pairs: list[tuple[int, int]],
              lead: int) -> tuple[ConfChange, int]:
        rng = self._rng
        target, newcomer = rng.choice(pairs)
        if kind in ("remove", "demote", "replace") and rng.random() < self._p.member_leader_bias:
            target, newcomer = next(((t, n) for t, n in pairs if t == lead), (target, newcomer))
        if kind == "leave-joint":
            return ConfChange(), 0
        if kind == "add-learner" or kind == "demote":
            return single(CT.ADD_LEARNER, target), target
        if kind == "promote":
            return single(CT.ADD_NODE, target), target
        if kind == "remove":
            return single(CT.REMOVE_NODE, target), target
        out = CT.REMOVE_NODE if rng.random() < 0.5 else CT.ADD_LEARNER
        return ConfChange([ConfChangeSingle(CT.ADD_NODE, newcomer),
                           ConfChangeSingle(out, target)]), target

    # --- retirement -----------------------------------------------------------
    def on_removed(self, index: int, nodes: list[int]) -> None:
        """The conf change at `index`, now committed, removed `nodes`."""
        for nid in nodes:
            if self._rng.random() < self._p.retire_rate:
                self._to_retire.append((nid, index))

    def step(self, c: MemberCluster) -> None:
        """Decommission removed members once every current member applied their removal.

        Until then a member still in an older configuration may need the
        removed node's vote (when the old configuration or joint half is small)."""
        if not self._to_retire:
            return
        members = c.member_ids()
        keep: list[tuple[int, int]] = []
        for nid, index in self._to_retire:
            if nid in members or nid in self.retired:
                continue  # added back meanwhile
            if all(c.nodes[m].applied >= index for m in members):
                self._retire(c, nid)
            else:
                keep.append((nid, index))
        self._to_retire = keep

    def _retire(self, c: Cluster, nid: int) -> None:
        nem = self._nemesis
        nem.kills.pop(nid, None)
        if self._rng.random() < 0.5:
            mode = "crash"
            nem.restarts.pop(nid, None)
            if c.nodes[nid].up:
                c.crash(nid)
        else:
            mode = "isolate"
            c.net.ban(nid, sorted(c.nodes))
        self.retired[nid] = mode
        self._trace.tally("retired")
        self._trace.note(c.now, "member", f"retire {nid} ({mode})")

    def _bring_back(self, c: Cluster, nid: int) -> None:
        """Before re-adding a retired member, its operator starts it (same storage)."""
        self._to_retire = [(n, i) for n, i in self._to_retire if n != nid]
        mode = self.retired.pop(nid, None)
        if mode == "crash" and not c.nodes[nid].up and nid not in self._nemesis.restarts:
            c.restart(nid)
        elif mode == "isolate":
            c.net.unban(nid)
        if mode:
            self._trace.note(c.now, "member", f"bring back {nid} ({mode})")
