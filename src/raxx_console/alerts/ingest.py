"""External alerts: ``POST /api/alerts`` (our JSON) and ``POST /api/alerts/alertmanager`` (webhook v4).

Both need a bearer token of an operator (Alertmanager: ``http_config.authorization``). The whole
body is validated before anything is emitted, and a bad one is refused with a 4xx that names the
field and the alert's index — 400 for a body that is not JSON, 413 over ``MAX_CONTENT_LENGTH``,
422 for a field — with nothing stored.

Each body is validated whole (pydantic models), then becomes ``AlertSignal``s stored by
``alert_aggregator.emit_batch`` in **one transaction** with a few statements whatever its size:
all of it is recorded, or (a database error) none of it, so a client that retries after a
failure never leaves half a batch behind, and nothing is acknowledged before it is committed.
Rows are locked in ``alert_id`` order, so two batches sharing alerts cannot deadlock; two
entries for the same alert keep their order.

The OpenAPI 3.1 document of the JSON API is served at ``/api/openapi.json``.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from sqlalchemy.orm import Session

from raxx_console.alerts import alert_aggregator
from raxx_console.alerts.emission import AlertSignal, Decision
from raxx_console.alerts.store import find_alert, record_decision
from raxx_console.auth.access import require_role
from raxx_console.auth.models import Role
from raxx_console.context import Console, console, db_session
from raxx_console.errors import ApiError
from raxx_console.middleware.input_guard import request_json
from raxx_console.validation import FREE_TEXT, LINE, NONBLANK, NONBLANK_LINE, Timestamp, scrub_controls

bp = Blueprint("alerts", __name__)

MAX_ALERTS = 1000
MAX_ERRORS_SHOWN = 50
ALERTMANAGER_SOURCE = "alertmanager"
#: The decision-log entry (hook ``ingest``) for an Alertmanager alert whose control characters were replaced.
SCRUBBED = "control_chars_replaced"

Source = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=255), NONBLANK_LINE]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=100), LINE]
LabelValue = Annotated[str, StringConstraints(max_length=1000), LINE]
#: ``surface_id`` links an alert to a status tile; it is stored in a column of this width.
SURFACE_ID_MAX = 100


def _surface_id_fits(labels: dict[str, str]) -> dict[str, str]:
    if len(labels.get("surface_id", "")) > SURFACE_ID_MAX:
        raise ValueError(f"labels.surface_id: at most {SURFACE_ID_MAX} characters")
    return labels


Labels = Annotated[dict[LabelName, LabelValue], Field(max_length=64), AfterValidator(_surface_id_fits)]
# Alertmanager's text has had its control characters replaced before validation (scrub_controls).
AmLabelName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
AmLabels = Annotated[
    dict[AmLabelName, Annotated[str, StringConstraints(max_length=1000)]],
    Field(max_length=64),
    AfterValidator(_surface_id_fits),
]
Annotations = Annotated[
    dict[AmLabelName, Annotated[str, StringConstraints(max_length=10_000)]], Field(max_length=64)
]
AmText = Annotated[str, StringConstraints(min_length=1, max_length=255), NONBLANK]


class AlertIn(BaseModel):
    """One alert of ``POST /api/alerts``. Strict: ``"labels": {"port": 80}`` is refused, not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)

    source: Source
    check: Text
    severity: Literal["P1", "P2", "P3"]
    title: Text
    summary: Annotated[str, StringConstraints(max_length=10_000), FREE_TEXT] = ""
    labels: Labels = Field(default_factory=dict)
    status: Literal["firing", "resolved"] = "firing"


class AlertmanagerAlert(BaseModel):
    """One entry of an Alertmanager webhook's ``alerts``; fields we do not use are allowed."""

    model_config = ConfigDict(extra="allow", strict=True)

    status: Literal["firing", "resolved"]
    labels: AmLabels
    annotations: Annotations = Field(default_factory=dict)
    startsAt: Timestamp | None = None  # Alertmanager's field names
    endsAt: Timestamp | None = None
    generatorURL: str | None = None
    fingerprint: AmText


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    version: Literal["4"]
    receiver: str = ""
    status: str = ""
    groupKey: str = ""  # Alertmanager's field names; typed as documented, otherwise unused
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Any]


def _field_error(loc: tuple[Any, ...], message: str, index: int | None) -> dict[str, Any]:
    path = ".".join(str(part) for part in loc if part != "")
    return {"index": index, "field": path or "(alert)", "message": message}


def _field_errors(exc: ValidationError, prefix: str, index: int | None) -> list[dict[str, Any]]:
    return [
        _field_error((prefix, *error["loc"]), error["msg"], index)
        for error in exc.errors(include_input=False, include_url=False)
    ]


def _refuse(errors: list[dict[str, Any]]) -> ApiError:
    first = errors[0]
    where = f"alert {first['index']}: " if first["index"] is not None else ""
    message = f"{where}{first['field']}: {first['message']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return ApiError(422, "invalid_alert", message, errors=errors[:MAX_ERRORS_SHOWN])


def _items(body: Any, field: str) -> list[Any]:
    items = body if isinstance(body, list) else [body]
    if not items:
        raise ApiError(422, "invalid_alert", f"{field}: at least one alert is needed", field=field)
    if len(items) > MAX_ALERTS:
        raise ApiError(
            422,
            "too_many_alerts",
            f"{field}: at most {MAX_ALERTS} alerts per request (got {len(items)}); split the batch",
            field=field,
        )
    return items


