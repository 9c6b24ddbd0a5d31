"""Flag promotion: mark on staging, promote on prod through the peer link — and every refusal."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from raxx_console.flags import promotions
from raxx_console.flags.models import FlagOverride, FlagPromotion, FlagPromotionMark
from raxx_console.flags.promotions import PeerMark, PromotionRefused
from raxx_console.integrations.registry import peer_link
from tests.peer_consoles import prod_client
from tests.support.accounts import csrf_token, login, make_user
from tests.support.rows import audit_rows, detached_rows

FLAG = "FLAG_CONSOLE_DEPLOY_CHIP"
ADMIN = "root@raxx.app"


def mark_on_staging(staging, value=True, flag=FLAG, note="soaked 48 h"):
    staging.console.flags.change(
        flag, value, settings=staging.console.settings, actor="op@raxx.app", env="staging"
    )
    staging.console.clock.advance(60)
    with staging.console.db.session() as session:
        row = promotions.mark(
            session,
            staging.console.clock,
            staging.console.flags,
            flag=flag,
            note=note,
            actor="op@raxx.app",
            env="staging",
        )
        return row.id


def staging_mark(staging, mark_id):
    [row] = detached_rows(staging.console, select(FlagPromotionMark).where(FlagPromotionMark.id == mark_id))
    return row


@pytest.fixture
def prod_admin(peer_settings, app, console):
    make_user(console, ADMIN, "admin")
    client = prod_client(app)
    assert login(client, ADMIN).status_code == 302
    return client


def promote(client, mark_id):
    token = csrf_token(client, "/console/flags/promotions")
    return client.post(f"/console/flags/promotions/{mark_id}/promote", data={"csrf_token": token})


def prod_untouched(console):
    assert detached_rows(console, select(FlagOverride)) == []
    assert audit_rows(console, "console.flags.toggled") == []
    assert audit_rows(console, "console.flags.promoted") == []


def test_an_operator_marks_a_flag_on_staging(staging):
    client = staging.app.test_client()
    make_user(staging.console, "op@raxx.app", "operator")
    login(client, "op@raxx.app")
    token = csrf_token(client, "/console/flags/promotions")
    response = client.post(
        "/console/flags/promotions/marks", data={"flag": FLAG, "note": "soaked", "csrf_token": token}
    )
    assert response.status_code == 303
    [marked] = audit_rows(staging.console, "console.flags.promotion_marked")
    assert (
        marked.payload["flag"] == FLAG
        and marked.payload["value"] is False
        and marked.payload["note"] == "soaked"
    )
    page = client.get("/console/flags/promotions").get_data(as_text=True)
    assert f'data-flag="{FLAG}" data-state="open"' in page
    bad = client.post("/console/flags/promotions/marks", data={"flag": "FLAG_NOPE", "csrf_token": token})
    assert bad.status_code == 400 and "no flag called FLAG_NOPE" in bad.get_data(as_text=True)


def test_a_viewer_cannot_mark(staging):
    client = staging.app.test_client()
    make_user(staging.console, "viewer@raxx.app", "viewer")
    login(client, "viewer@raxx.app")
    token = csrf_token(client, "/console/flags/promotions")
    response = client.post("/console/flags/promotions/marks", data={"flag": FLAG, "csrf_token": token})
    assert response.status_code == 403
    assert detached_rows(staging.console, select(FlagPromotionMark)) == []


def test_prod_lists_the_mark_beside_its_own_value_and_promotes_it(prod_admin, console, staging):
    mark_id = mark_on_staging(staging)
    page = prod_admin.get("/console/flags/promotions").get_data(as_text=True)
    assert f'data-mark="{mark_id}" data-flag="{FLAG}" data-state="promotable"' in page
    assert 'data-field="prod-source">default<' in page

    response = promote(prod_admin, mark_id)
    assert response.status_code == 303
    res = console.flags.resolve(FLAG)
    assert (res.value, res.source, res.updated_by) == (True, "db", ADMIN)
    [toggled] = audit_rows(console, "console.flags.toggled")
    assert toggled.payload["after"] == {"value": True, "source": "db", "db": True}
    assert toggled.selected_env == "production"
    [promoted] = audit_rows(console, "console.flags.promoted")
    assert promoted.payload == {
        "flag": FLAG,
        "from": False,
        "to": True,
        "marked_by": "op@raxx.app",
        "marked_at": staging_mark(staging, mark_id).marked_at.isoformat().replace("+00:00", "Z"),
        "promoted_by": ADMIN,
    }
    closed = staging_mark(staging, mark_id)
    assert (closed.closed_reason, closed.closed_by) == ("promoted", ADMIN)
    [closing] = audit_rows(staging.console, "console.flags.promotion_closed")
    assert closing.actor == "service:console-prod"
    [row] = detached_rows(console, select(FlagPromotion))
    assert row.closed_on_peer_at is not None

    again = promote(prod_admin, mark_id)
    assert again.status_code == 409 and "closed on staging" in again.get_data(as_text=True)
    assert len(audit_rows(console, "console.flags.promoted")) == 1


def test_two_admins_promoting_at_once_make_one_promotion(peer_settings, console, staging):
    mark_id = mark_on_staging(staging)
    body = peer_link(console).get(f"{promotions.PEER_MARKS_PATH}/{mark_id}").body
    first, second = PeerMark.from_json(body), PeerMark.from_json(body)  # both read it open
    with console.db.session() as session:
        promotions.promote(
            session,
            console.clock,
            console.flags,
            console.settings,
            peer_mark=first,
            actor="a@raxx.app",
            env="production",
        )
    with pytest.raises(PromotionRefused) as refused, console.db.session() as session:
        promotions.promote(
            session,
            console.clock,
            console.flags,
            console.settings,
            peer_mark=second,
            actor="b@raxx.app",
            env="production",
        )
    assert refused.value.reason == "already_promoted"
    assert len(audit_rows(console, "console.flags.promoted")) == 1
    assert len(audit_rows(console, "console.flags.toggled")) == 1


def test_a_flag_pinned_by_env_on_prod_cannot_be_promoted(prod_admin, console, staging):
    mark_id = mark_on_staging(staging)
    console.flags.environ = {FLAG: "0"}
    page = prod_admin.get("/console/flags/promotions").get_data(as_text=True)
    message = f"pinned by {FLAG}; unset the config var first, then promote"
    assert message in page and 'data-state="pinned"' in page
    response = promote(prod_admin, mark_id)
    assert response.status_code == 409 and message in response.get_data(as_text=True)
    prod_untouched(console)
    assert staging_mark(staging, mark_id).closed_at is None


def test_a_stale_mark_cannot_be_promoted(prod_admin, console, staging):
    mark_id = mark_on_staging(staging, value=True)
    staging.console.clock.advance(60)
    staging.console.flags.change(
        FLAG, False, settings=staging.console.settings, actor="op2@raxx.app", env="staging"
    )
    page = prod_admin.get("/console/flags/promotions").get_data(as_text=True)
    assert 'data-state="stale"' in page and "changed on staging by op2@raxx.app" in page
    response = promote(prod_admin, mark_id)
    assert response.status_code == 409 and "the mark is stale" in response.get_data(as_text=True)
    prod_untouched(console)
    assert staging_mark(staging, mark_id).closed_at is None


def test_an_operator_cannot_promote(peer_settings, app, console, staging):
    mark_id = mark_on_staging(staging)
    make_user(console, "op@raxx.app", "operator")
    client = prod_client(app)
    login(client, "op@raxx.app")
    assert "Promoting needs the admin role" in client.get("/console/flags/promotions").get_data(as_text=True)
    assert promote(client, mark_id).status_code == 403
    prod_untouched(console)


def test_when_staging_is_down_prod_shows_a_banner_and_changes_nothing(prod_admin, console, staging):
    mark_id = mark_on_staging(staging)
    staging.stop()
    page = prod_admin.get("/console/flags/promotions").get_data(as_text=True)
    assert "data-peer-banner" in page and "did not answer" in page
    response = promote(prod_admin, mark_id)
    assert response.status_code == 503
    assert "Nothing was changed on either side" in response.get_data(as_text=True)
    prod_untouched(console)
    assert staging_mark(staging, mark_id).closed_at is None


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_racing_promotions_of_one_mark_make_one_on_postgresql(peer_settings, console, staging):
    """The second transaction waits on the unique mark_id until the first commits, then is refused."""
    mark_id = mark_on_staging(staging)
    peer_mark = PeerMark.from_json(peer_link(console).get(f"{promotions.PEER_MARKS_PATH}/{mark_id}").body)
    first = console.db.sessionmaker()
    promotions.promote(
        first,
        console.clock,
        console.flags,
        console.settings,
        peer_mark=peer_mark,
        actor="a@raxx.app",
        env="production",
    )
    outcome = {}

    def second():
        try:
            with console.db.session() as session:
                promotions.promote(
                    session,
                    console.clock,
                    console.flags,
                    console.settings,
                    peer_mark=peer_mark,
                    actor="b@raxx.app",
                    env="production",
                )
            outcome["b"] = "promoted"
        except PromotionRefused as exc:
            outcome["b"] = exc.reason

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(timeout=0.5)  # let it reach the insert and wait on the first transaction
    first.commit()
    first.close()
    racer.join(timeout=30)
    assert outcome == {"b": "already_promoted"}
    [promoted] = audit_rows(console, "console.flags.promoted")
    assert promoted.payload["promoted_by"] == "a@raxx.app"
    assert len(audit_rows(console, "console.flags.toggled")) == 1


def test_stagings_peer_api_closes_a_mark_once_and_names_bad_input(staging):
    mark_id = mark_on_staging(staging)
    client = staging.app.test_client()
    headers = {"Authorization": f"Bearer {staging.token}"}
    path = f"/api/peer/flags/marks/{mark_id}/close"
    missing = client.post(path, json={}, headers=headers)
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_promoted_by"
    assert staging_mark(staging, mark_id).closed_at is None
    assert client.post(path, json={"promoted_by": ADMIN}, headers=headers).status_code == 200
    again = client.post(path, json={"promoted_by": ADMIN}, headers=headers)
    assert again.status_code == 409 and again.get_json()["error"] == "mark_closed"
    unknown = client.post("/api/peer/flags/marks/999/close", json={"promoted_by": ADMIN}, headers=headers)
    assert unknown.status_code == 404
    assert len(audit_rows(staging.console, "console.flags.promotion_closed")) == 1
