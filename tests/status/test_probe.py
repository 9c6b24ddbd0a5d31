"""The probing engine (aiohttp) against real HTTP servers: the demo surfaces and a few odd ones."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import SimpleNamespace

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask, Response, redirect, request

from raxx_console.sandbox.server import BackgroundServer
from raxx_console.sandbox.surfaces import create_demo_surfaces
from raxx_console.status.probe import (
    MAX_BODY_BYTES,
    USER_AGENT,
    ProbeResult,
    classify_response,
    describe_error,
    probe_all,
    run_probe_cycle,
)
from raxx_console.status.surfaces import Surface

DEMO_IDS = ["ok", "degraded", "down", "slow", "hang"] + [f"fast-{i}" for i in range(20)]


def surface(surface_id="api-prod", url=None, **kwargs):
    return Surface(
        id=surface_id,
        name=surface_id,
        workflow="deploy.yml",
        target_env="production",
        app="app",
        health_url=url,
        **kwargs,
    )


@pytest.fixture(scope="module")
def demo():
    app = create_demo_surfaces(DEMO_IDS)
    app.set_status("degraded", "degraded")
    app.set_status("down", "down")
    app.set_status("slow", "slow", latency_ms=300)
    app.set_status("hang", "slow", latency_ms=30_000)
    with BackgroundServer(app, name="demo-surfaces") as server:
        app.urls = app.health_urls(server.url)
        app.base_url = server.url
        yield app
        app.reset()  # wake the hanging answers so the server stops promptly


def odd_app():
    app = Flask("odd")

    @app.get("/redirect")
    def go_elsewhere():
        return redirect("/login?next=/health", code=302)

    @app.get("/status/<value>")
    def json_status(value):
        return {"status": value}

    @app.get("/no-content")
    def no_content():
        return Response(status=204)

    @app.get("/html")
    def html():
        return Response("<html>" + "x" * 500_000 + "</html>", mimetype="text/html")

    @app.get("/chunked")
    def chunked():
        def body():
            yield b'{"status": '
            yield b'"partial_outage"}'

        return Response(body(), mimetype="application/json")

    @app.get("/stall-body")
    def stall_body():
        def body():
            yield b'{"status": '
            time.sleep(3)
            yield b'"ok"}'

        return Response(body(), mimetype="application/json")

    @app.get("/teapot")
    def teapot():
        return {"status": "ok"}, 418

    @app.get("/too-big")
    def too_big():
        # Parsed whole, this says degraded; cut at the cap it is not JSON any more.
        return {"status": "degraded", "padding": "x" * MAX_BODY_BYTES}

    @app.get("/auth")
    def auth():
        return {"status": "ok" if request.authorization else "degraded"}

    @app.get("/whoami")
    def whoami():
        return {"status": "ok" if request.user_agent.string == USER_AGENT else "degraded"}

    @app.get("/sant\u00e9")
    def non_ascii():
        return {"status": "ok"}

    return app


@pytest.fixture(scope="module")
def odd():
    with BackgroundServer(odd_app(), name="odd") as server:
        yield server.url


@pytest.fixture(scope="module")
def garbage_port():
    """A TCP server that answers every connection with something that is not HTTP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    listener.close()


@pytest.fixture(scope="module")
def self_signed_port(tmp_path_factory):
    """A TLS server whose certificate no CA vouches for; it hangs up after the handshake."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except OSError:  # the client rejects the certificate mid-handshake
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    listener.close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_fresh_loop(make_coroutine):
    """asyncio.run on a thread of its own: a browser test may leave a loop in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def probe_one(s):
    [result] = run_probe_cycle([s])
    assert isinstance(result, ProbeResult) and result.surface_id == s.id
    return result


# --- one condition each --------------------------------------------------------------------


def test_operational(demo):
    result = probe_one(surface("ok", demo.urls["ok"]))
    assert (result.condition, result.status, result.severity) == ("operational", "operational", None)
    assert result.http_status == 200 and result.ok and result.probed
    assert result.detail.startswith("HTTP 200 in ") and result.latency_ms >= 0


def test_health_says_degraded(demo):
    result = probe_one(surface("degraded", demo.urls["degraded"]))
    assert (result.condition, result.status, result.severity) == ("degraded", "degraded", "P2")
    assert result.detail == "health says degraded" and result.http_status == 200


