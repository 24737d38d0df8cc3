"""Project-wide pytest options.

`--rewrite` regenerates the golden output of the datadriven Raft interaction
files (tests/raft/testdata/*.txt) in place instead of comparing against it.
Review the diff it produces: a golden file records what correct Raft does.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rewrite",
        action="store_true",
        default=False,
        help="rewrite the expected output of tests/raft/testdata/*.txt in place",
    )
