"""/console/customers and a customer's FreeScout tickets (entry C): read-only, viewer and up, not flag-gated.

When FreeScout can't be reached the page still renders (200) with a banner, and the JSON twin
answers 200 ``{"degraded": true, "reason": ...}`` as the runbooks promise.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request

from raxx_console.auth.access import require_role
from raxx_console.auth.models import Role
from raxx_console.clock import iso
from raxx_console.context import console, db_session
from raxx_console.customers import service
from raxx_console.customers.models import Customer
from raxx_console.integrations import registry

bp = Blueprint("customers", __name__)

LIST_LIMIT = 100


def _customer_or_404(customer_id: int) -> Customer:
    customer = service.get(db_session(), customer_id)
    if customer is None:
        abort(404, description=f"no customer with id {customer_id}")
    return customer


def _tickets(customer: Customer) -> service.CustomerTickets:
    ctx = console()
    return service.customer_tickets(registry.freescout(ctx), ctx.settings, ctx.clock, customer.email)


def _customer_json(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "email": customer.email, "name": customer.name}


@bp.get("/console/customers")
@require_role(Role.viewer)
def index() -> str:
    query = request.args.get("q", "")
    customers, total = service.search(db_session(), query, limit=LIST_LIMIT)
    return render_template("customers/index.html", customers=customers, total=total, query=query)


@bp.get("/console/customers/<int:customer_id>/tickets")
@require_role(Role.viewer)
def tickets(customer_id: int) -> str:
    customer = _customer_or_404(customer_id)
    return render_template(
        "customers/tickets.html",
        customer=customer,
        result=_tickets(customer),
        recent_days=service.RECENT_DAYS,
        instance_url=console().settings.FREESCOUT_INSTANCE_URL,
    )


@bp.get("/console/customers/<int:customer_id>/tickets.json")
@require_role(Role.viewer)
def tickets_json(customer_id: int) -> Response:
    customer = _customer_or_404(customer_id)
    result = _tickets(customer)
    body: dict[str, Any] = {"customer": _customer_json(customer)}
    if result.degraded is not None:
        body.update(result.degraded.to_json(), available=result.available)
        return jsonify(body)
    body.update(
        degraded=False,
        available=True,
        mailbox_id=result.mailbox_id,
        recent_since=iso(result.since),
        truncated=result.truncated,
        open=[row.to_json() for row in result.open],
        recent=[row.to_json() for row in result.recent],
    )
    return jsonify(body)
