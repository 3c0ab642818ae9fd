"""Settings precedence (flag > env > file > default) and the errors a user sees for bad configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from picops.config import Settings, load_settings, settings_from_env
from picops.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_source() -> None:
    settings = load_settings()
    assert settings.stack.name == "picops"
    assert settings.ingest.prefix == "incoming/"
    assert settings.moderation.statuses == ("approved", "flagged", "rejected")
    assert settings.aws.endpoint_url is None


def test_file_beats_default(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[stack]\nname = "from-file"\n[ingest]\nprefix = "up/"\n')
    settings = load_settings(cfg)
    assert settings.stack.name == "from-file"
    assert settings.ingest.prefix == "up/"
    assert settings.ingest.suffixes[0] == ".jpg"  # untouched keys keep their defaults


def test_env_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "c.toml", '[stack]\nname = "from-file"\n[moderation]\ntag_key = "file-tag"\n')
    monkeypatch.setenv("PICOPS_STACK", "from-env")
    monkeypatch.setenv("PICOPS_MODERATION__TAG_KEY", "env-tag")
    settings = load_settings(cfg)
    assert settings.stack.name == "from-env"
    assert settings.moderation.tag_key == "env-tag"


def test_flag_beats_env_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "c.toml", '[aws]\nregion = "eu-west-1"\n[stack]\nname = "from-file"\n')
    monkeypatch.setenv("PICOPS_STACK", "from-env")
    monkeypatch.setenv("PICOPS_REGION", "eu-central-1")
    settings = load_settings(cfg, {"stack": {"name": "from-flag"}, "aws": {"region": None}})
    assert settings.stack.name == "from-flag"
    assert settings.aws.region == "eu-central-1"  # a flag left unset (None) does not mask the env


def test_picops_toml_in_cwd_is_read_and_picops_config_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "picops.toml", '[stack]\nname = "cwd-file"\n')
    assert load_settings().stack.name == "cwd-file"
    other = write(tmp_path / "other.toml", '[stack]\nname = "env-file"\n')
    monkeypatch.setenv("PICOPS_CONFIG", str(other))
    assert load_settings().stack.name == "env-file"


def test_bad_value_in_file_names_file_key_and_problem(tmp_path: Path) -> None:
    cfg = write(tmp_path / "bad.toml", "[ingest]\nmax_receive_count = 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    message = str(info.value)
    assert "ingest.max_receive_count" in message
    assert str(cfg) in message
    assert "greater than or equal to 1" in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize("days", [0, 2, 4, 366, 3654])
def test_log_retention_outside_what_cloudwatch_accepts_names_key_and_allowed_values(
    tmp_path: Path, days: int
) -> None:
    cfg = write(tmp_path / "retention.toml", f"[deploy]\nlog_retention_days = {days}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "deploy.log_retention_days" in message
    if days:
        assert "1, 3, 5, 7, 14, 30" in message
        assert "3288, 3653" in message


@pytest.mark.parametrize("days", [1, 14, 400, 3653])
def test_log_retention_cloudwatch_accepts_loads(tmp_path: Path, days: int) -> None:
    cfg = write(tmp_path / "retention.toml", f"[deploy]\nlog_retention_days = {days}\n")
    assert load_settings(cfg).deploy.log_retention_days == days


def test_unknown_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    cfg = write(tmp_path / "typo.toml", '[moderation]\ntag_kye = "x"\n')
    with pytest.raises(ConfigError, match=r"moderation\.tag_kye"):
        load_settings(cfg)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "broken.toml", "[stack\nname=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(cfg)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICOPS_STACK", "Not_Valid!")
    with pytest.raises(ConfigError, match="environment variable PICOPS_STACK"):
        load_settings()


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("aws", "region", "mars-1", "not an AWS region"),
        ("aws", "endpoint_url", "ftp://x", "not an http(s) URL"),
        ("aws", "retry_mode", "legacy", "standard"),
        ("deploy", "architecture", "mips", "x86_64"),
    ],
)
def test_bad_flag_values(section: str, key: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(overrides={section: {key: value}})
    assert fragment in str(info.value)
    assert "command-line flag" in str(info.value)


def test_lambda_settings_come_from_env_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "picops.toml", '[stack]\nname = "ignored-file"\n')
    monkeypatch.setenv("PICOPS_STACK", "prod")
    monkeypatch.setenv("PICOPS_INGEST__UPLOADS_BUCKET", "uploads-b")
    monkeypatch.setenv("PICOPS_MODERATION__STATUSES", '["ok", "bad"]')
    settings = settings_from_env()
    assert isinstance(settings, Settings)
    assert settings.stack.name == "prod"
    assert settings.ingest.uploads_bucket == "uploads-b"
    assert settings.moderation.statuses == ("ok", "bad")


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = Path(__file__).parents[2] / "config.example.toml"
    settings = load_settings(example)
    text = example.read_text()
    for section_name, section in Settings.model_fields.items():
        assert f"[{section_name}]" in text
        assert section.annotation is not None
        for key in section.annotation.model_fields:  # type: ignore[union-attr]
            assert f"{key} =" in text, f"config.example.toml does not document [{section_name}] {key}"
    assert settings.stack.name == "picops"


def test_function_overrides_are_keyed_by_the_model_s_logical_names(tmp_path: Path) -> None:
    from picops.config import FUNCTION_LOGICAL_NAMES
    from picops.stack.model import HANDLERS

    assert set(FUNCTION_LOGICAL_NAMES) == set(HANDLERS)
    config = tmp_path / "picops.toml"
    config.write_text("[deploy.functions.ModerationSweepFunction]\ntimeout_s = 300\nmemory_mb = 1024\n")
    settings = load_settings(config)
    assert settings.deploy.functions["ModerationSweepFunction"].timeout_s == 300
    assert settings.deploy.functions["ModerationSweepFunction"].memory_mb == 1024
    config.write_text("[deploy.functions.SweepFunction]\ntimeout_s = 300\n")
    with pytest.raises(ConfigError, match="unknown function SweepFunction"):
        load_settings(config)


def test_a_function_override_from_the_environment_finds_its_logical_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Environment variable names are case-insensitive: the key arrives as "paymentfunction".
    monkeypatch.setenv("PICOPS_DEPLOY__FUNCTIONS__PAYMENTFUNCTION__RESERVED_CONCURRENCY", "5")
    config = tmp_path / "picops.toml"
    config.write_text("[deploy.functions.PaymentFunction]\nmemory_mb = 256\nreserved_concurrency = 2\n")
    payment = load_settings(config).deploy.functions["PaymentFunction"]
    # Merged with the file's section; the environment wins where both set a value.
    assert (payment.memory_mb, payment.reserved_concurrency) == (256, 5)
    assert set(load_settings(config).deploy.functions) == {"PaymentFunction"}
