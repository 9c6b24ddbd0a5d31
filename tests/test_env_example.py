"""`.env.example` documents every variable the console reads, one line each."""

import re
from pathlib import Path

from raxx_console.config import Settings
from raxx_console.flags.registry import FLAGS

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def documented() -> dict[str, str]:
    lines = [line for line in EXAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    names = {}
    for line in lines:
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        assert match, f"not a NAME=value line: {line!r}"
        assert "#" in line, f"{match.group(1)} has no description"
        names[match.group(1)] = line
    return names


def test_every_setting_and_flag_is_documented_once():
    names = documented()
    expected = set(Settings.model_fields) | {spec.name for spec in FLAGS}
    assert expected - set(names) == set(), "undocumented variables"
    assert set(names) - expected == set(), "documented variables nobody reads"


def test_secrets_are_marked_and_carry_no_value():
    names = documented()
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "FREESCOUT_API_KEY",
        "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET",
        "SLACK_BOT_TOKEN",
        "SENTRY_DSN",
    ):
        assert f"{name}= " in names[name] or names[name].startswith(f"{name}=  "), (
            f"{name} has an example value"
        )
        assert "(secret)" in names[name]
