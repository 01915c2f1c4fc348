"""Access control and browser-facing headers, through the Litestar test client (service.security).

The API key guards every route but health and metrics, in both error shapes (problem+json, and the V2
protocol's ``{"error"}`` under /v2); CORS and the rate limit are off unless configured; every response
carries the security headers, and the web page keeps its own content security policy.
"""

from __future__ import annotations

import pytest
from expected_headers import API_POLICY, CHALLENGE, DOCS_POLICY, PAGE_POLICY, directives

KEY = "s3cret-key-for-tests"
PIXELS = {"pixels": [255, *[0] * 783]}  # one inked pixel: not blank (a blank field is a 422)
V2_BODY = {"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0.0] * 784}]}
PROTECTED = [
    ("GET", "/model", None),
    ("POST", "/predict", PIXELS),
    ("POST", "/predict/batch", {"instances": [PIXELS["pixels"]]}),
    ("POST", "/fit-line", {"x": [1, 2, 3], "y": [2, 4, 7]}),
    ("GET", "/schema/openapi.json", None),
    ("GET", "/", None),
    ("GET", "/no/such/path", None),  # an unknown path says nothing about what exists
    ("POST", "/admin/reload", None),
]
V2_PROTECTED = [
    ("GET", "/v2", None),
    ("GET", "/v2/models/digits", None),
    ("GET", "/v2/models/digits/ready", None),
    ("POST", "/v2/models/digits/infer", V2_BODY),
]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"]


def assert_problem_401(response) -> dict:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == CHALLENGE
    body = response.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    assert "key" in body["detail"].lower()
    return body


@pytest.fixture
def keyed(make_client):
    return make_client(api_key=KEY)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_without_a_key_every_route_is_401_problem(keyed, method, path, body) -> None:
    body_401 = assert_problem_401(keyed.request(method, path, json=body))
    assert body_401["instance"] == path
    assert "X-API-Key" in body_401["detail"]


@pytest.mark.parametrize(("method", "path", "body"), V2_PROTECTED)
def test_v2_routes_answer_401_in_the_protocol_shape(keyed, method, path, body) -> None:
    response = keyed.request(method, path, json=body)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"] == CHALLENGE
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "wrong"},
        {"authorization": "Bearer wrong"},
        {"x-api-key": KEY[:-1]},
        {"x-api-key": KEY + "x"},
        {"authorization": f"Basic {KEY}"},  # the key, but not as a bearer token
        {"authorization": KEY},
        {"x-api-key": ""},
    ],
)
def test_a_wrong_key_is_401(keyed, headers) -> None:
    assert_problem_401(keyed.post("/predict", json=PIXELS, headers=headers))


