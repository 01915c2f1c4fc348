"""The model repository extension: index, load and unload, mapped onto this server's one model.

Index lists the served model version (READY) and, with ``DIGITS_MODEL_REPOSITORY``, the other version
folders (UNAVAILABLE: this server serves the newest valid version only). Load is the existing reload
(``service.reload``, as SIGHUP and ``POST /admin/reload``): it picks up a newer valid version, or re-reads
``DIGITS_MODEL_PATH``; a request that brings its own config or files is refused. Unload is refused: a
server with no model would only fail every request. Like ``/admin/reload``, load needs an API key
configured (an operation that changes what is served is never open). Transport-neutral: REST and gRPC
both call these and answer in their own shapes.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from service.model import DigitModel, ModelError
from service.reload import ModelReloader
from service.repository import folder_of, version_folders
from service.settings import Settings
from service.signals import supervisor_pid
from service.v2.errors import ProtocolError
from service.v2.inference import check_model

READY = "READY"
UNAVAILABLE = "UNAVAILABLE"


def repository_index(model: DigitModel, settings: Settings, ready_only: bool) -> list[dict[str, str]]:
    """Triton's ``$repository_index_response``: every model version this server knows, with its state."""
    index = [{"name": model.name, "version": model.version, "state": READY, "reason": ""}]
    if ready_only or settings.model_repository is None:
        return index
    served = folder_of(model.path, settings.model_repository)
    try:
        folders = version_folders(settings.model_repository)
    except ModelError as exc:
        raise ProtocolError(f"the model repository cannot be read: {exc}") from None
    for folder, _ in folders:
        if folder != served:
            reason = f"this server serves only the newest valid version ({model.version})"
            index.append({"name": model.name, "version": str(folder), "state": UNAVAILABLE, "reason": reason})
    return index


async def load(
    reloader: ModelReloader, model: DigitModel, settings: Settings, name: str, parameters: dict[str, Any]
) -> str:
    """Reload ``name``: the newest valid version starts serving (several workers: they are replaced one
    by one). Returns what happened; a refused candidate is an error and the old model keeps serving."""
    if not settings.api_key.strip():
        raise ProtocolError("model control is off: set DIGITS_API_KEY to enable load (as /admin/reload)", 403)
    check_model(model, name, None)
    brought = sorted(key for key in parameters if key == "config" or key.startswith("file:"))
    if brought:
        raise ProtocolError(
            f"loading from the request ({', '.join(brought)}) is not supported: this server loads only "
            "the model files on its own disk"
        )
    supervisor = supervisor_pid()
    if supervisor is not None:
        candidate, refused = await reloader.check()
        if candidate is None and refused:
            raise ProtocolError(
                f"the new model was refused; version {model.version} keeps serving: {refused}"
            )
        if candidate is None:
            return f"version {model.version} is the newest valid version; nothing to load"
        os.kill(supervisor, signal.SIGHUP)
        return f"the workers are being replaced; they will serve version {candidate.version}"
    result = await reloader.reload()
    if result.outcome == "refused":
        raise ProtocolError(
            f"the new model was refused; version {result.model.version} keeps serving: {result.refused}"
        )
    if result.outcome == "unchanged":
        return f"version {result.model.version} is the newest valid version; nothing to load"
    return f"version {result.model.version} is serving"


def unload(model: DigitModel, settings: Settings, name: str) -> None:
    """Always refused (after the same checks as load): the server serves its one model until it stops."""
    if not settings.api_key.strip():
        raise ProtocolError("model control is off: set DIGITS_API_KEY to enable it (as /admin/reload)", 403)
    check_model(model, name, None)
    raise ProtocolError(
        f"unloading is not supported: this server always serves '{model.name}'; stop the server instead"
    )
