"""The service's app for Granian (the uvicorn-vs-granian comparison): the same ``create_app`` and the
same JSON logging as ``python -m service`` configures for uvicorn.

    granian --interface asgi --factory granian_app:app --working-dir bench --workers 2 --port 8000
"""

from __future__ import annotations

import logging.config
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.app import create_app
from service.logs import logging_config
from service.settings import Settings


def app():
    settings = Settings()
    logging.config.dictConfig(logging_config(settings.log_level))
    return create_app(settings)