@pytest.mark.parametrize("value", ["partial_outage", "degraded_performance", "DEGRADED"])
def test_other_degraded_body_statuses(odd, value):
    result = probe_one(surface(url=f"{odd}/status/{value}"))
    assert result.condition == "degraded" and result.detail == f"health says {value.lower()}"


def test_http_503_is_down(demo):
    result = probe_one(surface("down", demo.urls["down"]))
    assert (result.condition, result.status, result.severity) == ("down", "down", "P1")
    assert (result.http_status, result.detail) == (503, "HTTP 503")


def test_slow_is_p3_and_shows_degraded(demo):
    result = probe_one(surface("slow", demo.urls["slow"], latency_budget_ms=100))
    assert (result.condition, result.status, result.severity) == ("slow", "degraded", "P3")
    assert result.latency_ms > 100
    assert result.detail.startswith("slow: ") and result.detail.endswith(" ms > 100 ms budget")


def test_slow_within_budget_is_operational(demo):
    result = probe_one(surface("slow", demo.urls["slow"], latency_budget_ms=5000))
    assert result.condition == "operational"


def test_timeout_is_down(demo):
    result = probe_one(surface("hang", demo.urls["hang"], timeout_seconds=0.3))
    assert (result.condition, result.severity) == ("down", "P1")
    assert result.detail == "timeout after 0.3 s" and result.http_status is None


def test_the_deadline_covers_a_stalled_body(odd):
    result = probe_one(surface(url=f"{odd}/stall-body", timeout_seconds=0.5))
    assert result.condition == "down" and result.detail == "timeout after 0.5 s"


def test_connection_refused_is_down():
    result = probe_one(surface(url=f"http://127.0.0.1:{closed_port()}/health"))
    assert (result.condition, result.detail) == ("down", "connection refused")


def test_dns_failure_is_down():
    result = probe_one(surface(url="http://no-such-host.invalid/health", timeout_seconds=3))
    assert result.condition == "down"
    assert result.detail in ("DNS lookup failed", "timeout after 3.0 s")


def test_not_http_is_down(garbage_port):
    result = probe_one(surface(url=f"http://127.0.0.1:{garbage_port}/", timeout_seconds=2))
    assert (result.condition, result.detail) == ("down", "invalid HTTP response")


def test_a_self_signed_certificate_is_not_trusted(self_signed_port):
    result = probe_one(surface(url=f"https://127.0.0.1:{self_signed_port}/health", timeout_seconds=3))
    assert (result.condition, result.detail) == ("down", "TLS certificate not trusted")


def test_unexpected_status_is_degraded(odd, demo):
    result = probe_one(surface(url=f"{odd}/teapot"))
    assert (result.condition, result.http_status) == ("degraded", 418)
    assert result.detail == "HTTP 418 (expected 200)"
    missing = probe_one(surface(url=f"{demo.base_url}/surfaces/nope/health"))
    assert (missing.condition, missing.detail) == ("degraded", "HTTP 404 (expected 200)")


def test_redirects_are_not_followed(odd):
    result = probe_one(surface(url=f"{odd}/redirect"))
    assert (result.condition, result.http_status) == ("degraded", 302)
    assert "redirect to /login?next=/health, not followed (expected 200)" in result.detail


def test_expected_status_is_per_surface(odd):
    assert probe_one(surface(url=f"{odd}/no-content", expected_status=204)).ok
    assert probe_one(surface(url=f"{odd}/redirect", expected_status=302)).ok
    assert probe_one(surface(url=f"{odd}/no-content")).condition == "degraded"


def test_html_health_page_is_read_only_so_far(odd):
    result = probe_one(surface(url=f"{odd}/html"))
    assert result.condition == "operational"


def test_the_body_is_read_up_to_the_cap_only(odd):
    result = probe_one(surface(url=f"{odd}/too-big"))
    assert result.condition == "operational"  # the cut body is no JSON, so it says nothing


def test_chunked_json_body_is_read(odd):
    result = probe_one(surface(url=f"{odd}/chunked"))
    assert result.detail == "health says partial_outage"


def test_basic_auth_in_the_url_is_sent(odd):
    host = odd.removeprefix("http://")
    assert probe_one(surface(url=f"http://probe:secret@{host}/auth")).ok


def test_the_user_agent_names_the_poller(odd):
    assert probe_one(surface(url=f"{odd}/whoami")).ok


def test_a_non_ascii_path_is_percent_encoded(odd):
    assert probe_one(surface(url=f"{odd}/sant\u00e9")).ok


