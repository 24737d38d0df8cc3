"""A small datadriven test framework for the Raft core (as cockroachdb/datadriven,
which etcd-io/raft's testdata files use), plus the text forms of Raft state.

File format: a directive is a command line, a `----` line, and the exact
expected output up to the next blank line. Comment (`#`) and blank lines
before a command are kept verbatim. An empty output is written as `ok`.
`run_file` runs every directive through a handler and returns the file text
with the *actual* outputs, so a test compares it with the original and
`--rewrite` writes it back. A command line is `name pos1 pos2 key=value
key=(1,2,3)` (`Command`).

Also here, for the Raft interaction env of test_interaction.py:
`render_ready` (a Ready as etcd shows it) and the other text forms;
`LOCAL_REQUESTS`, the commands that call one local API of a node; and
`EnvState`, the env's nodes and network with the commands that only observe
them or cut links.

Invariant: an output never contains a blank line (it would end the output);
`run_file` raises DataDrivenError if one does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from kvstore.raft import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    MemoryStorage,
    Message,
    RaftCore,
    Ready,
    describe,
    describe_entry,
)

SEPARATOR = "----"


class DataDrivenError(Exception):
    """A malformed test file or command (a bug in the test, not in the core)."""


def parse_int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise DataDrivenError(f"expected an integer, got {s!r}") from None


@dataclass
class Command:
    """`name pos1 pos2 key=value key=(1,2,3)`: positional args and keyword args."""

    name: str
    args: list[str] = field(default_factory=list)
    kwargs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, line: str) -> Command:
        tokens = line.split()
        if not tokens:
            raise DataDrivenError("empty command")
        cmd = cls(tokens[0])
        for tok in tokens[1:]:
            key, eq, val = tok.partition("=")
            if eq and key:
                cmd.kwargs[key] = val
            else:
                cmd.args.append(tok)
        return cmd

    def int_arg(self, i: int) -> int:
        if i >= len(self.args):
            raise DataDrivenError(f"{self.name}: missing argument {i + 1}")
        return parse_int(self.args[i])

    def int_args(self) -> list[int]:
        return [parse_int(a) for a in self.args]

    def flag(self, key: str, default: bool) -> bool:
        v = self.kwargs.get(key)
        if v is None:
            return default
        if v not in ("true", "false"):
            raise DataDrivenError(f"{self.name}: {key} must be true or false, got {v!r}")
        return v == "true"

    def int_kw(self, key: str, default: int) -> int:
        return parse_int(self.kwargs[key]) if key in self.kwargs else default

    def int_list(self, key: str) -> list[int] | None:
        """`key=(1,2,3)` as a list; None if absent."""
        v = self.kwargs.get(key)
        if v is None:
            return None
        if not (v.startswith("(") and v.endswith(")")):
            raise DataDrivenError(f"{self.name}: {key} must look like (1,2,3), got {v!r}")
        inner = v[1:-1].strip()
        return [parse_int(x) for x in inner.split(",")] if inner else []


def ids_text(ids: list[int]) -> str:
    return "(" + ",".join(str(i) for i in ids) + ")"


def conf_text(cs: ConfState) -> str:
    out = f"voters={ids_text(cs.voters)} learners={ids_text(cs.learners)}"
    if cs.voters_outgoing:
        out += f" outgoing={ids_text(cs.voters_outgoing)}"
    if cs.learners_next:
        out += f" learners_next={ids_text(cs.learners_next)}"
    return out + (" auto_leave" if cs.auto_leave else "")


_CC_PREFIX = {"v": ConfChangeType.ADD_NODE, "l": ConfChangeType.ADD_LEARNER,
              "r": ConfChangeType.REMOVE_NODE}


def cc_text(cc: ConfChange) -> str:
    names = {t: p for p, t in _CC_PREFIX.items()}
    return " ".join(f"{names[c.type]}{c.node_id}" for c in cc.changes) or "leave-joint"


def _conf_change(core: RaftCore, cmd: Command) -> int:
    """`propose-conf-change ID v4 l5 r2`: add voter 4, learner 5, remove 2; none: leave joint."""
    changes = []
    for tok in cmd.args[1:]:
        if tok[:1] not in _CC_PREFIX:
            raise DataDrivenError(f"conf change {tok!r}: expected v<id>, l<id> or r<id>")
        changes.append(ConfChangeSingle(_CC_PREFIX[tok[0]], parse_int(tok[1:])))
    return core.propose_conf_change(ConfChange(changes))


def _text_arg(cmd: Command) -> bytes:
    return cmd.args[1].encode() if len(cmd.args) > 1 else b""


# Commands that call one local API of node ID (the first argument); the env
# reports the resulting state change, the returned index, or the RaftError.
LOCAL_REQUESTS: dict[str, Callable[[RaftCore, Command], object]] = {
    "campaign": lambda core, cmd: core.campaign(),
    "propose": lambda core, cmd: core.propose(_text_arg(cmd)),
    "propose-conf-change": _conf_change,
    "read-index": lambda core, cmd: core.read_index(_text_arg(cmd)),
    "transfer-leader": lambda core, cmd: core.transfer_leader(cmd.int_arg(1)),
    "report-unreachable": lambda core, cmd: core.report_unreachable(cmd.int_arg(1)),
    "report-snapshot": lambda core, cmd: core.report_snapshot(cmd.int_arg(1),
                                                              cmd.flag("ok", True)),
}


def encode_sm(sm: list[tuple[int, bytes]]) -> bytes:
    return msgpack.packb([[i, d] for i, d in sm], use_bin_type=True)  # type: ignore[no-any-return]


def decode_sm(data: bytes) -> list[tuple[int, bytes]]:
    return [(int(i), bytes(d)) for i, d in msgpack.unpackb(data, raw=False)] if data else []


def render_ready(rd: Ready, note: Callable[[Message], str]) -> list[str]:
    """A Ready as etcd's interaction env shows it: one section per non-empty field.
    `note(msg)` annotates a message (e.g. that the network drops it)."""
    out: list[str] = []
    if rd.soft_state is not None:
        out.append(f"  Lead:{rd.soft_state.leader_id} State:{rd.soft_state.role.name}")
    if rd.hard_state is not None:
        hs = rd.hard_state
        out.append(f"  HardState Term:{hs.term} Vote:{hs.vote} Commit:{hs.commit}")
    if rd.snapshot is not None:
        meta = rd.snapshot.meta
        out.append(f"  Snapshot {meta.index}@{meta.term} {conf_text(meta.conf_state)}")
    for title, items in (("Entries", [describe_entry(e) for e in rd.entries]),
                         ("CommittedEntries", [describe_entry(e) for e in rd.committed_entries]),
                         ("Messages", [describe(m) + note(m) for m in rd.messages]),
                         ("ReadStates", [f"index={r.index} ctx={r.request_ctx!r}"
                                         for r in rd.read_states])):
        if items:
            out.append(f"  {title}:")
            out.extend(f"    {s}" for s in items)
    return out



@dataclass
class Directive:
    line: int  # 1-based line number of the command, for error messages
    before: list[str]  # comment and blank lines preceding the command
    command: str
    expected: str


def parse(text: str) -> tuple[list[Directive], list[str]]:
    """Split a file into directives and the trailing comment lines."""
    lines = text.splitlines()
    out: list[Directive] = []
    before: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            before.append(line)
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1] != SEPARATOR:
            raise DataDrivenError(f"line {i + 1}: command {line!r} is not followed by {SEPARATOR}")
        j = i + 2
        while j < len(lines) and lines[j].strip():
            j += 1
        out.append(Directive(i + 1, before, line, "\n".join(lines[i + 2 : j])))
        before = []
        i = j
    return out, before


def run_file(text: str, handle: Callable[[Command], str], path: str = "<string>") -> str:
    """Run every directive through `handle`; return the file text with the actual outputs."""
    directives, trailing = parse(text)
    parts: list[str] = []
    for d in directives:
        try:
            output = handle(Command.parse(d.command))
        except DataDrivenError as exc:
            raise DataDrivenError(f"{path}:{d.line}: {d.command}: {exc}") from exc
        if any(not ln.strip() for ln in output.splitlines()):
            raise DataDrivenError(f"{path}:{d.line}: {d.command}: output has a blank line")
        parts.extend([*d.before, d.command, SEPARATOR, output or "ok"])
    parts.extend(trailing)
    return "\n".join(parts) + "\n"


@dataclass
class Node:
    core: RaftCore
    storage: MemoryStorage
    settings: dict[str, Any]  # Config fields other than id/applied, kept for restarts
    sm: list[tuple[int, bytes]]  # the state machine: applied NORMAL entries (index, data)
    confs: list[tuple[int, ConfState]]  # the applied configuration, by entry index
    restarts: int = 0


class EnvState:
    """The nodes and the network of an interaction env, and the commands that only
    observe them or cut links (InteractionEnv in test_interaction.py adds the rest)."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.queue: list[Message] = []
        self.cut_links: set[tuple[int, int]] = set()

    def node(self, nid: int) -> Node:
        if nid not in self.nodes:
            raise DataDrivenError(f"no node {nid}")
        return self.nodes[nid]

    def node_line(self, nid: int, extra: str = "") -> str:
        c = self.nodes[nid].core
        return (f"{nid}: {c.role.name} term={c.term} vote={c.vote} commit={c.commit_index} "
                f"applied={c.applied_index} last={c.last_index} lead={c.leader_id}{extra}")

    def cmd_lease_read(self, cmd: Command) -> list[str]:
        idx = self.node(cmd.int_arg(0)).core.lease_read_index()
        return ["no valid lease"] if idx is None else [f"lease read index={idx}"]

    # --- network faults -----------------------------------------------------------
    def cmd_cut(self, cmd: Command) -> list[str]:
        a, b = cmd.int_arg(0), cmd.int_arg(1)
        self.cut_links |= {(a, b), (b, a)}
        return []

    def cmd_isolate(self, cmd: Command) -> list[str]:
        nid = cmd.int_arg(0)
        for other in self.nodes:
            if other != nid:
                self.cut_links |= {(nid, other), (other, nid)}
        return []

    def cmd_heal(self, cmd: Command) -> list[str]:
        self.cut_links.clear()
        return []

    # --- observers ------------------------------------------------------------------
    def cmd_status(self, cmd: Command) -> list[str]:
        out = []
        for nid in cmd.int_args() or sorted(self.nodes):
            st = self.node(nid).core.status()
            out.append(self.node_line(nid))
            out.extend(f"  {pid}: {pr}" for pid, pr in st.progress.items())
        return out

    def cmd_raft_state(self, cmd: Command) -> list[str]:
        return [self.node_line(nid) for nid in sorted(self.nodes)]

    def cmd_raft_log(self, cmd: Command) -> list[str]:
        st = self.node(cmd.int_arg(0)).storage
        out = []
        meta = st.snapshot().meta
        if meta.index:
            out.append(f"snapshot {meta.index}@{meta.term} {conf_text(meta.conf_state)}")
        ents = st.entries(st.first_index(), st.last_index() + 1)
        return out + [describe_entry(e) for e in ents] if ents or out else ["log is empty"]

    def cmd_state_machine(self, cmd: Command) -> list[str]:
        n = self.node(cmd.int_arg(0))
        return [f"applied={n.core.applied_index} data=[{', '.join(repr(d) for _, d in n.sm)}]"]
