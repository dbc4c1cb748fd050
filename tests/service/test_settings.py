"""Service settings: environment parsing and clear errors for invalid values."""

from __future__ import annotations

import pytest

from policyqa.indexer.errors import ConfigurationError
from policyqa.indexer.records import SearchFilters
from policyqa.service.settings import load_settings


def test_environment_values_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("POLICYQA_HOME", str(tmp_path))
    monkeypatch.setenv("POLICYQA_CORS_ORIGINS", "https://portal.gov.cn, http://intranet.example ,")
    monkeypatch.setenv("POLICYQA_API_KEY", "secret")
    monkeypatch.setenv("POLICYQA_ANSWER_MIN_RELEVANCE", "0.4")
    monkeypatch.setenv("POLICYQA_READ_API_KEYS", " key-one,key-two ,,")
    monkeypatch.setenv("POLICYQA_KNOWLEDGE_BASES", '{"jiangsu-policies": {"region": "江苏"}}')
    settings = load_settings(port=9000)
    assert [key.get_secret_value() for key in settings.read_api_keys] == ["key-one", "key-two"]
    assert "key-one" not in repr(settings)  # keys never show in a printed or logged settings object
    assert settings.knowledge_bases["jiangsu-policies"].to_search_filters() == SearchFilters(region="江苏")
    assert settings.cors_origins == ["https://portal.gov.cn", "http://intranet.example"]
    assert settings.api_key == "secret"
    assert settings.answer_min_relevance == 0.4
    assert settings.port == 9000
    assert settings.resolved_index_dir == tmp_path / "index"


def test_defaults_are_safe(monkeypatch, tmp_path):
    for name in (
        "POLICYQA_API_KEY",
        "POLICYQA_READ_API_KEYS",
        "POLICYQA_KNOWLEDGE_BASES",
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
    assert settings.read_api_keys == [] and settings.knowledge_bases == {}  # /retrieval open, whole index
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
        (
            "POLICYQA_KNOWLEDGE_BASES",
            '{"jiangsu": {"regoin": "江苏"}}',
            "POLICYQA_KNOWLEDGE_BASES_JIANGSU_REGOIN: Extra inputs are not permitted",
        ),
        ("POLICYQA_KNOWLEDGE_BASES", '{"default": {}}', "'default' is the whole index"),
        (
            "POLICYQA_KNOWLEDGE_BASES",
            '{"old": {"date_from": "2020-01-01", "date_to": "2019-01-01"}}',
            "old: date_from 2020-01-01 is after date_to 2019-01-01",
        ),
        ("POLICYQA_KNOWLEDGE_BASES", "jiangsu=江苏", '"knowledge_bases".*Expecting value'),
    ],
)
def test_invalid_values_name_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()
