"""Property tests for the alert payload model: it agrees with the OpenAPI document on every input.

The model (pydantic, what the server runs) and the document (JSON Schema, what clients and
schemathesis read) are written separately; hypothesis looks for an alert one accepts and the
other refuses. It also checks the strict JSON loader and the Alertmanager scrub.
"""

from __future__ import annotations

import json
from importlib import resources

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from raxx_console.alerts.ingest import AlertIn
from raxx_console.validation import MAX_JSON_DEPTH, REPLACEMENT, JsonBodyError, loads_strict, scrub_controls

DOCUMENT = json.loads(resources.files("raxx_console.alerts").joinpath("openapi.json").read_text())
ALERT_SCHEMA = jsonschema_rs.Draft202012Validator(DOCUMENT["components"]["schemas"]["AlertIn"])

#: Characters that matter here: controls (C0, DEL, C1), white space of all kinds, and the rest.
interesting = st.sampled_from(
    [
        "\x00",
        "\x07",
        "\t",
        "\n",
        "\r",
        "\x0b",
        "\x1f",
        "\x7f",
        "\x85",
        "\x9f",
        " ",
        "\u00a0",
        "\u2028",
        "\u3000",
    ]
)
text = st.one_of(
    st.text(st.one_of(interesting, st.characters(codec="utf-8")), max_size=12),
    st.text(max_size=300),
    st.integers(),
    st.none(),
)
alerts = st.fixed_dictionaries(
    {
        "source": st.one_of(st.sampled_from(["ci", "status_poller", "a.b-c_d"]), text),
        "check": st.one_of(st.just("disk-full:db-1"), text),
        "severity": st.sampled_from(["P1", "P2", "P3", "P4", "p1", 1]),
        "title": st.one_of(st.just("db-1 disk full"), text),
    },
    optional={
        "summary": text,
        "labels": st.one_of(
            st.dictionaries(
                st.one_of(st.just("surface_id"), text.filter(lambda t: isinstance(t, str))),
                st.one_of(text, st.text(min_size=95, max_size=105)),
                max_size=3,
            ),
            text,
        ),
        "status": st.sampled_from(["firing", "resolved", "FIRING", None]),
        "extra": text,
    },
)


def _model_accepts(alert: dict) -> bool:
    try:
        AlertIn.model_validate(alert)
    except ValidationError:
        return False
    return True


@settings(max_examples=400, derandomize=True, deadline=None)
@given(alerts)
def test_the_model_and_the_document_agree_on_every_alert(alert):
    assert _model_accepts(alert) == ALERT_SCHEMA.is_valid(alert), alert


@settings(max_examples=200, derandomize=True, deadline=None)
@given(alerts)
def test_an_accepted_alert_has_no_control_character_where_one_line_is_meant(alert):
    if not _model_accepts(alert):
        return
    parsed = AlertIn.model_validate(alert)
    one_line = [parsed.source, parsed.check, parsed.title, *parsed.labels, *parsed.labels.values()]
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for value in one_line for ch in value)
    assert parsed.title.strip() == parsed.title and parsed.title


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(json_values)
def test_the_strict_loader_reads_what_json_writes(value):
    assert loads_strict(json.dumps(value)) == value


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.integers(min_value=1, max_value=3 * MAX_JSON_DEPTH), st.sampled_from(["[]", "{}"]))
def test_the_strict_loader_refuses_exactly_what_is_too_deep(depth, brackets):
    if brackets == "[]":
        body = "[" * depth + "]" * depth
    else:
        body = '{"k":' * (depth - 1) + "{}" + "}" * (depth - 1)
    try:
        loads_strict(body)
    except JsonBodyError:
        assert depth > MAX_JSON_DEPTH
    else:
        assert depth <= MAX_JSON_DEPTH


@settings(max_examples=300, derandomize=True, deadline=None)
@given(json_values)
def test_scrubbing_removes_every_control_and_reports_exactly_what_changed(value):
    cleaned, changed = scrub_controls(value)
    controls = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\t", "\n", "\r"}
    assert not _has_control(cleaned, controls)
    assert bool(changed) == (cleaned != value)
    assert scrub_controls(cleaned) == (cleaned, [])
    if changed:
        assert REPLACEMENT in json.dumps(cleaned, ensure_ascii=False)


def _has_control(value, controls) -> bool:
    if isinstance(value, str):
        return any(ch in controls for ch in value)
    if isinstance(value, list):
        return any(_has_control(v, controls) for v in value)
    if isinstance(value, dict):
        return any(_has_control(k, controls) or _has_control(v, controls) for k, v in value.items())
    return False
