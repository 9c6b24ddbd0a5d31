"""An admin enrols two-factor codes in Chromium: the QR code draws, a first code confirms."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import expect

from tests.support.accounts import browser_login, make_user
from tests.support.rows import audit_rows

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


def test_an_admin_scans_the_qr_code_and_confirms_a_first_code(console, live_server, page):
    make_user(console, "root@raxx.app", "admin")
    browser_login(page, live_server, "root@raxx.app")
    page.click("text=Two-factor")
    qr = page.locator("img.totp-qr")
    expect(qr).to_be_visible()
    # The SVG QR code draws (waited for: on a loaded machine it decodes after the image shows).
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    uri = page.locator("[data-field=otpauth-uri]").inner_text()
    page.fill("input[name=code]", "000000")
    page.click("button[data-action=confirm-totp]")
    expect(page.locator(".notice-error")).to_contain_text("does not match")
    page.fill("input[name=code]", pyotp.parse_uri(uri).at(console.clock.now()))
    page.click("button[data-action=confirm-totp]")
    expect(page.locator("[data-totp=enrolled]")).to_be_visible()
    expect(page.locator("img.totp-qr")).to_have_count(0)
    assert len(audit_rows(console, "console.auth.totp_enrolled")) == 1
