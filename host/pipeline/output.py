"""The pipit transport's output: the answer's audio to the session's DownlinkSender.

Pipecat's media sender cuts the answer into 20 ms chunks at 16 kHz (it
resamples whatever rate the TTS service makes); `write_audio_frame` hands
each to DownlinkSender.say() and returns once the downlink holds at most
`max_queued_ms`, so the rest of the answer stays in Pipecat's queues, where an
interruption drops it, and the wire is paced by the downlink itself.

A barge-in (the input calls `barge_in()` as the user starts talking, then
broadcasts an InterruptionFrame; other interruptions come as the frame only)
flushes the downlink if an answer is queued or in flight, sends the device an
Abort (resume at the next sequence number) and closes the interrupted turns.
From the call until the InterruptionFrame arrives nothing is written; audio
made before it arrived is stale, recognised by id (frame ids grow with
creation).

The turns being answered are the timeline's `answers` (the agent registers
them). AnswerStartFrame / AnswerEndFrame travel in order with the audio; at the end
of an answer, once the downlink has sent everything, the device is told
"done" (or "nothing" when the answer had no audio) and the turn is closed.
"""
import asyncio
import time

import numpy as np
from pipecat.frames.frames import InterruptionFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.utils.utils import obj_id

from host.pipeline.frames import AnswerEndFrame, AnswerStartFrame

SAMPLE_RATE_HZ = 16000
DEFAULT_MAX_QUEUED_MS = 40


class PipitOutput(BaseOutputTransport):
    """Writes answer audio to a DownlinkSender; barge-in flushes it and aborts the device."""

    def __init__(self, params, downlink, timeline, link, clock=time.monotonic,
                 max_queued_ms=DEFAULT_MAX_QUEUED_MS, **kwargs):
        super().__init__(params, **kwargs)
        self._downlink = downlink
        self._timeline = timeline
        self._link = link
        self._clock = clock
        self._max_queued_ms = max_queued_ms
        self._playing = None          # the record whose audio is being written
        self._first_packet_of = None  # record waiting for its first downlink packet
        self._stale_before_id = 0     # audio frames with a smaller id predate the last barge-in
        self._muted = False           # barge-in until its InterruptionFrame arrives: write nothing
        self._cut_done = False        # the downlink was cut and nothing was said since
        self._resampler = None
        downlink.on_sent = self._on_sent

    async def start(self, frame):
        """Start the media sender."""
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def process_frame(self, frame, direction):
        """Note answers and first audio; handle barge-in before Pipecat's own clean-up."""
        if isinstance(frame, InterruptionFrame):
            self._on_interruption()
        elif direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, OutputAudioRawFrame):
                if self._muted or frame.id < self._stale_before_id:
                    return
                answers = self._timeline.answers
                if answers and answers[0].first_audio_s is None:
                    answers[0].first_audio_s = self._clock()
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame):
        """One chunk of the answer to the downlink; waits while the downlink is ahead."""
        if self._muted or frame.id < self._stale_before_id:
            return True  # cut off by a barge-in: taken, not sent
        pcm = await self._as_16k_mono(frame)
        record = self._playing
        if record is not None and self._first_packet_of is None and record.first_packet_s is None:
            self._first_packet_of = record
            self._link.turn_event("answering", record.turn)
        self._downlink.say(pcm)
        self._cut_done = False
        while self._downlink.queued_ms > self._max_queued_ms:
            await asyncio.sleep((self._downlink.queued_ms - self._max_queued_ms) / 1000.0)
        return True

    async def write_transport_frame(self, frame):
        """Answer boundaries, reached after every audio chunk queued before them."""
        if isinstance(frame, AnswerStartFrame):
            self._playing = frame.record
        elif isinstance(frame, AnswerEndFrame):
            if self._playing is frame.record:
                self._playing = None
            while self._downlink.queued_ms > 0:
                await asyncio.sleep(self._downlink.queued_ms / 1000.0)
            if frame.record is not None:
                self._finish(frame.record)

    def _finish(self, record):
        if record.outcome is not None:
            return
        if record.first_audio_s is not None:
            self._link.turn_event("done", record.turn)
            self._timeline.close(record, "answered")
        else:
            self._link.turn_event("nothing", record.turn)
            self._timeline.close(record, "error" if record.error else "nothing")

    def barge_in(self, abort=True):
        """Cut the answer now: the input calls this as the user starts talking.

        abort=False when the device has dropped the answer itself (its button,
        a `listen` or `stop`): then it gets no Abort, which would start it
        listening again. The InterruptionFrame that follows empties Pipecat's
        queues; until it gets here, nothing more is written to the downlink.
        """
        self._muted = True
        self._cut(abort)

    def answer_active(self):
        """True while an answer is being made, queued or in flight."""
        downlink = self._downlink
        in_flight = downlink.in_flight_ms > 0 and not self._cut_done  # a cut answer's tail is the device's
        return bool(self._timeline.answers) or downlink.queued_ms > 0 or in_flight

    def _on_interruption(self):
        self._stale_before_id = obj_id()  # audio made before now belongs to the cut answer
        self._cut()
        self._muted = False

    def _cut(self, abort=True):
        downlink = self._downlink
        active = not self._cut_done and (downlink.queued_ms > 0 or downlink.in_flight_ms > 0)
        dropped_ms = abort_id = None
        if active:
            dropped_ms = downlink.flush()
            if abort:
                abort_id = self._link.abort(resume_seq=downlink.sequence_number)
            self._cut_done = True
        now_s = self._clock()
        for record in list(self._timeline.answers):
            record.interrupted_s = now_s
            if active:
                record.flushed_ms, record.abort_id = dropped_ms, abort_id
            self._timeline.close(record, "interrupted")
        self._playing = self._first_packet_of = None

    def _on_sent(self, sent_s, marker):
        record = self._first_packet_of
        if record is not None:
            record.first_packet_s = sent_s
            self._first_packet_of = None

    async def _as_16k_mono(self, frame):
        audio = frame.audio
        if frame.num_channels == 2:
            stereo = np.frombuffer(audio, dtype="<i2").reshape(-1, 2).astype(np.int32)
            audio = (stereo.sum(axis=1) // 2).astype("<i2").tobytes()
        if frame.sample_rate != SAMPLE_RATE_HZ:
            if self._resampler is None:
                from pipecat.audio.utils import create_stream_resampler
                self._resampler = create_stream_resampler()
            audio = await self._resampler.resample(audio, frame.sample_rate, SAMPLE_RATE_HZ)
        return audio
