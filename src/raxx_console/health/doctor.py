"""``doctor``: the incident runbook's diagnostic chain (failure mode 2, Step 0 → 5), run live.

Each step answers ok / warn / FAIL with the runbook's own remedy, so an operator holding the
runbook reads the same words in both. Steps 1, 1.5, 2 and 4 call FreeScout and Slack the way the
runbook's curl probes do (an authenticated ``GET /api/conversations?page=1&pageSize=1`` through
the Access gate; the mailbox list, since FreeScout has no ``GET /api/mailboxes/{id}``; Slack's
``auth.test``); the rest read the same snapshot as the health panel. The probes use their own
clients with a single attempt: a doctor reports the first answer rather than retrying it away.

Only env var *names*, reasons, HTTP status codes and mailbox names are ever put in a result —
never a value from the environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from raxx_console.clock import ago
from raxx_console.config import ConsoleEnv, Settings
from raxx_console.context import Console
from raxx_console.health import panel
from raxx_console.health.prereqs import deploy_prereqs_missing
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_config import FreeScoutConfig
from raxx_console.integrations.freescout_outcomes import Mailbox, Outcome, Reason
from raxx_console.integrations.registry import peer_link
from raxx_console.integrations.slack import SlackNotifier

Verdict = Literal["ok", "warn", "FAIL"]

# The runbook's remedies, in its words (incident runbook, failure mode 2 unless named).
REMEDY_STEP_0 = (
    "Set them from vault (never echo secret values): "
    "heroku config:set VAR=value --app raxx-console-prod >/dev/null 2>&1"
)
REMEDY_STEP_1 = (
    "A 401 means the key is invalid or revoked — rotate it per docs/ops/runbooks/rotation/ and redeploy. "
    "If empty, retrieve FREESCOUT_API_KEY from Infisical and set it (silenced)."
)
REMEDY_STEP_1_5 = (
    "302/403 → CF Access is blocking (wrong service token or policy missing). Set "
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID and CF_ACCESS_SVC_TICKETS_CLIENT_SECRET from vault (never echo) "
    "and check the service token against CF Access app ca6fd315."
)
REMEDY_STEP_2 = (
    "A 404 means the mailbox was deleted or the ID is wrong — re-run the provisioning SOP "
    "(docs/ops/runbooks/freescout-operations-mailbox-provisioning.md)."
)
REMEDY_STEP_3 = (
    "The emit hook for FreeScout ticketing was not registered or was lost in a deploy. This requires a "
    "code-level investigation — escalate to the feature developer."
)
REMEDY_STEP_4 = (
    "If Slack DMs are also not firing, the alert pipeline itself is broken, not just the ticketing hook "
    "(see docs/ops/runbooks/console-status-poller.md). Check SLACK_BOT_TOKEN and SLACK_ALERT_DM_USER_IDS."
)
REMEDY_STEP_5 = (
    "These indicate either a FreeScout outage (failure mode 4: see docs/ops/runbooks/freescout.md) "
    "or an API authentication issue (Steps 1 and 1.5)."
)
REMEDY_FLAGS = "Turn the flag on at /console/flags once Step 0 is complete (rollout runbook)."
REMEDY_WORKER = "Start (or restart) the worker: `raxx-console worker` (Heroku: heroku ps:scale worker=1)."
REMEDY_PEER = (
    "Set CONSOLE_PEER_URLS, and CONSOLE_PEER_TOKEN to a token the other console issued with "
    "`raxx-console token create --service NAME`; a 401/403 means that token was revoked or the "
    "CF_ACCESS_SVC_CONSOLE_CLIENT_ID/SECRET pair is wrong."
)
REMEDY_FM4 = (
    "Failure mode 4: tickets wait in the outbox and are delivered once FreeScout answers; "
    "see docs/ops/runbooks/freescout.md."
)


@dataclass(frozen=True)
class CheckResult:
    step: str
    title: str
    verdict: Verdict
    summary: str
    remedy: str = ""
    #: The machine-readable reason, e.g. ``cf_access_denied``.
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _ok(step: str, title: str, summary: str) -> CheckResult:
    return CheckResult(step, title, "ok", summary)


@dataclass(frozen=True)
class FreeScoutProbe:
    """What the live FreeScout calls answered: the gate + key probe, then the mailbox list."""

    config: FreeScoutConfig
    probe: Outcome[Any]
    mailboxes: Outcome[tuple[Mailbox, ...]] | None


def probe_freescout(settings: Settings) -> FreeScoutProbe:
    """The runbook's Step 1.5 probe, and (when it passes) the mailbox list for Step 2."""
    config = FreeScoutConfig.from_settings(settings)
    with FreeScoutClient(config, get_attempts=1) as client:
        probe = client.list_conversations(page=1, page_size=1)
        mailboxes = client.list_mailboxes() if probe.ok else None
    return FreeScoutProbe(config, probe, mailboxes)


