from tests.deploys.versions_consoles import prod, versions_settings  # noqa: F401
