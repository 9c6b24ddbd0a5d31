"""The peer link's typed outcomes, over real HTTP to a second live console."""

from __future__ import annotations

from flask import request

from raxx_console.config import ConsoleEnv, load_settings
from raxx_console.context import build_console
from raxx_console.health import doctor
from raxx_console.integrations.registry import peer_link
from raxx_console.peers import PeerLink, PeerStatus, peer_env
from tests.support.accounts import login, make_user


def test_the_peers_version_is_read_through_the_link(peer_settings, console, staging):
    link = peer_link(console)
    assert link is peer_link(console), "built once per console"
    outcome, version = link.version()
    assert outcome.status is PeerStatus.OK
    assert version is not None and version.sha and version.env == "development"
    assert link.last is outcome


def test_a_wrong_token_is_refused_with_the_peers_reason(peer_settings, staging, clock):
    peer_settings["CONSOLE_PEER_TOKEN"] = "rxs_not-a-real-token"
    link = PeerLink.from_settings(load_settings(peer_settings), clock)
    outcome, version = link.version()
    assert outcome.status is PeerStatus.REFUSED and version is None
    assert outcome.http_status == 401
    assert "invalid or revoked API token" in outcome.reason
    assert "rxs_not-a-real-token" not in outcome.banner


def test_a_peer_that_does_not_answer_is_unreachable(peer_settings, staging, clock):
    staging.stop()
    link = PeerLink.from_settings(load_settings(peer_settings), clock)
    outcome, _ = link.version()
    assert outcome.status is PeerStatus.UNREACHABLE
    assert "Nothing was changed" in outcome.banner


def test_without_a_peer_url_or_token_nothing_is_sent(settings_overrides, clock):
    link = PeerLink.from_settings(load_settings(settings_overrides), clock)
    outcome = link.get("/api/peer/version")
    assert outcome.status is PeerStatus.NOT_CONFIGURED
    assert link.missing() == ["CONSOLE_PEER_URLS", "CONSOLE_PEER_TOKEN"]


def test_each_console_calls_the_other():
    urls = {ConsoleEnv.staging: "https://s", ConsoleEnv.production: "https://p"}
    assert peer_env(ConsoleEnv.production, urls) is ConsoleEnv.staging
    assert peer_env(ConsoleEnv.staging, urls) is ConsoleEnv.production
    assert peer_env(ConsoleEnv.production, {ConsoleEnv.production: "https://p"}) is None


def test_the_cf_access_service_headers_are_sent_when_set(peer_settings, staging, clock):
    peer_settings["CF_ACCESS_SVC_CONSOLE_CLIENT_ID"] = "console-peer.access"
    peer_settings["CF_ACCESS_SVC_CONSOLE_CLIENT_SECRET"] = "peer-cf-secret"
    seen = {}

    @staging.app.before_request
    def _capture():
        seen.update(request.headers)

    link = PeerLink.from_settings(load_settings(peer_settings), clock)
    assert link.version()[0].ok
    assert seen["Cf-Access-Client-Id"] == "console-peer.access"
    assert seen["Cf-Access-Client-Secret"] == "peer-cf-secret"


def test_doctor_and_the_health_panel_report_the_peer_link(peer_settings, console, client, staging):
    [ok] = [c for c in doctor.run_checks(console) if c.step == "Peer"]
    assert ok.verdict == "ok" and staging.url in ok.summary
    make_user(console, "op@raxx.app", "operator")
    login(client, "op@raxx.app")
    assert 'data-peer-status="ok"' in client.get("/console/health").get_data(as_text=True)
    staging.stop()
    down = doctor.check_peer(console)
    assert (down.verdict, down.reason) == ("FAIL", "peer_unreachable")
    assert 'data-peer-status="unreachable"' in client.get("/console/health").get_data(as_text=True)


def test_doctor_warns_when_staging_has_no_peer(settings_overrides, console):
    assert doctor.check_peer(console).verdict == "ok", "a development console needs no peer"
    settings_overrides["CONSOLE_ENV"] = "staging"

    staging_console = build_console(load_settings(settings_overrides))
    result = doctor.check_peer(staging_console)
    staging_console.db.dispose()
    assert (result.verdict, result.reason) == ("warn", "peer_not_configured")
    assert "CONSOLE_PEER_URLS, CONSOLE_PEER_TOKEN not set" in result.summary