def _http(outcome: Outcome[Any]) -> str:
    return f", HTTP {outcome.status_code}" if outcome.status_code is not None else ""


def _why(outcome: Outcome[Any]) -> str:
    detail = f": {outcome.detail}" if outcome.detail else ""
    return f"{outcome.reason}{_http(outcome)}{detail}"


# --------------------------------------------------------------------------- the steps


def step_0(snapshot: panel.Snapshot) -> CheckResult:
    title = "Prerequisite env vars are set"
    if snapshot.prereqs_missing:
        return CheckResult(
            "Step 0",
            title,
            "FAIL",
            "Missing: " + ", ".join(snapshot.prereqs_missing),
            REMEDY_STEP_0,
            reason="freescout_not_configured",
        )
    return _ok("Step 0", title, "All ticketing prerequisites are set (names checked, values never shown).")


def step_1(fs: FreeScoutProbe) -> CheckResult:
    title = "FREESCOUT_API_KEY is set and valid"
    reason = fs.probe.reason
    if not fs.config.api_key:
        return CheckResult(
            "Step 1", title, "FAIL", "FREESCOUT_API_KEY is not set.", REMEDY_STEP_1, str(reason)
        )
    if reason is None:
        return _ok("Step 1", title, "FreeScout accepted the API key (GET /api/conversations answered 200).")
    if reason is Reason.NOT_CONFIGURED:
        missing = ", ".join(fs.probe.missing)
        return CheckResult("Step 1", title, "warn", f"Not checked: no call is made while {missing} is unset.")
    if reason is Reason.CF_ACCESS_DENIED:
        return CheckResult(
            "Step 1",
            title,
            "warn",
            "Not checked: Cloudflare Access refused the call before FreeScout saw the key.",
        )
    if reason is Reason.UNAVAILABLE:
        return CheckResult(
            "Step 1",
            title,
            "FAIL",
            f"FreeScout could not be reached ({_why(fs.probe)}).",
            REMEDY_FM4,
            str(reason),
        )
    return CheckResult(
        "Step 1", title, "FAIL", f"FreeScout refused the call ({_why(fs.probe)}).", REMEDY_STEP_1, str(reason)
    )


def step_1_5(fs: FreeScoutProbe) -> CheckResult:
    title = "CF Access service-token headers are set and accepted"
    if not fs.config.cf_access_required:
        return _ok("Step 1.5", title, "Not required here: FREESCOUT_CF_ACCESS_REQUIRED=0 (no Access gate).")
    missing = [n for n in fs.config.missing_for_api() if n.startswith("CF_ACCESS_")]
    if missing:
        return CheckResult(
            "Step 1.5",
            title,
            "FAIL",
            "Missing: " + ", ".join(missing),
            REMEDY_STEP_1_5,
            "freescout_not_configured",
        )
    reason = fs.probe.reason
    if reason is Reason.CF_ACCESS_DENIED:
        return CheckResult(
            "Step 1.5",
            title,
            "FAIL",
            f"Cloudflare Access refused the service token ({_why(fs.probe)}).",
            REMEDY_STEP_1_5,
            str(reason),
        )
    if reason in (None, Reason.AUTH_ERROR, Reason.REJECTED, Reason.NOT_FOUND):
        return _ok("Step 1.5", title, "The Access gate let the call through: FreeScout itself answered.")
    return CheckResult(
        "Step 1.5", title, "warn", f"Not checked: the probe did not get an answer ({_why(fs.probe)})."
    )


def step_2(settings: Settings, fs: FreeScoutProbe) -> CheckResult:
    title = "FREESCOUT_OPERATIONS_MAILBOX_ID is set and exists"
    mailbox_id = settings.FREESCOUT_OPERATIONS_MAILBOX_ID
    if mailbox_id is None:
        return CheckResult(
            "Step 2",
            title,
            "FAIL",
            "FREESCOUT_OPERATIONS_MAILBOX_ID is not set.",
            REMEDY_STEP_2,
            "mailbox_not_found",
        )
    if fs.mailboxes is None:
        return CheckResult(
            "Step 2", title, "warn", "Not checked: FreeScout did not accept the API call (Step 1)."
        )
    if not fs.mailboxes.ok or fs.mailboxes.value is None:
        return CheckResult(
            "Step 2",
            title,
            "FAIL",
            f"The mailbox list failed ({_why(fs.mailboxes)}).",
            REMEDY_STEP_2,
            str(fs.mailboxes.reason),
        )
    found = next((m for m in fs.mailboxes.value if m.id == mailbox_id), None)
    if found is None:
        known = ", ".join(f"{m.id} ({m.name})" for m in fs.mailboxes.value) or "none"
        return CheckResult(
            "Step 2",
            title,
            "FAIL",
            f"Mailbox {mailbox_id} is not in FreeScout's mailbox list (the key sees: {known}).",
            REMEDY_STEP_2,
            "mailbox_not_found",
        )
    return _ok("Step 2", title, f"Mailbox {mailbox_id} ({found.name}) is in FreeScout's mailbox list.")


