"""espeak-ng as a Pipecat TTS service: host/pipeline/tts.py's EspeakTts, streamed.

Pipecat's TTSService cuts the LLM's streamed text into sentences and calls
run_tts once per sentence; EspeakTts.stream() synthesises on a worker thread
and hands over ~20 ms of 16 kHz PCM as soon as it is made, so the first
audio of an answer follows its first sentence by about a millisecond
(docs/speech.md). Cancelling the generator (an interruption) stops espeak.
"""
from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from host.pipeline.tts import EspeakTts

SAMPLE_RATE_HZ = 16000


class EspeakTTSService(TTSService):
    """Local text to speech with espeak-ng (library or CLI backend)."""

    def __init__(self, voice="en-us", words_per_minute=175, backend="auto", tts=None, **kwargs):
        super().__init__(push_start_frame=True, push_stop_frames=True, sample_rate=SAMPLE_RATE_HZ,
                         settings=TTSSettings(model="espeak-ng", voice=voice, language=None),
                         **kwargs)
        self.tts = tts or EspeakTts(voice=voice, words_per_minute=words_per_minute, backend=backend)

    def can_generate_metrics(self):
        """TTFB and usage metrics are reported."""
        return True

    async def run_tts(self, text, context_id):
        """16 kHz audio frames of one sentence (or clause) as espeak makes them."""
        try:
            await self.start_tts_usage_metrics(text)
            async for pcm in self.tts.stream(text):
                await self.stop_ttfb_metrics()
                yield TTSAudioRawFrame(audio=pcm, sample_rate=SAMPLE_RATE_HZ, num_channels=1,
                                       context_id=context_id)
        except Exception as error:  # espeak missing a voice, a crashed CLI: this sentence is lost
            yield ErrorFrame(error="espeak-ng failed: %s" % error)
        finally:
            await self.stop_ttfb_metrics()
