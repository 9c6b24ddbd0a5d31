"""The OpenAPI document: served, self-consistent, and saying what the API actually enforces."""

from __future__ import annotations

import copy
import json

import pytest

from raxx_console.alerts.ingest import AlertIn, AlertmanagerAlert, AlertmanagerPayload, openapi_text
from tests.alerts.test_ingest import good, webhook

DOC = json.loads(openapi_text())
SCHEMAS = DOC["components"]["schemas"]


def refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_it_is_served_without_a_login(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["openapi"] == "3.1.0"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_documented_route_exists(app):
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods}
    for path, operations in DOC["paths"].items():
        flask_path = path.replace("{", "<").replace("}", ">")
        for method in operations:
            assert (flask_path, method.upper()) in routes, (
                f"{method.upper()} {path} is documented but not routed"
            )


def test_every_reference_resolves():
    for ref in refs(DOC):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in SCHEMAS, ref


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("AlertIn", AlertIn),
        ("AlertmanagerAlert", AlertmanagerAlert),
        ("AlertmanagerWebhook", AlertmanagerPayload),
    ],
)
def test_documented_required_fields_are_the_models(name, model):
    assert sorted(SCHEMAS[name]["required"]) == sorted(model.model_json_schema()["required"])


def test_documented_alert_fields_and_enums_are_the_models():
    documented, enforced = SCHEMAS["AlertIn"]["properties"], AlertIn.model_json_schema()["properties"]
    assert set(documented) == set(enforced)
    for field in ("severity", "status"):
        assert documented[field]["enum"] == enforced[field]["enum"]
    for field in ("source", "check", "title", "summary"):
        assert documented[field].get("maxLength") == enforced[field].get("maxLength")
    assert documented["source"]["pattern"] == enforced["source"]["pattern"]
    assert SCHEMAS["AlertIn"]["additionalProperties"] is False


@pytest.fixture
def post(client, operator_token):
    def send(path, body):
        return client.post(path, json=body, headers={"Authorization": f"Bearer {operator_token}"})

    return send


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_each_required_alert_field_is_enforced_and_the_others_are_optional(post):
    schema = SCHEMAS["AlertIn"]
    for field in schema["properties"]:
        alert = good(check=f"without-{field}")
        del alert[field]
        response = post("/api/alerts", alert)
        if field in schema["required"]:
            assert response.status_code == 422, field
            assert response.get_json()["errors"][0]["field"] == field
        else:
            assert response.status_code == 200, (field, response.get_json())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_each_required_alertmanager_field_is_enforced(post):
    for field in SCHEMAS["AlertmanagerWebhook"]["required"]:
        payload = webhook()
        del payload[field]
        response = post("/api/alerts/alertmanager", payload)
        assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == field
    for field in SCHEMAS["AlertmanagerAlert"]["properties"]:
        payload = copy.deepcopy(webhook(fingerprint=f"fp-{field}"))
        payload["alerts"][0].pop(field, None)
        response = post("/api/alerts/alertmanager", payload)
        if field in SCHEMAS["AlertmanagerAlert"]["required"]:
            assert response.get_json()["errors"][0]["field"] == f"alerts.0.{field}"
        else:
            assert response.status_code == 200, (field, response.get_json())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_flag_toggle_requires_what_it_documents(post):
    assert SCHEMAS["FlagToggle"]["required"] == ["value"]
    response = post("/console/flags/FLAG_CONSOLE_DEPLOY_CHIP", {})
    assert response.status_code == 400
    assert '"value" is required' in response.get_json()["message"]
    assert post("/console/flags/FLAG_CONSOLE_DEPLOY_CHIP", {"value": True}).status_code == 200