def step_3(snapshot: panel.Snapshot) -> CheckResult:
    title = "The alert_aggregator emit hooks are registered"
    names = [hook["name"] for hook in snapshot.hooks]
    missing = [name for name in (panel.SLACK_HOOK, panel.TICKET_HOOK) if name not in names]
    listed = ", ".join(names) or "none"
    if missing:
        return CheckResult(
            "Step 3",
            title,
            "FAIL",
            f"Not registered: {', '.join(missing)} (registered: {listed}).",
            REMEDY_STEP_3,
            "hook_missing",
        )
    return _ok("Step 3", title, f"Registered, in order: {listed}.")


def step_4(settings: Settings) -> CheckResult:
    title = "Slack DMs can be sent"
    notifier = SlackNotifier.from_settings(settings)
    missing = notifier.missing()
    if "SLACK_BOT_TOKEN" in missing:
        return CheckResult(
            "Step 4", title, "FAIL", "SLACK_BOT_TOKEN is not set.", REMEDY_STEP_4, "slack_not_configured"
        )
    outcome = notifier.auth_test()
    if not outcome.ok:
        return CheckResult(
            "Step 4",
            title,
            "FAIL",
            f"Slack auth.test failed ({outcome.reason}: {outcome.error}).",
            REMEDY_STEP_4,
            outcome.reason,
        )
    who = f"{outcome.data.get('user') or outcome.data.get('user_id')} in {outcome.data.get('team')}"
    if missing:
        return CheckResult(
            "Step 4",
            title,
            "FAIL",
            f"auth.test ok as {who}, but SLACK_ALERT_DM_USER_IDS is empty: alert DMs go to nobody.",
            REMEDY_STEP_4,
            "slack_not_configured",
        )
    count = len(notifier.recipients)
    return _ok(
        "Step 4", title, f"auth.test ok as {who}; alert DMs go to {count} user{'s' if count != 1 else ''}."
    )


def step_5(snapshot: panel.Snapshot) -> CheckResult:
    """What failed recently: the panel's 24-hour failure history, recovered failures included."""
    title = "No recent FreeScout errors"
    now = snapshot.generated_at
    counts = ", ".join(
        f"{group.reason} x{group.count} (last {ago(now, group.last_at)}"
        + (", recovered)" if group.recovered else ")")
        for group in snapshot.failure_history
        if group.component == "freescout"
    )
    error = snapshot.last_errors.get("freescout")
    if error is not None and error.current:
        if error.at is None:
            return CheckResult(
                "Step 5",
                title,
                "warn",
                f"A {error.kind} item is retrying after {error.reason} (attempt {error.attempts}).",
                REMEDY_FM4,
                error.reason,
            )
        return CheckResult(
            "Step 5",
            title,
            "FAIL",
            f"Last FreeScout error: {error.reason} {ago(now, error.at)}, and none has succeeded since"
            + (f"; in the last 24 h: {counts}." if counts else "."),
            REMEDY_STEP_5,
            error.reason,
        )
    if counts:
        return CheckResult(
            "Step 5", title, "warn", f"In the last 24 h: {counts}; calls have succeeded since.", REMEDY_STEP_5
        )
    return _ok("Step 5", title, "No FreeScout call has failed in the last 24 h.")


def check_flags(snapshot: panel.Snapshot) -> CheckResult:
    title = "Ticketing flags"
    states = ", ".join(f"{f.name}={'on' if f.value else 'off'} ({f.source})" for f in snapshot.flags)
    invalid = [f.name for f in snapshot.flags if f.env_invalid]
    if invalid:
        return CheckResult(
            "Flags",
            title,
            "warn",
            f"{states}; malformed env value ignored for {', '.join(invalid)}.",
            REMEDY_FLAGS,
        )
    if not snapshot.ticketing_on:
        return CheckResult("Flags", title, "warn", f"{states}: no tickets are filed.", REMEDY_FLAGS)
    return _ok("Flags", title, states)


