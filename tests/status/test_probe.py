"""The probing engine against real HTTP servers: the demo surfaces and a few odd ones."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from flask import Flask, Response, redirect

from raxx_console.sandbox.server import BackgroundServer
from raxx_console.sandbox.surfaces import create_demo_surfaces
from raxx_console.status.probe import (
    ProbeResult,
    classify_response,
    new_client,
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

    @app.get("/auth")
    def auth():
        from flask import request

        return {"status": "ok" if request.authorization else "degraded"}

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


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_fresh_loop(make_coroutine):
    """asyncio.run on a thread of its own: a browser test may leave a loop in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


@pytest.fixture(params=["stdlib", "httpx"])
def probe(request):
    """Probe a list of surfaces through either transport; both must classify alike."""

    def run(surfaces, **kwargs):
        if request.param == "stdlib":
            return run_probe_cycle(surfaces, **kwargs)

        async def with_client():
            async with new_client() as client:
                return await probe_all(surfaces, client=client, **kwargs)

        return in_fresh_loop(with_client)

    run.transport = request.param
    return run


def probe_one(probe, s):
    [result] = probe([s])
    assert isinstance(result, ProbeResult) and result.surface_id == s.id
    return result


# --- one condition each --------------------------------------------------------------------


def test_operational(probe, demo):
    result = probe_one(probe, surface("ok", demo.urls["ok"]))
    assert (result.condition, result.status, result.severity) == ("operational", "operational", None)
    assert result.http_status == 200 and result.ok and result.probed
    assert result.detail.startswith("HTTP 200 in ") and result.latency_ms >= 0


def test_health_says_degraded(probe, demo):
    result = probe_one(probe, surface("degraded", demo.urls["degraded"]))
    assert (result.condition, result.status, result.severity) == ("degraded", "degraded", "P2")
    assert result.detail == "health says degraded" and result.http_status == 200


@pytest.mark.parametrize("value", ["partial_outage", "degraded_performance", "DEGRADED"])
def test_other_degraded_body_statuses(probe, odd, value):
    result = probe_one(probe, surface(url=f"{odd}/status/{value}"))
    assert result.condition == "degraded" and result.detail == f"health says {value.lower()}"


def test_http_503_is_down(probe, demo):
    result = probe_one(probe, surface("down", demo.urls["down"]))
    assert (result.condition, result.status, result.severity) == ("down", "down", "P1")
    assert (result.http_status, result.detail) == (503, "HTTP 503")


def test_slow_is_p3_and_shows_degraded(probe, demo):
    result = probe_one(probe, surface("slow", demo.urls["slow"], latency_budget_ms=100))
    assert (result.condition, result.status, result.severity) == ("slow", "degraded", "P3")
    assert result.latency_ms > 100
    assert result.detail.startswith("slow: ") and result.detail.endswith(" ms > 100 ms budget")


def test_slow_within_budget_is_operational(probe, demo):
    result = probe_one(probe, surface("slow", demo.urls["slow"], latency_budget_ms=5000))
    assert result.condition == "operational"


def test_timeout_is_down(probe, demo):
    result = probe_one(probe, surface("hang", demo.urls["hang"], timeout_seconds=0.3))
    assert (result.condition, result.severity) == ("down", "P1")
    assert result.detail == "timeout after 0.3 s" and result.http_status is None


def test_the_deadline_covers_a_stalled_body(probe, odd):
    result = probe_one(probe, surface(url=f"{odd}/stall-body", timeout_seconds=0.5))
    assert result.condition == "down" and result.detail == "timeout after 0.5 s"


def test_connection_refused_is_down(probe):
    result = probe_one(probe, surface(url=f"http://127.0.0.1:{closed_port()}/health"))
    assert (result.condition, result.detail) == ("down", "connection refused")


def test_dns_failure_is_down(probe):
    result = probe_one(probe, surface(url="http://no-such-host.invalid/health", timeout_seconds=3))
    assert result.condition == "down"
    assert result.detail in ("DNS lookup failed", "timeout after 3.0 s")


def test_not_http_is_down(probe, garbage_port):
    result = probe_one(probe, surface(url=f"http://127.0.0.1:{garbage_port}/", timeout_seconds=2))
    assert result.condition == "down"
    assert result.detail in ("invalid HTTP response", "connection closed without a response")


def test_unexpected_status_is_degraded(probe, odd, demo):
    result = probe_one(probe, surface(url=f"{odd}/teapot"))
    assert (result.condition, result.http_status) == ("degraded", 418)
    assert result.detail == "HTTP 418 (expected 200)"
    missing = probe_one(probe, surface(url=f"{demo.base_url}/surfaces/nope/health"))
    assert (missing.condition, missing.detail) == ("degraded", "HTTP 404 (expected 200)")


