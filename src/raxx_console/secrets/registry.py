"""The secrets the console knows: names, where they live, how old they may get — never values.

An explicit table, like the flags registry. A row's *mode* is a Mode A handler when
``secrets.handlers.HANDLERS`` has one for its name (and ``FLAG_CONSOLE_ROTATION_MODE_A`` is on);
otherwise it is rotated by hand following its ``sop``, and the rotation is recorded on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: The two console apps (cockpit runbook §1), by the env each one serves.
CONSOLE_APP_BY_ENV = {"staging": "raxx-console-staging", "production": "raxx-console-prod"}
CONSOLE_APPS = tuple(CONSOLE_APP_BY_ENV.values())

#: Where each console app's CONSOLE_PEER_TOKEN lives (under ``/<app>``).
PEER_TOKEN_VAULT_PATH = "/MooseQuest/console/peer"

#: How every manual SOP ends: the console's record, which the age and due date are counted from.
_RECORD = "Press “Record manual rotation” on this row, so the age and due date start again."


def _sop(vault_path: str, name: str, generate: str, *extra: str) -> tuple[str, ...]:
    """The manual steps every vault-backed secret shares, with its own ways to generate/revoke."""
    return (
        generate,
        f'Write it to the vault: infisical secrets set {name}="$NEW" --path {vault_path} --env prod'
        " >/dev/null 2>&1",
        *(
            f'Set it, silenced (heroku config:set echoes values): heroku config:set {name}="$NEW" -a {app}'
            " >/dev/null 2>&1"
            for app in CONSOLE_APPS
        ),
        *extra,
        "unset NEW",
        _RECORD,
    )


@dataclass(frozen=True)
class SecretSpec:
    name: str
    description: str
    vault_path: str
    max_age_days: int
    sop: tuple[str, ...]
    apps: tuple[str, ...] = CONSOLE_APPS
    #: Each app holds a value of its own, at ``<vault_path>/<app>``; a console rotates its own
    #: app's (``for_app``), never the other's.
    per_app: bool = False

    @property
    def vault_location(self) -> str:
        return f"{self.vault_path.rstrip('/')}/{'<app>/' if self.per_app else ''}{self.name}"

    def for_app(self, app: str) -> SecretSpec:
        """The one app's share of a ``per_app`` secret: what a rotation on that console touches."""
        return replace(self, apps=(app,), vault_path=f"{self.vault_path.rstrip('/')}/{app}", per_app=False)

    def shares(self) -> tuple[SecretSpec, ...]:
        """The specs that each hold one value: this one, or one per app for a ``per_app`` secret."""
        return tuple(self.for_app(app) for app in self.apps) if self.per_app else (self,)


SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec(
        "SECRET_KEY",
        "Signs the console's session cookies and CSRF tokens. Leaked once through a default "
        "heroku config:set echo; rotating it signs everyone out.",
        "/MooseQuest/console",
        90,
        _sop(
            "/MooseQuest/console",
            "SECRET_KEY",
            "Generate: NEW=$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
        ),
    ),
    SecretSpec(
        "FREESCOUT_API_KEY",
        "The FreeScout API key every ticket call sends (X-FreeScout-API-Key).",
        "/MooseQuest/freescout",
        180,
        _sop(
            "/MooseQuest/freescout",
            "FREESCOUT_API_KEY",
            "In FreeScout (Manage > API & Webhooks) generate a new API key; NEW=<the key> (read -s NEW)",
            "Check it: the health page's Run checks must pass Step 1 on both consoles.",
            "Delete the old key in FreeScout.",
        ),
    ),
    SecretSpec(
        "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET",
        "The Cloudflare Access service token's secret in front of FreeScout's /api.",
        "/MooseQuest/cloudflare",
        365,
        _sop(
            "/MooseQuest/cloudflare",
            "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET",
            "In Cloudflare Zero Trust > Service tokens, refresh the tickets token;"
            " NEW=<its secret> (read -s NEW)",
            "Check it: the health page's Run checks must pass Step 1 on both consoles.",
        ),
    ),
    SecretSpec(
        "SLACK_BOT_TOKEN",
        "The Slack bot token the alert DMs are sent with.",
        "/MooseQuest/slack",
        365,
        _sop(
            "/MooseQuest/slack",
            "SLACK_BOT_TOKEN",
            "In the Slack app's OAuth page, rotate the bot token; NEW=<the xoxb- token> (read -s NEW)",
            "Check it: the health page's Run checks must pass the Slack step on both consoles.",
        ),
    ),
    SecretSpec(
        "CONSOLE_PEER_TOKEN",
        "The service token each console calls the other's peer API with (issued by the other "
        "console). Each app holds its own; a console rotates its own and retires the old one at "
        "the peer.",
        PEER_TOKEN_VAULT_PATH,
        90,
        (
            "On the OTHER console issue the new token, read silently:"
            " NEW=$(heroku run -a <other app> raxx-console token create --service console-<this env>"
            " 2>/dev/null)",
            f'Write it to the vault: infisical secrets set CONSOLE_PEER_TOKEN="$NEW"'
            f" --path {PEER_TOKEN_VAULT_PATH}/<this app> --env prod >/dev/null 2>&1",
            'Set it, silenced (heroku config:set echoes values): heroku config:set CONSOLE_PEER_TOKEN="$NEW"'
            " -a <this app> >/dev/null 2>&1",
            "Check it: the health page's Run checks must pass the Peer step on this console.",
            "On the other console revoke the old token by the prefix its console.token.created audit"
            " row names: raxx-console token revoke <old prefix>",
            "unset NEW",
            _RECORD,
        ),
        per_app=True,
    ),
)

BY_NAME = {spec.name: spec for spec in SECRETS}


def get_spec(name: str) -> SecretSpec | None:
    return BY_NAME.get(name)
