"""The audit page in Chromium: from a flag's row to its audit rows, filters, older pages, exports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from raxx_console.audit import service as audit
from tests.support.accounts import browser_login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


def seed(console):
    """Five flag toggles (two flags, one second apart), three deploys, one login failure."""
    with console.db.session() as session:
        for n in range(9):
            action = ("console.flags.toggled", "console.deploy.started", "console.deploy.finished")[n % 3]
            audit.record(
                session,
                console.clock,
                action=action,
                actor="ops@raxx.app" if n % 2 else "lead@raxx.app",
                selected_env="staging",
                payload={"n": n, "flag": "FLAG_CONSOLE_DEPLOY_CHIP" if n < 5 else "FLAG_OTHER"},
            )
            console.clock.advance(1)


def shown(page):
    """The ``n`` of each seeded row on the page, top to bottom."""
    payloads = page.locator("tr[data-audit-id] .audit-payload").all_inner_texts()
    return [json.loads(text)["n"] for text in payloads if '"n"' in text]


def test_filters_pages_and_exports(console, live_server, page, tmp_path):
    make_user(console, "viewer@raxx.app", "viewer")
    seed(console)
    browser_login(page, live_server, "viewer@raxx.app")

    page.goto(f"{live_server}/console/flags")
    page.locator("#flag-FLAG_CONSOLE_DEPLOY_CHIP a[data-link=audit]").click()
    expect(page.locator("h1")).to_have_text("Audit log")
    assert shown(page) == [3, 0], "the flag's link shows that flag's rows only"
    expect(page.locator("[data-field=payload-filters]")).to_contain_text("flag=FLAG_CONSOLE_DEPLOY_CHIP")

    page.goto(f"{live_server}/console/audit")
    page.fill("input[name=action]", "console.deploy.")
    page.fill("input[name=actor]", "ops@raxx.app")
    page.click("button:has-text('Filter')")
    expect(page.locator("input[name=action]")).to_have_value("console.deploy.")
    assert shown(page) == [7, 5, 1]

    page.fill("input[name=actor]", "")
    page.select_option("select[name=env]", "production")
    page.click("button:has-text('Filter')")
    expect(page.locator("td.muted")).to_have_text("No audit rows match these filters.")

    page.goto(f"{live_server}/console/audit?action=console.deploy.&limit=2")
    seen = shown(page)
    while page.locator("a[data-link=older]").count():
        page.click("a[data-link=older]")
        seen += shown(page)
    assert seen == [8, 7, 5, 4, 2, 1]
    page.click("a[data-link=newest]")
    assert shown(page) == [8, 7]

    for link, read in (("export-csv", _read_csv), ("export-json", _read_json)):
        with page.expect_download() as download:
            page.click(f"a[data-link={link}]")
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        assert read(path) == [8, 7, 5, 4, 2, 1], f"{link} exports the whole filtered view, not the page"


def _read_csv(path: Path) -> list[int]:
    with path.open(newline="") as handle:
        return [json.loads(row["payload"])["n"] for row in csv.DictReader(handle)]


def _read_json(path: Path) -> list[int]:
    return [row["payload"]["n"] for row in json.loads(path.read_text())]