def test_redirects_are_not_followed(probe, odd):
    result = probe_one(probe, surface(url=f"{odd}/redirect"))
    assert (result.condition, result.http_status) == ("degraded", 302)
    assert "redirect to /login?next=/health, not followed (expected 200)" in result.detail


def test_expected_status_is_per_surface(probe, odd):
    assert probe_one(probe, surface(url=f"{odd}/no-content", expected_status=204)).ok
    assert probe_one(probe, surface(url=f"{odd}/redirect", expected_status=302)).ok
    assert probe_one(probe, surface(url=f"{odd}/no-content")).condition == "degraded"


def test_html_health_page_is_read_only_so_far(probe, odd):
    result = probe_one(probe, surface(url=f"{odd}/html"))
    assert result.condition == "operational"


def test_chunked_json_body_is_read(probe, odd):
    result = probe_one(probe, surface(url=f"{odd}/chunked"))
    assert result.detail == "health says partial_outage"


def test_basic_auth_in_the_url_is_sent(probe, odd):
    host = odd.removeprefix("http://")
    assert probe_one(probe, surface(url=f"http://probe:secret@{host}/auth")).ok


def test_a_host_name_is_resolved(probe, demo):
    port = demo.base_url.rsplit(":", 1)[1]
    results = probe([surface(f"s{i}", f"http://localhost:{port}/surfaces/ok/health") for i in range(3)])
    assert all(r.ok for r in results)


def test_severity_overrides(probe, demo):
    result = probe_one(
        probe, surface("down", demo.urls["down"], severity={"down": "P2", "degraded": "P2", "slow": "P3"})
    )
    assert (result.condition, result.severity) == ("down", "P2")


def test_no_health_url_is_unknown_and_not_probed(probe):
    result = probe_one(probe, surface("dark", None))
    assert (result.condition, result.status, result.severity) == ("unknown", "unknown", None)
    assert not result.probed and not result.ok and result.http_status is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/health",
        "http:///nohost",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:1/sant\u00e9",
    ],
)
def test_an_invalid_health_url_is_down_with_a_clear_detail(probe, url):
    result = probe_one(probe, surface(url=url))
    assert result.condition == "down" and "invalid health_url" in result.detail


# --- many at once --------------------------------------------------------------------------


def test_results_keep_the_order_of_the_surfaces(probe, demo):
    ids = ["down", "ok", "degraded", "fast-3", "ok"]
    surfaces = [surface(f"{i}-{n}", demo.urls[i]) for n, i in enumerate(ids)]
    results = probe(surfaces)
    assert [r.surface_id for r in results] == [s.id for s in surfaces]
    expected = ["down", "operational", "degraded", "operational", "operational"]
    assert [r.condition for r in results] == expected


def test_a_hanging_surface_does_not_delay_the_others(probe, demo):
    timeout = 1.0
    hanging = surface("hang", demo.urls["hang"], timeout_seconds=timeout)
    fast = [surface(f"fast-{i}", demo.urls[f"fast-{i}"], timeout_seconds=10) for i in range(20)]

    started = time.monotonic()
    results = probe([hanging, *fast])
    elapsed = time.monotonic() - started

    assert results[0].condition == "down" and results[0].detail == "timeout after 1.0 s"
    assert all(r.ok for r in results[1:])
    # The fast ones finished on their own time, not the hanging one's …
    assert max(r.latency_ms for r in results[1:]) < timeout * 1000
    # … and the whole cycle took about the hanging one's timeout, not a multiple of it.
    assert elapsed < timeout + 3.0


def test_concurrency_limit_still_probes_everything(probe, demo):
    surfaces = [surface(f"fast-{i}", demo.urls[f"fast-{i}"]) for i in range(10)]
    results = probe(surfaces, concurrency=3)
    assert len(results) == 10 and all(r.ok for r in results)


def test_concurrency_must_be_positive():
    with pytest.raises(ValueError):
        run_probe_cycle([], concurrency=0)


def test_an_empty_cycle():
    assert run_probe_cycle([]) == []


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


def test_tls_to_a_plain_http_server_is_down(probe, demo):
    url = demo.urls["ok"].replace("http://", "https://")
    result = probe_one(probe, surface("ok", url, timeout_seconds=3))
    assert result.condition == "down"
    assert result.detail in ("TLS handshake failed", "connection reset", "invalid HTTP response")
