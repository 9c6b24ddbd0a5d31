"""The grid's data: probe history cached per poll cycle, everything else read fresh per request."""

from __future__ import annotations

import pytest

from raxx_console.status import service as status_service
from raxx_console.status.models import SurfaceCheck
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


def _check(console, status: str, latency_ms: int) -> None:
    with console.db.session() as session:
        session.add(
            SurfaceCheck(
                surface_id=SURFACE,
                checked_at=console.clock.now(),
                status=status,
                condition=status,
                latency_ms=latency_ms,
                detail="",
            )
        )


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
