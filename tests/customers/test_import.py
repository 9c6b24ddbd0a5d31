"""``raxx-console customers import``: every row checked first, all or nothing, upsert by email, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from raxx_console.audit.models import AuditLog
from raxx_console.cli import main
from raxx_console.customers.models import Customer


@pytest.fixture
def run_import(settings_overrides, console, tmp_path: Path):
    """Write ``content`` to a CSV and run the real command against the test database."""
    env = {name: str(value) for name, value in settings_overrides.items()}

    def run(content: str, name: str = "customers.csv"):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        return CliRunner().invoke(main, ["customers", "import", str(path)], env=env)

    return run


def _customers(console) -> list[tuple[int, str, str]]:
    with console.db.session() as session:
        return [(c.id, c.email, c.name) for c in session.scalars(select(Customer).order_by(Customer.id))]


def _imports(console) -> list[dict]:
    with console.db.session() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "console.customers.imported"))
        return [{"actor": row.actor, **row.payload} for row in rows]


def test_a_good_file_is_imported_and_audited(run_import, console):
    result = run_import("\ufeffEmail,Name\nDana@Example.com, Dana Whitfield\nlee@example.org,\n")

    assert result.exit_code == 0, result.output
    assert "imported 2 customers (2 new, 0 updated, 0 unchanged)" in result.output
    assert [c[1:] for c in _customers(console)] == [
        ("dana@example.com", "Dana Whitfield"),
        ("lee@example.org", ""),
    ]
    (audit,) = _imports(console)
    assert audit["count"] == 2 and audit["created"] == 2 and audit["actor"] == "system:cli"
    assert audit["source"] == "customers.csv"


def test_a_second_import_upserts_by_email(run_import, console):
    assert run_import("email,name\ndana@example.com,Dana\nlee@example.org,Lee\n").exit_code == 0
    ids = {email: cid for cid, email, _ in _customers(console)}

    result = run_import(
        "name,email\nDana Whitfield,DANA@example.com\nLee,lee@example.org\nSam,sam@example.net\n"
    )

    assert result.exit_code == 0, result.output
    assert "imported 3 customers (1 new, 1 updated, 1 unchanged)" in result.output
    after = {email: (cid, name) for cid, email, name in _customers(console)}
    assert after["dana@example.com"] == (ids["dana@example.com"], "Dana Whitfield")
    assert len(after) == 3
    assert [a["count"] for a in _imports(console)] == [2, 3]


def test_a_bad_file_names_every_bad_line_and_imports_nothing(run_import, console):
    content = (
        "email,name,id\n"
        "ok@example.com,Fine,\n"
        "not-an-email,Broken,\n"
        "ok@example.com,Twice,\n"
        "x@example.com,Bad id,-3\n"
        "y@example.com,Too,many,fields\n"
    )
    result = run_import(content)

    assert result.exit_code != 0
    assert "line 3: email is not a valid address" in result.output
    assert "line 4: email repeats line 2" in result.output
    assert "line 5: id must be a positive whole number" in result.output
    assert "line 6: expected 3 fields, found 4" in result.output
    assert "nothing imported" in result.output
    assert _customers(console) == [] and _imports(console) == []


@pytest.mark.parametrize(
    "content",
    ["", "mail,name\na@example.com,A\n", "email,name\n\n"],
    ids=["empty", "wrong-header", "no-rows"],
)
def test_unusable_files_import_nothing(run_import, console, content):
    result = run_import(content)
    assert result.exit_code != 0 and "nothing imported" in result.output
    assert _customers(console) == []


def test_explicit_ids_are_kept_and_never_moved(run_import, console):
    assert run_import("id,email,name\n10,dana@example.com,Dana\n").exit_code == 0
    assert run_import("email,name\nlee@example.org,Lee\n").exit_code == 0  # the id sequence moved past 10

    conflict = run_import("id,email,name\n12,dana@example.com,Dana\n11,new@example.com,Taken id\n")

    assert conflict.exit_code != 0
    assert "line 2: dana@example.com is already customer 10, not 12" in conflict.output
    assert "line 3: id 11 already belongs to lee@example.org" in conflict.output
    assert _customers(console) == [(10, "dana@example.com", "Dana"), (11, "lee@example.org", "Lee")]
