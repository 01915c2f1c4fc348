"""The Kubernetes manifests as a cluster would get them: rendered by the pinned kubectl's kustomize,
validated strictly against the API schemas of the Kubernetes versions we support (kubernetes-validate)
and, for custom resources, against their published CRDs (crds.py). No cluster needed.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from crds import CUSTOM_KINDS, validate_custom
from deployfiles import BIN, REPO

from service.settings import ENV_PREFIX, Settings

# Upstream supports the three newest minor releases; the oldest and the newest are validated.
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")

KUBERNETES = REPO / "deploy" / "kubernetes"
KUSTOMIZATIONS = {
    "base": KUBERNETES / "base",
    "small": KUBERNETES / "overlays" / "small",
    "production": KUBERNETES / "overlays" / "production",
    "kserve": REPO / "deploy" / "kserve",
    "podman": REPO / "deploy" / "podman" / "kube",
}

Doc = dict[str, Any]

DEFAULT_GRPC_PORT = 8001  # Triton's; the service's DIGITS_GRPC_PORT default once it exists


def grpc_port() -> int:
    """The service's gRPC port setting, else the port the manifests reserve for it."""
    field = Settings.model_fields.get("grpc_port")
    return field.get_default(call_default_factory=True) if field else DEFAULT_GRPC_PORT


def settings_of(docs: tuple[Doc, ...]) -> dict[str, str]:
    """The DIGITS_* variables the pods get from the ConfigMap."""
    return find(docs, "ConfigMap")["data"]


def service_settings(docs: tuple[Doc, ...]) -> Settings:
    """The service's settings as a pod built from ``docs`` reads them (the ConfigMap over the defaults)."""
    return Settings(
        **{key.removeprefix(ENV_PREFIX).lower(): value for key, value in settings_of(docs).items()}
    )


def pod_spec(docs: tuple[Doc, ...]) -> Doc:
    return find(docs, "Deployment", "digits")["spec"]["template"]["spec"]


def kustomize_run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )


def render(path: Path) -> list[Doc]:
    """``kubectl kustomize path`` as a list of objects (fails the test on a kustomize error)."""
    result = kustomize_run(path)
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@functools.cache
def rendered(name: str) -> tuple[Doc, ...]:
    """One of KUSTOMIZATIONS, rendered once per test session (treat as read-only)."""
    return tuple(render(KUSTOMIZATIONS[name]))


def validate(doc: Doc, version: str) -> None:
    """Strict validation: an unknown or misspelled field, a wrong type or a missing required field raises."""
    if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
        validate_custom(doc)
        # The CRD leaves metadata to the API server: check it as the ObjectMeta it is.
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]}, version, strict=True
        )
        return
    kubernetes_validate.validate(doc, version, strict=True)


def find(docs: tuple[Doc, ...] | list[Doc], kind: str, name: str | None = None) -> Doc:
    matches = [doc for doc in docs if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def kinds(docs: tuple[Doc, ...] | list[Doc]) -> set[str]:
    return {doc["kind"] for doc in docs}


def container(pod_spec: Doc, name: str) -> Doc:
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def load_yaml(path: Path) -> Doc:
    return yaml.safe_load(path.read_text())
