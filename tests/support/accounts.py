"""Users, API tokens, CSRF tokens and logins, as the tests create and use them."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from raxx_console.auth import service as auth_service
from raxx_console.context import Console

PASSWORD = "correct horse battery staple"


def make_user(console: Console, email: str, role: str) -> None:
    with console.db.session() as session:
        auth_service.create_user(
            session, console.clock, email=email, role=role, password=PASSWORD, actor="test", env="development"
        )


def make_token(console: Console, email: str) -> str:

    from raxx_console.auth.models import User

    with console.db.session() as session:
        user = session.scalar(select(User).where(User.email == email))
        return auth_service.create_token(
            session, console.clock, user=user, name="test", actor="test", env="development"
        )


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )


def browser_login(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/status|.*/$"))
