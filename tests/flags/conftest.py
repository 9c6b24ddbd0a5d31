from tests.peer_consoles import peer_settings, staging  # noqa: F401
