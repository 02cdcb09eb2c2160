"""What the gateway tests share: sessions, a device double, a watched sink.

DeviceDouble is a test double of a board's media sender. It speaks the real
wire protocol: RTP packets built by device/rtp.py, Opus from device/codec.py
(real libopus), SRTP/SRTCP by real libsrtp (pylibsrtp), over a real UDP
socket on 127.0.0.1. The gateway cannot tell it from a board.
"""
import asyncio
import contextlib
import time

from pylibsrtp import Policy, Session

from device import rtcp, rtcp_time
from device.codec import make_encoder, rtp_clock_hz
from device.rtp import RtpPacket
from device.session import MediaSession
from host.gateway.server import Gateway, GatewaySettings
from host.gateway.wav_sink import WavSink

KEY = bytes(range(1, 17))
SALT = bytes(range(100, 114))
OTHER_KEY = bytes(range(50, 66))
WAIT_S = 10.0


def make_session(uplink_ssrc=0x1234ABCD, downlink_ssrc=0x5678EF01, codec="opus",
                 sample_rate_hz=16000, frame_ms=20, key=KEY, channels=1):
    """A MediaSession as the fleet service would hand it out."""
    return MediaSession("127.0.0.1", 5004, uplink_ssrc, downlink_ssrc, codec,
                        111 if codec == "opus" else 96, sample_rate_hz, frame_ms,
                        key, SALT, channels=channels)


def srtp_context(session, ssrc, key=None):
    """A libsrtp context for one SSRC of the session (key overridable to forge)."""
    key_and_salt = (key or session.srtp_master_key) + session.srtp_master_salt
    return Session(Policy(key=key_and_salt, ssrc_type=Policy.SSRC_SPECIFIC, ssrc_value=ssrc,
                          srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self):
        self.queue = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.queue.put_nowait(data)


class DeviceDouble:
    """Sends a session's uplink (SRTP) and reads the gateway's SRTCP reports."""

    def __init__(self, session, seq0=65520, ts0=0xFFFFFFFF - 5000, **encoder_opts):
        self.session = session
        self.seq0 = seq0
        self.ts0 = ts0
        self.tx = srtp_context(session, session.uplink_ssrc)
        self.rx = srtp_context(session, session.downlink_ssrc)
        self.encoder = make_encoder(session.codec, session.sample_rate_hz, session.channels,
                                    session.frame_ms, **encoder_opts)
        self.ticks = rtp_clock_hz(session.codec, session.sample_rate_hz) * session.frame_ms // 1000
        self.payloads = []
        self.transport = None
        self.inbox = None

    def packets(self, frames, context=None):
        """Protected SRTP packets for consecutive PCM frames (index 0 has the marker)."""
        context = context or self.tx
        packets = []
        for pcm in frames:
            index = len(self.payloads)
            payload = self.encoder.encode(pcm)
            self.payloads.append(payload)
            packets.append(context.protect(self.rtp(index, payload).to_bytes()))
        return packets

    def rtp(self, index, payload, extra_ticks=0):
        """Clear RTP packet number `index` of the stream."""
        return RtpPacket(self.session.payload_type, (self.seq0 + index) & 0xFFFF,
                         (self.ts0 + index * self.ticks + extra_ticks) & 0xFFFFFFFF,
                         self.session.uplink_ssrc, payload, marker=index == 0)

    def sender_report(self, packet_count=0, octet_count=0, reports=(), context=None):
        """Protected SRTCP compound with one SR from the uplink SSRC; returns (packet, sr)."""
        report = rtcp.SenderReport(self.session.uplink_ssrc, rtcp_time.ntp_from_unix(time.time()),
                                   self.ts0, packet_count, octet_count, list(reports))
        return (context or self.tx).protect_rtcp(rtcp.build_compound([report])), report

    async def open(self, gateway_address):
        """Connect a UDP socket to the gateway."""
        loop = asyncio.get_running_loop()
        self.transport, self.inbox = await loop.create_datagram_endpoint(
            _Inbox, local_addr=("127.0.0.1", 0), remote_addr=tuple(gateway_address))
        return self

    @property
    def address(self):
        return self.transport.get_extra_info("sockname")[:2]

    def send(self, *packets):
        for packet in packets:
            self.transport.sendto(packet)

    async def receive_report(self, timeout_s=WAIT_S):
        """Next SRTCP packet from the gateway, unprotected and parsed."""
        data = await asyncio.wait_for(self.inbox.queue.get(), timeout_s)
        return rtcp.parse_compound(self.rx.unprotect_rtcp(data))

    def close(self):
        if self.transport is not None:
            self.transport.close()


class WatchedSink(WavSink):
    """WavSink that lets a test await a number of frames (no sleeping)."""

    def __init__(self, path):
        super().__init__(path)
        self.frames = 0
        self.closed = False
        self._waiters = []

    def write(self, pcm):
        super().write(pcm)
        self.frames += 1
        for count, future in self._waiters:
            if self.frames >= count and not future.done():
                future.set_result(None)

    def close(self):
        self.closed = True
        super().close()

    async def wait_frames(self, count, timeout_s=WAIT_S):
        """Return once `count` frames were written; TimeoutError otherwise."""
        if self.frames >= count:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((count, future))
        try:
            await asyncio.wait_for(future, timeout_s)
        finally:
            self._waiters.remove((count, future))


def gateway_settings(**overrides):
    """Loopback, ephemeral port; reports and hold time only when a test wants them."""
    values = dict(host="127.0.0.1", port=0, rtcp_interval_s=3600.0, jitter_max_hold_ms=10000)
    values.update(overrides)
    return GatewaySettings(**values)


@contextlib.asynccontextmanager
async def running_gateway(directory, sessions, **settings):
    """A started Gateway serving `sessions`; yields (gateway, sinks by SSRC, loop errors)."""
    sinks = {}

    def sink_factory(session):
        sink = WatchedSink(directory / ("%08x.wav" % session.uplink_ssrc))
        sinks[session.uplink_ssrc] = sink
        return sink

    errors = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    gateway = Gateway(gateway_settings(**settings), sink_factory)
    await gateway.start()
    for session in sessions:
        gateway.add_session(session)
    try:
        yield gateway, sinks, errors
    finally:
        await gateway.stop()


def run(coroutine, timeout_s=60.0):
    """Run a test coroutine on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))
