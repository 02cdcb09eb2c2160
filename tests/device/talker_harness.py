"""What the Talker tests share: a gateway double on a real socket, a device in this loop.

GatewayDouble is a test double of the gateway's media side that speaks the
real wire protocol: a UDP socket on 127.0.0.1, libsrtp (pylibsrtp) contexts
made by host/gateway/srtp_streams exactly as the gateway makes them, RTCP
and PPIT APP packets built by device/rtcp.py and device/rtcp_app.py, and the
gateway's own paced DownlinkSender for answers. Unlike the real gateway it
records everything the device sends (each RTP header, each RTCP compound,
with arrival times) and sends whatever APP message a test asks for.

InProcessTalker runs the real device runtime (device/talker.py) on the
virtual board as tasks of the test's loop, so a test can read its state.
"""
import asyncio
import struct
import time

from device import rtcp, rtcp_app
from device.hal import clock
from device.hal.net import UdpEndpoint
from device.hal.virtual import VirtualMic, VirtualSpeaker, read_timeline
from device.talker import Talker
from device.wav import WavReader
from host.gateway import srtp_streams
from host.gateway.downlink import DownlinkSender

from tests.host.gateway.downlink_harness import WAIT_S, tone_pcm, wait_until  # noqa: F401


def read_samples(path):
    """Samples of a mono 16-bit WAV, as a list of ints."""
    wav = WavReader(str(path))
    data = bytearray(wav.data_bytes)
    wav.readinto(data)
    wav.close()
    return list(struct.unpack("<%dh" % (len(data) // 2), data))


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner):
        self.owner = owner

    def datagram_received(self, data, addr):
        self.owner.received(data, addr)


class GatewayDouble:
    """The gateway's media side for one session, recording what the device sends."""

    def __init__(self, session, lead_ms=60):
        self.session = session
        self._inbound = srtp_streams.inbound_context(session)
        self._outbound = srtp_streams.outbound_context(session)
        self.address = None    # the device's, latched from its first authentic packet
        self.rtp = []          # (monotonic s, seq, timestamp, marker) of each uplink packet
        self.compounds = []    # (monotonic s, [parsed RTCP packets]) of each SRTCP compound
        self.refused = 0
        self.transport = None
        self.downlink = DownlinkSender(session, self._outbound.protect, self._sendto,
                                       lambda: self.address, lead_ms=lead_ms)

    async def start(self):
        """Bind to 127.0.0.1; return (host, port) for the device."""
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=("127.0.0.1", 0))
        return self.transport.get_extra_info("sockname")[:2]

    def received(self, data, addr):
        now = time.monotonic()
        try:
            if 192 <= data[1] <= 223:
                packets = rtcp.parse_compound(self._inbound.unprotect_rtcp(data))
                self.compounds.append((now, packets))
            else:
                clear = self._inbound.unprotect(data)
                seq, timestamp = struct.unpack_from("!HI", clear, 2)
                self.rtp.append((now, seq, timestamp, bool(clear[1] & 0x80)))
        except (srtp_streams.Error, ValueError):
            self.refused += 1
            return
        self.address = addr

    def _sendto(self, data, addr):
        self.transport.sendto(data, addr)

    def send_app(self, *messages):
        """One SRTCP compound (an empty RR, then the messages) to the device."""
        clear = rtcp_app.compound(self.session.downlink_ssrc, *messages)
        self.send_raw_rtcp(clear)

    def send_raw_rtcp(self, clear):
        """Protect any clear RTCP compound and send it to the device."""
        self._sendto(self._outbound.protect_rtcp(clear), self.address)

    def abort(self, abort_id, resume_seq=None):
        return rtcp_app.Abort(self.session.downlink_ssrc, abort_id, resume_seq)

    def turn(self, event, turn):
        return rtcp_app.TurnEvent(self.session.downlink_ssrc, event, turn)

    def volume(self, volume_pct, request_id):
        return rtcp_app.Volume(self.session.downlink_ssrc, volume_pct, request_id)

    def device_states(self, in_reports=None):
        """[(arrival s, DeviceState)] the device sent; only those in SRs (True) or not (False)."""
        found = []
        for arrival, packets in self.compounds:
            is_report = isinstance(packets[0], rtcp.SenderReport)
            if in_reports is not None and is_report != in_reports:
                continue
            for message in rtcp_app.messages(packets):
                found.append((arrival, message))
        return found

    def close(self):
        self.downlink.close()
        if self.transport is not None:
            self.transport.close()


class InProcessTalker:
    """The device runtime (Talker) on the virtual board, as tasks of this loop."""

    def __init__(self, session, speaker_path, target, mic=None, **options):
        self.speaker_path = str(speaker_path)
        self.speaker = VirtualSpeaker(self.speaker_path, session.sample_rate_hz, session.channels,
                                      timeline=True)
        self.mic = mic or VirtualMic(frame_ms=session.frame_ms, keep_open=True,
                                     sample_rate_hz=session.sample_rate_hz, channels=session.channels)
        self.endpoint = UdpEndpoint(*target)
        self.talker = Talker(session, self.mic, self.endpoint, speaker=self.speaker, **options)
        self._task = None
        self.result = None

    @property
    def state(self):
        return self.talker.conversation.state

    @property
    def played(self):
        return self.talker.downlink.stats.played

    async def __aenter__(self):
        self._task = asyncio.create_task(self.talker.run())
        return self

    async def __aexit__(self, *exc):
        self.talker.stop()
        self.result = await self._task
        self.endpoint.close()
        self.mic.close()
        self.speaker.close()

    def timeline(self):
        """(sample_offset, ticks_ms, samples) per speaker write; after the device stopped."""
        return read_timeline(self.speaker_path + ".timeline")


def ticks_of(monotonic_s):
    """A time.monotonic() value on the device's ticks_ms clock (both are CLOCK_MONOTONIC)."""
    return int(monotonic_s * 1000) & ((1 << 30) - 1)


def now_ticks():
    return clock.ticks_ms()
