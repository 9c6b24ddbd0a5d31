import pytest

from tests.support.accounts import browser_login, make_user

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_login_and_see_the_grid(console, live_server, page):
    make_user(console, "op@raxx.app", "operator")
    browser_login(page, live_server, "op@raxx.app")
    assert page.locator(".tile").count() == 6
    assert page.locator(".env-banner").inner_text() == "DEVELOPMENT"
