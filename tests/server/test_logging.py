"""Module-level loggers follow a `configure()` made after their module was imported.

Every module creates its logger at import (`log = get_logger(...)`), before a
process reads its configuration. Run in a fresh interpreter: structlog's
configuration is process-global.
"""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import sys
from kvstore.server import host
from kvstore.logging import configure
configure(level="warning", json=True, stream=sys.stdout)
host.log.info("dropped", x=1)
host.log.warning("kept", x=2)
"""


def test_level_and_json_reach_loggers_created_at_import() -> None:
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(e["event"], e["level"], e["x"]) for e in events] == [("kept", "warning", 2)]
