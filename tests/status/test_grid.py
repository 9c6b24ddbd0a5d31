"""The grid's data: probe history cached per poll cycle, everything else read fresh per request."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from raxx_console.status import service as status_service
from raxx_console.status.models import SurfaceCheck
from raxx_console.status.service import HISTORY_LENGTH
from tests.tickets.helpers import (
    INVESTIGATE_FLAG,
    SURFACE,
    click,
    grid_token,
    set_flag,
    set_status,
    tile_json,
)


@pytest.fixture(autouse=True)
def _wired(freescout_settings):
    """Every app in this module talks to the sandbox."""


def _check(console, status: str, latency_ms: int | None, *, ago: float = 0, surface: str = SURFACE) -> None:
    with console.db.session() as session:
        session.add(
            SurfaceCheck(
                surface_id=surface,
                checked_at=console.clock.now() - timedelta(seconds=ago),
                status=status,
                condition=status,
                latency_ms=latency_ms,
                detail="",
            )
        )


def _strips(console, cache: dict | None) -> list[tuple]:
    with console.db.session() as session:
        shown = status_service.tiles(session, console.clock, console.surfaces, cache=cache)
    return [(t.surface.id, t.history, str(t.strip.markup), t.strip.json) for t in shown]


def test_a_ticket_filed_by_a_click_is_on_the_grid_in_the_very_next_status_json(console, operator):
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console)
    assert tile_json(operator)["investigation"] is None
    filed = click(operator, token=grid_token(operator)).get_json()
    assert tile_json(operator)["investigation"]["ticket_id"] == filed["ticket_id"]


def test_a_simulation_shows_at_once_and_a_new_check_in_the_next_request(console, operator):
    set_status(console, SURFACE, "operational")
    _check(console, "operational", 11)
    assert [c["latency_ms"] for c in tile_json(operator)["history"]] == [11]
    with console.db.session() as session:
        status_service.simulate(
            session, console.clock, console.surfaces, SURFACE, "down", 5, actor="test", env="development"
        )
    console.clock.advance(30)
    _check(console, "degraded", 22)
    shown = tile_json(operator)
    assert (shown["status"], shown["simulated"]) == ("down", True)
    assert [c["latency_ms"] for c in shown["history"]] == [11, 22], "a new poll cycle is read again"


def test_the_page_and_the_json_show_the_same_tiles(console, operator):
    set_status(console, SURFACE, "degraded")
    _check(console, "degraded", 33)
    surfaces = operator.get("/console/status.json").get_json()["surfaces"]
    page = operator.get("/console/status").get_data(as_text=True)
    for tile in surfaces:
        assert f'data-surface="{tile["surface_id"]}" data-status="{tile["status"]}"' in page
    assert "degraded 33 ms" in page


def test_strips_cached_across_poll_cycles_match_a_fresh_read(console):
    """The cache takes each cycle's checks in (never reading every strip again): whatever
    arrives, in order or not, it shows what a worker reading every strip afresh shows."""
    cache: dict = {}
    set_status(console, SURFACE, "operational")
    set_status(console, "api-staging", "degraded")
    for n in range(HISTORY_LENGTH + 5):
        console.clock.advance(30)
        _check(console, "operational" if n % 4 else "degraded", n if n % 3 else None)
        if n % 6 == 0:
            _check(console, "down", n, surface="api-staging")
            assert _strips(console, cache) == _strips(console, None)
    _check(console, "down", 999, ago=45)  # an injected clock: older than the newest check
    _check(console, "degraded", 998, ago=10_000)  # older than the whole strip: not shown
    cached = _strips(console, cache)
    assert cached == _strips(console, None)
    [(_id, history, _markup, text)] = [row for row in cached if row[0] == SURFACE]
    assert len(history) == HISTORY_LENGTH
    assert [c.latency_ms for c in history][-4:] == [22, 999, 23, None], "merged by the time it was checked"
    assert json.loads(text) == [
        {
            "checked_at": c.checked_at.isoformat().replace("+00:00", "Z"),
            "status": c.status,
            "latency_ms": c.latency_ms,
        }
        for c in history
    ]


def test_a_strange_status_is_escaped_on_the_page_and_exact_in_the_json(console, operator):
    set_status(console, SURFACE, "operational")
    _check(console, 'x"><b>', 5)
    operator.get("/console/status")  # the cache is warm: the next check is merged in
    _check(console, '<i>"y', None)
    page = operator.get("/console/status").get_data(as_text=True)
    assert "<b>" not in page and "<i>" not in page
    assert 'class="h-x&#34;&gt;&lt;b&gt;"' in page and "&lt;i&gt;&#34;y" in page
    history = tile_json(operator)["history"]
    assert [(c["status"], c["latency_ms"]) for c in history] == [('x"><b>', 5), ('<i>"y', None)]