def test_proxy_environment_variables_are_ignored(monkeypatch, demo):
    proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert probe_one(surface("ok", demo.urls["ok"])).ok


def test_a_host_name_is_resolved(demo):
    port = demo.base_url.rsplit(":", 1)[1]
    results = run_probe_cycle(
        [surface(f"s{i}", f"http://localhost:{port}/surfaces/ok/health") for i in range(3)]
    )
    assert all(r.ok for r in results)


def test_severity_overrides(demo):
    result = probe_one(
        surface("down", demo.urls["down"], severity={"down": "P2", "degraded": "P2", "slow": "P3"})
    )
    assert (result.condition, result.severity) == ("down", "P2")


def test_no_health_url_is_unknown_and_not_probed():
    result = probe_one(surface("dark", None))
    assert (result.condition, result.status, result.severity) == ("unknown", "unknown", None)
    assert not result.probed and not result.ok and result.http_status is None


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("ftp://example.com/health", "invalid health_url: scheme must be http or https"),
        ("http:///nohost", "invalid health_url"),
        ("http://probe:secret@127.0.0.1:99999/", "invalid health_url: Port out of range 0-65535"),
        ("http://[::1/health", "invalid health_url: Invalid IPv6 URL"),
    ],
)
def test_an_invalid_health_url_is_down_with_a_clear_detail(url, detail):
    result = probe_one(surface(url=url))
    assert (result.condition, result.detail) == ("down", detail)


# --- many at once --------------------------------------------------------------------------


def test_results_keep_the_order_of_the_surfaces(demo):
    ids = ["down", "ok", "degraded", "fast-3", "ok"]
    surfaces = [surface(f"{i}-{n}", demo.urls[i]) for n, i in enumerate(ids)]
    results = run_probe_cycle(surfaces)
    assert [r.surface_id for r in results] == [s.id for s in surfaces]
    expected = ["down", "operational", "degraded", "operational", "operational"]
    assert [r.condition for r in results] == expected


def test_a_hanging_surface_does_not_delay_the_others(demo):
    timeout = 1.0
    hanging = surface("hang", demo.urls["hang"], timeout_seconds=timeout)
    fast = [surface(f"fast-{i}", demo.urls[f"fast-{i}"], timeout_seconds=10) for i in range(20)]

    started = time.monotonic()
    results = run_probe_cycle([hanging, *fast])
    elapsed = time.monotonic() - started

    assert results[0].condition == "down" and results[0].detail == "timeout after 1.0 s"
    assert all(r.ok for r in results[1:])
    # The fast ones finished on their own time, not the hanging one's …
    assert max(r.latency_ms for r in results[1:]) < timeout * 1000
    # … and the whole cycle took about the hanging one's timeout, not a multiple of it.
    assert elapsed < timeout + 3.0


def test_concurrency_limit_still_probes_everything(demo):
    surfaces = [surface(f"fast-{i}", demo.urls[f"fast-{i}"]) for i in range(10)]
    results = run_probe_cycle(surfaces, concurrency=3)
    assert len(results) == 10 and all(r.ok for r in results)


def test_concurrency_must_be_positive():
    with pytest.raises(ValueError):
        run_probe_cycle([], concurrency=0)


def test_an_empty_cycle():
    assert run_probe_cycle([]) == []


def test_a_stuck_dns_lookup_does_not_hold_the_cycle(monkeypatch, demo):
    """getaddrinfo runs on a thread the cycle must not wait for once the probe's deadline passed."""
    real_getaddrinfo = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host, *args, **kwargs):
        if host == "stuck.example":
            release.wait(10)  # a DNS server that never answers
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    stuck = surface("stuck", "http://stuck.example/health", timeout_seconds=0.3)
    try:
        started = time.monotonic()
        results = run_probe_cycle([stuck, surface("ok", demo.urls["ok"])])
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert (results[0].condition, results[0].detail) == ("down", "timeout after 0.3 s")
    assert results[1].ok
    assert elapsed < 2.0


def test_probe_all_on_the_callers_loop(demo):
    async def caller():
        return await probe_all([surface("ok", demo.urls["ok"]), surface("down", demo.urls["down"])])

    assert [r.condition for r in in_fresh_loop(caller)] == ["operational", "down"]


