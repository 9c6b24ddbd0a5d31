"""The operators' runbooks stay true: every query, command, route, name and log wording in them.

Reads every ``docs/ops/runbooks/*.md`` and checks, against this console:
- each fenced ``sql`` block runs on a migrated PostgreSQL database;
- each ``raxx-console …`` command line names a real subcommand (its ``--help`` exits 0) and
  only options that subcommand has;
- each ``/console``, ``/admin``, ``/api``, ``/secrets``, ``/account`` path is a route of the app;
- each ``FLAG_*`` is in the flags registry; each config var a Heroku or vault command names is in
  ``.env.example``; every other CAPITAL_NAME is one of those, a name in the code, or a shell
  variable the runbook sets;
- each ``console.<family>.<event>`` is in the audit actions registry;
- each log wording quoted (a ``grep`` over ``heroku logs``, or a quoted line) is one src/ emits.

A failure names the runbook, the line and the artefact.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import text
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import MapAdapter, RequestRedirect

from raxx_console.audit.actions import ACTIONS
from raxx_console.cli import main as cli_main
from raxx_console.db import Database
from raxx_console.flags.registry import BY_NAME as FLAGS

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = ROOT / "docs" / "ops" / "runbooks"
SRC = ROOT / "src" / "raxx_console"


#: Wordings Heroku's platform logs itself (not ours): the runbooks grep for them too.
PLATFORM_LOG_WORDINGS = frozenset({"State changed"})

#: The first word of every log line the runbooks quote inline (spans with a space in them).
LOG_PREFIXES = frozenset(
    {
        "ticket_filed",
        "ticket",
        "auto_ticket",
        "alert_aggregator",
        "freescout",
        "freescout_auth_error",
        "outbox",
        "investigate",
        "investigate_prereq_missing",
        "status_poller",
        "peer_link",
    }
)

ROUTE = re.compile(r"(?<![\w.:/\-])(/(?:console|admin|api|secrets|account)\b[\w/<>:.\-]*)")
ACTION = re.compile(r"(?<![\w-])(console\.[a-z_]+(?:\.[a-z_]+)+)")
CAPITAL = re.compile(r"(?<![\w-])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?![\w-])")
COMMAND = re.compile(r"(?<![\w-])raxx-console\s+([^`\n|;&>#]*)")
SHELL_ASSIGNMENT = re.compile(r"(?:^|\s)([A-Z][A-Z0-9_]*)=\$\(|\bread\s+-rs\s+([A-Z][A-Z0-9_]*)")
CONFIG_COMMAND = re.compile(r"(?:heroku\s+config:(?:get|set|unset)|infisical\s+secrets\s+(?:get|set))\s+(.*)")


@dataclass(frozen=True)
class Line:
    doc: str
    number: int
    text: str
    fence: str | None  # the fenced block's language ("" for none given), None outside a fence

    def where(self) -> str:
        return f"{self.doc}:{self.number}"


@dataclass(frozen=True)
class Block:
    doc: str
    number: int  # the line of the opening fence
    language: str
    body: str


def runbooks() -> list[Path]:
    return sorted(RUNBOOKS.glob("*.md"))


def read(path: Path) -> tuple[list[Line], list[Block]]:
    lines: list[Line] = []
    blocks: list[Block] = []
    fence: str | None = None
    start, body = 0, []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if raw.startswith("```"):
            if fence is None:
                fence, start, body = raw[3:].strip(), number, []
            else:
                blocks.append(Block(path.name, start, fence, "\n".join(body)))
                fence = None
            continue
        if fence is not None:
            body.append(raw)
        lines.append(Line(path.name, number, raw, fence))
    assert fence is None, f"{path.name}:{start}: a fenced block is never closed"
    return lines, blocks


def inline_spans(line: Line) -> Iterator[str]:
    if line.fence is None:
        yield from re.findall(r"`([^`]+)`", line.text)


def all_lines() -> list[Line]:
    return [line for path in runbooks() for line in read(path)[0]]


def all_blocks() -> list[Block]:
    return [block for path in runbooks() for block in read(path)[1]]


def shell_lines() -> list[Line]:
    return [line for line in all_lines() if line.fence in ("sh", "bash", "")]


def src_text() -> str:
    return "\n".join(path.read_text() for path in sorted(SRC.rglob("*.py")))


def env_example_names() -> set[str]:
    names = set()
    for raw in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"([A-Z][A-Z0-9_]*)=", raw)
        if match:
            names.add(match.group(1))
    return names


def report(failures: list[str]) -> str:
    return "the runbooks say something this console does not:\n  " + "\n  ".join(failures)


# --------------------------------------------------------------------------- the documents


def test_every_runbook_is_here_and_linked():
    names = {path.name for path in runbooks()}
    expected = {
        "auto-ticketing-pipeline-overview.md",
        "auto-ticketing-rollout.md",
        "auto-ticketing-runbook.md",
        "2026-06-19-investigate-no-tickets.md",
        "console-cockpit-runbook.md",
        "feature-flags-runbook.md",
        "freescout-operations-mailbox-provisioning.md",
        "outbox-and-decision-log.md",
    }
    assert expected <= names, f"missing runbooks: {sorted(expected - names)}"
    index = (RUNBOOKS / "README.md").read_text()
    assert [name for name in sorted(expected) if f"({name})" not in index] == []
    assert "docs/ops/runbooks/" in (ROOT / "README.md").read_text()
    assert "ops/runbooks/" in (ROOT / "docs" / "architecture.md").read_text()


def test_relative_links_between_runbooks_resolve():
    failures = []
    for line in all_lines():
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", line.text):
            if not (RUNBOOKS / target).is_file():
                failures.append(f"{line.where()}: link {target!r}: no such runbook")
    assert not failures, report(failures)


def test_runbooks_cite_nothing_outside_the_project():
    failures = [
        f"{line.where()}: cites {word!r}"
        for line in all_lines()
        for word in ("../shared", "shared/seeds", "DESIGN")
        if word in line.text
    ]
    assert not failures, report(failures)


# --------------------------------------------------------------------------- SQL


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_every_sql_block_runs_on_a_migrated_postgresql(database: Database):
    blocks = [block for block in all_blocks() if block.language == "sql"]
    assert len(blocks) >= 10, "the runbooks' queries went missing"
    failures = []
    for block in blocks:
        with database.engine.connect() as conn:
            try:
                conn.execute(text(block.body))
            except Exception as exc:  # any failure is the runbook's, reported by name
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                failures.append(f"{block.doc}:{block.number}: SQL block fails: {reason}")
            finally:
                conn.rollback()
    assert not failures, report(failures)


# --------------------------------------------------------------------------- raxx-console commands


def command_lines() -> list[tuple[Line, str]]:
    found = []
    for line in all_lines():
        sources = [line.text] if line.fence is not None else list(inline_spans(line))
        for source in sources:
            for match in COMMAND.finditer(source):
                found.append((line, match.group(1).rstrip("\\ ").strip()))
    return found


def walk(words: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """The subcommand path ``words`` names, the command it reaches, and the words left."""
    command: click.Command = cli_main
    path: list[str] = []
    rest = list(words)
    while rest and isinstance(command, click.Group) and rest[0] in command.commands:
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


def test_every_raxx_console_command_line_parses():
    found = command_lines()
    assert len(found) >= 15, "the runbooks' commands went missing"
    runner = CliRunner()
    helped: dict[tuple[str, ...], int] = {}
    failures = []
    for line, tail in found:
        try:
            words = shlex.split(tail)
        except ValueError:
            words = tail.split()
        words = [word.strip("[]") for word in words]
        path, command, rest = walk(words)
        if not path:
            failures.append(f"{line.where()}: command 'raxx-console {tail}': no such subcommand")
            continue
        if isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
            named = " ".join(path)
            failures.append(f"{line.where()}: command 'raxx-console {named}' has no subcommand {rest[0]!r}")
            continue
        if tuple(path) not in helped:
            helped[tuple(path)] = runner.invoke(cli_main, [*path, "--help"]).exit_code
        if helped[tuple(path)] != 0:
            failures.append(f"{line.where()}: command 'raxx-console {' '.join(path)} --help' exits non-zero")
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for word in rest:
            option = word.split("=", 1)[0]
            if option.startswith("-") and option != "-" and option not in known | {"--help", "-h"}:
                failures.append(
                    f"{line.where()}: command 'raxx-console {' '.join(path)}' has no option {option}"
                )
    assert not failures, report(failures)


# --------------------------------------------------------------------------- routes


def routed(adapter: MapAdapter, path: str) -> bool:
    """Whether some rule of the app serves ``path``, by any method."""
    try:
        adapter.match(path, method="GET")
    except MethodNotAllowed:
        return True  # the path is a route; only POST (or another method) serves it
    except RequestRedirect:
        return True
    except NotFound:
        return False
    return True


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_path_named_is_a_route_of_the_app(app: Flask):
    adapter = app.url_map.bind("console.raxx.app")
    rules = [rule.rule for rule in app.url_map.iter_rules()]
    failures, seen = [], 0
    for line in all_lines():
        for match in ROUTE.finditer(line.text):
            path = match.group(1).rstrip(".:-")
            seen += 1
            if path.endswith("/"):  # a family of routes, e.g. /api/peer/…
                ok = any(rule.startswith(path) for rule in rules)
            else:
                ok = routed(adapter, re.sub(r"<[^>]+>", "1", path))
            if not ok:
                failures.append(f"{line.where()}: route {path!r} is not a route of the app")
    assert seen >= 20, "the runbooks' routes went missing"
    assert not failures, report(failures)


# --------------------------------------------------------------------------- flags, env vars, names


def test_every_flag_env_var_and_name_exists():
    env = env_example_names()
    code = src_text()
    failures = []
    for path in runbooks():
        lines, _ = read(path)
        shell_vars = {
            name
            for line in lines
            if line.fence is not None
            for match in SHELL_ASSIGNMENT.finditer(line.text)
            for name in match.groups()
            if name
        }
        for line in lines:
            config = CONFIG_COMMAND.search(line.text) if line.fence is not None else None
            configured = set(CAPITAL.findall(config.group(1))) - shell_vars if config else set()
            for name in set(CAPITAL.findall(line.text)):
                if name.startswith("FLAG_") and name not in env - set(FLAGS):
                    problem = None if name in FLAGS else "is not in the flags registry"
                elif name in configured:
                    problem = None if name in env else "is a config var missing from .env.example"
                elif name in env or name in shell_vars or re.search(rf"\b{name}\b", code):
                    problem = None
                elif any(var.startswith(f"{name}_") for var in env):  # a family: "CF_ACCESS_SVC_TICKETS"
                    problem = None
                else:
                    problem = "is neither in .env.example, nor a name in src/, nor set by the runbook"
                if problem:
                    failures.append(f"{line.where()}: {name} {problem}")
    assert not failures, report(failures)


def test_every_audit_action_named_is_in_the_registry():
    failures, seen = [], 0
    for line in all_lines():
        for action in ACTION.findall(line.text):
            if action.startswith("console.raxx"):  # a host name, not an action
                continue
            seen += 1
            if action not in ACTIONS:
                failures.append(f"{line.where()}: audit action {action!r} is not in audit/actions.py")
    assert seen >= 20, "the runbooks' audit actions went missing"
    assert not failures, report(failures)


def test_every_action_the_code_writes_is_in_the_registry():
    """The registry is the list: an action written anywhere in src/ must be named there."""
    written = set()
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "actions.py" and path.parent.name == "audit":
            continue
        for literal in re.findall(r'"(console\.[a-z_]+(?:\.[a-z_]+)+)"', path.read_text()):
            if not literal.startswith("console.raxx"):
                written.add((literal, path.relative_to(ROOT)))
    missing = sorted(f"{where}: {action}" for action, where in written if action not in ACTIONS)
    assert len(written) >= 20
    registry = "src/raxx_console/audit/actions.py"
    assert not missing, f"audit actions missing from {registry}:\n  " + "\n  ".join(missing)


# --------------------------------------------------------------------------- log wordings


def grep_patterns(line: Line) -> Iterator[tuple[str, bool, bool]]:
    """``(pattern, ignore_case, extended)`` for each grep in a shell line."""
    for part in line.text.split("|")[1:]:
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        if not words or words[0] != "grep":
            continue
        flags = "".join(word[1:] for word in words[1:] if word.startswith("-"))
        args = [word for word in words[1:] if not word.startswith("-")]
        if args:
            yield args[0], "i" in flags, "E" in flags


def wording_pieces(pattern: str, extended: bool) -> list[str]:
    alternatives = pattern.split("|") if extended else [pattern]
    return [piece for alt in alternatives for piece in alt.split(".*") if piece]


def test_every_log_wording_quoted_is_one_the_code_emits():
    code = src_text()
    lowered = code.lower()
    env = env_example_names()
    failures, seen = [], 0

    def check(line: Line, piece: str, ignore_case: bool) -> None:
        nonlocal seen
        seen += 1
        found = piece.lower() in lowered if ignore_case else piece in code
        if not found and piece not in PLATFORM_LOG_WORDINGS:
            failures.append(f"{line.where()}: log wording {piece!r} is not emitted by src/")

    for line in shell_lines():
        if "heroku logs" in line.text:
            for pattern, ignore_case, extended in grep_patterns(line):
                for piece in wording_pieces(pattern, extended):
                    check(line, piece, ignore_case)
        elif "heroku config " in line.text:  # config var names grepped for
            for pattern, _, _ in grep_patterns(line):
                for piece in re.findall(r"[A-Z][A-Z0-9_]{2,}", pattern):
                    if not any(name.startswith(piece) for name in env):
                        failures.append(f"{line.where()}: no config var in .env.example starts {piece!r}")
    for line in all_lines():
        for span in inline_spans(line):
            first = re.match(r"[a-z_]+", span)
            if " " not in span or not first or first.group(0) != span.split(" ", 1)[0].split("=")[0]:
                continue
            if first.group(0) not in LOG_PREFIXES:
                continue
            for piece in re.split(r"…|<[^>]+>", span):
                if piece.strip():
                    check(line, piece.strip(), False)
    assert seen >= 15, "the runbooks' log wordings went missing"
    assert not failures, report(failures)


# --------------------------------------------------------------------------- silenced writes


def test_every_heroku_or_vault_write_is_silenced():
    """``heroku config:set`` echoes values (SECRET_KEY leaked that way): every write is silenced."""
    failures, seen = [], 0
    for block in all_blocks():
        if block.language not in ("sh", "bash", ""):
            continue
        logical = block.body.replace("\\\n", " ").splitlines()
        for command in logical:
            if re.search(r"heroku\s+config:(?:set|unset)|infisical\s+secrets\s+set", command):
                seen += 1
                if not command.rstrip().endswith(">/dev/null 2>&1"):
                    failures.append(f"{block.doc}:{block.number}: not silenced: {command.strip()!r}")
    assert seen >= 10, "the runbooks' config writes went missing"
    assert not failures, report(failures)
