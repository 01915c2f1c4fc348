"""deploy/kubernetes: every kustomization renders and validates strictly, and the rendered objects are
what a reviewer of a production Deployment expects (probes on the service's real routes, ports and
settings that match service/settings.py, limits, security context, HPA, PDB, topology spread, the API
key from a Secret). ``scripts/kube-smoke.sh`` runs the Deployment for real under ``podman kube play``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deployfiles import REPO, dockerfile
from manifests import (
    KUBERNETES,
    KUBERNETES_VERSIONS,
    KUSTOMIZATIONS,
    container,
    find,
    grpc_port,
    kinds,
    kustomize_run,
    pod_spec,
    render,
    rendered,
    service_settings,
    settings_of,
    validate,
)

from service.app import create_app
from service.security import PUBLIC_PATHS
from service.settings import ENV_PREFIX, Settings

DEPLOYMENTS = ["base", "small", "production"]  # the kustomizations a cluster gets a Deployment from
NAMESPACES = {"small": "digits-test", "production": "digits"}
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity (``512Mi``, ``1Gi``) in MiB."""
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)


@pytest.fixture(scope="module")
def routes() -> dict[str, set[str]]:
    """Every path the app serves, with its HTTP methods (the app is built, not started)."""
    app = create_app(Settings())
    return {path: set(methods) for path, methods in app.route_handler_method_map.items()}


# ------------------------------------------------------------------ render + strict validation


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_renders_and_validates_strictly(name: str, version: str) -> None:
    docs = rendered(name)
    assert docs
    for doc in docs:
        validate(doc, version)


def test_a_broken_manifest_fails(tmp_path: Path) -> None:
    """The checks above can fail: a misspelled field, a wrong type, a kustomization that cannot render."""
    base = os.path.relpath(KUSTOMIZATIONS["base"], tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{base}]\n"
        "patches:\n"
        "  - target: {kind: Deployment, name: digits}\n"
        "    patch: |-\n"
        "      - {op: add, path: /spec/template/spec/containers/0/readynessProbe, value: {}}\n"
        "      - {op: replace, path: /spec/template/spec/terminationGracePeriodSeconds, value: soon}\n"
    )
    deployment = find(render(tmp_path), "Deployment")  # kustomize has no schema: it renders
    with pytest.raises(kubernetes_validate.ValidationError, match="readynessProbe"):
        validate(deployment, KUBERNETES_VERSIONS[-1])
    del deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"]
    with pytest.raises(kubernetes_validate.ValidationError, match="soon"):
        validate(deployment, KUBERNETES_VERSIONS[-1])

    (tmp_path / "kustomization.yaml").write_text("resources: [no-such-file.yaml]\n")
    result = kustomize_run(tmp_path)
    assert result.returncode != 0
    assert "no-such-file.yaml" in result.stderr


