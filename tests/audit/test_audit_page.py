"""/console/audit, its JSON API and exports, and ``audit tail``: one filtered view, four ways."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raxx_console.audit import service as audit
from raxx_console.cli import main
from tests.support.accounts import make_token, make_user

ACTIONS = ("console.flags.toggled", "console.deploy.started", "console.deploy.finished", "console.status.set")


def seed(console, n=12, *, same_time_every=1):
    """``n`` rows; every ``same_time_every`` rows share one timestamp (ties broken by id)."""
    with console.db.session() as session:
        for i in range(n):
            audit.record(
                session,
                console.clock,
                action=ACTIONS[i % len(ACTIONS)],
                actor=f"user{i % 3}@raxx.app",
                selected_env="staging" if i % 2 else "production",
                payload={"n": i, "flag": f"FLAG_{i % 2}"},
            )
            if (i + 1) % same_time_every == 0:
                console.clock.advance(60)


def ns(response):
    """The seeded rows' numbers, in the order given (the fixtures' own login rows are left out)."""
    assert response.status_code == 200, response.get_data(as_text=True)
    return seeded(response.get_json()["rows"])


def seeded(rows):
    return [row["payload"]["n"] for row in rows if "n" in row["payload"]]


def all_pages(client, path="/console/audit.json", **params):
    seen, url = [], None
    response = client.get(path, query_string=params)
    while True:
        body = response.get_json()
        seen.extend(seeded(body["rows"]))
        url = body["next_url"]
        if url is None:
            return seen
        response = client.get(url)


def test_newest_first_and_each_filter(viewer, console):
    seed(console)
    assert ns(viewer.get("/console/audit.json")) == list(range(11, -1, -1))
    assert ns(viewer.get("/console/audit.json?action=console.deploy.")) == [10, 9, 6, 5, 2, 1]
    assert ns(viewer.get("/console/audit.json?action=console.flags.toggled")) == [8, 4, 0]
    assert ns(viewer.get("/console/audit.json?actor=user1@raxx.app")) == [10, 7, 4, 1]
    assert ns(viewer.get("/console/audit.json?env=staging")) == [11, 9, 7, 5, 3, 1]
    assert ns(viewer.get("/console/audit.json?payload.flag=FLAG_1&action=console.deploy.")) == [9, 5, 1]
    # The clock stands 12 min after the first row; rows are a minute apart.
    assert ns(viewer.get("/console/audit.json?since=3m")) == [11, 10, 9]
    first = audit.iso(console.clock.now().replace(minute=0))
    assert ns(viewer.get("/console/audit.json", query_string={"until": first})) == []
    window = {"since": "2026-11-23T12:02:00Z", "until": "2026-11-23T12:04:00"}  # naive means UTC
    assert ns(viewer.get("/console/audit.json", query_string=window)) == [3, 2]
    every = {"action": "console.deploy.", "actor": "user0@raxx.app", "env": "production"}
    assert ns(viewer.get("/console/audit.json", query_string=every)) == [6]


def test_an_action_prefix_is_literal_not_a_pattern(viewer, console):
    seed(console, 4)
    assert ns(viewer.get("/console/audit.json?action=console.%")) == []
    assert ns(viewer.get("/console/audit.json?action=console_flags")) == []


@pytest.mark.parametrize("same_time_every", [1, 5, 23])
def test_pages_have_no_duplicates_and_no_gaps_even_with_equal_timestamps(viewer, console, same_time_every):
    seed(console, 23, same_time_every=same_time_every)
    assert all_pages(viewer, limit=4) == list(range(22, -1, -1))
    assert all_pages(viewer, limit=2, action="console.deploy.") == [22, 21, 18, 17, 14, 13, 10, 9, 6, 5, 2, 1]


def test_the_page_shows_rows_payload_and_an_older_link(viewer, console):
    seed(console, 6)
    page = viewer.get("/console/audit?limit=2&env=staging")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("data-audit-id=") == 2
    assert "&#34;flag&#34;: &#34;FLAG_1&#34;" in html, "the payload is shown as indented JSON"
    assert 'data-link="older"' in html and 'data-link="newest"' not in html
    older = viewer.get(_href(html, "older"))
    assert older.get_data(as_text=True).count("data-audit-id=") == 1
    assert 'data-link="newest"' in older.get_data(as_text=True)


def _href(html, link):
    import re

    return re.search(rf'href="([^"]+)" data-link="{link}"', html).group(1).replace("&amp;", "&")


def test_exports_stream_every_row_of_the_filtered_view(viewer, console):
    seed(console, 12)
    exported = viewer.get("/console/audit/export.json?action=console.deploy.")
    assert exported.status_code == 200 and exported.is_streamed
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = json.loads(exported.get_data(as_text=True))
    assert seeded(rows) == [10, 9, 6, 5, 2, 1]
    assert rows[0] == viewer.get("/console/audit.json?action=console.deploy.").get_json()["rows"][0]

    exported = viewer.get("/console/audit/export.csv?actor=user2@raxx.app")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [json.loads(row["payload"])["n"] for row in table] == [11, 8, 5, 2]
    assert set(table[0]) == {"id", "created_at", "action", "actor", "selected_env", "payload"}
    assert json.loads(viewer.get("/console/audit/export.json?actor=nobody").get_data(as_text=True)) == []


def test_a_csv_cell_cannot_become_a_spreadsheet_formula(viewer, console):
    with console.db.session() as session:
        audit.record(
            session,
            console.clock,
            action="console.auth.login_failed",
            actor="=HYPERLINK(1)",
            selected_env="staging",
        )
    exported = viewer.get("/console/audit/export.csv?action=console.auth.login_failed")
    [row] = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert row["actor"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=1h&until=2h", "until"),
        ("env=moon", "env"),
        ("after=garbage", "after"),
        ("after=99999999999999999999-1", "after"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("limit=501", "limit"),
        ("payload.fl-ag=x", "payload.fl-ag"),
        ("acton=console.", "acton"),
        ("actor=" + "x" * 256, "actor"),
    ],
)
@pytest.mark.parametrize("path", ["/console/audit", "/console/audit.json", "/console/audit/export.csv"])
def test_a_bad_filter_is_a_400_naming_the_parameter(viewer, console, query, parameter, path):
    response = viewer.get(f"{path}?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] in ("invalid_filter", "unknown_parameter")
    assert body["parameter"] == parameter and parameter in body["message"]


def test_viewers_read_it_anonymous_callers_cannot(client, console):
    seed(console, 2)
    assert client.get("/console/audit.json").status_code == 401
    assert client.get("/console/audit/export.json").status_code == 401
    assert client.get("/console/audit/export.csv").status_code == 302  # to the login page
    assert client.get("/console/audit").status_code == 302
    make_user(console, "viewer@raxx.app", "viewer")
    token = make_token(console, "viewer@raxx.app")
    response = client.get("/console/audit.json", headers={"Authorization": f"Bearer {token}"})
    assert ns(response) == [1, 0]


def test_audit_url_builds_a_filtered_view(app):
    from raxx_console.audit.views import audit_url

    with app.test_request_context():
        url = audit_url("console.flags.", flag="FLAG_X", actor="a@raxx.app", env=None)
    assert url == "/console/audit?action=console.flags.&payload.flag=FLAG_X&actor=a@raxx.app"


def test_the_flags_and_alerts_pages_link_to_their_audit_rows(viewer, console):
    html = viewer.get("/console/flags").get_data(as_text=True)
    assert "/console/audit?action=console.flags.&amp;payload.flag=FLAG_CONSOLE_ALERTS_AUTO_TICKET" in html
    assert "/console/audit?action=console.alerts." in viewer.get("/console/alerts").get_data(as_text=True)


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def tail(database_url, tmp_path):
    def run(*args):
        env = {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "cli-instance"),
            "SECRET_KEY": "cli-secret-key-0123456789",
            "CONSOLE_ENV": "staging",
        }
        result = CliRunner().invoke(main, ["audit", "tail", *args], env=env)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    return run


def test_tail_prints_the_pages_rows(viewer, console, tail):
    seed(console, 12)
    query = {"action": "console.deploy.", "actor": "user1@raxx.app"}
    page_rows = viewer.get("/console/audit.json", query_string=query).get_json()["rows"]
    assert len(page_rows) == 2
    result = tail("--action", "console.deploy.", "--actor", "user1@raxx.app", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == page_rows
    text = tail("--action", "console.deploy.", "--actor", "user1@raxx.app")
    lines = text.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == [row["created_at"] for row in reversed(page_rows)]
    assert all("console.deploy." in line and "user1@raxx.app" in line for line in lines)


def test_tail_since_is_relative_to_now(console, tail):
    seed(console, 3)
    # The rows are from the test clock's 2026-11-23; the command runs on the wall clock, later.
    assert json.loads(tail("--since", "1h", "--json").output)["rows"] == []
    assert len(json.loads(tail("--since", "2026-11-23T12:01:00Z", "--json").output)["rows"]) == 2


@pytest.mark.parametrize("since", ["yesterday", "5x", "-1h"])
def test_tail_refuses_a_bad_since(console, tail, since):
    result = tail("--since", since)
    assert result.exit_code == 2
    assert "--since" in result.output and "duration" in result.output


def test_tail_help_shows_the_defaults(tail):
    out = " ".join(tail("--help").output.split())
    assert "[default: 50;" in out and "--since" in out and "--action PREFIX" in out


def test_the_page_has_no_inline_script_or_style(viewer, console):
    seed(console, 3)
    html = viewer.get("/console/audit").get_data(as_text=True)
    assert "<style" not in html and " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # scripts only from static files


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=99999999999d", "since"),
        ("after=1-9999999999999999999", "after"),
        ("after=999999999999999999-1", "after"),
        ("since=0001-01-01T00:00:00%2B01:00", "since"),
    ],
)
def test_odd_values_are_a_400_too(viewer, console, query, parameter):
    response = viewer.get(f"/console/audit.json?{query}")
    assert response.status_code == 400
    assert response.get_json()["parameter"] == parameter


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["action", "actor", "env", "since", "until", "after", "limit", "payload.flag", "x"]),
        st.text(max_size=30),
        max_size=4,
    )
)
def test_no_filter_value_makes_a_500(viewer, params):
    response = viewer.get("/console/audit.json", query_string=params)
    assert response.status_code in (200, 400, 422), response.get_data(as_text=True)
    if response.status_code == 400:
        assert response.get_json()["parameter"] in params
    if response.status_code == 422:  # a control character, refused before the view (input_guard)
        assert any(repr(name) in response.get_json()["field"] for name in params)


@pytest.mark.parametrize(
    ("query", "parameter"), [("actor=a%00b", "actor"), ("payload.flag=%01", "payload.flag")]
)
def test_a_control_character_in_a_filter_is_a_422_naming_it(viewer, query, parameter):
    response = viewer.get(f"/console/audit.json?{query}")
    assert response.status_code == 422
    assert response.get_json()["field"] == f"query parameter {parameter!r}"
