"""Pipecat services and the turn detector, made from pipit.toml (host/pipeline/config.py).

Engines by name:

- [vad] "silero" (default) or "webrtc": host/pipeline/vad.py under turn.py's EndOfTurn.
- [asr] "pocketsphinx" (default, host/pipeline/stt.py) or "openai": Pipecat's
  OpenAISTTService (any OpenAI-compatible /audio/transcriptions endpoint,
  segments cut by our VAD).
- [tts] "espeak" (default, host/pipeline/tts_service.py) or "openai": Pipecat's
  OpenAITTSService (24 kHz, resampled to 16 kHz by the transport).
- [llm]: Pipecat's OpenAILLMService on any OpenAI-compatible chat-completions
  endpoint (OpenAI, Ollama, vLLM, llama.cpp server), with the request timeout
  from the config and no automatic retries (a voice turn would rather fail fast).
"""
from openai import AsyncOpenAI
from pipecat.services.openai.llm import OpenAILLMService

from host.pipeline.config import api_key
from host.pipeline.turn import EndOfTurn
from host.pipeline.vad import SileroVad, WebRtcVad


def make_detector(vad):
    """EndOfTurn over the configured VAD ([vad])."""
    if vad.engine == "webrtc":
        classifier = WebRtcVad(mode=vad.webrtc_mode)
    else:
        classifier = SileroVad()
    return EndOfTurn(classifier, start_ms=vad.start_ms, stop_ms=vad.stop_ms)


def make_stt(asr, recognizer_factory=None):
    """The STT service for [asr]."""
    if asr.engine == "openai":
        from pipecat.services.openai.stt import OpenAISTTService
        return OpenAISTTService(api_key=api_key("asr.api_key_env", asr.api_key_env),
                                base_url=asr.base_url,
                                settings=OpenAISTTService.Settings(model=asr.model))
    from host.pipeline.stt import PocketsphinxSTTService
    if recognizer_factory is None and asr.workers:
        from host.pipeline.asr_workers import AsrWorkers
        recognizer_factory = AsrWorkers.shared(asr.workers).recognizer
    if recognizer_factory is None:
        return PocketsphinxSTTService()
    return PocketsphinxSTTService(recognizer_factory=recognizer_factory)


def make_tts(tts):
    """The TTS service for [tts]."""
    if tts.engine == "openai":
        from pipecat.services.openai.tts import OpenAITTSService
        return OpenAITTSService(api_key=api_key("tts.api_key_env", tts.api_key_env),
                                base_url=tts.base_url,
                                settings=OpenAITTSService.Settings(model=tts.model, voice=tts.voice))
    from host.pipeline.tts_service import EspeakTTSService
    return EspeakTTSService(voice=tts.voice, words_per_minute=tts.words_per_minute)


class TimedOpenAILLMService(OpenAILLMService):
    """OpenAILLMService whose HTTP client has a request timeout and makes no retries."""

    def __init__(self, *, timeout_s, **kwargs):
        self._timeout_s = timeout_s
        super().__init__(**kwargs)

    def create_client(self, api_key=None, base_url=None, **kwargs):
        """An AsyncOpenAI client with our timeout."""
        return AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=self._timeout_s,
                           max_retries=0)

    async def cleanup(self):
        """Close the HTTP client on the loop that made it (not later, from the GC)."""
        await super().cleanup()
        await self._client.close()


def make_llm(llm):
    """Pipecat's OpenAI LLM service for [llm]."""
    settings = OpenAILLMService.Settings(model=llm.model, system_instruction=llm.system_prompt,
                                         max_tokens=llm.max_tokens)
    return TimedOpenAILLMService(timeout_s=llm.timeout_s, base_url=llm.base_url,
                                 api_key=api_key("llm.api_key_env", llm.api_key_env),
                                 settings=settings)
