"""The conversation's agent: local intents first, an OpenAI-compatible LLM for the rest.

`PipitAgent` sits after the STT service. When a turn has ended
(UserTurnEndedFrame) and its final transcript has come (in either order; at
most `final_timeout_s` after the end), it answers:

- nothing understood: the device is told "nothing";
- a local intent (host/pipeline/intents.py IntentAgent), when local intents
  are on and one matches (or always, without an LLM): its answer is spoken
  (TTSSpeakFrame) and its actions carried out: `volume` sends the device a
  Volume message, `stop` stops whatever is playing (an interruption) and
  tells the device "done", `timer_start` / `timer_cancel` schedule or drop a
  ring that says "Your timer is done." when due;
- anything else goes to the LLM: the user's words are added to the chat
  context and an LLMContextFrame is pushed (the Pipecat OpenAI service after
  this processor streams the reply; `ReplyCollector` after the LLM keeps the
  reply in the context and the timeline).

Every answer is wrapped in AnswerStartFrame / AnswerEndFrame and registered in
the timeline's `answers`, so the transport's output can tell the device
"answering" / "done" and close the turn, or cut it at a barge-in.
"""
import asyncio
import time

from pipecat.frames.frames import (
    ErrorFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from host.pipeline.frames import AnswerEndFrame, AnswerStartFrame, UserTurnEndedFrame

RING_TEXT = "Your timer is done."
DEFAULT_FINAL_TIMEOUT_S = 2.0


class PipitAgent(FrameProcessor):
    """Turns transcripts into answers: local intents, else the LLM."""

    def __init__(self, timeline, link, intents=None, llm_context=None,
                 final_timeout_s=DEFAULT_FINAL_TIMEOUT_S, clock=time.monotonic, **kwargs):
        super().__init__(**kwargs)
        if intents is None and llm_context is None:
            raise ValueError("agent: needs local intents, an LLM context, or both")
        self._timeline = timeline
        self._link = link
        self._intents = intents        # host.pipeline.intents.IntentAgent, or None
        self._context = llm_context    # pipecat LLMContext when an LLM answers, or None
        self._final_timeout_s = final_timeout_s
        self._clock = clock
        self._awaiting = None          # turn ended, transcript not here yet
        self._waiter = None
        self._early = None             # (text, source) of a transcript that beat its turn's end
        self._ring = None              # the timer's asyncio.TimerHandle
        self.answering = None          # the record most recently handed to TTS / LLM

    async def process_frame(self, frame, direction):
        """Route the frames the agent cares about; everything else passes."""
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            await self._on_transcript(frame)
            return
        if isinstance(frame, UserTurnEndedFrame):
            if frame.heard_speech:
                await self._on_turn_ended(frame.record)
            else:
                await self._answer(frame.record, "", "none")
        elif isinstance(frame, UserStartedSpeakingFrame):
            self._early = None
        elif isinstance(frame, InterruptionFrame):
            self._on_interruption()
        elif isinstance(frame, ErrorFrame) and direction == FrameDirection.UPSTREAM:
            record = self.answering
            if record is not None and record.outcome is None and record.error is None:
                record.error = str(frame.error)
        await self.push_frame(frame, direction)

    async def _on_turn_ended(self, record):
        if self._early is not None:
            (text, source), self._early = self._early, None
            await self._answer(record, text, source)
            return
        self._awaiting = record
        self._waiter = self.create_task(self._transcript_deadline(record))

    async def _on_transcript(self, frame):
        text = frame.text.strip()
        source = getattr(frame.result, "source", None) or "stt"
        record, self._awaiting = self._awaiting, None
        if record is None:
            earlier = self._early[0] + " " if self._early else ""
            self._early = ((earlier + text).strip(), source)
            return
        await self._stop_waiter()
        await self._answer(record, text, source)

    async def _transcript_deadline(self, record):
        await asyncio.sleep(self._final_timeout_s)
        if self._awaiting is record:
            self._awaiting = None
            self._waiter = None
            self._nothing(record, error="no transcript within %.1f s" % self._final_timeout_s)

    async def _stop_waiter(self):
        waiter, self._waiter = self._waiter, None
        if waiter is not None and waiter is not asyncio.current_task():
            await self.cancel_task(waiter)

    def _on_interruption(self):
        record, self._awaiting = self._awaiting, None
        if record is not None:
            record.interrupted_s = self._clock()
            self._timeline.close(record, "interrupted")
        if self._waiter is not None:
            self._waiter.cancel()
            self._waiter = None

    async def _answer(self, record, text, source):
        record.transcript_s = self._clock()
        record.transcript, record.transcript_source = text, source
        if not text:
            self._nothing(record, error="speech recognition failed" if source == "error" else None)
            return
        reply = self._local_reply(text)
        if reply is None:
            await self._ask_llm(record, text)
        else:
            await self._say_local(record, reply)

    def _nothing(self, record, error=None):
        self._link.turn_event("nothing", record.turn)
        self._timeline.close(record, "error" if error else "nothing", error=error)

    def _local_reply(self, text):
        if self._intents is None:
            return None
        reply = self._intents.handle(text)
        if reply.intent == "unknown" and self._context is not None:
            return None
        return reply

    async def _say_local(self, record, reply):
        record.reply_s = self._clock()
        record.reply_text, record.reply_source, record.intent = reply.text, "intent", reply.intent
        for action in reply.actions:
            self._act(action)
        if not reply.text:  # "stop": nothing to say, and nothing may go on playing
            self._link.turn_event("done", record.turn)
            self._timeline.close(record, "stopped")
            await self.broadcast_interruption()
            return
        await self._speak(record, reply.text)

    async def _speak(self, record, text):
        if record is not None:
            self._timeline.answers.append(record)
            self.answering = record
        await self.push_frame(AnswerStartFrame(record=record))
        await self.push_frame(TTSSpeakFrame(text, append_to_context=False))
        await self.push_frame(AnswerEndFrame(record=record))

    async def _ask_llm(self, record, text):
        messages = self._context.get_messages()
        if messages and messages[-1].get("role") == "user":
            # The last question got no answer (the LLM failed, or the user cut in
            # before its first word): drop it, so the roles keep alternating as
            # many chat templates (llama.cpp, vLLM) require.
            self._context.set_messages(messages[:-1])
        self._context.add_message({"role": "user", "content": text})
        self._timeline.answers.append(record)
        self.answering = record
        await self.push_frame(AnswerStartFrame(record=record))
        await self.push_frame(LLMContextFrame(self._context))
        await self.push_frame(AnswerEndFrame(record=record))

    def _act(self, action):
        if action.name == "volume":
            self._link.volume(action.args["volume_pct"])
        elif action.name == "timer_start":
            self._cancel_ring()
            loop = asyncio.get_running_loop()
            self._ring = loop.call_later(action.args["seconds"], self._ring_due)
        elif action.name == "timer_cancel":
            self._cancel_ring()

    def _cancel_ring(self):
        if self._ring is not None:
            self._ring.cancel()
            self._ring = None

    def _ring_due(self):
        self._ring = None
        self.create_task(self._speak(None, RING_TEXT), name="timer-ring")

    async def cleanup(self):
        """Drop the timer and the transcript deadline."""
        self._cancel_ring()
        if self._waiter is not None:
            self._waiter.cancel()
        await super().cleanup()


class ReplyCollector(FrameProcessor):
    """After the LLM: the streamed reply into the chat context and the turn's record."""

    def __init__(self, llm_context, clock=time.monotonic, **kwargs):
        super().__init__(**kwargs)
        self._context = llm_context
        self._clock = clock
        self._record = None
        self._parts = []

    async def process_frame(self, frame, direction):
        """Watch AnswerStart, LLM text and the end of the LLM's response; pass everything."""
        await super().process_frame(frame, direction)
        if isinstance(frame, AnswerStartFrame):
            self._record = frame.record
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._parts = []
        elif isinstance(frame, LLMTextFrame):
            if not self._parts and self._record is not None and self._record.reply_s is None:
                self._record.reply_s = self._clock()
                self._record.reply_source = "llm"
            self._parts.append(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._end_of_reply()
        await self.push_frame(frame, direction)

    def _end_of_reply(self):
        text = "".join(self._parts).strip()
        self._parts = []
        if self._record is not None:
            self._record.reply_text = text
            self._record.reply_source = "llm"
        if text:
            self._context.add_message({"role": "assistant", "content": text})
