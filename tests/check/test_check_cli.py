"""`kvctl check`: exit codes 0/1/2, error messages with line numbers, the HTML timeline,
and one run of the real `kvctl` executable in a subprocess."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest
from _check_support import TESTDATA, hard_history
from click.testing import CliRunner

from cli.check_cmd import check

ETCD_BAD = TESTDATA / "jepsen" / "etcd_000.log"
ETCD_OK = TESTDATA / "jepsen" / "etcd_002.log"


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(check, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def write_jsonl(path: Path, rows: list[tuple]) -> Path:
    """Write complete-op rows as kvstore JSON lines (invoke, then ok)."""
    lines = []
    for client, f, key, inp, out, call, ret in rows:
        lines.append({"process": client, "type": "invoke", "f": f, "key": key,
                      "value": inp, "time": int(call * 10)})
        lines.append({"process": client, "type": "ok", "f": f, "key": key,
                      "value": out if f in ("read", "get") else inp, "time": int(ret * 10)})
    lines.sort(key=lambda d: d["time"])
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    return path


def test_linearizable_exits_0() -> None:
    code, out, _ = run(ETCD_OK, "--model", "register")
    assert code == 0
    assert out.splitlines()[0] == "linearizable"


def test_not_linearizable_exits_1_and_names_the_op() -> None:
    code, out, _ = run(TESTDATA / "kv" / "c10-bad.txt", "--model", "kv", "--format", "edn")
    assert code == 1
    assert out.splitlines()[0] == "not linearizable"
    assert "in key '2'" in out
    assert "cannot be placed" in out and "(line " in out


def test_unknown_exits_2(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "hard.jsonl", hard_history(24, key="k"))
    code, out, _ = run(path, "--model", "kv", "--timeout", "0.3")
    assert code == 2
    assert out.splitlines()[0] == "unknown"
    assert "time limit reached" in out


@pytest.mark.parametrize(("text", "needle"), [
    ('{"process": 1, "type": "invoke", "f": "get", "key": "k", "time": 1}\n'
     '{"process": 1, "type": "ok", "f": "get", "key": "k", "time": 2\n', "line 2: invalid JSON"),
    ('{"process": 1, "type": "invoke", "f": "get", "key": "k", "time": 1}\n'
     '{"process": 1, "type": "invoke", "f": "zap", "key": "k", "time": 2}\n',
     "line 2: unknown op 'zap'"),
    ('{"process": 1, "type": "invoke", "f": "get", "key": "k", "time": 1}\n'
     '{"process": 2, "type": "ok", "f": "get", "key": "k", "value": "", "time": 2}\n',
     "line 2: ok get of process 2 has no matching invoke"),
])
def test_bad_input_exits_2_with_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    code, out, err = run(path, "--model", "kv")
    assert code == 2
    assert needle in err
    assert "Traceback" not in out + err


def test_wrong_model_for_ops_exits_2() -> None:
    code, _, err = run(TESTDATA / "kv" / "c01-ok.txt", "--model", "register")
    assert code == 2
    assert "line 1: op 'append' is not part of the register model" in err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = run(tmp_path / "nope.log", "--model", "register")
    assert code == 2
    assert "no such history file" in err


def test_html_timeline_shows_failing_op(tmp_path: Path) -> None:
    out_html = tmp_path / "timeline.html"
    code, out, _ = run(ETCD_BAD, "--model", "register", "--html", out_html)
    assert code == 1
    page = out_html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    # The explanation names the blocked op; the page highlights the same op.
    blocked_line = next(line for line in out.splitlines() if "cannot be placed" in line)
    blocked = blocked_line.split("after it: ", 1)[1]
    assert html.escape(blocked) in page
    fail_bar = page.split('<g class="fail')[1].split("</g>")[0]
    assert html.escape(blocked) in fail_bar
    assert page.count('<g class="lin') >= 2  # partial linearization drawn and numbered
    assert "#1 " in page and "Longest partial linearization" in page


def test_html_unwritable_path_exits_2(tmp_path: Path) -> None:
    code, _, err = run(ETCD_OK, "--model", "register", "--html", tmp_path / "no" / "x.html")
    assert code == 2
    assert "cannot write" in err


def test_real_kvctl_subprocess(tmp_path: Path) -> None:
    kvctl = Path(sys.executable).parent / "kvctl"
    assert kvctl.exists(), f"kvctl is not installed next to {sys.executable}"
    out_html = tmp_path / "t.html"
    bad = subprocess.run([str(kvctl), "check", str(ETCD_BAD), "--model", "register",
                          "--html", str(out_html)], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.startswith("not linearizable")
    assert out_html.stat().st_size > 1000
    ok = subprocess.run([str(kvctl), "check", str(ETCD_OK), "--model", "register"],
                        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run([str(kvctl), "check", "missing.log", "--model", "kv"],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert missing.returncode == 2
    assert "no such history file" in missing.stderr and "Traceback" not in missing.stderr
