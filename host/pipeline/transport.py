"""The pipit transport: a gateway session as a Pipecat transport.

Input (`PipitInput`): the gateway's decoded uplink (16 kHz mono s16le, fed by
the session's sink through `feed`) becomes InputAudioRawFrame. Turn taking
happens here: host/pipeline/turn.py's EndOfTurn over Silero or WebRTC VAD
(in an executor) in always-listening mode, or the device's push-to-talk
button (DeviceState listening -> thinking, from the session's SRTCP) which
ends the turn at once; there the VAD only decides whether the turn held any
voice (recognition starts when it does; a silent press is "nothing"). A
DeviceState `listening` or `idle` while an answer is going means the device
dropped it itself: the downlink is cut without an Abort (docs/protocol.md).

A turn start cuts the answer (PipitOutput.barge_in), pushes
VADUserStartedSpeakingFrame and UserStartedSpeakingFrame and broadcasts an
InterruptionFrame; a turn end pushes VADUserStoppedSpeakingFrame,
UserStoppedSpeakingFrame and UserTurnEndedFrame, and tells the device "heard".

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
        self.started = asyncio.Event()    # set with _ready: the pipeline takes audio from now on
        self._fed_ms = 0                  # stream time of the end of the audio fed to the detector
        self._state = None                # the device's last DeviceState
        self.record = None                # the turn being listened to
        self._voiced = False              # push-to-talk: the VAD found voice in this turn
        self.dropped_chunks = 0           # audio that came before the pipeline started
        self.on_barge_in = None           # called at each turn start (PipitOutput.barge_in)
        self.answer_active = None         # PipitOutput.answer_active

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
        self.started.set()

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
        loop = asyncio.get_running_loop()
        events = await loop.run_in_executor(None, self.detector.feed, pcm)
        self._fed_ms += len(pcm) // _BYTES_PER_MS
        for event in events:
            if self.push_to_talk:
                await self._voice_in_push_to_talk(event)
            elif isinstance(event, SpeechStarted):
                await self._vad_start(self._stream_time_s(now_s, event.detected_ms))
            elif isinstance(event, TurnEnded) and self.record is not None:
                self.record.speech_ended_s = self._stream_time_s(now_s, event.end_ms)
                self.record.end_of_turn_s = now_s
                await self._end((event.detected_ms - event.end_ms) / 1000.0)

    def _stream_time_s(self, now_s, stream_ms):
        """Clock time of a stream time, now_s being the end of the audio fed."""
        return now_s - (self._fed_ms - stream_ms) / 1000.0

    async def _vad_start(self, detected_s):
        state = self._state
        if state is not None and state.half_duplex and state.state == "speaking":
            return  # the device hears itself: not a turn
        await self._begin(self._timeline.start("vad", speech_started_s=detected_s))

    async def _voice_in_push_to_talk(self, event):
        # The button makes the turn; the VAD only says whether it held any voice,
        # and recognition starts (with its pre-roll) once it does.
        if isinstance(event, SpeechStarted) and self.record is not None and not self._voiced:
            self._voiced = True
            await self.push_frame(VADUserStartedSpeakingFrame(
                start_secs=self.detector.start_ms / 1000.0))

    async def _on_device_state(self, message):
        now_s = self._clock()
        push_to_talk = message.mode == PUSH_TO_TALK
        if push_to_talk and message.state == "listening" and (
                self.record is None or self.record.turn != message.turn):
            self.detector.reset()
            self._fed_ms = 0
            self._voiced = False
            # The device dropped what it was playing when the button went down.
            await self._begin(self._timeline.start(PUSH_TO_TALK, turn=message.turn,
                                                   speech_started_s=now_s),
                              vad_frame=False, abort=False)
        elif push_to_talk and message.state == "thinking" and self.record is not None:
            self.record.speech_ended_s = self.record.end_of_turn_s = now_s
            await self._end(0.0, heard_speech=self._voiced)
        elif message.state in ("listening", "idle") and self.answer_active is not None \
                and self.answer_active():
            # The device cut the answer itself (button, `listen`, `stop`): stop sending it.
            self.on_barge_in(abort=False)
            await self.broadcast_interruption()

    async def _begin(self, record, vad_frame=True, abort=True):
        self.record = record
        if self.on_barge_in is not None:
            self.on_barge_in(abort=abort)  # cut the answer before the frames below reach the output
        if vad_frame:
            await self.push_frame(VADUserStartedSpeakingFrame(
                start_secs=self.detector.start_ms / 1000.0))
        await self.push_frame(UserStartedSpeakingFrame())
        # Whatever the pipeline was saying or about to say is out of date now.
        await self.broadcast_interruption()

    async def _end(self, stop_s, heard_speech=True):
        record, self.record = self.record, None
        if heard_speech:
            await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=stop_s))
        await self.push_frame(UserStoppedSpeakingFrame())
        await self.push_frame(UserTurnEndedFrame(record=record, heard_speech=heard_speech))
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
        self._input.on_barge_in = self._output.barge_in
        self._input.answer_active = self._output.answer_active

    def input(self):
        return self._input

    def output(self):
        return self._output
