"""Logging for bianmin's processes: one format, PII masked in every line."""
from __future__ import annotations

import logging
import sys

from bianmin.pii import MaskingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr (the supervisor writes each process's stream to var/log/<process>.log)."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(MaskingFilter())
    root.addHandler(handler)
    # aiohttp's access log would print query strings; it goes through the same masked handler.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