def check_outbox(snapshot: panel.Snapshot) -> CheckResult:
    title = "Outbox backlog"
    by_code = {problem.code: problem for problem in snapshot.problems}
    if "worker_not_delivering" in by_code:
        return CheckResult(
            "Outbox",
            title,
            "FAIL",
            by_code["worker_not_delivering"].message,
            REMEDY_WORKER,
            "worker_not_delivering",
        )
    if "tickets_waiting" in by_code:
        return CheckResult(
            "Outbox", title, "warn", by_code["tickets_waiting"].message, REMEDY_FM4, "tickets_waiting"
        )
    pending = snapshot.pending_total()
    return _ok("Outbox", title, f"{pending} item{'s' if pending != 1 else ''} pending; nothing is stuck.")


def check_poller(snapshot: panel.Snapshot) -> CheckResult:
    title = "status_poller leader and last cycle"
    beat = snapshot.heartbeats.get(panel.POLLER)
    if beat is None:
        return CheckResult(
            "Poller", title, "warn", "No poll cycle has run yet.", REMEDY_WORKER, "poller_never_ran"
        )
    stale = next((p for p in snapshot.problems if p.code == "poller_stale"), None)
    if stale is not None:
        return CheckResult("Poller", title, "FAIL", stale.message, REMEDY_WORKER, "poller_stale")
    assert beat.last_cycle_at is not None
    took = f" took {beat.last_cycle_seconds:.2f} s" if beat.last_cycle_seconds is not None else ""
    over = f" over {beat.detail['surfaces']} surfaces" if "surfaces" in beat.detail else ""
    return _ok(
        "Poller",
        title,
        f"Leader {beat.holder} since {beat.since:%H:%M} UTC; last cycle "
        f"{ago(snapshot.generated_at, beat.last_cycle_at)}{took}{over}.",
    )


def check_deploys(console: Console) -> CheckResult:
    """Deploys need GITHUB_TOKEN and GITHUB_REPOSITORY; a FAIL while the deploy UI is on."""
    title = "Deploy prerequisites (GitHub Actions)"
    missing = deploy_prereqs_missing(console.settings)
    if not missing:
        return _ok("Deploys", title, "GITHUB_TOKEN and GITHUB_REPOSITORY are set (values never shown).")
    if not console.flags.is_enabled("FLAG_CONSOLE_DEPLOY_UI"):
        return _ok(
            "Deploys", title, f"FLAG_CONSOLE_DEPLOY_UI is off; break-glass deploys need {', '.join(missing)}."
        )
    return CheckResult(
        "Deploys",
        title,
        "FAIL",
        f"{', '.join(missing)} not set: neither the tiles nor break-glass can dispatch.",
        "Set them in the app's config (a token with actions:write on the repository).",
        "github_not_configured",
    )


def check_peer(console: Console) -> CheckResult:
    """The link to the other console (flag promotions and console versions use it). A development
    console usually has no peer, so there an unset link is fine; staging and prod need one."""
    title = "Peer link to the other console"
    link = peer_link(console)
    if link.missing():
        missing = ", ".join(link.missing())
        if console.settings.CONSOLE_ENV is ConsoleEnv.development:
            return _ok(
                "Peer", title, f"Not configured ({missing} not set); a development console needs none."
            )
        return CheckResult(
            "Peer",
            title,
            "warn",
            f"Not configured ({missing} not set): flag promotions and console versions cannot reach it.",
            REMEDY_PEER,
            "peer_not_configured",
        )
    outcome, version = link.version()
    if version is None:
        summary = f"The {link.name} console at {link.base_url}: {outcome.reason}."
        return CheckResult("Peer", title, "FAIL", summary, REMEDY_PEER, f"peer_{outcome.status}")
    return _ok("Peer", title, f"The {link.name} console at {link.base_url} answered: {version.sha[:12]}.")


def run_checks(console: Console) -> list[CheckResult]:
    """Every step, in the runbook's order (Step 0 → 5), then flags, outbox, poller and the peer link."""
    with console.db.session() as session:
        snapshot = panel.collect(console, session)
    fs = probe_freescout(console.settings)
    return [
        step_0(snapshot),
        step_1(fs),
        step_1_5(fs),
        step_2(console.settings, fs),
        step_3(snapshot),
        step_4(console.settings),
        step_5(snapshot),
        check_flags(snapshot),
        check_outbox(snapshot),
        check_poller(snapshot),
        check_deploys(console),
        check_peer(console),
    ]


def exit_code(results: list[CheckResult]) -> int:
    """0 when nothing failed (warnings allowed), 1 when any step FAILed."""
    return 1 if any(result.failed for result in results) else 0
