"""POST /api/alerts and POST /api/alerts/alertmanager: auth, validation (nothing half-stored), emission."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, func, select

from raxx_console.alerts.alert_aggregator import alert_identity
from raxx_console.alerts.models import Alert
from raxx_console.outbox.models import OutboxItem
from tests.alerts.helpers import AUTO_TICKET_FLAG, FILED, decided, deliver, set_flag
from tests.support.accounts import make_token, make_user
from tests.support.rows import audit_rows

#: Validation runs before the database is touched: one backend is enough for those tests.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def good(**changes):
    alert = {
        "source": "ci",
        "check": "disk-full:db-1",
        "severity": "P2",
        "title": "db-1 disk almost full",
        "summary": "98% used on /var",
        "labels": {"host": "db-1"},
        "status": "firing",
    }
    alert.update(changes)
    return {key: value for key, value in alert.items() if value is not None}


@pytest.fixture
def post(client, operator_token):
    def send(
        path="/api/alerts", body=None, *, raw=None, token=operator_token, content_type="application/json"
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = raw if raw is not None else json.dumps(body)
        return client.post(path, data=data, headers=headers, content_type=content_type)

    return send


def stored(console) -> tuple[int, int]:
    with console.db.session() as session:
        alerts = session.scalar(select(func.count()).select_from(Alert))
        items = session.scalar(select(func.count()).select_from(OutboxItem))
    return alerts, items


def test_one_alert_is_emitted(post, console):
    response = post(body=good())
    assert response.status_code == 200
    body = response.get_json()
    key = alert_identity("ci", "disk-full:db-1")[1]
    assert body == {
        "accepted": 1,
        "alerts": [
            {
                "index": 0,
                "alert_key": key,
                "event": "fire",
                "decision": "first",
                "hooks": {"slack_dm": "no_recipients", "auto_ticket": "flag_off"},
            }
        ],
    }


def test_a_batch_is_emitted_in_one_go_in_request_order(post, console):
    batch = [good(check=f"c{i}") for i in range(50)] + [good(check="c0", status="resolved")]
    response = post(body=batch)
    assert response.status_code == 200
    answers = response.get_json()["alerts"]
    assert [a["index"] for a in answers] == list(range(51))
    assert answers[0]["decision"] == "first" and answers[50]["decision"] == "resolved"
    assert stored(console)[0] == 50


def test_a_batch_request_holds_one_database_connection(post, console):
    """The batch is stored in the transaction that read the bearer token: one connection per
    request, so a web process's request threads fit its pool under a storm."""
    post(body=good(check="warm-up"))  # the flags cache and the token's last-used mark
    checkouts: list[object] = []
    listener = lambda *_args: checkouts.append(1)  # noqa: E731
    event.listen(console.db.engine, "checkout", listener)
    try:
        response = post(body=[good(check=f"one-connection-{i}") for i in range(20)])
    finally:
        event.remove(console.db.engine, "checkout", listener)
    assert response.status_code == 200
    assert len(checkouts) == 1
    assert stored(console)[0] == 21


@sqlite_only
@pytest.mark.parametrize(
    ("alert", "field", "index"),
    [
        (good(severity="P4"), "severity", 1),
        (good(severity="p2"), "severity", 1),
        (good(check=None), "check", 1),
        (good(check="   "), "check", 1),
        (good(labels={"port": 80}), "labels.port", 1),
        (good(labels=["a"]), "labels", 1),
        (good(status="pending"), "status", 1),
        (good(source="bad source!"), "source", 1),
        (good(sevrity="P2"), "sevrity", 1),
        ("not an object", "(alert)", 1),
    ],
)
def test_a_bad_alert_is_named_and_nothing_is_stored(post, console, alert, field, index):
    response = post(body=[good(check="fine"), alert])
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_alert"
    assert body["message"].startswith(f"alert {index}: {field}: ")
    assert body["errors"][0]["field"] == field and body["errors"][0]["index"] == index
    assert stored(console) == (0, 0), "validation comes before any emission"


@sqlite_only
def test_a_single_object_names_the_field_without_an_index(post, console):
    body = post(body=good(severity="P0")).get_json()
    assert body["message"].startswith("severity: ")
    assert body["errors"][0]["index"] is None


@sqlite_only
def test_more_than_1000_alerts_are_refused(post, console):
    response = post(body=[good(check=f"c{i}") for i in range(1001)])
    assert response.status_code == 422
    assert response.get_json()["error"] == "too_many_alerts"
    assert "at most 1000" in response.get_json()["message"]
    assert stored(console) == (0, 0)


@sqlite_only
def test_an_empty_batch_is_refused(post, console):
    assert post(body=[]).status_code == 422


@sqlite_only
@pytest.mark.parametrize("raw", ["{not json", "", "\xff"])
def test_a_body_that_is_not_json_is_400(post, console, raw):
    response = post(raw=raw.encode("latin-1"), content_type="text/plain")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"
    assert stored(console) == (0, 0)


