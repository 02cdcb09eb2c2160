"""pocketsphinx as a Pipecat STT service: host/pipeline/asr.py's Recognizer, streamed.

Audio is decoded while the user talks: from VADUserStartedSpeakingFrame on
(with `pre_roll_ms` of the audio before it, since the VAD is sure of speech
only after its start_ms), each InputAudioRawFrame is fed to the Recognizer;
at VADUserStoppedSpeakingFrame the utterance is finished (~2 ms on the
grammar path) and a final TranscriptionFrame is pushed, before the stop frame
travels on. Its `result` is the Transcript (text, source "grammar" | "lm" |
"none", word timings). A turn in which nothing was understood gives an empty
TranscriptionFrame, so the agent can tell the device "nothing" at once.

Recognizer calls are blocking CPU work: they run, in order, on one worker
thread of the service's own. A recogniser that raises is replaced; the turn
gives an empty transcript and an ErrorFrame goes upstream.
"""
import asyncio
import datetime
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from pipecat.frames.frames import (
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import STTService

from host.pipeline.asr import Recognizer, Transcript

SAMPLE_RATE_HZ = 16000
_BYTES_PER_MS = SAMPLE_RATE_HZ * 2 // 1000
DEFAULT_PRE_ROLL_MS = 300
# Measured (docs/speech.md): finish() ~2 ms on the grammar path; the open-model
# fallback takes ~0.3 x the utterance. Pipecat's turn strategies read this.
TTFS_P99_S = 0.5


class PocketsphinxSTTService(STTService):
    """Streaming pocketsphinx recognition of each user turn."""

    def __init__(self, recognizer_factory=Recognizer, pre_roll_ms=DEFAULT_PRE_ROLL_MS, **kwargs):
        super().__init__(sample_rate=SAMPLE_RATE_HZ, ttfs_p99_latency=TTFS_P99_S,
                         audio_passthrough=False,
                         settings=STTSettings(model="pocketsphinx-en-us", language=None), **kwargs)
        self._factory = recognizer_factory
        self._recognizer = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocketsphinx")
        self._pre_roll = deque()
        self._pre_roll_bytes = 0
        self._max_pre_roll_bytes = pre_roll_ms * _BYTES_PER_MS
        self._in_turn = False
        self._failed = None
        self._making = None

    async def start(self, frame):
        """Start making the recogniser (~50-100 ms, off the loop); the first turn waits for it."""
        await super().start(frame)
        self._making = asyncio.ensure_future(self._run(self._factory))

    async def _ready_recognizer(self):
        if self._recognizer is None and self._making is not None:
            making, self._making = self._making, None
            try:
                self._recognizer = await making
            except Exception as error:
                self._failed = error
        return self._recognizer

    async def cleanup(self):
        """Let the worker thread go (and a recogniser that lives in a worker process)."""
        await super().cleanup()
        if self._making is not None:
            self._making.cancel()
        self._close(self._recognizer)
        self._executor.shutdown(wait=False)

    @staticmethod
    def _close(recognizer):
        close = getattr(recognizer, "close", None)  # RemoteRecognizer (host/pipeline/asr_workers.py)
        if close is not None:
            close()

    async def _run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def run_stt(self, audio):
        """Feed one chunk (in a turn) or keep it as pre-roll (between turns)."""
        if self._in_turn:
            await self._feed(audio)
        else:
            self._pre_roll.append(audio)
            self._pre_roll_bytes += len(audio)
            while self._pre_roll_bytes - len(self._pre_roll[0]) >= self._max_pre_roll_bytes:
                self._pre_roll_bytes -= len(self._pre_roll.popleft())
        return
        yield  # an async generator that yields no frames

    async def _feed(self, audio):
        if self._failed is not None or await self._ready_recognizer() is None:
            return
        try:
            await self._run(self._recognizer.feed, audio)
        except Exception as error:  # pocketsphinx raising mid-turn: this turn is lost
            self._failed = error

    async def process_frame(self, frame, direction):
        """Start feeding at speech start; finish and push the transcript at speech stop."""
        if isinstance(frame, VADUserStartedSpeakingFrame):
            await self._begin_turn()
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._in_turn:
            self._in_turn = False
            await self.push_frame(await self._finish())
        await super().process_frame(frame, direction)

    async def _begin_turn(self):
        self._in_turn = True
        self._failed = None
        pre_roll = b"".join(self._pre_roll)
        self._pre_roll.clear()
        self._pre_roll_bytes = 0
        if pre_roll:
            await self._feed(pre_roll)

    async def _finish(self):
        transcript = None
        if self._failed is None and await self._ready_recognizer() is not None:
            try:
                transcript = await self._run(self._recognizer.finish)
            except Exception as error:
                self._failed = error
        if transcript is None:
            await self.push_error("pocketsphinx failed: %s" % (self._failed,), exception=self._failed)
            self._close(self._recognizer)
            self._recognizer = await self._fresh_recognizer()
            transcript = Transcript("", "error", (), "", 0, 0.0)
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
        return TranscriptionFrame(transcript.text, "", stamp, result=transcript, finalized=True)

    async def _fresh_recognizer(self):
        try:
            return await self._run(self._factory)
        except Exception as error:
            await self.push_error("pocketsphinx: cannot make a recogniser: %s" % error,
                                  exception=error)
            return None
