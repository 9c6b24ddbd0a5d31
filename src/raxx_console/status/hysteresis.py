"""Hysteresis for the status_poller: when a surface's alert fires, escalates and resolves.

A pure, clock-free state machine, so the poller can persist the state per surface (JSON via
``to_dict``/``from_dict``) and any worker can take over between polls.

* **fire** after ``fail_threshold`` consecutive non-operational results (down, degraded or
  slow), with the severity and condition of the result that completed the streak;
* **resolve** after ``resolve_threshold`` consecutive operational results while firing;
* **severity_change** while firing, once a different severity has held for
  ``fail_threshold`` consecutive results (the same evidence a fresh fire needs, so one odd
  probe neither escalates nor de-escalates a page);
* a surface that was not probed (``unknown``: no health URL) counts as neither a failure nor a
  success: it leaves the counters and the alert as they were.

Thresholds are read from the surface at each step, so a changed surfaces file applies on the
next poll.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from raxx_console.status.probe import CONDITIONS, TILE_STATUS, ProbeResult
from raxx_console.status.surfaces import SEVERITIES, Surface

Transition = Literal["fire", "severity_change", "resolve"]
STATE_VERSION = 1


@dataclass(frozen=True)
class HysteresisState:
    """One surface's alert state between polls. ``status`` is the last tile status seen."""

    status: str = "unknown"
    firing: bool = False
    condition: str | None = None
    severity: str | None = None
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    pending_severity: str | None = None
    pending_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; carries a version so a later shape can read today's rows."""
        return {"v": STATE_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> HysteresisState:
        """Rebuild a stored state; ``None``/``{}`` is the initial state. Raises ValueError."""
        if not data:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("hysteresis state must be an object")
        version = data.get("v", STATE_VERSION)
        if version != STATE_VERSION:
            raise ValueError(f"unsupported hysteresis state version {version!r}")
        fields = {k: v for k, v in data.items() if k != "v"}
        unknown = set(fields) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown hysteresis state field(s): {', '.join(sorted(unknown))}")
        state = cls(**fields)
        state._validate()
        return state

    def _validate(self) -> None:
        if self.status not in set(TILE_STATUS.values()):
            raise ValueError(f"bad status {self.status!r}")
        for name in ("consecutive_failures", "consecutive_successes", "pending_count"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        if not isinstance(self.firing, bool):
            raise ValueError("firing must be a boolean")
        if self.firing and (self.severity not in SEVERITIES or self.condition not in CONDITIONS):
            raise ValueError("a firing state needs a severity and a condition")
        if not self.firing and (self.severity is not None or self.condition is not None):
            raise ValueError("a quiet state has no severity or condition")
        if self.pending_severity is not None and self.pending_severity not in SEVERITIES:
            raise ValueError(f"bad pending_severity {self.pending_severity!r}")


def step(
    state: HysteresisState, result: ProbeResult, surface: Surface
) -> tuple[HysteresisState, Transition | None]:
    """Fold one probe result into the state; return the new state and what happened."""
    if not result.probed:
        return replace(state, status=result.status), None

    if result.ok:
        successes = state.consecutive_successes + 1
        quiet = replace(
            state,
            status=result.status,
            consecutive_failures=0,
            consecutive_successes=successes,
            pending_severity=None,
            pending_count=0,
        )
        if state.firing and successes >= surface.resolve_threshold:
            return replace(quiet, firing=False, condition=None, severity=None), "resolve"
        return quiet, None

    failures = state.consecutive_failures + 1
    failing = replace(state, status=result.status, consecutive_failures=failures, consecutive_successes=0)
    if not state.firing:
        if failures >= surface.fail_threshold:
            fired = replace(failing, firing=True, condition=result.condition)
            fired = replace(fired, severity=result.severity, pending_severity=None, pending_count=0)
            return fired, "fire"
        return failing, None

    if result.severity == state.severity:
        # same page; the condition may move (down → degraded both mapped to P1, say)
        return replace(failing, condition=result.condition, pending_severity=None, pending_count=0), None
    pending = state.pending_count + 1 if result.severity == state.pending_severity else 1
    if pending >= surface.fail_threshold:
        changed = replace(failing, severity=result.severity, condition=result.condition)
        return replace(changed, pending_severity=None, pending_count=0), "severity_change"
    return replace(failing, pending_severity=result.severity, pending_count=pending), None
