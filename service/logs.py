"""Structured logging: every log line is one JSON object (``ts``, ``level``, ``logger``, ``msg`` + fields).

Used for the per-request access line (see ``service.telemetry``) and for uvicorn's own messages, so a log
shipper reads one format. ``logging_config()`` is handed to uvicorn, which applies it in every worker.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any


class JsonFormatter(logging.Formatter):
    """``logging.info("msg", extra={"fields": {...}})`` -> {"ts": ..., "level": ..., "msg": ..., **fields}."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: JSON lines on stderr for the service and uvicorn."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "service": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},  # we log requests
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }
