"""The surfaces registry: what the status grid shows, the poller probes and deploys target.

Loaded from a TOML file (``SURFACES_FILE``; the packaged default lists the six surfaces of
the cockpit runbook §4). Each entry carries its ``SURFACE_WORKFLOW_MAP`` fields (workflow,
target_env, app) beside what the poller needs to probe it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

#: What a tile can show.
STATUSES = ("operational", "degraded", "down", "unknown")
SEVERITIES = ("P1", "P2", "P3")
DEFAULT_SEVERITY = {"down": "P1", "degraded": "P2", "slow": "P3"}


class SurfacesFileError(ValueError):
    """The surfaces file is unusable; the message names the entry and field."""


@dataclass(frozen=True)
class Surface:
    id: str
    name: str
    workflow: str
    target_env: str
    app: str
    health_url: str | None = None
    expected_status: int = 200
    timeout_seconds: float = 5.0
    latency_budget_ms: int = 1000
    fail_threshold: int = 3
    resolve_threshold: int = 2
    severity: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    #: Extra ``workflow_dispatch`` inputs beside ``environment`` and ``ref`` (a shared workflow's ``site``).
    dispatch_inputs: dict[str, str] = field(default_factory=dict)

    def severity_for(self, condition: str) -> str:
        """P1/P2/P3 for a probe condition: ``down``, ``degraded`` or ``slow``."""
        return self.severity.get(condition, DEFAULT_SEVERITY[condition])


@dataclass(frozen=True)
class SurfaceRegistry:
    surfaces: tuple[Surface, ...]

    def get(self, surface_id: str) -> Surface | None:
        return next((s for s in self.surfaces if s.id == surface_id), None)

    def __iter__(self) -> Iterator[Surface]:
        return iter(self.surfaces)

    def __len__(self) -> int:
        return len(self.surfaces)

    def with_health_urls(self, urls: dict[str, str]) -> SurfaceRegistry:
        """A copy whose probes point elsewhere (``serve --sandbox`` uses the demo surfaces)."""
        from dataclasses import replace

        return SurfaceRegistry(
            tuple(replace(s, health_url=urls.get(s.id, s.health_url)) for s in self.surfaces)
        )

    def workflow_map(self) -> dict[str, WorkflowBinding]:
        """This registry's ``SURFACE_WORKFLOW_MAP``: the only authority on where a deploy goes."""
        return {
            s.id: WorkflowBinding(s.workflow, s.target_env, s.app, dict(s.dispatch_inputs))
            for s in self.surfaces
        }


#: Dispatch inputs every deploy workflow declares; a surface's extras may not shadow them.
STANDARD_DISPATCH_INPUTS = ("environment", "ref")


@dataclass(frozen=True)
class WorkflowBinding:
    """One ``SURFACE_WORKFLOW_MAP`` entry: the workflow file, its target env, the app, extra inputs."""

    workflow: str
    target_env: str
    app: str
    inputs: dict[str, str] = field(default_factory=dict)

    def dispatch_inputs(self, ref: str) -> dict[str, str]:
        """Every input of a dispatch deploying ``ref``: ``environment``, ``ref`` and the extras."""
        return {"environment": self.target_env, "ref": ref, **self.inputs}


_INT_FIELDS = ("expected_status", "latency_budget_ms", "fail_threshold", "resolve_threshold")


def _surface(entry: dict[str, Any], index: int) -> Surface:
    where = f"surface #{index + 1}"
    for name in ("id", "name", "workflow", "target_env", "app"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise SurfacesFileError(f"{where}: '{name}' must be a non-empty string")
    where = f"surface '{entry['id']}'"
    for name in _INT_FIELDS:
        if name in entry and (not isinstance(entry[name], int) or entry[name] < 1):
            raise SurfacesFileError(f"{where}: '{name}' must be a positive integer")
    timeout = entry.get("timeout_seconds", 5.0)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise SurfacesFileError(f"{where}: 'timeout_seconds' must be a positive number")
    severity = dict(DEFAULT_SEVERITY)
    for condition, level in (entry.get("severity") or {}).items():
        if condition not in DEFAULT_SEVERITY or level not in SEVERITIES:
            raise SurfacesFileError(f"{where}: severity overrides map down|degraded|slow to P1|P2|P3")
        severity[condition] = level
    extras = entry.get("dispatch_inputs") or {}
    if (
        not isinstance(extras, dict)
        or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in extras.items())
        or set(extras) & set(STANDARD_DISPATCH_INPUTS)
    ):
        raise SurfacesFileError(
            f"{where}: 'dispatch_inputs' maps input names (not environment or ref) to non-empty strings"
        )
    known = {f.name for f in Surface.__dataclass_fields__.values()}
    unknown = set(entry) - known
    if unknown:
        raise SurfacesFileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return Surface(
        **{**entry, "timeout_seconds": float(timeout), "severity": severity, "dispatch_inputs": dict(extras)}
    )


def load_surfaces(path: str | Path | None = None) -> SurfaceRegistry:
    """Read the registry from ``path``, or the packaged default when it is None."""
    if path is None:
        text = resources.files("raxx_console").joinpath("surfaces.toml").read_text()
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise SurfacesFileError(f"cannot read surfaces file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SurfacesFileError(f"surfaces file is not valid TOML: {exc}") from None
    entries = data.get("surface")
    if not isinstance(entries, list) or not entries:
        raise SurfacesFileError("surfaces file needs at least one [[surface]] table")
    surfaces = tuple(_surface(entry, i) for i, entry in enumerate(entries))
    ids = [s.id for s in surfaces]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SurfacesFileError(f"duplicate surface id(s): {', '.join(duplicates)}")
    return SurfaceRegistry(surfaces)


#: The cockpit runbook §4's map, under the name it uses: surface_id → workflow, target_env, app and
#: extra inputs, from the packaged registry. A console built with ``SURFACES_FILE`` reads its own
#: registry's ``workflow_map()``; nothing else (no form field, no API parameter) picks a workflow or env.
SURFACE_WORKFLOW_MAP: dict[str, WorkflowBinding] = load_surfaces().workflow_map()
