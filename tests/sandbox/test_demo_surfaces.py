"""Demo surfaces: flippable health endpoints, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from raxx_console.sandbox.server import BackgroundServer
from raxx_console.sandbox.surfaces import create_demo_surfaces

IDS = ["api-prod", "console-staging", "getraxx"]


@pytest.fixture(scope="module")
def demo():
    app = create_demo_surfaces(IDS, slow_latency_ms=300)
    with BackgroundServer(app, name="demo-surfaces") as server:
        app.base_url = server.url
        yield app


@pytest.fixture
def http(demo):
    demo.reset()
    with httpx.Client(base_url=demo.base_url, timeout=10) as client:
        yield client
    demo.reset()


def flip(http, surface_id, **body):
    return http.post(f"/_sandbox/surfaces/{surface_id}", json=body)


def test_everything_starts_operational(http):
    for surface_id in IDS:
        response = http.get(f"/surfaces/{surface_id}/health")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert http.get("/_sandbox/surfaces").json() == {
        "surfaces": [{"id": i, "status": "operational", "latency_ms": 0} for i in IDS]
    }


def test_degraded_answers_200_with_status_degraded(http):
    assert flip(http, "api-prod", status="degraded").json() == {
        "id": "api-prod",
        "status": "degraded",
        "latency_ms": 0,
    }
    response = http.get("/surfaces/api-prod/health")
    assert (response.status_code, response.json()) == (200, {"status": "degraded"})
    assert http.get("/surfaces/getraxx/health").json() == {"status": "ok"}  # only that one


def test_down_answers_503(http):
    flip(http, "getraxx", status="down")
    assert http.get("/surfaces/getraxx/health").status_code == 503


def test_slow_answers_200_after_the_delay(http):
    flip(http, "console-staging", status="slow")
    started = time.monotonic()
    response = http.get("/surfaces/console-staging/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert time.monotonic() - started >= 0.25  # the app's slow_latency_ms is 300


def test_latency_can_be_set_per_surface(http):
    flip(http, "api-prod", status="slow", latency_ms=100)
    assert http.get("/_sandbox/surfaces").json()["surfaces"][0]["latency_ms"] == 100
    started = time.monotonic()
    http.get("/surfaces/api-prod/health")
    assert time.monotonic() - started >= 0.08


def test_reset_puts_everything_back(http):
    flip(http, "api-prod", status="down")
    assert http.post("/_sandbox/reset").status_code == 200
    assert http.get("/surfaces/api-prod/health").status_code == 200


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"status": "on-fire"}, "status"),
        ({}, "status"),
        ({"status": "slow", "latency_ms": -5}, "latency_ms"),
        ({"status": "slow", "latency_ms": "300"}, "latency_ms"),
        ({"status": "slow", "latency_ms": False}, "latency_ms"),
        ({"status": "slow", "latency_ms": 10**9}, "latency_ms"),
        ({"status": "down", "why": "testing"}, "why"),
    ],
)
def test_bad_input_is_400_naming_the_problem(http, body, names):
    response = flip(http, "api-prod", **body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert names in response.json()["error"]
    assert http.get("/surfaces/api-prod/health").status_code == 200  # unchanged


@pytest.mark.parametrize("content", [b"status=down", b"{broken", b"[1]", b'"down"'])
def test_non_object_bodies_are_400(http, content):
    response = http.post(
        "/_sandbox/surfaces/api-prod",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]


def test_unknown_surface_is_404_json(http):
    response = flip(http, "nope", status="down")
    assert response.status_code == 404 and "nope" in response.json()["error"]
    health = http.get("/surfaces/nope/health")
    assert health.status_code == 404 and health.json()["error"]


def test_unknown_path_is_404_json(http):
    response = http.get("/no/such/page")
    assert response.status_code == 404 and response.json()["error"]


def test_oversized_body_is_413(http):
    response = http.post(
        "/_sandbox/surfaces/api-prod",
        content=b'{"status": "down", "pad": "' + b"x" * 100_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_health_urls(demo):
    assert demo.health_urls("http://127.0.0.1:5000/") == {
        "api-prod": "http://127.0.0.1:5000/surfaces/api-prod/health",
        "console-staging": "http://127.0.0.1:5000/surfaces/console-staging/health",
        "getraxx": "http://127.0.0.1:5000/surfaces/getraxx/health",
    }


def test_health_urls_work(demo, http):
    for url in demo.health_urls(demo.base_url).values():
        assert httpx.get(url).json() == {"status": "ok"}


def test_needs_at_least_one_surface():
    with pytest.raises(ValueError, match="surface"):
        create_demo_surfaces([])


def test_duplicate_ids_are_collapsed():
    assert create_demo_surfaces(["a", "b", "a"]).surface_ids == ("a", "b")


def test_page_lists_every_surface_with_buttons(http):
    flip(http, "getraxx", status="down")
    page = http.get("/").text
    for surface_id in IDS:
        for mode in ("operational", "degraded", "down", "slow"):
            assert f'data-id="{surface_id}" data-status="{mode}"' in page
    assert 'data-id="getraxx" data-status="down" disabled' in page


def test_page_escapes_ids():
    app = create_demo_surfaces(['<img src=x onerror="boom">'])
    page = app.test_client().get("/").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img" in page


@pytest.mark.browser
def test_a_newcomer_can_degrade_a_surface_from_the_page(page, demo, http):
    page.goto(f"{demo.base_url}/")
    page.click('button[data-id="api-prod"][data-status="down"]')
    page.wait_for_selector('button[data-id="api-prod"][data-status="down"][disabled]')

    assert http.get("/surfaces/api-prod/health").status_code == 503
    page.click("#reset")
    page.wait_for_selector('button[data-id="api-prod"][data-status="operational"][disabled]')
    assert http.get("/surfaces/api-prod/health").status_code == 200
