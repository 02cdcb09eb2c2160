"""pipit.toml: the conversation's settings, read once into dataclasses.

Every section and key is optional except where a section needs it (an [llm]
needs base_url and model); anything unknown, mistyped or out of range is
refused with a ConfigError naming the key path and the reason, e.g.
"pipit.toml: llm.base_url: must be an http(s) URL". docs/conversation.md
documents every key.
"""
import os
import tomllib
from dataclasses import MISSING, dataclass, field, fields

VAD_ENGINES = ("silero", "webrtc")
ASR_ENGINES = ("pocketsphinx", "openai")
TTS_ENGINES = ("espeak", "openai")
DEFAULT_SYSTEM_PROMPT = (
    "You are pipit, a voice assistant on a small speaker. Answer in one or two short "
    "spoken sentences, in plain words: no lists, no markdown, no emoji.")


class ConfigError(ValueError):
    """A setting that cannot be used; str() is 'source: key.path: reason'."""


@dataclass(frozen=True)
class VadConfig:
    """[vad]: who decides that the user started and stopped talking."""
    engine: str = "silero"
    start_ms: int = 60
    stop_ms: int = 250
    webrtc_mode: int = 3


@dataclass(frozen=True)
class AsrConfig:
    """[asr]: speech to text; base_url/model/api_key_env only for engine "openai"."""
    engine: str = "pocketsphinx"
    final_timeout_ms: int = 2000
    workers: int = 0                  # pocketsphinx in N worker processes (host/pipeline/asr_workers.py)
    base_url: str = ""
    model: str = ""
    api_key_env: str = ""


@dataclass(frozen=True)
class AgentConfig:
    """[agent]: whether the local intents answer first."""
    local_intents: bool = True


@dataclass(frozen=True)
class LlmConfig:
    """[llm]: an OpenAI-compatible chat-completions endpoint."""
    base_url: str
    model: str
    api_key_env: str = ""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    timeout_s: float = 10.0
    max_tokens: int = 150


@dataclass(frozen=True)
class TtsConfig:
    """[tts]: text to speech; base_url/model/api_key_env only for engine "openai"."""
    engine: str = "espeak"
    voice: str = "en-us"
    words_per_minute: int = 175
    base_url: str = ""
    model: str = ""
    api_key_env: str = ""


@dataclass(frozen=True)
class DownlinkConfig:
    """[downlink]: how far ahead of real time the answer is sent."""
    lead_ms: int = 60


