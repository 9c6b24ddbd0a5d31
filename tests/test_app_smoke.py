from raxx_console.audit.models import AuditLog


def test_healthz_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_grid_lists_the_six_runbook_surfaces(viewer):
    body = viewer.get("/console/status.json").get_json()
    assert [s["surface_id"] for s in body["surfaces"]] == [
        "api-prod",
        "api-staging",
        "console-prod",
        "console-staging",
        "getraxx",
        "raxx-mockups",
    ]


def test_login_writes_an_audit_row(operator, console):
    with console.db.session() as session:
        actions = [row.action for row in session.query(AuditLog)]
    assert "console.auth.login" in actions