@sqlite_only
def test_an_oversized_body_is_413(post, console):
    size = console.settings.MAX_CONTENT_LENGTH + 1
    response = post(raw=b'[{"source": "' + b"x" * size + b'"}]')
    assert response.status_code == 413
    assert response.is_json and response.get_json()["error"] == "request_entity_too_large"
    assert stored(console) == (0, 0)


@sqlite_only
@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_no_or_a_wrong_token_is_401(post, console, token):
    response = post(body=good(), token=token)
    assert response.status_code == 401
    assert response.is_json
    assert stored(console) == (0, 0)


@sqlite_only
def test_a_viewer_token_is_403(post, console):
    make_user(console, "viewer@raxx.app", "viewer")
    response = post(body=good(), token=make_token(console, "viewer@raxx.app"))
    assert response.status_code == 403
    assert stored(console) == (0, 0)


# --- Alertmanager -------------------------------------------------------------------------------


def webhook(status="firing", severity="warning", fingerprint="4f6a1e2c9b8d7a10", **alert_changes):
    alert = {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "severity": severity, "service": "api"},
        "annotations": {"summary": "API error rate above 5%", "description": "5xx ratio 7.2% over 10m"},
        "startsAt": "2026-11-23T11:50:00Z",
        "endsAt": "2026-11-23T12:10:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate",
        "fingerprint": fingerprint,
    }
    alert.update(alert_changes)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "raxx-console",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "alerts": [{key: value for key, value in alert.items() if value is not None}],
    }


@pytest.fixture
def wired(alerts_settings):
    """The alertmanager tests run against the FreeScout and Slack sandboxes."""


def test_alertmanager_firing_then_resolved_is_one_ticket_then_a_note(wired, post, console, freescout_sandbox):
    set_flag(console, AUTO_TICKET_FLAG)
    response = post("/api/alerts/alertmanager", webhook())
    assert response.status_code == 200
    [answer] = response.get_json()["alerts"]
    assert answer["alert_key"] == alert_identity("alertmanager", "4f6a1e2c9b8d7a10")[1]
    deliver(console)
    post("/api/alerts/alertmanager", webhook())  # Alertmanager re-sends every group_interval
    post("/api/alerts/alertmanager", webhook(status="resolved"))
    deliver(console)
    [conversation] = freescout_sandbox.conversations()
    assert conversation.subject.endswith("[P2] alertmanager: API error rate above 5%")
    assert conversation.tags == ["auto:alert", "auto:alert:alertmanager"]
    assert "5xx ratio 7.2% over 10m" in conversation.threads[-1].body
    [note] = [t.body for t in conversation.threads if t.type == "note"]
    assert "Resolved at" in note
    assert len(audit_rows(console, FILED)) == 1
    assert decided(console, answer["alert_key"], "auto_ticket") == [
        "ticket_reserved",
        "deduped",
        "resolve_noted",
    ]


@sqlite_only
@pytest.mark.parametrize(
    ("severity", "expected"), [("critical", "P1"), ("warning", "P2"), ("info", "P3"), ("CRITICAL", "P1")]
)
def test_alertmanager_severity_comes_from_the_map(post, console, severity, expected):
    post("/api/alerts/alertmanager", webhook(severity=severity))
    with console.db.session() as session:
        assert session.scalar(select(Alert.severity)) == expected


@sqlite_only
def test_the_severity_map_is_configurable(settings_overrides, request):
    settings_overrides["ALERTMANAGER_SEVERITY_MAP"] = "page=P1,ticket=P2"
    console = request.getfixturevalue("console")
    post = request.getfixturevalue("post")
    post("/api/alerts/alertmanager", webhook(severity="page"))
    with console.db.session() as session:
        assert session.scalar(select(Alert.severity)) == "P1"


@sqlite_only
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (webhook(fingerprint=None), "alerts.0.fingerprint"),
        (webhook(status="unknown"), "alerts.0.status"),
        (webhook(labels={"severity": 1}), "commonLabels.severity"),
        (
            {**webhook(), "alerts": [{**webhook()["alerts"][0], "labels": {"severity": 1}}]},
            "alerts.0.labels.severity",
        ),
        ({**webhook(), "externalURL": {}}, "externalURL"),
        (webhook(startsAt="yesterday"), "alerts.0.startsAt"),
        (webhook(endsAt="2026-13-01T00:00:00Z"), "alerts.0.endsAt"),
        ({**webhook(), "version": "3"}, "version"),
        ({"version": "4"}, "alerts"),
    ],
)
def test_alertmanager_bad_payloads_name_the_field(post, console, payload, field):
    response = post("/api/alerts/alertmanager", payload)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == field
    assert field in response.get_json()["message"]
    assert stored(console) == (0, 0)


@sqlite_only
def test_alertmanager_needs_a_token(post, console):
    assert post("/api/alerts/alertmanager", webhook(), token=None).status_code == 401