@pytest.mark.parametrize("headers", [{"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}])
def test_the_key_in_either_header_opens_every_route(keyed, headers) -> None:
    assert keyed.post("/predict", json=PIXELS, headers=headers).status_code == 200
    assert keyed.get("/model", headers=headers).json()["name"] == "digits"
    assert keyed.get("/v2/models/digits", headers=headers).status_code == 200
    infer = keyed.post("/v2/models/digits/infer", json=V2_BODY, headers=headers)
    assert infer.status_code == 200, infer.text
    assert keyed.get("/no/such/path", headers=headers).status_code == 404  # now the truth: not found


def test_several_keys_for_rotation(make_client) -> None:
    client = make_client(api_key=f"old-key, {KEY}")
    for key in ("old-key", KEY):
        assert client.get("/model", headers={"x-api-key": key}).status_code == 200
    assert client.get("/model", headers={"x-api-key": "old-key, " + KEY}).status_code == 401


@pytest.mark.parametrize("path", PUBLIC)
def test_health_and_metrics_need_no_key(keyed, path) -> None:
    assert keyed.get(path).status_code == 200


def test_no_key_configured_means_open(make_client) -> None:
    client = make_client()
    assert client.post("/predict", json=PIXELS).status_code == 200
    assert client.get("/model").status_code == 200


def test_unauthorized_requests_are_counted_and_never_reach_a_handler(keyed) -> None:
    before = keyed.get("/metrics").text
    assert keyed.post("/predict", json=PIXELS).status_code == 401
    after = keyed.get("/metrics").text
    assert 'route="<unmatched>",status="401"' in after

    # No prediction was made: the label counters did not move.
    def counted(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("digits_predictions_total")]

    assert counted(after) == counted(before)


# --- security headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/healthz", None, 200),
        ("POST", "/predict", PIXELS, 200),
        ("POST", "/predict", {"pixels": [1]}, 422),
        ("GET", "/nothing-here", None, 404),
        ("GET", "/v2/models/nope", None, 404),
        ("GET", "/metrics", None, 200),
        ("GET", "/schema/openapi.json", None, 200),
    ],
)
def test_every_response_carries_the_security_headers(make_client, method, path, body, status) -> None:
    response = make_client().request(method, path, json=body)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert directives(response.headers["content-security-policy"]) == API_POLICY
    assert "access-control-allow-origin" not in response.headers  # CORS is off by default


def test_the_web_page_and_the_docs_page_keep_their_own_strict_policies(make_client) -> None:
    client = make_client()
    page = client.get("/")
    assert page.status_code == 200
    (policy,) = page.headers.get_list("content-security-policy")  # the UI's own, not also the API's
    assert directives(policy) == PAGE_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    docs = client.get("/schema")
    assert docs.status_code == 200
    docs_policy = docs.headers["content-security-policy"]
    assert docs.headers.get_list("content-security-policy") == [docs_policy]
    assert "frame-ancestors 'none'" in docs_policy
    assert "default-src 'none'" in docs_policy  # the viewer comes from this service: nothing else is allowed
    assert "script-src 'self' 'sha256-" in docs_policy  # and only the page's own inline script
    assert "unsafe-inline" not in docs_policy
    assert DOCS_POLICY.items() <= directives(docs_policy).items()  # and it cannot be framed


def test_a_401_carries_the_security_headers(keyed) -> None:
    response = keyed.get("/model")
    assert response.status_code == 401
    assert response.headers["x-content-type-options"] == "nosniff"
    assert directives(response.headers["content-security-policy"]) == API_POLICY


# --- CORS ----------------------------------------------------------------------------------------------

ORIGIN = "https://digits.example"


def test_cors_is_off_by_default(make_client) -> None:
    client = make_client()
    response = client.post("/predict", json=PIXELS, headers={"origin": ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/predict", headers={"origin": ORIGIN, "access-control-request-method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_the_configured_origins_only(make_client) -> None:
    client = make_client(cors_origins=f"{ORIGIN}, https://other.example", api_key=KEY)
    preflight = client.options(
        "/predict",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type",
        },
    )
    assert preflight.status_code == 204, preflight.text  # no key needed for a preflight
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    response = client.post("/predict", json=PIXELS, headers={"origin": ORIGIN, "x-api-key": KEY})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    # A 401 is readable by the allowed page's script too (else the browser hides it as a CORS error).
    denied = client.post("/predict", json=PIXELS, headers={"origin": ORIGIN})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == ORIGIN
    other = client.post("/predict", json=PIXELS, headers={"origin": "https://evil.example", "x-api-key": KEY})
    assert "access-control-allow-origin" not in other.headers
    bad_preflight = client.options(
        "/predict", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert bad_preflight.status_code == 400
    assert "access-control-allow-origin" not in bad_preflight.headers


# --- rate limit ----------------------------------------------------------------------------------------


def test_rate_limit_is_off_by_default(make_client) -> None:
    client = make_client()
    assert all(client.get("/model").status_code == 200 for _ in range(30))


def test_rate_limit_answers_429_problem_and_spares_health(make_client) -> None:
    client = make_client(rate_limit=3, rate_limit_unit="minute")
    statuses = [client.get("/model").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = client.get("/model")
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["status"] == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "3 requests per minute" in limited.json()["detail"]
    assert all(client.get("/healthz").status_code == 200 for _ in range(10))
    assert all(client.get("/readyz").status_code == 200 for _ in range(5))
    assert client.get("/metrics").status_code == 200


def test_admin_routes_are_off_without_a_key(make_client) -> None:
    response = make_client().post("/admin/reload")
    assert response.status_code == 403
    assert "DIGITS_API_KEY" in response.json()["detail"]


def test_the_openapi_document_declares_the_key_only_when_configured(make_client) -> None:
    open_schema = make_client().get("/schema/openapi.json").json()
    assert "security" not in open_schema
    assert "401" not in open_schema["paths"]["/predict"]["post"]["responses"]

    schema = make_client(api_key=KEY).get("/schema/openapi.json", headers={"x-api-key": KEY}).json()
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "name": "X-API-Key",
        "in": "header",
    }
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["security"] == [{"apiKey": []}, {"bearer": []}]
    for path in ("/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"):
        assert schema["paths"][path]["get"]["security"] == []
    problem = schema["paths"]["/predict"]["post"]["responses"]["401"]
    assert problem["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert "WWW-Authenticate" in problem["headers"]
    v2 = schema["paths"]["/v2/models/{model_name}/infer"]["post"]["responses"]["401"]
    assert v2["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


def test_rate_limit_on_v2_answers_in_the_protocol_shape(make_client) -> None:
    client = make_client(rate_limit=1, rate_limit_unit="hour")
    assert client.get("/v2/models/digits").status_code == 200
    limited = client.get("/v2/models/digits")
    assert limited.status_code == 429
    assert set(limited.json()) == {"error"}
    assert int(limited.headers["retry-after"]) > 0
