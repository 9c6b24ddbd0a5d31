"""The Heroku and Infisical adapters against their sandboxes' wire formats, and the sandboxes' rules."""

from __future__ import annotations

import httpx
import pytest

from raxx_console.integrations.heroku import HerokuClient, HerokuConfig, HerokuError
from raxx_console.integrations.infisical import InfisicalClient, InfisicalConfig, InfisicalError
from raxx_console.sandbox.secrets_stack import ENVIRONMENT, PROJECT_ID, SecretsSandboxes

APP = "raxx-console-staging"
DB_URL = "postgres://user:db-s3ntinel-pw@host/db"


@pytest.fixture(scope="module")
def stack():
    stack = SecretsSandboxes.start()
    yield stack
    stack.stop()


@pytest.fixture(autouse=True)
def fresh(stack):
    stack.heroku_app.reset()
    stack.infisical_app.reset()
    stack.heroku_app.set_config_var(APP, "DATABASE_URL", DB_URL)


def heroku(stack, token=None) -> HerokuClient:
    return HerokuClient(HerokuConfig(api_url=stack.heroku.url, token=token or stack.heroku_token, timeout=1))


def vault(stack, secret=None) -> InfisicalClient:
    return InfisicalClient(
        InfisicalConfig(
            api_url=stack.infisical.url,
            client_id=stack.infisical_client_id,
            client_secret=secret or stack.infisical_client_secret,
            project_id=PROJECT_ID,
            environment=ENVIRONMENT,
            timeout=1,
        )
    )


def test_heroku_reads_and_sets_one_var_and_keeps_none_of_the_rest(stack):
    with heroku(stack) as client:
        client.set_config_var(APP, "SECRET_KEY", "new-value-1")
        assert client.get_config_var(APP, "SECRET_KEY") == "new-value-1"
        assert client.get_config_var(APP, "UNSET_VAR") is None
    assert stack.heroku_app.config_var(APP, "DATABASE_URL") == DB_URL  # PATCH merged, not replaced
    assert stack.heroku_app.releases[APP] == 2


@pytest.mark.parametrize(
    ("setup", "app", "reason"),
    [
        (lambda s: None, "raxx-nope", "heroku_app_not_found"),
        (lambda s: s.heroku_app.set_faults("down"), APP, "heroku_unavailable"),
        (lambda s: s.heroku_app.set_faults("error500"), APP, "heroku_unavailable"),
        (lambda s: s.heroku_app.set_faults("ratelimited"), APP, "heroku_rate_limited"),
        (lambda s: setattr(s.heroku_app, "token", "other"), APP, "heroku_auth_error"),
        (lambda s: None, "Not An App!", "heroku_rejected"),
    ],
)
def test_heroku_errors_are_reasons_with_no_body(stack, setup, app, reason):
    setup(stack)
    try:
        with heroku(stack) as client, pytest.raises(HerokuError) as failed:
            client.get_config_var(app, "SECRET_KEY")
    finally:
        stack.heroku_app.token = stack.heroku_token
    assert failed.value.reason == reason
    assert "s3ntinel" not in str(failed.value) and "DATABASE_URL" not in str(failed.value)


def test_heroku_unconfigured_makes_no_call(stack):
    with HerokuClient(HerokuConfig(api_url=stack.heroku.url)) as client, pytest.raises(HerokuError) as failed:
        client.get_config_var(APP, "SECRET_KEY")
    assert failed.value.reason == "heroku_not_configured"
    assert stack.heroku_app.requests == []


def test_heroku_sandbox_speaks_the_platform_api(stack):
    url = f"{stack.heroku.url}/apps/{APP}/config-vars"
    auth = {"Authorization": f"Bearer {stack.heroku_token}"}
    no_version = httpx.get(url, headers=auth)
    assert no_version.status_code == 400 and no_version.json()["id"] == "missing_version"
    versioned = {**auth, "Accept": "application/vnd.heroku+json; version=3"}
    assert httpx.get(url, headers={"Accept": versioned["Accept"]}).json()["id"] == "unauthorized"
    bad = httpx.patch(url, headers=versioned, json={"X": 1})
    assert bad.status_code == 422 and bad.json()["id"] == "invalid_params"
    unset = httpx.patch(url, headers=versioned, json={"DATABASE_URL": None})
    assert "DATABASE_URL" not in unset.json()
    assert "s3ntinel" not in httpx.get(f"{stack.heroku.url}/").text  # the page shows fingerprints only


def test_vault_writes_versions_and_reads_any_of_them(stack):
    with vault(stack) as client:
        first = client.set_secret("/MooseQuest/test", "TOKEN", "value-one")  # created (POST)
        second = client.set_secret("/MooseQuest/test", "TOKEN", "value-two")  # updated (PATCH)
        assert (first, second) == (1, 2)
        assert client.get_secret("/MooseQuest/test", "TOKEN").value == "value-two"
        assert client.get_secret("/MooseQuest/test", "TOKEN", version=1).value == "value-one"
        assert "value-two" not in repr(client.get_secret("/MooseQuest/test", "TOKEN"))


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda s: s.infisical_app.set_faults("down"), "infisical_unavailable"),
        (lambda s: s.infisical_app.set_faults("error500"), "infisical_unavailable"),
        (lambda s: None, "infisical_secret_not_found"),
    ],
)
def test_vault_errors_are_reasons(stack, setup, reason):
    setup(stack)
    with vault(stack) as client, pytest.raises(InfisicalError) as failed:
        client.get_secret("/MooseQuest/test", "MISSING")
    assert failed.value.reason == reason


def test_vault_refused_login_is_an_auth_error(stack):
    with vault(stack, secret="wrong") as client, pytest.raises(InfisicalError) as failed:
        client.get_secret("/MooseQuest/test", "TOKEN")
    assert failed.value.reason == "infisical_auth_error"


def test_vault_logs_in_again_when_its_token_is_revoked(stack):
    with vault(stack) as client:
        client.set_secret("/p", "A", "x")
        stack.infisical_app.tokens.clear()  # revoked behind the client's back
        assert client.get_secret("/p", "A").value == "x"
    logins = [r for r in stack.infisical_app.requests if r["path"].endswith("/login")]
    assert len(logins) == 2
