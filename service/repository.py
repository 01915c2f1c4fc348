"""The model repository: which model files exist and which one to serve.

With ``DIGITS_MODEL_REPOSITORY`` (a Triton-style folder such as ``models/digits`` holding ``1/model.onnx``,
``2/model.onnx``, ...) the service serves the newest version folder whose model passes the contract check
and carries that version in its card; a broken newer one is logged and skipped. Without it, the service
serves ``DIGITS_MODEL_PATH`` (a reload re-reads that file: replace it atomically, e.g. ``mv``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from service.model import DigitModel, ModelError
from service.settings import Settings

log = logging.getLogger("service.repository")

MODEL_FILE = "model.onnx"

Stamp = tuple[int, int, int]  # inode, mtime ns, size: a replaced file has another


def stamp_of(path: Path) -> Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def version_folders(repository: Path) -> list[tuple[int, Path]]:
    """``(N, repository/N/model.onnx)`` for every integer-named folder holding a model, newest first."""
    found = []
    try:
        entries = list(repository.iterdir())
    except OSError as exc:
        raise ModelError(f"model repository not readable: {repository}: {exc.strerror}") from None
    for entry in entries:
        if entry.name.isdigit() and (entry / MODEL_FILE).is_file():
            found.append((int(entry.name), entry / MODEL_FILE))
    return sorted(found, reverse=True)


def load_version(path: Path, settings: Settings, folder: int | None = None) -> DigitModel:
    """Load and check one model; in a repository its card must carry the folder's version."""
    model = DigitModel.load(
        path, intra_op_threads=settings.intra_op_threads, inter_op_threads=settings.inter_op_threads
    )
    if folder is not None and model.version != str(folder):
        raise ModelError(
            f"model in version folder {folder} says it is version {model.version!r}: {path} "
            "(the folder and the card's version must agree)"
        )
    return model


def load_configured(settings: Settings) -> DigitModel:
    """The model to serve at startup: the newest valid version in the repository, else DIGITS_MODEL_PATH."""
    repository = settings.model_repository
    if repository is None:
        return load_version(settings.model_path, settings)
    problems = []
    for folder, path in version_folders(repository):
        try:
            return load_version(path, settings, folder)
        except ModelError as exc:
            problems.append(str(exc))
            log.error("model version refused", extra={"fields": {"path": str(path), "reason": str(exc)}})
    if not problems:
        raise ModelError(f"no version folder with {MODEL_FILE} in the model repository {repository}")
    raise ModelError(f"no valid model in {repository}: " + "; ".join(problems))


def folder_of(path: Path, repository: Path) -> int | None:
    return int(path.parent.name) if path.parent.name.isdigit() and path.parent.parent == repository else None