# --------------------------------------------------------------------------------- the Deployment


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_probes_are_the_service_routes_and_need_no_key(name: str, routes: dict[str, set[str]]) -> None:
    spec = pod_spec(rendered(name))
    digits = container(spec, "digits")
    port_names = {port["name"] for port in digits["ports"]}
    paths = {probe: digits[probe]["httpGet"]["path"] for probe in PROBES}
    assert paths["readinessProbe"] == "/readyz"  # a real inference on the loaded model
    assert paths["livenessProbe"] == "/healthz"  # the process answers; no model call
    for probe, path in paths.items():
        assert "GET" in routes.get(path, set()), f"{probe} {path} is not a GET route of the service"
        assert path in PUBLIC_PATHS, f"{probe} {path} would need the API key"
        assert digits[probe]["httpGet"]["port"] in port_names
    startup = digits["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30  # time to load the model


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_ports_and_settings_match_the_service(name: str) -> None:
    docs = rendered(name)
    config = settings_of(docs)
    real = {ENV_PREFIX + field.upper() for field in Settings.model_fields}
    assert set(config) <= real, f"not settings of the service: {set(config) - real}"
    assert not {key for key in config if "KEY" in key}, "secrets do not belong in the ConfigMap"
    settings = service_settings(docs)
    assert settings.host == "0.0.0.0"
    assert settings.workers == 1  # one worker per pod; replicas scale

    digits = container(pod_spec(docs), "digits")
    ports = {port["name"]: port["containerPort"] for port in digits["ports"]}
    assert ports == {"http": settings.port, "grpc": grpc_port()}
    assert digits["envFrom"] == [{"configMapRef": {"name": find(docs, "ConfigMap")["metadata"]["name"]}}]
    _, stages, _ = dockerfile()
    assert digits["command"] == ["python", "-m", "service"]
    assert stages["runtime"].last("CMD") == '["python", "-m", "service"]'

    service = find(docs, "Service", "digits")
    by_name = {port["name"]: port for port in service["spec"]["ports"]}
    assert {name: port["targetPort"] for name, port in by_name.items()} == {"http": "http", "grpc": "grpc"}
    assert by_name["http"]["port"] == settings.port
    assert by_name["grpc"]["port"] == grpc_port()
    assert by_name["grpc"]["appProtocol"] == "kubernetes.io/h2c"  # gRPC is HTTP/2 without TLS
    labels = find(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_resources_and_shutdown(name: str) -> None:
    docs = rendered(name)
    spec = pod_spec(docs)
    digits = container(spec, "digits")
    resources = digits["resources"]
    assert resources["requests"]["cpu"] == "1"  # one worker = one process = at most ~1 core
    assert resources["requests"]["memory"]
    assert resources["limits"]["memory"]
    assert "cpu" not in resources["limits"]  # no CFS throttling below the requested core
    for init in spec["initContainers"]:
        assert init["resources"]["limits"]["memory"]
    # Sized from bench/pod_memory.py: the limit is above the measured worst case, the request above
    # the steady state.
    measured = json.loads((REPO / "bench" / "results" / "pod-memory-latest.json").read_text())
    assert measured["settings"]["DIGITS_INFERENCE_THREADS"] == settings_of(docs)["DIGITS_INFERENCE_THREADS"]
    assert mebibytes(resources["limits"]["memory"]) >= 1.25 * measured["peak_rss_mib"]
    assert mebibytes(resources["requests"]["memory"]) >= 1.5 * measured["steps"][1]["peak_rss_mib"]
    graceful = service_settings(docs).graceful_timeout
    pause = digits["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 1 <= pause <= 10
    assert spec["terminationGracePeriodSeconds"] > pause + graceful


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_security_context(name: str) -> None:
    spec = pod_spec(rendered(name))
    _, stages, _ = dockerfile()
    uid, gid = (int(part) for part in stages["runtime"].last("USER").split(":"))
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid)
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False  # a Service `digits` would inject DIGITS_PORT=tcp://...
    for each in [*spec["initContainers"], *spec["containers"]]:
        context = each["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, each["name"]
        assert context["readOnlyRootFilesystem"] is True, each["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, each["name"]
        assert "privileged" not in context


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_only_emptydirs_are_writable_and_the_models_volume_is_read_only(name: str) -> None:
    docs = rendered(name)
    spec = pod_spec(docs)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    digits = container(spec, "digits")
    mounts = {mount["mountPath"]: mount for mount in digits["volumeMounts"]}
    writable = [mount for mount in mounts.values() if not mount.get("readOnly")]
    assert [mount["mountPath"] for mount in writable] == ["/tmp"]  # HOME=/tmp; nothing else writes
    assert all("emptyDir" in volumes[mount["name"]] for mount in writable)
    assert volumes["tmp"]["emptyDir"]["sizeLimit"]

    repository = settings_of(docs)["DIGITS_MODEL_REPOSITORY"]
    models_mount = next(m for path, m in mounts.items() if repository.startswith(path + "/"))
    assert models_mount["readOnly"] is True
    claim = volumes[models_mount["name"]]["persistentVolumeClaim"]["claimName"]
    assert find(docs, "PersistentVolumeClaim", claim)
    # The init container fills the same volume, at the same path, from the image's own models/.
    seed = next(init for init in spec["initContainers"] if init["name"] == "seed-models")
    assert seed["image"] == digits["image"]
    assert [(m["name"], m["mountPath"]) for m in seed["volumeMounts"]] == [
        (models_mount["name"], models_mount["mountPath"])
    ]
    script = seed["command"][-1]
    assert f'"{repository}"' in script
    image_model = next(
        item.split("=", 1)[1]
        for item in " ".join(dockerfile()[1]["runtime"].all("ENV")).split()
        if item.startswith("DIGITS_MODEL_PATH=")
    )
    assert image_model.startswith("/app/models/digits/")
    assert '"/app/models/digits"' in script


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_api_key_comes_from_a_secret(name: str) -> None:
    docs = rendered(name)
    digits = container(pod_spec(docs), "digits")
    key = [env for env in digits["env"] if env["name"] == "DIGITS_API_KEY"]
    assert len(key) == 1
    assert "value" not in key[0]
    reference = key[0]["valueFrom"]["secretKeyRef"]
    assert (reference["name"], reference["key"]) == ("digits-api-key", "api-key")
    assert reference["optional"] is (name != "production")  # production does not start without it
    assert "Secret" not in kinds(docs)  # created by the operator, never committed


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_prometheus_scrapes_metrics(name: str, routes: dict[str, set[str]]) -> None:
    docs = rendered(name)
    annotations = find(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert "GET" in routes["/metrics"]
    assert "/metrics" in PUBLIC_PATHS
    assert int(annotations["prometheus.io/port"]) == int(settings_of(docs)["DIGITS_PORT"])


# ---------------------------------------------------------------------------- HPA, PDB, overlays


@pytest.mark.parametrize("name", ["base", "production"])
def test_hpa_scales_the_deployment_on_cpu(name: str) -> None:
    docs = rendered(name)
    hpa, deployment = find(docs, "HorizontalPodAutoscaler"), find(docs, "Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["type"] == "Utilization"
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert "replicas" not in deployment["spec"]  # the HPA owns the count; a re-apply keeps it


def test_production_scales_wider_and_small_runs_one_pod() -> None:
    production = find(rendered("production"), "HorizontalPodAutoscaler")["spec"]
    base = find(rendered("base"), "HorizontalPodAutoscaler")["spec"]
    assert production["minReplicas"] >= 3
    assert production["maxReplicas"] > base["maxReplicas"]
    small = rendered("small")
    assert "HorizontalPodAutoscaler" not in kinds(small)
    assert find(small, "Deployment")["spec"]["replicas"] == 1


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_pdb_selects_the_deployment_pods(name: str) -> None:
    docs = rendered(name)
    pdb, deployment = find(docs, "PodDisruptionBudget"), find(docs, "Deployment")
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert pdb["spec"]["maxUnavailable"] == 1  # drains proceed, one pod at a time


def test_production_spreads_over_nodes() -> None:
    docs = rendered("production")
    spec = pod_spec(docs)
    labels = find(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    constraints = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
    assert constraints["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    for constraint in constraints.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    image = container(spec, "digits")["image"]
    assert "/" in image
    assert not image.endswith((":latest", "digits-service"))


@pytest.mark.parametrize("name", ["small", "production"])
def test_overlays_set_their_namespace(name: str) -> None:
    docs = rendered(name)
    assert find(docs, "Namespace")["metadata"]["name"] == NAMESPACES[name]
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {
        NAMESPACES[name]
    }


def test_servicemonitor_component(tmp_path: Path) -> None:
    """The optional component, added to the production overlay as its comment says, scrapes the Service."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    overlay = tree / "overlays" / "production" / "kustomization.yaml"
    overlay.write_text(overlay.read_text() + "components:\n  - ../../components/servicemonitor\n")
    docs = render(overlay.parent)
    monitor, service = find(docs, "ServiceMonitor"), find(docs, "Service")
    for version in KUBERNETES_VERSIONS:
        validate(monitor, version)
    assert monitor["metadata"]["namespace"] == "digits"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("http", "/metrics")]
    assert "http" in {port["name"] for port in service["spec"]["ports"]}
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate(broken, KUBERNETES_VERSIONS[-1])


def test_podman_patch_changes_only_what_podman_needs() -> None:
    """scripts/kube-smoke.sh plays the small overlay, but for hostPorts, image name, restart policy."""
    small, podman = rendered("small"), rendered("podman")
    assert [(d["kind"], d["metadata"]["name"]) for d in small] == [
        (d["kind"], d["metadata"]["name"]) for d in podman
    ]
    for ours, theirs in zip(small, podman, strict=True):
        if ours["kind"] != "Deployment":
            assert ours == theirs
    expected = copy.deepcopy(find(small, "Deployment"))
    actual = copy.deepcopy(find(podman, "Deployment"))
    spec = actual["spec"]["template"]["spec"]
    assert spec.pop("restartPolicy") == "OnFailure"
    for each in [*spec["initContainers"], *spec["containers"]]:
        assert each["image"] == "localhost/digits-service:kube-smoke"
        each["image"] = "digits-service:latest"
    for port in container(spec, "digits")["ports"]:
        assert port.pop("hostIP") == "127.0.0.1"
        assert port.pop("hostPort") > 1024
    assert actual == expected
    assert "hostPort" not in str([rendered(name) for name in DEPLOYMENTS])


def test_the_model_copy_pod_in_the_docs_is_valid() -> None:
    """docs/deploy.md's helper pod for rolling a model version mounts the models PVC, locked down."""
    docs = (REPO / "docs" / "deploy.md").read_text()
    manifest = re.search(r"<<'YAML'\n(.*?)\nYAML\n", docs, flags=re.DOTALL)
    assert manifest, "docs/deploy.md lost its models-copy pod"
    pod = yaml.safe_load(manifest.group(1))
    for version in KUBERNETES_VERSIONS:
        validate(pod, version)
    claim = pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert find(rendered("production"), "PersistentVolumeClaim", claim)
    assert (
        pod["spec"]["securityContext"]["runAsUser"]
        == pod_spec(rendered("base"))["securityContext"]["runAsUser"]
    )
