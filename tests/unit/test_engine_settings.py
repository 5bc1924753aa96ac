"""``[engines.NAME]`` settings: complete, safe endpoints, no credentials in the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sealroom.config import Settings, load_settings
from sealroom.errors import ConfigError


def _engine(**values: Any) -> Settings:
    return Settings.model_validate({"engines": {"vlm": values}})


def test_a_minimal_claude_engine_gets_safe_defaults() -> None:
    engine = _engine(kind="anthropic", model="claude-sonnet-4-5").engines["vlm"]
    assert engine.provider == "direct"
    assert engine.max_retries == 2 and engine.timeout_seconds == 60
    assert engine.max_image_side == 1568


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": "openai-compatible", "model": "m"}, "needs base_url"),
        ({"kind": "anthropic", "model": "m", "provider": "bedrock"}, "needs region"),
        ({"kind": "anthropic", "model": "m", "provider": "vertex", "region": "r"}, "needs project_id"),
        ({"kind": "anthropic", "model": "m", "api_key_env": "A", "api_key_file": "f"}, "not both"),
        ({"kind": "openai-compatible", "model": "m", "base_url": "http://gpu.example:8000/v1"},
         "unencrypted"),
        ({"kind": "openai-compatible", "model": "m", "base_url": "https://u:p@gpu.example/v1"},
         "credentials"),
        ({"kind": "openai-compatible", "model": "m", "base_url": "ftp://gpu.example/v1"}, "http"),
        ({"kind": "anthropic", "model": "m", "api_key": "sk-in-the-file"}, "api_key"),
        ({"kind": "gemini", "model": "m"}, "kind"),
        ({"kind": "anthropic", "model": "m", "timeout_seconds": 0}, "timeout_seconds"),
        ({"kind": "anthropic", "model": "m", "api_key_file": "/etc/passwd"}, "inside the workspace"),
        ({"kind": "anthropic", "model": "m", "api_key_file": "../other/key"}, "inside the workspace"),
        ({"kind": "anthropic", "model": "m", "api_key_file": "keys/audit.key"}, "workspace's own keys"),
        ({"kind": "openai-compatible", "model": "m", "base_url": "https://h/v1", "ca_bundle": "/tmp/ca.pem"},
         "inside the workspace"),
    ],
)
def test_incomplete_or_unsafe_engines_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _engine(**values)


def test_plain_http_is_allowed_to_loopback_or_when_explicitly_accepted() -> None:
    _engine(kind="openai-compatible", model="m", base_url="http://127.0.0.1:8000/v1")
    _engine(kind="openai-compatible", model="m", base_url="http://gpu.lan:8000/v1", allow_plain_http=True)


@pytest.mark.parametrize("name", ["local", "Claude", "has space", "x" * 41])
def test_engine_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="engine name"):
        Settings.model_validate({"engines": {name: {"kind": "anthropic", "model": "m"}}})


def test_an_invalid_file_names_each_setting_without_repeating_values(tmp_path: Path) -> None:
    (tmp_path / "sealroom.toml").write_text(
        'classifications = "sk-ant-secret"\n[bogus]\nx = 1\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path)
    message = str(raised.value)
    assert "  - classifications: Input should be a valid list" in message
    assert "  - bogus: unknown setting" in message
    assert "sk-ant-secret" not in message and "pydantic" not in message
