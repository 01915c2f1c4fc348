"""deploy/kserve: the InferenceServices, checked against KServe's own CRD (v0.20.0, vendored in crd-schemas/),
and against the plain Deployment they mirror: the same pod for the custom predictor, the same model
repository for Triton.
"""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest
from crds import KSERVE_VERSION
from deployfiles import REPO
from manifests import (
    KUBERNETES_VERSIONS,
    container,
    find,
    grpc_port,
    pod_spec,
    rendered,
    service_settings,
    settings_of,
    validate,
)

from service.security import PUBLIC_PATHS


@pytest.fixture(scope="module")
def custom() -> dict:
    return find(rendered("kserve"), "InferenceService", "digits")


@pytest.fixture(scope="module")
def triton() -> dict:
    return find(rendered("kserve"), "InferenceService", "digits-triton")


def test_targets_kserve_v0_20() -> None:
    assert KSERVE_VERSION == "v0.20.0"
    assert "v0.20.0" in (REPO / "deploy" / "kserve" / "kustomization.yaml").read_text()


def test_misspelled_or_mistyped_fields_are_rejected(custom: dict) -> None:
    """The CRD check is strict: an unknown field, a wrong type or a value outside an enum fails."""
    validate(custom, KUBERNETES_VERSIONS[-1])
    typo = copy.deepcopy(custom)
    typo["spec"]["predictor"]["minReplica"] = 2
    with pytest.raises(jsonschema.ValidationError, match="minReplica"):
        validate(typo, KUBERNETES_VERSIONS[-1])
    nested = copy.deepcopy(custom)
    nested["spec"]["predictor"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(jsonschema.ValidationError, match="readinesProbe"):
        validate(nested, KUBERNETES_VERSIONS[-1])
    wrong_type = copy.deepcopy(custom)
    wrong_type["spec"]["predictor"]["maxReplicas"] = "ten"
    with pytest.raises(jsonschema.ValidationError, match="ten"):
        validate(wrong_type, KUBERNETES_VERSIONS[-1])
    bad_enum = copy.deepcopy(custom)
    bad_enum["spec"]["predictor"]["autoScaling"]["metrics"][0]["resource"]["name"] = "gpu"
    with pytest.raises(jsonschema.ValidationError, match="gpu"):
        validate(bad_enum, KUBERNETES_VERSIONS[-1])


def test_custom_predictor_speaks_v2_on_both_ports(custom: dict) -> None:
    annotations = custom["metadata"]["annotations"]
    # Two ports are routed only in Standard mode (Knative routes one port per container).
    assert annotations["serving.kserve.io/deploymentMode"] == "Standard"
    predictor = custom["spec"]["predictor"]
    (serving,) = predictor["containers"]
    assert serving["name"] == "kserve-container"
    assert {"name": "PROTOCOL", "value": "v2"} in serving["env"]
    settings = service_settings(rendered("kserve"))
    # KServe puts the first port on the predictor Service's port 80 and names gRPC by "grpc".
    assert [(p["name"], p["containerPort"]) for p in serving["ports"]] == [
        ("http", settings.port),
        ("grpc", grpc_port()),
    ]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        path = serving[probe]["httpGet"]["path"]
        assert path in PUBLIC_PATHS, f"{probe} {path} is not an open health route"
    assert serving["readinessProbe"]["httpGet"]["path"] in {"/readyz", "/v2/health/ready"}
    assert annotations["prometheus.kserve.io/port"] == str(settings.port)


def test_custom_predictor_is_the_deployment_pod(custom: dict) -> None:
    """Same settings, command, resources, security, volumes and model seeding as deploy/kubernetes/base."""
    kserve, base = rendered("kserve"), rendered("base")
    assert settings_of(kserve) == settings_of(base)
    predictor = custom["spec"]["predictor"]
    (serving,) = predictor["containers"]
    assert serving["envFrom"] == [{"configMapRef": {"name": find(kserve, "ConfigMap")["metadata"]["name"]}}]
    spec = pod_spec(base)
    digits = container(spec, "digits")
    same = ["command", "ports", "resources", "securityContext", "volumeMounts", "lifecycle", "startupProbe"]
    for key in same:
        assert serving[key] == digits[key], key
    assert [e for e in serving["env"] if e["name"] != "PROTOCOL"] == digits["env"]
    for key in ("securityContext", "terminationGracePeriodSeconds", "volumes"):
        assert predictor[key] == spec[key], key
    without_image = [{k: v for k, v in init.items() if k != "image"} for init in predictor["initContainers"]]
    assert without_image == [
        {k: v for k, v in init.items() if k != "image"} for init in spec["initContainers"]
    ]
    assert predictor["automountServiceAccountToken"] is False
    assert predictor["enableServiceLinks"] is False
    claim = next(v for v in predictor["volumes"] if v["name"] == "models")["persistentVolumeClaim"][
        "claimName"
    ]
    assert find(kserve, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteMany"]
    hpa = find(base, "HorizontalPodAutoscaler")["spec"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (hpa["minReplicas"], hpa["maxReplicas"])
    assert predictor["autoScaling"]["metrics"] == hpa["metrics"]
    images = {c["image"] for c in [*predictor["containers"], *predictor["initContainers"]]}
    assert len(images) == 1
    assert re.fullmatch(r"[\w.-]+(/[\w.-]+)+:\d+\.\d+\.\d+", images.pop())


def test_triton_serves_the_same_model_repository(triton: dict) -> None:
    kserve = rendered("kserve")
    model = triton["spec"]["predictor"]["model"]
    assert model["runtime"] == "kserve-tritonserver"
    assert model["modelFormat"]["name"] == "triton"
    assert model["protocolVersion"] == "v2"
    claim = re.fullmatch(r"pvc://([a-z0-9-]+)", model["storageUri"]).group(1)
    assert find(kserve, "PersistentVolumeClaim", claim)
    # The custom predictor seeds that volume with models/digits at its root's digits/ (Triton's layout):
    custom_volumes = find(kserve, "InferenceService", "digits")["spec"]["predictor"]["volumes"]
    assert {"name": "models", "persistentVolumeClaim": {"claimName": claim}} in custom_volumes
    repository = settings_of(kserve)["DIGITS_MODEL_REPOSITORY"]
    assert repository.rsplit("/", 1)[-1] == "digits"
    config = (REPO / "models" / "digits" / "config.pbtxt").read_text()
    assert re.search(r'^name: "digits"$', config, flags=re.MULTILINE)
    assert triton["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
