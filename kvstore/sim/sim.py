"""One deterministic simulation run: N hosts, a virtual clock, faults from one seed.

A run has three phases:
1. chaos, `steps` ticks: each step the nemesis and the clients act, every live
   node ticks once (at its own phase inside the tick) and messages are
   delivered when due. Safety is checked as the hosts persist and apply.
2. heal: partitions, loss and pauses are lifted and down nodes restart
   (retired members, see members.py, stay down or cut off). Within
   `LIVENESS_ROUNDS * election_ticks` ticks a leader followed by a quorum of
   the current configuration must emerge.
3. converge: a fresh (barrier) proposal must commit and every member of the
   current configuration must catch up to the highest applied index; a stall
   of that many ticks in which no node persists, commits or applies anything
   more is a liveness violation. Every acked proposal is then applied on
   every member (the checker has already verified each apply against the
   acked payload). Then a full pairwise log matching check runs once, over
   every replica, removed ones included.

The current configuration is the checker's reference one: the result of the
last conf change any node applied (so it is committed).

Determinism: all randomness comes from `random.Random(seed)` and rngs derived
from it (network, nemesis, clients, one per core start), iteration over nodes
is sorted, and the queue order is total. So a seed always yields the same
trace digest. The host loop either handles a node's Ready right after each
input or batches all inputs of one microtick first (drawn per seed), as a
real host that drains a socket before a storage write.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass

from kvstore.raft import (
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    RaftCore,
    ReadState,
    StateRole,
)
from kvstore.raft.quorum import VoteResult, joint_vote
from kvstore.sim.checker import SafetyChecker, Violation
from kvstore.sim.client import Workload
from kvstore.sim.liveness import NodeLiveness
from kvstore.sim.members import MemberNemesis
from kvstore.sim.nemesis import Nemesis, leader_of
from kvstore.sim.network import Network
from kvstore.sim.node import CoreFactory, SimNode, chain_next
from kvstore.sim.params import (
    INIT_INDEX,
    TICK,
    SimParams,
    draw_params,
    with_membership,
    with_notices,
)
from kvstore.sim.trace import Trace

# Post-heal bounds are LIVENESS_ROUNDS * election_ticks. One election round
# takes 1-2 election timeouts and, even with a node that cannot win (stale log,
# no pre-vote) winning every timeout race it enters, fails with probability
# about 1/3; 20 timeouts (>= 10 rounds) make a false alarm ~1e-5 per seed, while
# a real liveness bug (no leader at all, a stuck follower) still fails every time.
LIVENESS_ROUNDS = 20
# The messages that make a host create a replica it does not hold (host.py).
LEADER_MESSAGES = frozenset({MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT})


def conf_ids(cs: ConfState) -> set[int]:
    return {*cs.voters, *cs.learners, *cs.voters_outgoing, *cs.learners_next}


@dataclass(slots=True)
class SimResult:
    """The outcome of one seed (picklable: crosses process boundaries)."""

    seed: int
    nodes: int
    steps: int
    rule: str  # "" when no violation
    details: str
    commits: int
    ticks: int
    digest: int
    tail: list[str]
    params: str
    stats: dict[str, int]
    membership: str = "swarm"

    @property
    def ok(self) -> bool:
        return not self.rule


class Simulation:
    """The cluster, its network, nemesis, clients and checker for one seed."""

    def __init__(self, seed: int, nodes: int, steps: int, factory: CoreFactory = RaftCore,
                 trace: Trace | None = None, params: SimParams | None = None,
                 membership: str = "swarm", notices: str = "swarm") -> None:
        """`params` replaces the drawn swarm parameters (targeted scenarios in tests);
        `membership` is swarm, always or never (see params.with_membership);
        `notices` swarm (deferred commit notices for half the seeds), deferred or
        eager."""
        rng = random.Random(seed)
        self.seed = seed
        drawn = draw_params(rng, nodes, steps)
        rngs = [random.Random(rng.getrandbits(64)) for _ in range(4)]
        voters = list(range(1, (params or drawn).nodes + 1))
        self._phase = {i: rng.randrange(TICK) for i in voters}
        self._batch = rng.random() < 0.5
        # Drawn last, so seeds without membership changes run as they always did.
        member_rng = random.Random(rng.getrandbits(64))
        self.params: SimParams = params or with_membership(drawn, member_rng, membership)
        self.params = with_notices(self.params, random.Random(rng.getrandbits(64)), notices,
                                   drawn=params is None)
        self.trace = trace or Trace()
        self.checker = SafetyChecker(ConfState(voters=voters))
        self.net = Network(self.params, rngs[0], self.trace)
        self.nemesis = Nemesis(self.params, rngs[1], self.trace)
        self.workload = Workload(seed, self.params, rngs[2], self.checker, self.trace)
        self._core_rngs = rngs[3]
        self.liveness = NodeLiveness(self.params, self.trace)
        self.nodes: dict[int, SimNode] = {i: SimNode(i, voters) for i in voters}
        self.members = MemberNemesis(self.params, random.Random(member_rng.getrandbits(64)),
                                     self.trace, self.nemesis)
        if self.params.membership:
            self._setup_membership(voters, member_rng)
        self._conf_seen = 0  # highest conf change index applied by any node
        self._membership = membership
        self._factory = factory
        self.now = 0
        self.ticks = 0

    def _setup_membership(self, voters: list[int], rng: random.Random) -> None:
        """Spare hosts, the bootstrap snapshot, and the conf change row of the nemesis."""
        p = self.params
        chain = chain_next(b"", Entry(1, INIT_INDEX))
        for nid in voters:
            self.nodes[nid].bootstrap(INIT_INDEX, chain)
        self.checker.bootstrap(INIT_INDEX, chain)
        for nid in range(p.nodes + 1, p.hosts + 1):
            self.nodes[nid] = SimNode(nid, [], hosted=False)
            self._phase[nid] = rng.randrange(TICK)
        self.nemesis.actions.append(("member", p.member_rate, self.members.change))

    # --- driver -----------------------------------------------------------
    def run(self) -> SimResult:
        rule = details = ""
        self.trace.note(0, "params", self.params.summary() + f" batch={self._batch}")
        try:
            for nid in sorted(self.nodes):
                self.restart(nid)
            for _ in range(self.params.steps):
                self.step(chaos=True)
            self._heal_and_elect()
            self._converge()
            self.checker.check_logs_match({i: n.storage for i, n in self.nodes.items()})
        except Violation as v:
            rule, details = v.rule, v.details
        except Exception as exc:  # any crash of the core under test is a finding
            where = traceback.extract_tb(exc.__traceback__)[-1]
            rule = "core exception"
            details = f"{type(exc).__name__}: {exc} at {where.filename}:{where.lineno}"
        return SimResult(
            self.seed, self.params.nodes, self.params.steps, rule, details,
            self.checker.commands, self.ticks, self.trace.digest, self.trace.tail(),
            self.params.summary(), self._stats(), self._membership,
        )

    def _stats(self) -> dict[str, int]:
        st = self.trace.stats
        st["installs"] = sum(n.installs for n in self.nodes.values())
        st["compactions"] = sum(n.compactions for n in self.nodes.values())
        if self.params.membership:
            st["member_seeds"] = 1
            st["conf_changes"] = self.checker.conf_changes
            st["conf_noops"] = self.checker.conf_noops
            st["joint_configs"] = sum(1 for cs in self.checker.conf_states if cs.voters_outgoing)
        return dict(st)

    def step(self, chaos: bool) -> None:
        """One tick of virtual time."""
        t0 = self.ticks * TICK
        self.now = t0
        if chaos:
            self.nemesis.step(self)
            self.members.step(self)
            self.workload.step(self.now, self.nodes)
        self.liveness.step(self)
        for nid in sorted(self.nodes):
            node = self.nodes[nid]
            if node.core is not None and not node.paused_until and node.core.has_ready():
                self._ready(node)
            self.net.push(t0 + self._phase[nid], nid, None)
        self._run_until(t0 + TICK)
        self.ticks += 1

    def _run_until(self, end: int) -> None:
        net, nodes = self.net, self.nodes
        while batch := net.pop_due(end):
            self.now = batch[0][0]
            dirty: set[int] = set()
            for _at, _seq, nid, m in batch:
                node = nodes[nid]
                core = node.core
                if core is None and m is not None and self._creates_replica(node, m):
                    core = self._create_replica(nid)
                if core is None:
                    if m is not None:
                        self.trace.msg(self.now, "lost", m)
                        net.lost(m, self.now)
                    continue
                if node.paused_until:
                    if m is not None:
                        net.push(node.paused_until, nid, m)
                    continue
                if m is None:
                    if self.params.defer_notices:  # the host's timer, at most a tick late
                        core.flush_commit_notice()
                    core.tick()
                elif not self._deliver(core, m):
                    continue
                if self._batch:
                    dirty.add(nid)
                else:
                    self._ready(node)
            for nid in sorted(dirty):
                self._ready(nodes[nid])

    def _deliver(self, core: RaftCore, m: Message) -> bool:
        """Hand `m` to its node; False if a partition cut it on the wire."""
        net = self.net
        if m.type == MessageType.SNAP_STATUS:
            self.trace.msg(self.now, "report", m)
            core.report_snapshot(m.frm, not m.reject)
        elif m.type == MessageType.UNREACHABLE:
            self.trace.msg(self.now, "report", m)
            core.report_unreachable(m.frm)
        elif (m.frm, m.to) in net.cut:
            self.trace.msg(self.now, "cut", m)
            net.lost(m, self.now, cut=True)
            return False
        else:
            self.trace.msg(self.now, "deliver", m)
            self.liveness.heard_from(m.to, m.frm, self.now)
            core.step(m)
            if m.type == MessageType.SNAPSHOT:
                self.trace.tally("snapshot_msgs")
                net.feedback(m, self.now, ok=True)
        return True

    def _ready(self, node: SimNode) -> None:
        p = self.params
        node.handle_ready(self.checker, self, self._send, p.snapshot_interval, p.compact_lag)

    def _send(self, m: Message) -> None:
        if m.type == MessageType.SNAPSHOT and self.params.membership:
            # The host streams a fresh image at its applied index (see node.py).
            snap = self.nodes[m.frm].fresh_snapshot()
            if snap is not None:
                m.snapshot = snap
        self.net.send(m, self.now)

    def _creates_replica(self, node: SimNode, m: Message) -> bool:
        """A host without a replica creates one for a leader's message (host.py)."""
        return (not node.hosted and m.type in LEADER_MESSAGES
                and (m.frm, m.to) not in self.net.cut)

    def _create_replica(self, nid: int) -> RaftCore:
        self.nodes[nid].hosted = True
        self.trace.tally("replicas_created")
        self.restart(nid)
        core = self.nodes[nid].core
        assert core is not None
        return core

    # --- cluster operations (nemesis) ----------------------------------------
    def crash(self, nid: int) -> None:
        self.nodes[nid].crash()
        self.net.forget(nid, self.now)
        self.workload.on_crash(nid)
        self.trace.note(self.now, "nemesis", f"crash {nid}")
        self.trace.tally("crashes")

    def restart(self, nid: int) -> None:
        node = self.nodes[nid]
        if not node.hosted:
            return  # a spare host: nothing to start until a leader contacts it
        cfg = self.params.config(nid, node.applied)
        node.start(self._factory, cfg, random.Random(self._core_rngs.getrandbits(64)))
        assert node.core is not None
        self.checker.on_start(nid, node.applied, node.core.conf_state())
        self.liveness.restarted(nid, self.now)
        self.trace.note(self.now, "nemesis", f"start {nid} applied={node.applied} "
                        f"hs={node.storage.hard_state} first={node.storage.first_index()} "
                        f"last={node.storage.last_index()}")

    # --- ReadyObserver ------------------------------------------------------
    def on_apply(self, node: int, e: Entry) -> None:
        self.workload.on_apply(node, e)
        if e.type == EntryType.CONF_CHANGE and e.index > self._conf_seen:
            self._conf_seen = e.index  # first application: the change is committed
            gone = conf_ids(self.checker.conf_at(e.index - 1)) - conf_ids(
                self.checker.conf_at(e.index))
            if gone and self.nemesis.active:
                self.members.on_removed(e.index, sorted(gone))

    def on_read_state(self, node: int, rs: ReadState) -> None:
        self.workload.on_read_state(node, rs)

    def on_role(self, node: int, role: StateRole, term: int) -> None:
        self.trace.note(self.now, "role", f"{node} {role.name} term={term}")
        if role == StateRole.LEADER:
            self.trace.tally("elections")
            self.nemesis.on_leader(self.now, node)

    # --- liveness -----------------------------------------------------------
    def _established_leader(self) -> int:
        """A leader that a quorum of the current configuration follows in its term, or 0."""
        lead = leader_of(self)
        core = self.nodes[lead].core if lead else None
        if core is None:
            return 0
        acks = {nid: True for nid, n in self.nodes.items() if n.core is not None
                and n.core.term == core.term and n.core.leader_id == lead}
        cs = self.checker.latest_conf()
        return lead if joint_vote(cs.voters, cs.voters_outgoing, acks) == VoteResult.WON else 0

    def member_ids(self) -> list[int]:
        """The current configuration's members (voters and learners)."""
        return sorted(conf_ids(self.checker.latest_conf()))

    def _members(self) -> list[SimNode]:
        return [self.nodes[i] for i in self.member_ids()]

    def _heal_and_elect(self) -> None:
        """After healing and restarting everyone, a leader must emerge within the bound."""
        self.nemesis.heal_all(self)
        bound = LIVENESS_ROUNDS * self.params.election_ticks
        for _ in range(bound):
            if self._established_leader():
                return
            self.step(chaos=False)
        raise Violation("liveness", f"no leader elected within {bound} ticks of healing; "
                        f"{self._roles()}")

    def _roles(self) -> str:
        return "roles=" + " ".join(
            f"{i}:{n.role.name}@{n.core.term if n.core else -1}"
            f"(lead={n.core.leader_id if n.core else -1},applied={n.applied})"
            for i, n in sorted(self.nodes.items()))

    def _converge(self) -> None:
        """A fresh (barrier) proposal commits, and every node catches up to it.

        The backlog left by the chaos phase can be long (and §5.4.2 forbids
        committing any of an old-term backlog before the new leader's own
        entry is replicated, and followers may first truncate long divergent
        tails), so the bound is on stalls: `LIVENESS_ROUNDS * election_ticks`
        ticks in which no node persists an entry or raises its commit or
        applied index is a liveness violation. A hard cap
        proportional to the backlog catches a livelock that keeps changing
        logs without ever converging.
        """
        p = self.params
        backlog = max(n.storage.last_index() for n in self.nodes.values())
        cap = 50 * p.election_ticks + backlog * (2 * p.max_delay // TICK + 2)
        bound = LIVENESS_ROUNDS * p.election_ticks
        barriers: dict[int, bytes] = {}  # index -> payload
        owner = (0, 0)  # (leader, term) holding the latest barrier
        target = 0  # set once a barrier is acked: everyone must apply this far
        stall, progress = 0, -1
        for _ in range(cap):
            if not target:
                lead = leader_of(self)
                core = self.nodes[lead].core if lead else None
                if core is not None and (lead, core.term) != owner:
                    got = self.workload.propose(self.now, self.nodes[lead])
                    if got is not None:
                        owner = (lead, got[1])
                        barriers[got[0]] = got[2]
                if any(self.workload.acked.get(i) == d for i, d in barriers.items()):
                    target = max(n.applied for n in self.nodes.values())
                    target = max(target, self.workload.max_acked)
            if target and all(n.applied >= target for n in self._members()):
                return
            total = sum(n.applied + n.storage.hard_state.commit + n.persisted
                        for n in self.nodes.values())
            stall = 0 if total > progress else stall + 1
            progress = max(progress, total)
            if stall > bound:
                what = f"catch up to {target}" if target else "commit a barrier entry"
                raise Violation("liveness", f"cluster failed to {what} (no progress for "
                                f"{bound} ticks after healing); {self._roles()}")
            self.step(chaos=False)
        raise Violation("liveness", f"no convergence within {cap} ticks after healing "
                        f"(backlog {backlog}); {self._roles()}")
