"""The pipit transport: a gateway session as a Pipecat transport.

Input (`PipitInput`): the gateway's decoded uplink (16 kHz mono s16le, fed by
the session's sink through `feed`) becomes InputAudioRawFrame. Turn taking
happens here: host/pipeline/turn.py's EndOfTurn over Silero or WebRTC VAD
(in an executor) in always-listening mode, or the device's push-to-talk
button (DeviceState listening -> thinking, from the session's SRTCP) which
ends the turn at once. A turn start pushes VADUserStartedSpeakingFrame and
UserStartedSpeakingFrame and broadcasts an InterruptionFrame (barge-in); a
turn end pushes VADUserStoppedSpeakingFrame, UserStoppedSpeakingFrame and
UserTurnEndedFrame, and tells the device "heard".

Output (`PipitOutput`, host/pipeline/output.py): answer audio to the
session's DownlinkSender.
"""
import asyncio
import time

from pipecat.frames.frames import (
    InputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from host.pipeline.frames import UserTurnEndedFrame
from host.pipeline.output import PipitOutput
from host.pipeline.turn import SpeechStarted, TurnEnded

SAMPLE_RATE_HZ = 16000
_BYTES_PER_MS = SAMPLE_RATE_HZ * 2 // 1000
PUSH_TO_TALK = "push_to_talk"


def transport_params():
    """Audio in and out at 16 kHz mono, 20 ms output chunks (one downlink frame)."""
    return TransportParams(audio_in_enabled=True, audio_in_sample_rate=SAMPLE_RATE_HZ,
                           audio_out_enabled=True, audio_out_sample_rate=SAMPLE_RATE_HZ,
                           audio_out_10ms_chunks=2, audio_out_end_silence_secs=0)


class PipitInput(BaseInputTransport):
    """Uplink PCM and device state in; turn-taking frames out."""

    def __init__(self, params, detector, timeline, link, clock=time.monotonic, **kwargs):
        super().__init__(params, **kwargs)
        self.detector = detector          # host.pipeline.turn.EndOfTurn
        self._timeline = timeline
        self._link = link
        self._clock = clock
        self._queue = asyncio.Queue()     # bytes (audio) and DeviceState, in arrival order
        self._ready = False
        self._fed_ms = 0                  # stream time of the end of the audio fed to the detector
        self._state = None                # the device's last DeviceState
        self.record = None                # the turn being listened to
        self.dropped_chunks = 0           # audio that came before the pipeline started

    def feed(self, pcm):
        """Uplink PCM from the gateway (sync, on the event loop)."""
        if not self._ready:
            self.dropped_chunks += 1
            return
        self._queue.put_nowait(bytes(pcm))

    def device_state(self, message):
        """A DeviceState from the session's SRTCP (sync); only changes matter."""
        previous, self._state = self._state, message
        if previous is not None and previous.fields()[1:] == message.fields()[1:]:
            return
        if self._ready:
            self._queue.put_nowait(message)

    @property
    def ready(self):
        """True once started: audio fed before is dropped."""
        return self._ready

    @property
    def push_to_talk(self):
        return self._state is not None and self._state.mode == PUSH_TO_TALK

    async def start(self, frame):
        """Start, then take audio (the pipeline is ready for it now)."""
        await super().start(frame)
        await self.set_transport_ready(frame)
        self._ready = True

    async def _audio_task_handler(self):
        # Replaces the base handler: audio and device state, in order, one task.
        while True:
            item = await self._queue.get()
            if isinstance(item, bytes):
                chunks = [item]
                while not self._queue.empty() and isinstance(self._peek(), bytes):
                    chunks.append(self._queue.get_nowait())
                await self._on_audio(b"".join(chunks))
            else:
                await self._on_device_state(item)

    def _peek(self):
        return self._queue._queue[0]  # asyncio.Queue keeps a deque; read-only look

    async def _on_audio(self, pcm):
        now_s = self._clock()
        await self.push_frame(InputAudioRawFrame(pcm, SAMPLE_RATE_HZ, 1))
        if self.push_to_talk:
            return
        loop = asyncio.get_running_loop()
        events = await loop.run_in_executor(None, self.detector.feed, pcm)
        self._fed_ms += len(pcm) // _BYTES_PER_MS
        for event in events:
            at_s = lambda stream_ms: now_s - (self._fed_ms - stream_ms) / 1000.0
            if isinstance(event, SpeechStarted):
                if self._state is not None and self._state.half_duplex and self._state.state == "speaking":
                    continue  # the device hears itself: not a turn
                await self._begin(self._timeline.start("vad", speech_started_s=at_s(event.detected_ms)))
            elif isinstance(event, TurnEnded) and self.record is not None:
                record = self.record
                record.speech_ended_s = at_s(event.end_ms)
                record.end_of_turn_s = now_s
                await self._end((event.detected_ms - event.end_ms) / 1000.0)

    async def _on_device_state(self, message):
        now_s = self._clock()
        if message.mode != PUSH_TO_TALK:
            return
        if message.state == "listening" and (self.record is None or self.record.turn != message.turn):
            self.detector.reset()
            self._fed_ms = 0
            await self._begin(self._timeline.start(PUSH_TO_TALK, turn=message.turn,
                                                   speech_started_s=now_s))
        elif message.state == "thinking" and self.record is not None:
            self.record.speech_ended_s = self.record.end_of_turn_s = now_s
            await self._end(0.0)

    async def _begin(self, record):
        self.record = record
        await self.push_frame(VADUserStartedSpeakingFrame(
            start_secs=self.detector.start_ms / 1000.0))
        await self.push_frame(UserStartedSpeakingFrame())
        # Whatever the pipeline was saying or about to say is out of date now.
        await self.broadcast_interruption()

    async def _end(self, stop_s):
        record, self.record = self.record, None
        await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=stop_s))
        await self.push_frame(UserStoppedSpeakingFrame())
        await self.push_frame(UserTurnEndedFrame(record=record))
        self._link.turn_event("heard", record.turn)


class PipitTransport(BaseTransport):
    """input(): PipitInput; output(): PipitOutput, over one GatewaySession."""

    def __init__(self, served, detector, timeline, link, clock=time.monotonic):
        super().__init__(name="pipit-%08x" % served.uplink_ssrc)
        params = transport_params()
        self._input = PipitInput(params, detector, timeline, link, clock=clock,
                                 name="pipit-input")
        self._output = PipitOutput(params, served.downlink, timeline, link, clock=clock,
                                   name="pipit-output")

    def input(self):
        return self._input

    def output(self):
        return self._output
