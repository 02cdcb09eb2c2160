"""What the conversation tests share: a real gateway with Conversations, and a board double.

Board is a test double of a device: it speaks the real wire protocol (RTP
from device/rtp.py, Opus from device/codec.py, SRTP/SRTCP by libsrtp through
pylibsrtp, PPIT APP messages from device/rtcp_app.py) over a real UDP socket
on 127.0.0.1. It streams PCM as its microphone, paced in real time, sends
DeviceState, and records every downlink packet (decoded) and every PPIT
message it receives, with arrival times.
"""
import asyncio
import contextlib
import struct
import time

import numpy as np

from device import rtcp, rtcp_app
from device.codec import make_decoder
from host.gateway.server import Gateway, GatewaySettings
from host.pipeline.conversation import Conversations
from tests.host.gateway import downlink_harness
from tests.host.gateway.harness import DeviceDouble, make_session

FRAME_BYTES = 640      # 20 ms at 16 kHz mono s16le
FRAME_S = 0.020
WAIT_S = 20.0


async def wait_until(predicate, what, timeout_s=WAIT_S):
    """downlink_harness.wait_until with the conversation's longer default."""
    await downlink_harness.wait_until(predicate, what, timeout_s)


class Board:
    """The device side of one session: microphone out, speaker and messages in."""

    def __init__(self, session):
        self.session = session
        self.double = DeviceDouble(session, seq0=1000, ts0=5000)
        self.decoder = make_decoder(session.codec, 16000, 1)
        self.packets = []    # (arrival_s, seq, marker, pcm) of downlink RTP
        self.messages = []   # (arrival_s, message) of PPIT messages
        self._reader = None
        self._next_send_s = None

    async def open(self, gateway_address):
        """Connect to the gateway and start reading what it sends."""
        await self.double.open(gateway_address)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self):
        queue = self.double.inbox.queue
        while True:
            data = await queue.get()
            now_s = time.monotonic()
            if 192 <= data[1] <= 223:
                packets = rtcp.parse_compound(self.double.rx.unprotect_rtcp(data))
                self.messages += [(now_s, message) for message in rtcp_app.messages(packets)]
                continue
            clear = self.double.rx.unprotect(data)
            seq = struct.unpack_from("!H", clear, 2)[0]
            self.packets.append((now_s, seq, bool(clear[1] & 0x80), self.decoder.decode(clear[12:])))

    async def speak(self, pcm):
        """Stream PCM as 20 ms packets, paced in real time; return each packet's send time."""
        now_s = time.monotonic()
        if self._next_send_s is None or self._next_send_s < now_s - FRAME_S:
            self._next_send_s = now_s
        sent_s = []
        for start in range(0, len(pcm), FRAME_BYTES):
            frame = pcm[start:start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
            delay_s = self._next_send_s - time.monotonic()
            if delay_s > 0:
                await asyncio.sleep(delay_s)  # pacing the microphone, not synchronising
            self.double.send(*self.double.packets([frame]))
            sent_s.append(time.monotonic())
            self._next_send_s += FRAME_S
        return sent_s

    async def silence(self, ms):
        """Stream ms of digital silence."""
        await self.speak(bytes(32 * ms))

    def send_state(self, state, mode="push_to_talk", turn=0, half_duplex=False):
        """A DeviceState in an SRTCP compound, as the device's reports carry it."""
        message = rtcp_app.DeviceState(self.session.uplink_ssrc, state, mode, turn, half_duplex)
        compound = rtcp.build_compound([rtcp.ReceiverReport(self.session.uplink_ssrc, []),
                                        message.to_packet()])
        self.double.send(self.double.tx.protect_rtcp(compound))

    def received(self, kind):
        """PPIT messages of one class, in arrival order (repeats included)."""
        return [message for _, message in self.messages if isinstance(message, kind)]

    def turn_events(self):
        """(event, turn) pairs, each once, in first-arrival order."""
        seen = []
        for message in self.received(rtcp_app.TurnEvent):
            if (message.event, message.turn) not in seen:
                seen.append((message.event, message.turn))
        return seen

    def first_arrival(self, kind, **fields):
        """Arrival time of the first message of kind with the given fields, or None."""
        for arrival_s, message in self.messages:
            if isinstance(message, kind) and all(getattr(message, k) == v for k, v in fields.items()):
                return arrival_s
        return None

    def heard_pcm(self, since_s=0.0):
        """The downlink audio that arrived after since_s, decoded, back to back."""
        return b"".join(pcm for arrival_s, _, _, pcm in self.packets if arrival_s >= since_s)

    async def close(self):
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.double.close()


def voice_end_s(pcm, sent_s, threshold=300):
    """When the board sent the end of the last sample above threshold (the true end of speech)."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    last = int(np.nonzero(samples > threshold)[0][-1])
    frame = last // (FRAME_BYTES // 2)
    return sent_s[frame] - FRAME_S + (last % (FRAME_BYTES // 2) + 1) / 16000


def rms(pcm):
    """Root mean square of s16le PCM (0 for none)."""
    if not pcm:
        return 0.0
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


class Talk:
    """What `talking` yields: the pieces of one running conversation."""

    def __init__(self, gateway, conversations, conversation, board, turns):
        self.gateway = gateway
        self.conversations = conversations
        self.conversation = conversation
        self.board = board
        self.turns = turns            # TurnRecords, as on_turn got them

    def turn(self, number):
        """The closed record of turn `number`, or None."""
        for record in self.turns:
            if record.turn == number:
                return record
        return None

    async def wait_turn(self, number, timeout_s=WAIT_S):
        """The record of turn `number` once it has closed."""
        await wait_until(lambda: self.turn(number) is not None, "turn %d to close" % number,
                         timeout_s)
        return self.turn(number)

    async def wait_event(self, event, number, timeout_s=WAIT_S):
        """Until the board has received TurnEvent(event, number)."""
        await wait_until(lambda: (event, number) in self.board.turn_events(),
                         "TurnEvent %s %d" % (event, number), timeout_s)


@contextlib.asynccontextmanager
async def talking(config, services=None, session=None):
    """A gateway on 127.0.0.1 with Conversations, one session and its Board; yields a Talk.

    Loop errors (exceptions nobody retrieved) fail the test on the way out.
    """
    session = session or make_session()
    turns = []
    errors = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    conversations = Conversations(config, on_turn=lambda ssrc, record: turns.append(record),
                                  services=services)
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0, rtcp_interval_s=3600.0,
                                      downlink_lead_ms=config.downlink.lead_ms),
                      conversations.sink_factory)
    await gateway.start()
    gateway.add_session(session)
    conversation = conversations.conversations[session.uplink_ssrc]
    board = await Board(session).open(gateway.address)
    try:
        await conversation.wait_ready(30.0)
        await board.silence(100)  # latches the device's address
        yield Talk(gateway, conversations, conversation, board, turns)
    finally:
        await board.close()
        await gateway.stop()
        await asyncio.wait_for(conversations.stop(), WAIT_S)
    assert not errors, errors


class FlakyRecognizers:
    """services= for Conversations: the session's STT makes real Recognizers, the first breaks.

    The first recogniser's feed() raises (a service failing mid-turn); the
    STT service replaces it, so the next turn gets a working one. `made`
    lists every recogniser made.
    """

    def __init__(self):
        self.made = []

    def _make(self):
        from host.pipeline.asr import Recognizer
        self.made.append(Recognizer())
        if len(self.made) == 1:
            self.made[0].feed = _explode
        return self.made[-1]

    def __call__(self, session):
        from host.pipeline.stt import PocketsphinxSTTService
        return {"stt": PocketsphinxSTTService(recognizer_factory=self._make)}


def _explode(pcm):
    raise RuntimeError("recogniser exploded")

