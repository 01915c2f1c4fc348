"""Real ONNX model files for the reload tests (imported by name: tests/*/conftest.py are all "conftest").

Version N is the shipped graph with N written into its card; broken versions are real broken files
(truncated bytes, or a card without the model's name).
"""

from __future__ import annotations

from pathlib import Path

from repo_files import SHIPPED_MODEL as SHIPPED


def write_version(repository: Path, version: int, *, card_version: str | None = None) -> Path:
    """repository/<version>/model.onnx: the shipped graph with ``card_version`` (default: the folder)."""
    import onnx

    model = onnx.load(str(SHIPPED))
    for prop in model.metadata_props:
        if prop.key == "version":
            prop.value = card_version or str(version)
    target = repository / str(version) / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return target


def write_broken(repository: Path, version: int, how: str = "truncated") -> Path:
    """repository/<version>/model.onnx that must be refused: truncated bytes, or a card without a name."""
    target = repository / str(version) / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    if how == "truncated":
        target.write_bytes(SHIPPED.read_bytes()[:5000])
    elif how == "no_name":
        import onnx

        model = onnx.load(str(SHIPPED))
        keep = [p for p in model.metadata_props if p.key != "name"]
        del model.metadata_props[:]
        model.metadata_props.extend(keep)
        for prop in model.metadata_props:
            if prop.key == "version":
                prop.value = str(version)
        onnx.save(model, str(target))
    else:
        raise ValueError(how)
    return target
