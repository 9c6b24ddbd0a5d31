"""Hostile input to the ingest API: control characters, ambiguous JSON, deep nesting.

Run on both backends: a NUL used to reach PostgreSQL and come back as a 500.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from raxx_console.alerts.ingest import SCRUBBED
from raxx_console.alerts.models import AlertDecision
from raxx_console.validation import MAX_JSON_DEPTH
from tests.alerts import test_ingest as ingest

good, stored, webhook = ingest.good, ingest.stored, ingest.webhook
post = ingest.post  # the fixture: a bearer-authenticated JSON POST


@pytest.mark.parametrize(
    ("alert", "field"),
    [
        (good(title="disk\x00full"), "title"),
        (good(check="\x00"), "check"),
        (good(summary="98%\x00 used"), "summary"),
        (good(summary="bell \x07"), "summary"),
        (good(labels={"host": "db\x00-1"}), "labels.host"),
        (good(labels={"ho\x00st": "db-1"}), "labels.ho\x00st.[key]"),
        (good(title="line one\nline two"), "title"),
        (good(title="\r"), "title"),
        (good(title="\u0085"), "title"),
    ],
)
def test_a_control_character_is_refused_naming_the_field(post, console, alert, field):
    response = post(body=[good(check="fine"), alert])
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [(e["index"], e["field"]) for e in errors][:1] == [(1, field)]
    assert stored(console) == (0, 0)


def test_a_multi_line_summary_is_still_fine(post, console):
    response = post(body=good(summary="line one\n\tline two\r\n"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        '{"source": "ci", "check": "c", "severity": "P3", "title": "t", "severity": "P1"}',
        '[{"source": "ci", "check": "c", "severity": "P3", "title": "t", "labels": {"a": "1", "a": "2"}}]',
    ],
)
def test_duplicate_keys_are_refused_and_nothing_is_stored(post, console, raw):
    response = post(raw=raw)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"
    assert "repeats the key" in response.get_json()["message"]
    assert stored(console) == (0, 0)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_a_deeply_nested_body_is_refused(post, console, depth):
    response = post(raw="[" * depth + "]" * depth)
    assert response.status_code == 400
    assert "nested more than" in response.get_json()["message"]
    assert stored(console) == (0, 0)


def test_alertmanager_control_characters_are_replaced_and_the_decision_log_says_where(post, console):
    payload = webhook(
        labels={"alertname": "Disk\x00Full", "severity": "critical"},
        annotations={"summary": "disk \x1b[31mfull", "description": "tab\tand newline\n stay"},
        startsAt="2026-11-23T11:50:00Z",
    )
    response = post("/api/alerts/alertmanager", payload)
    assert response.status_code == 200
    key = response.get_json()["alerts"][0]["alert_key"]
    with console.db.session() as session:
        decisions = list(
            session.scalars(
                select(AlertDecision).where(AlertDecision.alert_key == key, AlertDecision.hook == "ingest")
            )
        )
        from raxx_console.alerts.store import find_alert

        alert = find_alert(session, key)
        assert alert.labels["alertname"] == "Disk\ufffdFull"
        assert alert.title == "disk \ufffd[31mfull"
        assert "tab\tand newline\n stay" in alert.details
    assert [d.decision for d in decisions] == [SCRUBBED]
    assert "alerts.0.labels.alertname" not in decisions[0].reason  # paths are relative to the alert
    assert "labels.alertname" in decisions[0].reason
    assert "annotations.summary" in decisions[0].reason
    assert "commonLabels.alertname" in decisions[0].reason  # the payload's own fields count too


def test_a_clean_alertmanager_alert_has_no_scrub_entry(post, console):
    response = post("/api/alerts/alertmanager", webhook())
    assert response.status_code == 200
    with console.db.session() as session:
        assert session.scalar(select(AlertDecision).where(AlertDecision.hook == "ingest")) is None


def test_a_nul_in_an_alertmanager_timestamp_is_refused_by_its_format(post, console):
    response = post("/api/alerts/alertmanager", webhook(startsAt="2026-11-23T11:50:00\x00Z"))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "alerts.0.startsAt"
    assert stored(console) == (0, 0)


def test_json_body_helpers_share_the_strict_loader(client, operator_token):
    response = client.post(
        "/console/flags/FLAG_CONSOLE_ALERTS_AUTO_TICKET",
        data=json.dumps({"value": True})[:-1] + ', "value": false}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {operator_token}"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"


@pytest.mark.parametrize("path", ["/api/alerts", "/api/alerts/alertmanager"])
def test_a_surface_id_longer_than_a_surface_id_is_refused(post, console, path):
    labels = {"alertname": "x", "surface_id": "s" * 101}
    body = good(labels=labels) if path == "/api/alerts" else webhook(labels=labels)
    response = post(path, body)
    assert response.status_code == 422
    error = response.get_json()["errors"][0]
    assert error["field"].endswith("labels") and "labels.surface_id: at most 100" in error["message"]
    assert stored(console) == (0, 0)
