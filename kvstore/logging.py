"""structlog set-up, done once per process.

Events are key-value pairs (`log.info("raft.elected", group=3, term=7)`), never
f-strings. `configure()` is idempotent; libraries call `get_logger()` only.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_configured = False


def configure(level: str = "info", json: bool = False, stream: Any = None) -> None:
    """Configure structlog for this process (console or JSON lines on stderr)."""
    global _configured
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=True,
    )
    _configured = True


def get_logger(name: str = "kvstore", **bind: Any) -> Any:
    """A lazy structlog logger: it takes the configuration in force at its first
    log call, so module-level loggers created at import follow a `configure()`
    made later (the node's `log_level` and `log_json`)."""
    if not _configured:
        configure()
    return structlog.get_logger(name, **bind)