#: Each model's list validator: a batch is validated in one call, not one per alert.
_BATCHES: dict[type[BaseModel], TypeAdapter[list[Any]]] = {
    AlertIn: TypeAdapter(list[AlertIn]),
    AlertmanagerAlert: TypeAdapter(list[AlertmanagerAlert]),
}


def _validate(items: list[Any], model: type[BaseModel], prefix: str, indexed: bool) -> list[Any]:
    """Every item validated as ``model`` in one call; all their errors refused together."""
    try:
        return _BATCHES[model].validate_python(items)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_input=False, include_url=False):
            index, loc = int(error["loc"][0]), error["loc"][1:]  # the item's place in the list first
            where = f"{prefix}.{index}" if prefix else ""
            errors.append(_field_error((where, *loc), error["msg"], index if indexed else None))
        raise _refuse(errors) from None


def emit_all(
    ctx: Console,
    alerts: list[AlertSignal],
    scrubbed: list[list[str]] | None = None,
    *,
    session: Session | None = None,
) -> list[alert_aggregator.EmitResult]:
    """Store a validated batch in one transaction (``emit_batch``: a few statements whatever its
    size) and commit it; the results in request order. ``scrubbed``: per alert, the fields whose
    control characters were replaced (Alertmanager), noted in its decision log.

    ``session``: the request's (it read the bearer token), so a request holds one connection,
    not two; committed here, rolled back at teardown if anything failed. Else a session of its own.
    """
    if session is None:
        with ctx.db.session() as own:
            return emit_all(ctx, alerts, scrubbed, session=own)
    results = alert_aggregator.emit_batch(ctx, session, alerts)
    if scrubbed:
        _record_scrubbed(ctx, session, scrubbed, results)
    session.commit()
    return results


def _record_scrubbed(
    ctx: Console, session: Session, scrubbed: list[list[str]], emitted: list[alert_aggregator.EmitResult]
) -> None:
    """Note in each alert's decision log which fields had control characters replaced."""
    for paths, result in zip(scrubbed, emitted, strict=True):
        row = find_alert(session, result.alert_key) if paths else None
        if row is None:
            continue
        reason = "control characters replaced by U+FFFD in " + ", ".join(paths)
        record_decision(
            session,
            ctx.clock.now(),
            row,
            "ingest",
            result.event or "resolve",
            Decision(SCRUBBED, reason[:2000]),
        )


def _answer(results: list[alert_aggregator.EmitResult]) -> Response:
    return jsonify(
        {"accepted": len(results), "alerts": [{"index": i, **r.to_json()} for i, r in enumerate(results)]}
    )


@bp.post("/api/alerts")
@require_role(Role.operator)
def ingest() -> Response:
    """One alert object, or an array of up to 1,000."""
    body = request_json()
    items = _items(body, "(body)")
    parsed: list[AlertIn] = _validate(items, AlertIn, "", indexed=isinstance(body, list))
    alerts = [
        AlertSignal(a.source, a.check, a.severity, a.title, a.summary, a.labels, a.status) for a in parsed
    ]
    return _answer(emit_all(console(), alerts, session=db_session()))


@bp.post("/api/alerts/alertmanager")
@require_role(Role.operator)
def alertmanager() -> Response:
    """Alertmanager's webhook (payload version 4): the fingerprint is the alert's identity."""
    body, scrubbed = scrub_controls(request_json())
    if not isinstance(body, dict):
        raise ApiError(
            422, "invalid_alert", "(body): expected an Alertmanager webhook object", field="(body)"
        )
    try:
        payload = AlertmanagerPayload.model_validate(body)
    except ValidationError as exc:
        raise _refuse(_field_errors(exc, "", None)) from None
    items = _items(payload.alerts, "alerts")
    parsed: list[AlertmanagerAlert] = _validate(items, AlertmanagerAlert, "alerts", indexed=True)
    severities = console().settings.ALERTMANAGER_SEVERITY_MAP
    alerts = [_from_alertmanager(a, severities) for a in parsed]
    per_alert = [_scrubbed_in(scrubbed, index) for index in range(len(parsed))]
    return _answer(emit_all(console(), alerts, per_alert, session=db_session()))


def _scrubbed_in(scrubbed: list[str], index: int) -> list[str]:
    """The scrubbed paths inside ``alerts.<index>``, relative to it (a payload-level path counts for all)."""
    prefix = f"alerts.{index}."
    return [p.removeprefix(prefix) for p in scrubbed if p.startswith(prefix) or not p.startswith("alerts.")]


def _from_alertmanager(alert: AlertmanagerAlert, severities: dict[str, str]) -> AlertSignal:
    labels, notes = dict(alert.labels), alert.annotations
    title = notes.get("summary") or labels.get("alertname") or alert.fingerprint
    details = [notes.get("description", ""), f"started {alert.startsAt}" if alert.startsAt else ""]
    if alert.status == "resolved" and alert.endsAt:
        details.append(f"ended {alert.endsAt}")
    if alert.generatorURL:
        details.append(alert.generatorURL)
    return AlertSignal(
        source=ALERTMANAGER_SOURCE,
        check=alert.fingerprint,
        severity=severities.get(labels.get("severity", "").lower(), "P3"),
        title=title[:255],
        details="\n".join(part for part in details if part),
        labels=labels,
        status=alert.status,
    )


@bp.get("/api/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of the console's JSON API (no secrets in it, so no login needed)."""
    return Response(openapi_text(), mimetype="application/json")


def openapi_text() -> str:
    return resources.files("raxx_console.alerts").joinpath("openapi.json").read_text()
