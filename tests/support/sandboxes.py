"""The FreeScout, Slack and demo-surface sandboxes over real HTTP, as the fixtures hand them out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

SANDBOX_API_KEY = "sandbox-test-api-key-7c1d0e"


SANDBOX_CF_ID = "sandbox-test-cf-id-41f2.access"


SANDBOX_CF_SECRET = "sandbox-test-cf-secret-93ab5d"


SANDBOX_OPERATIONS_MAILBOX_ID = 2


SANDBOX_BOT_USER_ID = 1


class FreeScoutSandbox:
    """The FreeScout sandbox over real HTTP, behind its Cloudflare Access gate.

    Unpacks as ``(url, api_key, cf_id, cf_secret)``; ``settings()`` wires a console to it, and the
    helpers drive its controls (faults, request log) or read its store.
    """

    def __init__(self, url: str, state: Any) -> None:
        self.url, self.state = url, state
        self.api_key, self.cf_id, self.cf_secret = SANDBOX_API_KEY, SANDBOX_CF_ID, SANDBOX_CF_SECRET

    def __iter__(self) -> Iterator[str]:
        return iter((self.url, self.api_key, self.cf_id, self.cf_secret))

    def settings(self) -> dict[str, Any]:
        return {
            "FREESCOUT_API_URL": self.url,
            "FREESCOUT_INSTANCE_URL": self.url,
            "FREESCOUT_API_KEY": self.api_key,
            "CF_ACCESS_SVC_TICKETS_CLIENT_ID": self.cf_id,
            "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": self.cf_secret,
            "FREESCOUT_OPERATIONS_MAILBOX_ID": SANDBOX_OPERATIONS_MAILBOX_ID,
            "FREESCOUT_BOT_USER_ID": SANDBOX_BOT_USER_ID,
            "FREESCOUT_TIMEOUT_SECONDS": 5,
        }

    def faults(self, **payload: Any) -> None:
        """``mode`` (ok|down|error500|slow|timeout_after_create), ``latency_ms``, ``tags_module``."""
        import httpx

        httpx.post(f"{self.url}/_sandbox/faults", json=payload, timeout=5).raise_for_status()

    def requests(self, prefix: str = "/api/") -> list[dict[str, Any]]:
        import httpx

        entries = httpx.get(f"{self.url}/_sandbox/requests", timeout=5).json()["requests"]
        return [e for e in entries if e["path"].startswith(prefix)]

    def clear_requests(self) -> None:
        import httpx

        httpx.delete(f"{self.url}/_sandbox/requests", timeout=5).raise_for_status()

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the sandbox's FreeScout API, as an agent in FreeScout would make it."""
        import httpx

        headers = {
            "X-FreeScout-API-Key": self.api_key,
            "CF-Access-Client-Id": self.cf_id,
            "CF-Access-Client-Secret": self.cf_secret,
        }
        return httpx.request(method, f"{self.url}/api/{path}", headers=headers, timeout=5, **kwargs)

    def conversations(self) -> list[Any]:
        """Every conversation in the store, oldest first."""
        with self.state.lock:
            return sorted(self.state.conversations.values(), key=lambda c: c.id)


SLACK_SANDBOX_TOKEN = "xoxb-test-sandbox-token"


SLACK_DM_USERS = ("U0ONCALL1", "U0ONCALL2")


DEMO_SURFACE_IDS = ("api-prod", "web-prod")


CONSOLE_BASE_URL = "https://console.raxx.app"


class SlackSandboxServer:
    """The Slack sandbox over real HTTP; ``settings()`` points a console's DMs at it."""

    def __init__(self, url: str, app: Any) -> None:
        self.url, self.app = url, app

    def settings(self) -> dict[str, Any]:
        return {
            "SLACK_BOT_TOKEN": SLACK_SANDBOX_TOKEN,
            "SLACK_API_URL": f"{self.url}/api/",
            "SLACK_ALERT_DM_USER_IDS": ",".join(SLACK_DM_USERS),
        }

    def messages(self, user: str | None = None) -> list[dict[str, Any]]:
        return self.app.messages(user)

    def faults(self, mode: str, **kwargs: Any) -> None:
        """``ok``, ``down``, ``error500``, ``ratelimited`` (``retry_after``), ``slow``."""
        self.app.set_faults(mode, **kwargs)


def demo_surfaces_toml(
    health_urls: dict[str, str], *, fail_threshold: int = 2, resolve_threshold: int = 2
) -> str:
    """A ``SURFACES_FILE`` probing the demo surfaces, with quick thresholds and short timeouts."""
    lines = []
    for surface_id, url in health_urls.items():
        lines += [
            "[[surface]]",
            f'id = "{surface_id}"',
            f'name = "{surface_id} (demo)"',
            'workflow = "deploy-heroku.yml"',
            'target_env = "production"',
            f'app = "raxx-{surface_id}"',
            f'health_url = "{url}"',
            "timeout_seconds = 2",
            f"fail_threshold = {fail_threshold}",
            f"resolve_threshold = {resolve_threshold}",
            "",
        ]
    return "\n".join(lines)


class DemoSurfacesServer:
    """Demo health endpoints whose answer the test flips; ``settings()`` makes them the registry."""

    def __init__(self, url: str, app: Any, surfaces_file: Path) -> None:
        self.url, self.app, self.surfaces_file = url, app, surfaces_file

    def set(self, surface_id: str, status: str) -> None:
        """``operational``, ``degraded``, ``down`` or ``slow``."""
        self.app.set_status(surface_id, status)

    def settings(self) -> dict[str, Any]:
        return {"SURFACES_FILE": str(self.surfaces_file)}
