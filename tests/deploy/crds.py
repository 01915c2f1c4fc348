"""Custom resources checked against their published CustomResourceDefinitions (vendored in crd-schemas/).

A CRD's ``openAPIV3Schema`` is what the API server validates a custom resource against; with
``kubectl apply`` (field validation ``Strict``, the default) an unknown field is an error. The schema
says so implicitly - every field not listed in an object's ``properties`` is unknown unless the object
preserves unknown fields - so :func:`strict_schema` writes that out as ``additionalProperties: false``
for jsonschema. CEL rules (``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema

CRDS = Path(__file__).resolve().parent / "crd-schemas"
KSERVE_VERSION = "v0.20.0"
PROMETHEUS_OPERATOR_VERSION = "v0.93.0"
CRD_FILES = {
    ("serving.kserve.io/v1beta1", "InferenceService"): f"kserve-{KSERVE_VERSION}-inferenceservices.json.gz",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (
        f"prometheus-operator-{PROMETHEUS_OPERATOR_VERSION}-servicemonitors.json.gz"
    ),
}
CUSTOM_KINDS = frozenset(CRD_FILES)

Schema = dict[str, Any]


def strict_schema(schema: Schema) -> Schema:
    """A structural OpenAPI v3 schema as a JSON Schema that rejects unknown fields and allows ``nullable``."""
    out = dict(schema)
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out:
        out["properties"] = {name: strict_schema(value) for name, value in out["properties"].items()}
        if "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict_schema(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = strict_schema(out["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [strict_schema(item) for item in out[key]]
    return out


@functools.cache
def validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    crd = json.loads(gzip.decompress((CRDS / CRD_FILES[(api_version, kind)]).read_bytes()))
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group
    assert crd["spec"]["names"]["kind"] == kind
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version and v["served"])
    schema = strict_schema(served["schema"]["openAPIV3Schema"])
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    # OpenAPI v3.0 is JSON Schema draft 4 (boolean exclusiveMinimum/Maximum); formats are not checked.
    return jsonschema.Draft4Validator(schema)


def validate_custom(doc: Schema) -> None:
    """Raise ``jsonschema.ValidationError`` where ``doc`` breaks its CRD (the first error found)."""
    jsonschema_validator = validator(doc["apiVersion"], doc["kind"])
    error = jsonschema.exceptions.best_match(jsonschema_validator.iter_errors(doc))
    if error is not None:
        raise error