@dataclass(frozen=True)
class Config:
    """The whole of pipit.toml."""
    vad: VadConfig = field(default_factory=VadConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    llm: LlmConfig | None = None
    tts: TtsConfig = field(default_factory=TtsConfig)
    downlink: DownlinkConfig = field(default_factory=DownlinkConfig)


_SECTIONS = {"vad": VadConfig, "asr": AsrConfig, "agent": AgentConfig, "llm": LlmConfig,
             "tts": TtsConfig, "downlink": DownlinkConfig}


def load(path):
    """Read and check a pipit.toml; ConfigError on any problem."""
    source = os.path.basename(str(path))
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError("%s: cannot be read: %s" % (source, error.strerror)) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("%s: not valid TOML: %s" % (source, error)) from error
    return from_dict(data, source)


def from_dict(data, source="pipit.toml"):
    """Check a parsed pipit.toml (a dict) and build the Config."""
    _refuse_unknown(source, "", data, _SECTIONS, "section")
    sections = {}
    for name, kind in _SECTIONS.items():
        if name not in data:
            continue
        table = data[name]
        if not isinstance(table, dict):
            raise ConfigError("%s: %s: must be a table ([%s])" % (source, name, name))
        sections[name] = _section(source, name, kind, table)
    config = Config(**sections)
    _check(source, config)
    return config


def _refuse_unknown(source, prefix, table, known, what="key"):
    for key in table:
        if key not in known:
            raise ConfigError("%s: %s%s: unknown %s (known: %s)"
                              % (source, prefix, key, what, ", ".join(known)))


def _section(source, name, kind, table):
    known = {f.name: f for f in fields(kind)}
    _refuse_unknown(source, name + ".", table, known)
    for key, spec in known.items():
        if key not in table and spec.default is MISSING and spec.default_factory is MISSING:
            raise ConfigError("%s: %s.%s: missing (required in [%s])" % (source, name, key, name))
    values = {}
    for key, value in table.items():
        values[key] = _typed(source, "%s.%s" % (name, key), known[key].type, value)
    return kind(**values)


def _typed(source, path, wanted, value):
    """value checked against the field's type: bool, int, float or str."""
    kind = {"bool": bool, "int": int, "float": float, "str": str}.get(
        wanted if isinstance(wanted, str) else wanted.__name__)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError("%s: %s: must be %s, got %r" % (source, path, _A[kind], value))
    return value


_A = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _check(source, config):
    """Ranges and choices; the first problem found is raised."""
    for path, problem in _problems(config):
        raise ConfigError("%s: %s: %s" % (source, path, problem))


def _problems(config):
    vad, asr, tts, llm = config.vad, config.asr, config.tts, config.llm
    yield from _choice("vad.engine", vad.engine, VAD_ENGINES)
    yield from _between("vad.start_ms", vad.start_ms, 0, 1000)
    yield from _between("vad.stop_ms", vad.stop_ms, 60, 5000)
    yield from _between("vad.webrtc_mode", vad.webrtc_mode, 0, 3)
    yield from _choice("asr.engine", asr.engine, ASR_ENGINES)
    yield from _between("asr.final_timeout_ms", asr.final_timeout_ms, 100, 60000)
    yield from _between("asr.workers", asr.workers, 0, 64)
    if asr.workers and asr.engine != "pocketsphinx":
        yield "asr.workers", "only used with engine \"pocketsphinx\""
    yield from _service("asr", asr)
    yield from _choice("tts.engine", tts.engine, TTS_ENGINES)
    yield from _between("tts.words_per_minute", tts.words_per_minute, 80, 450)
    if not tts.voice:
        yield "tts.voice", "must not be empty"
    yield from _service("tts", tts)
    yield from _between("downlink.lead_ms", config.downlink.lead_ms, 0, 1000)
    if llm is not None:
        yield from _url("llm.base_url", llm.base_url)
        if not llm.model:
            yield "llm.model", "must not be empty"
        yield from _env_name("llm.api_key_env", llm.api_key_env)
        if not 0 < llm.timeout_s <= 300:
            yield "llm.timeout_s", "must be more than 0 and at most 300, got %r" % llm.timeout_s
        yield from _between("llm.max_tokens", llm.max_tokens, 1, 100000)
    if not config.agent.local_intents and llm is None:
        yield "agent.local_intents", "false needs an [llm] to answer instead"


def _service(section, settings):
    """base_url/model/api_key_env: needed by engine "openai", refused otherwise."""
    remote = settings.engine == "openai"
    if remote:
        yield from _url(section + ".base_url", settings.base_url)
        if not settings.model:
            yield section + ".model", "must not be empty for engine \"openai\""
        yield from _env_name(section + ".api_key_env", settings.api_key_env)
        return
    for key in ("base_url", "model", "api_key_env"):
        if getattr(settings, key):
            yield "%s.%s" % (section, key), "only used with engine \"openai\""


def _choice(path, value, choices):
    if value not in choices:
        yield path, "must be one of %s, got %r" % (", ".join(choices), value)


def _between(path, value, low, high):
    if not low <= value <= high:
        yield path, "must be %d..%d, got %r" % (low, high, value)


def _url(path, value):
    if not value.startswith(("http://", "https://")) or len(value.split("//", 1)[1]) == 0:
        yield path, "must be an http(s) URL, got %r" % (value,)


def _env_name(path, value):
    if value and not value.replace("_", "a").isalnum():
        yield path, "must be the name of an environment variable, got %r" % (value,)


def api_key(path, env_name, environ=os.environ):
    """The API key from the named environment variable ("" names none); ConfigError if unset."""
    if not env_name:
        return "none"  # local servers (Ollama, llama.cpp) ignore it; the client wants one
    value = environ.get(env_name)
    if not value:
        raise ConfigError("pipit.toml: %s: environment variable %s is not set" % (path, env_name))
    return value
