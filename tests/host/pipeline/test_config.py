"""pipit.toml: the example loads, every wrong or missing key is refused with its path and reason."""
from pathlib import Path

import pytest

from host.pipeline import config as config_module
from host.pipeline import services
from host.pipeline.config import Config, ConfigError, api_key, from_dict, load

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "pipit.toml"
OLLAMA = """
[llm]
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2"
system_prompt = "Be brief."
timeout_s = 10
"""


def test_the_example_file_is_the_defaults():
    assert load(EXAMPLE) == Config()


def test_an_llm_section_and_every_value_read_back(tmp_path):
    path = tmp_path / "pipit.toml"
    path.write_text(OLLAMA + """
[vad]
engine = "webrtc"
start_ms = 40
stop_ms = 200
webrtc_mode = 2
[asr]
final_timeout_ms = 1500
[agent]
local_intents = false
[tts]
voice = "en-gb"
words_per_minute = 160
[downlink]
lead_ms = 40
""")
    config = load(path)
    assert (config.llm.base_url, config.llm.model, config.llm.timeout_s) == (
        "http://127.0.0.1:11434/v1", "llama3.2", 10.0)
    assert config.llm.api_key_env == "" and config.llm.max_tokens == 150
    assert (config.vad.engine, config.vad.start_ms, config.vad.stop_ms, config.vad.webrtc_mode) == (
        "webrtc", 40, 200, 2)
    assert config.asr.final_timeout_ms == 1500 and config.agent.local_intents is False
    assert (config.tts.voice, config.tts.words_per_minute, config.downlink.lead_ms) == ("en-gb", 160, 40)


REFUSED = [
    ({"vad": {"engine": "cobra"}}, "vad.engine: must be one of silero, webrtc, got 'cobra'"),
    ({"vad": {"stop_ms": 30}}, "vad.stop_ms: must be 60..5000, got 30"),
    ({"vad": {"start_ms": -1}}, "vad.start_ms: must be 0..1000, got -1"),
    ({"vad": {"stop_ms": "300"}}, "vad.stop_ms: must be an integer, got '300'"),
    ({"vad": {"stop_ms": True}}, "vad.stop_ms: must be an integer, got True"),
    ({"vad": {"webrtc_mode": 4}}, "vad.webrtc_mode: must be 0..3, got 4"),
    ({"vad": {"stop": 300}}, "vad.stop: unknown key (known: engine, start_ms, stop_ms, webrtc_mode)"),
    ({"vad": 3}, "vad: must be a table ([vad])"),
    ({"voice": {}}, "voice: unknown section (known: vad, asr, agent, llm, tts, downlink)"),
    ({"asr": {"engine": "whisper"}}, "asr.engine: must be one of pocketsphinx, openai, got 'whisper'"),
    ({"asr": {"final_timeout_ms": 50}}, "asr.final_timeout_ms: must be 100..60000, got 50"),
    ({"asr": {"model": "x"}}, "asr.model: only used with engine \"openai\""),
    ({"asr": {"engine": "openai", "model": "whisper-1"}},
     "asr.base_url: must be an http(s) URL, got ''"),
    ({"asr": {"engine": "openai", "base_url": "http://h/v1"}},
     "asr.model: must not be empty for engine \"openai\""),
    ({"agent": {"local_intents": "yes"}}, "agent.local_intents: must be true or false, got 'yes'"),
    ({"agent": {"local_intents": False}}, "agent.local_intents: false needs an [llm] to answer instead"),
    ({"llm": {"model": "m"}}, "llm.base_url: missing (required in [llm])"),
    ({"llm": {"base_url": "http://h/v1"}}, "llm.model: missing (required in [llm])"),
    ({"llm": {"base_url": "127.0.0.1:11434", "model": "m"}},
     "llm.base_url: must be an http(s) URL, got '127.0.0.1:11434'"),
    ({"llm": {"base_url": "http://h/v1", "model": ""}}, "llm.model: must not be empty"),
    ({"llm": {"base_url": "http://h/v1", "model": "m", "api_key_env": "my key"}},
     "llm.api_key_env: must be the name of an environment variable, got 'my key'"),
    ({"llm": {"base_url": "http://h/v1", "model": "m", "timeout_s": 0}},
     "llm.timeout_s: must be more than 0 and at most 300, got 0.0"),
    ({"llm": {"base_url": "http://h/v1", "model": "m", "timeout_s": "5"}},
     "llm.timeout_s: must be a number, got '5'"),
    ({"llm": {"base_url": "http://h/v1", "model": "m", "max_tokens": 0}},
     "llm.max_tokens: must be 1..100000, got 0"),
    ({"llm": {"base_url": "http://h/v1", "model": "m", "temperature": 0.2}},
     "llm.temperature: unknown key (known: base_url, model, api_key_env, system_prompt, "
     "timeout_s, max_tokens)"),
    ({"tts": {"engine": "piper"}}, "tts.engine: must be one of espeak, openai, got 'piper'"),
    ({"tts": {"voice": ""}}, "tts.voice: must not be empty"),
    ({"tts": {"words_per_minute": 1000}}, "tts.words_per_minute: must be 80..450, got 1000"),
    ({"tts": {"engine": "openai", "base_url": "https://api.openai.com/v1"}},
     "tts.model: must not be empty for engine \"openai\""),
    ({"downlink": {"lead_ms": -5}}, "downlink.lead_ms: must be 0..1000, got -5"),
]


@pytest.mark.parametrize("data, message", REFUSED, ids=[m.split(":")[0] for _, m in REFUSED])
def test_a_wrong_or_missing_setting_is_refused_with_its_key_and_reason(data, message):
    with pytest.raises(ConfigError) as refused:
        from_dict(data)
    assert str(refused.value) == "pipit.toml: " + message


def test_unreadable_and_malformed_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"^pipit.toml: cannot be read: No such file"):
        load(tmp_path / "pipit.toml")
    broken = tmp_path / "pipit.toml"
    broken.write_text("[vad\nengine = 1\n")
    with pytest.raises(ConfigError, match=r"^pipit.toml: not valid TOML: "):
        load(broken)


def test_api_keys_come_from_the_named_environment_variable():
    assert api_key("llm.api_key_env", "PIPIT_KEY", {"PIPIT_KEY": "sk-1"}) == "sk-1"
    assert api_key("llm.api_key_env", "", {}) == "none"  # local servers ignore it
    with pytest.raises(ConfigError) as refused:
        api_key("llm.api_key_env", "PIPIT_KEY", {})
    assert str(refused.value) == ("pipit.toml: llm.api_key_env: environment variable PIPIT_KEY "
                                  "is not set")


def test_the_openai_compatible_services_are_built_from_the_config(monkeypatch):
    monkeypatch.setenv("PIPIT_TEST_KEY", "sk-test")
    remote = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "PIPIT_TEST_KEY"}
    config = from_dict({"asr": dict(remote, engine="openai"),
                        "tts": dict(remote, engine="openai", voice="alloy"),
                        "llm": dict(remote, timeout_s=3)})
    llm = services.make_llm(config.llm)
    assert llm._client.timeout == 3.0 and llm._client.max_retries == 0
    assert str(llm._client.base_url) == "http://127.0.0.1:9/v1/"
    assert type(services.make_stt(config.asr)).__name__ == "OpenAISTTService"
    assert type(services.make_tts(config.tts)).__name__ == "OpenAITTSService"
    default = from_dict({"llm": {"base_url": "http://h/v1", "model": "m"}}).llm
    assert default.system_prompt == config_module.DEFAULT_SYSTEM_PROMPT
