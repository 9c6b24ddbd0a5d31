"""Steps the ticketing tests share: flags, a degraded surface, an Investigate click, the rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from raxx_console.context import Console
from raxx_console.flags.registry import AUTO_TICKET_FLAG, INVESTIGATE_FLAG, LINKED_TICKET_FLAG
from raxx_console.outbox.models import OutboxItem
from raxx_console.status import service as status_service
from raxx_console.tickets.models import Ticket
from tests.support.accounts import csrf_token
from tests.support.rows import detached_rows

__all__ = ["AUTO_TICKET_FLAG", "INVESTIGATE_FLAG", "LINKED_TICKET_FLAG"]

SURFACE = "api-prod"
OPERATOR = "operator@raxx.app"


def set_flag(console: Console, name: str, value: bool = True) -> None:
    console.flags.change(
        name, value, settings=console.settings, actor="test", env="development", confirm=True
    )


def set_status(console: Console, surface_id: str = SURFACE, status: str = "degraded") -> None:
    with console.db.session() as session:
        status_service.set_status(
            session, console.clock, console.surfaces, surface_id, status, actor="test", env="development"
        )


def grid_token(client: Any) -> str:
    return csrf_token(client, "/console/status")


def click(
    client: Any, surface_id: str = SURFACE, *, token: str | None = None, bearer: str | None = None
) -> Any:
    """The page's fetch (CSRF header) or an API client's call (bearer token)."""
    headers = {"Accept": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    elif token is not None:
        headers["X-CSRFToken"] = token
    return client.post(f"/console/status/investigate/{surface_id}", headers=headers)


def tickets(console: Console) -> list[Ticket]:
    return detached_rows(console, select(Ticket).order_by(Ticket.id))


def items(console: Console, kind: str | None = None) -> list[OutboxItem]:
    query = select(OutboxItem).order_by(OutboxItem.id)
    if kind is not None:
        query = query.where(OutboxItem.kind == kind)
    return detached_rows(console, query)


def tile_json(client: Any, surface_id: str = SURFACE) -> dict[str, Any]:
    surfaces = client.get("/console/status.json").get_json()["surfaces"]
    return next(s for s in surfaces if s["surface_id"] == surface_id)
