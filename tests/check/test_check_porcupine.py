"""Every verdict in shared/testdata/porcupine/VERDICTS.tsv, one test per file.

Besides the verdict, each result is audited independently: a linearizable
history's order must replay legally under the model and respect real time; a
non-linearizable one must name a blocked op outside a legal partial order.
"""

from __future__ import annotations

import pytest
from _check_support import TESTDATA, assert_valid_order, model_for, verdict_rows

from kvstore.check import Verdict, check, load_history, partition

ROWS = verdict_rows()


def test_testdata_is_present() -> None:
    assert TESTDATA.is_dir(), f"test data missing at {TESTDATA}"
    assert len(ROWS) >= 50
    assert {model_for(name) for name, _ in ROWS} == {"register", "kv"}


@pytest.mark.parametrize(("name", "expected"), ROWS, ids=[name for name, _ in ROWS])
def test_verdict_matches(name: str, expected: str) -> None:
    history = load_history(TESTDATA / name)
    model = model_for(name)
    result = check(history, model, timeout_s=60)
    want = Verdict.LINEARIZABLE if expected == "linearizable" else Verdict.NOT_LINEARIZABLE
    assert result.verdict is want
    parts = partition(history.ops)
    if want is Verdict.LINEARIZABLE:
        assert len(result.partitions) == len(parts)
        for part in result.partitions:
            assert_valid_order(parts[part.key], part.order, model, complete=True)
    else:
        failing = result.failing
        assert failing is not None and failing.blocked is not None
        assert failing.blocked not in failing.order
        assert history.ops[failing.blocked].key == failing.key
        assert_valid_order(parts[failing.key], failing.order, model, complete=False)