def test_run_probe_cycle_inside_a_running_loop(demo):
    async def caller():
        return run_probe_cycle([surface("ok", demo.urls["ok"])])

    [result] = in_fresh_loop(caller)
    assert result.ok


def test_run_probe_cycle_from_a_worker_thread(demo):
    out = []
    thread = threading.Thread(target=lambda: out.extend(run_probe_cycle([surface("ok", demo.urls["ok"])])))
    thread.start()
    thread.join(timeout=10)
    assert out and out[0].ok


def test_result_to_dict(demo):
    [result] = run_probe_cycle([surface("down", demo.urls["down"])])
    data = result.to_dict()
    assert data["surface_id"] == "down" and data["status"] == "down" and data["severity"] == "P1"
    assert set(data) == {
        "surface_id",
        "condition",
        "status",
        "severity",
        "http_status",
        "latency_ms",
        "detail",
    }


# --- the pure classification ---------------------------------------------------------------


def classify(s=None, **kwargs):
    return classify_response(s or surface(url="http://x/"), **{"latency_ms": 10, **kwargs})


def test_5xx_wins_over_a_body_that_says_ok():
    assert classify(http_status=500, body_status="ok").condition == "down"


def test_degraded_wins_over_slow():
    s = surface(url="http://x/", latency_budget_ms=100)
    result = classify(s, http_status=200, latency_ms=900, body_status="degraded")
    assert result.condition == "degraded"


def test_latency_at_the_budget_is_not_slow():
    s = surface(url="http://x/", latency_budget_ms=100)
    assert classify(s, http_status=200, latency_ms=100).condition == "operational"
    assert classify(s, http_status=200, latency_ms=100.5).condition == "slow"


def test_a_body_status_of_ok_or_unknown_words_is_not_degraded():
    for body in (None, "ok", "operational", "pass", "green"):
        assert classify(http_status=200, body_status=body).condition == "operational"


def test_4xx_when_expecting_it_is_fine():
    s = replace(surface(url="http://x/"), expected_status=401)
    assert classify(s, http_status=401).ok
    assert classify(s, http_status=200).condition == "degraded"


def test_tls_to_a_plain_http_server_is_down(demo):
    url = demo.urls["ok"].replace("http://", "https://")
    result = probe_one(surface("ok", url, timeout_seconds=3))
    assert result.condition == "down"
    assert result.detail in ("TLS handshake failed", "connection reset")


# --- aiohttp's errors in plain words ---------------------------------------------------------

KEY = SimpleNamespace(host="api.example", port=443, ssl=True, is_ssl=True)


def _caused(exc, cause):
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (
            aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connect call failed")),
            "connection refused",
        ),
        (
            aiohttp.ClientConnectorError(KEY, OSError(None, "Multiple exceptions: refused, refused")),
            "connection refused",
        ),
        (aiohttp.ClientConnectorError(KEY, OSError(101, "Network is unreachable")), "network unreachable"),
        (
            aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")),
            "DNS lookup failed",
        ),
        (aiohttp.ServerDisconnectedError(), "connection closed without a response"),
        (aiohttp.ClientConnectionResetError("Connection reset by peer"), "connection reset"),
        (
            aiohttp.ClientResponseError(None, (), status=400, message="Bad status line"),
            "invalid HTTP response",
        ),
        (TimeoutError(), "timeout after 5.0 s"),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), "timeout after 5.0 s"),
        (
            aiohttp.NonHttpUrlClientError("ftp://example.com/"),
            "invalid health_url: scheme must be http or https",
        ),
        (
            _caused(
                aiohttp.InvalidUrlClientError("http://u:hunter2@h:99999/"),
                ValueError("Port out of range 0-65535"),
            ),
            "invalid health_url: Port out of range 0-65535",
        ),
        (aiohttp.InvalidUrlClientError("http://u:hunter2@/"), "invalid health_url"),
        (
            aiohttp.ClientConnectorCertificateError(
                KEY, ssl.SSLCertVerificationError(1, "self-signed certificate")
            ),
            "TLS certificate not trusted",
        ),
        (
            aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "wrong version number")),
            "TLS handshake failed",
        ),
        (aiohttp.ClientPayloadError("odd"), "connection error (ClientPayloadError)"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_describe_error(exc, detail):
    assert describe_error(exc, timeout_seconds=5.0) == detail
    assert "hunter2" not in describe_error(exc)


def test_a_timeout_without_its_deadline_is_just_a_timeout():
    assert describe_error(TimeoutError()) == "timeout"
