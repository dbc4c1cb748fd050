"""Service settings: environment parsing and clear errors for invalid values."""

from __future__ import annotations

import pytest

from policyqa.indexer.errors import ConfigurationError
from policyqa.service.settings import load_settings


def test_environment_values_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("POLICYQA_HOME", str(tmp_path))
    monkeypatch.setenv("POLICYQA_CORS_ORIGINS", "https://portal.gov.cn, http://intranet.example ,")
    monkeypatch.setenv("POLICYQA_API_KEY", "secret")
    monkeypatch.setenv("POLICYQA_ANSWER_MIN_RELEVANCE", "0.4")
    settings = load_settings(port=9000)
    assert settings.cors_origins == ["https://portal.gov.cn", "http://intranet.example"]
    assert settings.api_key == "secret"
    assert settings.answer_min_relevance == 0.4
    assert settings.port == 9000
    assert settings.resolved_index_dir == tmp_path / "index"


def test_defaults_are_safe(monkeypatch, tmp_path):
    for name in (
        "POLICYQA_API_KEY",
        "POLICYQA_CORS_ORIGINS",
        "POLICYQA_ANSWER_MIN_RELEVANCE",
        "POLICYQA_HOST",
        "POLICYQA_LLM_BASE_URL",
        "POLICYQA_LLM_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert settings.api_key is None and settings.cors_origins == []
    assert settings.host == "127.0.0.1"
    assert settings.answer_min_relevance is None  # the threshold fitted with the relevance model
    assert not settings.llm_configured and settings.llm_api_key is None
    assert settings.chat_max_messages == 20 and settings.chat_max_chars == 8000


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("POLICYQA_PORT", "eighty", "POLICYQA_PORT: Input should be a valid integer"),
        (
            "POLICYQA_ANSWER_MIN_RELEVANCE",
            "1.5",
            "POLICYQA_ANSWER_MIN_RELEVANCE: Input should be less than or equal to 1",
        ),
        (
            "POLICYQA_MAX_UPLOAD_BYTES",
            "0",
            "POLICYQA_MAX_UPLOAD_BYTES: Input should be greater than or equal to 1",
        ),
        ("POLICYQA_LLM_TIMEOUT", "0", "POLICYQA_LLM_TIMEOUT: Input should be greater than 0"),
        ("POLICYQA_ANSWERER", "llm", "answerer 'llm' needs POLICYQA_LLM_BASE_URL and POLICYQA_LLM_MODEL"),
    ],
)
def test_invalid_values_name_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()
