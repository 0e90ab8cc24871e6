"""Settings from the environment, and the token that `make serve` generates and keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app import config
from tests.conftest import BASE


def test_settings_from_environment() -> None:
    settings = config.from_env(
        {
            "SCIM_DB": "/x.db",
            "SCIM_TOKEN": " one, two ,,",
            "SCIM_MAX_RESULTS": "50",
            "SCIM_BASE_URL": "https://scim.example.com/scim/v2",
        }
    )
    assert settings.db_path == "/x.db"
    assert settings.tokens == ("one", "two")
    assert settings.max_results == 50
    assert settings.base_url == "https://scim.example.com/scim/v2"
    assert config.from_env({}).db_path == "scim.db"


def test_token_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = config.Settings(token_file=str(tmp_path / "token"))
    first, generated = config.ensure_token(settings)
    assert generated and len(first.tokens[0]) >= 32
    assert (tmp_path / "token").stat().st_mode & 0o077 == 0  # readable by its owner only
    again, generated_again = config.ensure_token(settings)
    assert not generated_again and again.tokens == first.tokens
    configured, _ = config.ensure_token(settings.with_overrides(tokens=("env",)))
    assert configured.tokens == ("env",)


def test_several_tokens_are_accepted(make_client: Any) -> None:
    client = make_client(tokens=("old-token", "new-token"))
    for token in ("old-token", "Bearer new-token", "bearer new-token"):
        response = client.http.get(BASE + "/Users", headers={"Authorization": token})
        assert response.status_code == 200, token
    assert (
        client.http.get(BASE + "/Users", headers={"Authorization": "Bearer other"}).status_code
        == 401
    )


def test_base_url_setting_shapes_locations(make_client: Any) -> None:
    client = make_client(base_url="https://scim.example.com/scim/v2/")
    user = client.create_user("u")
    assert user["meta"]["location"] == f"https://scim.example.com/scim/v2/Users/{user['id']}"
