"""Parsers: Jepsen log, Jepsen EDN, kvstore JSON lines; event semantics; errors by line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kvstore.check import (
    INF,
    HistoryWriter,
    Verdict,
    check,
    detect_format,
    load_history,
    parse_edn,
    parse_history,
    parse_jepsen_log,
    parse_jsonl,
)
from kvstore.check.edn import EdnError, Keyword, read_all, read_one
from kvstore.errors import CheckError

LOG = """\
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO jepsen.util -  1 :invoke   :cas\t[1 2]
INFO  jepsen.core - Worker 3 starting
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]
INFO  jepsen.util - 2\t:invoke\t:write\t3
INFO  jepsen.util - 2\t:info\t:write\t:timed-out
INFO  jepsen.util - 3\t:invoke\t:read\tnil
INFO  jepsen.util - 3\t:info\t:read\t:timed-out
INFO  jepsen.util - 2\t:invoke\t:write\t4
INFO  jepsen.util - 2\t:ok\t:write\t4
INFO  jepsen.util - 4\t:invoke\t:cas\t[4 5]
"""


def test_jepsen_log_semantics() -> None:
    history = parse_jepsen_log(LOG.splitlines())
    by_f = [(op.process, op.f, op.input, op.output, op.indeterminate) for op in history.ops]
    assert by_f == [
        (0, "read", None, None, False),
        (2, "write", 3, None, True),  # :info write: indeterminate
        (2, "write", 4, 4, False),  # same process reused after :info
        (4, "cas", (4, 5), None, True),  # no completion: indeterminate
    ]
    # The failed cas and the indeterminate read are dropped and counted.
    assert history.dropped == {"fail": 1, "indeterminate-read": 1}
    # Reusing a process after :info makes a new client.
    assert history.ops[1].client != history.ops[2].client
    assert history.ops[0].call == 1 and history.ops[0].ret == 5
    assert history.ops[1].ret == INF


def test_edn_lines() -> None:
    text = (
        '{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}\n'
        "\n"
        '{:process 1 :type :invoke :f :get :key "4" :value nil}\n'
        '{:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}\n'
        '{:process 1, :type :ok, :f :get, :key "4", :value "x 0 1 y"}\n'
        "{:process :nemesis, :type :info, :f :start, :value nil}\n"
    )
    history = parse_edn(text.splitlines())
    assert [(op.f, op.key, op.input, op.output) for op in history.ops] == [
        ("append", "4", "x 0 1 y", "x 0 1 y"), ("get", "4", None, "x 0 1 y")]
    assert [(op.call, op.ret) for op in history.ops] == [(1.0, 4.0), (3.0, 5.0)]
    assert check(history, "kv").verdict is Verdict.LINEARIZABLE


def test_jsonl_writer_round_trip() -> None:
    buf = io.StringIO()
    writer = HistoryWriter(buf)
    writer.invoke(1, "put", "k1", "a", time_ns=10)
    writer.invoke(2, "cas", "k1", ("a", "b"), time_ns=11)
    writer.ok(1, "put", "k1", "a", time_ns=20)
    writer.ok(2, "cas", "k1", ("a", "b"), time_ns=30)
    writer.invoke(3, "get", "k1", time_ns=40)
    writer.ok(3, "get", "k1", "b", time_ns=50)
    writer.invoke(4, "append", "k2", "z", time_ns=60)
    writer.info(4, "append", "k2", "z", time_ns=70)
    writer.invoke(5, "put", "k2", "q", time_ns=80)
    writer.fail(5, "put", "k2", "q", time_ns=90)
    writer.invoke(6, "get", "k2")  # default clock, never completes
    history = parse_jsonl(buf.getvalue().splitlines())
    rows = [(op.process, op.f, op.key, op.input, op.output, op.call, op.ret)
            for op in history.ops[:4]]
    assert rows == [
        (1, "put", "k1", "a", "a", 10, 20),
        (2, "cas", "k1", ("a", "b"), ("a", "b"), 11, 30),
        (3, "get", "k1", None, "b", 40, 50),
        (4, "append", "k2", "z", None, 60, INF),
    ]
    assert len(history.ops) == 4  # the pending get is an indeterminate read: dropped
    assert history.dropped == {"fail": 1, "indeterminate-read": 1}
    assert detect_format(buf.getvalue().splitlines()) == "jsonl"
    assert check(history, "kv").verdict is Verdict.LINEARIZABLE


def test_writer_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        HistoryWriter(io.StringIO()).write(1, "done", "get", "k", None)


@pytest.mark.parametrize(("fmt", "text", "line", "message"), [
    ("jepsen", "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :ok", 2,
     "expected"),
    ("jepsen", "INFO  jepsen.util - 0 :invoke :read nil\ngarbage here\n", 2,
     "not a Jepsen log line"),
    ("jepsen", "INFO  jepsen.util - 0 :invoke :frob 1\n", 1, "unknown op 'frob'"),
    ("jepsen", "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 1 :ok :read 1\n",
     2, "no matching invoke"),
    ("jepsen", "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :invoke :read nil",
     2, "still pending"),
    ("jepsen", "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :ok :write 1",
     2, "does not match"),
    ("jepsen", "INFO  jepsen.util - 0 :invoke :cas [1 2\n", 1, "missing"),
    ("jepsen", "INFO  jepsen.util - 0 :done :read nil\n", 1, "unknown event type"),
    ("edn", '{:process 0, :type :invoke, :f :get, :key "1"}\n{:process 0, :type :ok\n', 2,
     "missing"),
    ("edn", '{:process 0, :type :invoke, :f :get, :key "1"}\n[1 2]\n', 2, "expected an EDN map"),
    ("edn", '{:process 0, :type :invoke}\n', 1, "missing :f"),
    ("edn", '{:process "p", :type :invoke, :f :get}\n', 1, "bad process"),
    ("jsonl", '{"process": 1, "type": "invoke", "f": "get", "key": "k", "time": 1}\n{oops', 2,
     "invalid JSON"),
    ("jsonl", '{"process": 1, "type": "invoke", "f": "get", "key": "k"}\n', 1,
     "missing field 'time'"),
    ("jsonl", '\n\n{"process": 1, "type": "ok", "f": "get", "key": "k", "time": 3}\n', 3,
     "no matching invoke"),
    ("jsonl", '{"process": 1, "type": "invoke", "f": "get", "key": 5, "time": 3}\n', 1,
     "'key'"),
    ("jsonl", '{"process": 1, "type": "invoke", "f": "mv", "key": "k", "time": 3}\n', 1,
     "unknown op"),
    ("jsonl", '{"process": 1, "type": "begin", "f": "get", "key": "k", "time": 3}\n', 1,
     "unknown type"),
    ("jsonl", "[1, 2]\n", 1, "expected a JSON object"),
])
def test_parse_errors_name_the_line(fmt: str, text: str, line: int, message: str) -> None:
    with pytest.raises(CheckError, match=message) as info:
        parse_history(text, fmt)
    assert info.value.message.startswith(f"line {line}:")
    assert info.value.details["line"] == line


def test_completion_before_invoke_time_is_an_error() -> None:
    text = ('{"process": 1, "type": "invoke", "f": "get", "key": "k", "time": 9}\n'
            '{"process": 1, "type": "ok", "f": "get", "key": "k", "value": "", "time": 3}\n')
    with pytest.raises(CheckError, match="line 2: completion time is before"):
        parse_history(text, "jsonl")


def test_detect_format() -> None:
    assert detect_format(["", 'INFO  jepsen.util - 0\t:invoke\t:read\tnil']) == "jepsen"
    assert detect_format(['{:process 0, :type :invoke}']) == "edn"
    assert detect_format(['{"process": 0}']) == "jsonl"
    with pytest.raises(CheckError, match="cannot detect"):
        detect_format(["hello world"])
    assert parse_history("\n \n").ops == []


def test_load_history_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckError, match="no such history file"):
        load_history(tmp_path / "missing.log")
    with pytest.raises(CheckError, match="is a directory"):
        load_history(tmp_path)
    binary = tmp_path / "bin.log"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CheckError, match="not UTF-8"):
        load_history(binary)
    bad = tmp_path / "bad.edn"
    bad.write_text("{:process 0, :type :ok, :f :get}\n")
    with pytest.raises(CheckError, match=r"bad\.edn: line 1: ok get of process 0 has no"):
        load_history(bad)
    with pytest.raises(CheckError, match="unknown history format"):
        load_history(bad, "yaml")


def test_edn_reader() -> None:
    assert read_one('{:a [1 -2 3.5], "s\\"q\\n" #{nil true}, :k (x y)}') == {
        Keyword("a"): (1, -2, 3.5), 's"q\n': frozenset({None, True}),
        Keyword("k"): ("x", "y")}
    assert read_all("1 ; comment\n :kw #_ ignored \\a \"\\u0041\"") == [1, "kw", "a", "A"]
    assert isinstance(read_one(":ok"), Keyword)
    assert hash(read_one("{:a 1}")) == hash(read_one("{:a 1}"))
    for bad in ("[1 2", "{:a}", '"open', ")", "#inst \"2020\"", "1 2", ":", '"\\q"', "1x"):
        with pytest.raises(EdnError):
            read_one(bad)
