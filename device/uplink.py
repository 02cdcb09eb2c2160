"""The uplink: capture, encode, packetize, protect, send; RTCP both ways.

One task reads the microphone and sends a packet per frame; a second task
reads what the gateway sends back on the same socket: RTCP reports, handled
here and then handed whole to on_rtcp (the conversation's APP messages,
device/talker.py), and the downlink's RTP, handed to on_rtp
(device/downlink.py). report_extras() adds RTCP packets (the device's state)
to every periodic report; send_rtcp() sends a compound at once. Buffers for
PCM and the outgoing packet are allocated once.

Paused (push-to-talk released, half duplex while speaking, `stop`), the
microphone is still read but nothing is sent; the RTP timestamp runs on with
the microphone's clock and the first packet after the pause carries the
marker bit (RFC 3551 4.1), so the gateway sees a pause, not lost packets.
With a voice gate (device/voice_gate.py), frames are sent only while it is
open; when it opens, the frames it held (the pre-roll) go out first with the
timestamps they were captured at.
"""
import asyncio
import random

from device import codec, rtcp, rtcp_time, rtp
from device.hal import clock
from device.srtp import SrtpContext, SrtpError

# Largest Opus packet (RFC 6716 section 3.4) or a 60 ms stereo L16 frame at 48 kHz.
_MAX_PAYLOAD_BYTES = 48000 * 60 // 1000 * 2 * 2


class UplinkStats:
    """What the uplink sent and what the gateway reported back about it."""

    def __init__(self):
        self.frames_captured = 0
        self.frames_paused = 0  # captured while paused: not sent
        self.frames_gated = 0   # captured while the voice gate was closed: not sent
        self.preroll_sent = 0   # held frames sent when the voice gate opened
        self.packets_sent = 0
        self.payload_octets_sent = 0
        self.rtcp_sent = 0
        self.rtcp_received = 0
        self.rtcp_rejected = 0
        self.other_received = 0
        self.fraction_lost = 0.0
        self.packets_lost = 0
        self.jitter_ms = 0.0
        self.round_trip_ms = None

    def as_dict(self):
        """Plain dict, for telemetry and for printing as JSON."""
        return {
            "frames_captured": self.frames_captured,
            "frames_paused": self.frames_paused,
            "frames_gated": self.frames_gated,
            "preroll_sent": self.preroll_sent,
            "packets_sent": self.packets_sent,
            "payload_octets_sent": self.payload_octets_sent,
            "rtcp_sent": self.rtcp_sent,
            "rtcp_received": self.rtcp_received,
            "rtcp_rejected": self.rtcp_rejected,
            "other_received": self.other_received,
            "fraction_lost": self.fraction_lost,
            "packets_lost": self.packets_lost,
            "jitter_ms": self.jitter_ms,
            "round_trip_ms": self.round_trip_ms,
        }


class Uplink:
    """Streams a microphone to the gateway of a MediaSession over SRTP."""

    def __init__(self, session, mic, endpoint, report_interval_ms=1000, on_rtp=None, on_rtcp=None,
                 report_extras=None):
        self.stats = UplinkStats()
        self._on_rtp = on_rtp  # takes every datagram that is not RTCP (the downlink)
        self._on_rtcp = on_rtcp  # takes the packets of every authentic RTCP compound
        self._report_extras = report_extras  # () -> RTCP packets to add to each report
        self._mic = mic
        self._endpoint = endpoint
        self._report_interval_ms = report_interval_ms
        self._packet = bytearray(rtp.FIXED_HEADER_SIZE + _MAX_PAYLOAD_BYTES)
        self._packet_view = memoryview(self._packet)
        self._running = False
        # Paused: the microphone is still read (its clock keeps running) but
        # nothing is sent, as for a "stop" command or push-to-talk released.
        self.paused = False
        # A device/voice_gate.VoiceGate (always listening): frames go out only
        # while it is open, the pre-roll first. None: every frame goes out.
        self.gate = None
        self._apply_session(session)

    def _apply_session(self, session):
        mic = self._mic
        if mic.sample_rate_hz != session.sample_rate_hz or mic.channels != session.channels:
            raise ValueError(
                "uplink: microphone gives %d Hz x%d, session wants %d Hz x%d"
                % (mic.sample_rate_hz, mic.channels, session.sample_rate_hz, session.channels))
        encoder = codec.make_encoder(
            session.codec, session.sample_rate_hz, session.channels, session.frame_ms)
        self._srtp = SrtpContext(session.srtp_master_key, session.srtp_master_salt)
        self._encoder = encoder
        self.session = session
        self._pcm = bytearray(session.samples_per_frame * 2 * session.channels)
        self._timestamp_step = (codec.rtp_clock_hz(session.codec, session.sample_rate_hz)
                                * session.frame_ms // 1000)
        # A new SSRC starts a new RTP stream: fresh random origins (RFC 3550
        # 5.1), a marker on its first packet, and its own sender counts.
        self.sequence_number = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self._marker = True
        self._session_packets = 0
        self._session_octets = 0

    def replace_session(self, session):
        """Switch to a new grant (SSRC, keys, maybe gateway) without stopping the stream."""
        self._apply_session(session)
        self._endpoint.retarget(session.gateway_host, session.gateway_port)

    def stop(self):
        """Make run() return after the frame in progress."""
        self._running = False

    async def run(self):
        """Stream until the microphone ends or stop() is called; return the stats."""
        self._running = True
        receiver = asyncio.create_task(self._receive_loop())
        next_report = clock.ticks_add(clock.ticks_ms(), self._report_interval_ms)
        try:
            while self._running and await self._mic.readinto(self._pcm):
                self.stats.frames_captured += 1
                if self.paused:
                    self.stats.frames_paused += 1
                    self._skip_frame()
                elif self.gate is not None:
                    self._gated_frame()
                else:
                    self._send_frame()
                if clock.ticks_diff(clock.ticks_ms(), next_report) >= 0:
                    self._send_report()
                    next_report = clock.ticks_add(next_report, self._report_interval_ms)
            self._send_report()
        finally:
            self._running = False
            receiver.cancel()
            try:
                await receiver
            except asyncio.CancelledError:
                pass
        return self.stats

    def _gated_frame(self):
        send, preroll = self.gate.feed(self._pcm)
        if not send:
            self.stats.frames_gated += 1
            self._skip_frame()
            return
        if preroll:
            # The held frames went by as skipped frames: send them with their own
            # timestamps, the first with the marker, then this one.
            now_ts = self.timestamp
            self.timestamp = (now_ts - len(preroll) * self._timestamp_step) & 0xFFFFFFFF
            for pcm in preroll:
                self._send_frame(pcm)
            self.stats.preroll_sent += len(preroll)
            self.stats.frames_gated -= len(preroll)
        self._send_frame()

    def _send_frame(self, pcm=None):
        payload = self._encoder.encode(self._pcm if pcm is None else pcm)
        header = rtp.write_header(self._packet, self.session.payload_type, self._marker,
                                  self.sequence_number, self.timestamp, self.session.uplink_ssrc)
        end = header + len(payload)
        self._packet_view[header:end] = payload
        self._endpoint.send(self._srtp.protect(self._packet_view[:end]))
        self._marker = False
        self.stats.packets_sent += 1
        self.stats.payload_octets_sent += len(payload)
        self._session_packets += 1
        self._session_octets += len(payload)
        self.sequence_number = (self.sequence_number + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self._timestamp_step) & 0xFFFFFFFF

    def _skip_frame(self):
        # The frame's time passes on the stream's clock; the next packet sent
        # starts a talk spurt.
        self.timestamp = (self.timestamp + self._timestamp_step) & 0xFFFFFFFF
        self._marker = True

    def _send_report(self):
        # The timestamp of the frame that just ended (sent or paused).
        report = rtcp.SenderReport(
            ssrc=self.session.uplink_ssrc,
            ntp_timestamp=rtcp_time.ntp_from_unix(clock.wall_time_s()),
            rtp_timestamp=(self.timestamp - self._timestamp_step) & 0xFFFFFFFF,
            packet_count=self._session_packets,
            octet_count=self._session_octets,
        )
        packets = [report]
        if self._report_extras is not None:
            packets.extend(self._report_extras())
        self.send_rtcp(rtcp.build_compound(packets))

    def send_rtcp(self, compound):
        """Protect and send a clear RTCP compound (it must start with SR or RR)."""
        self._endpoint.send(self._srtp.protect_rtcp(compound))
        self.stats.rtcp_sent += 1

    async def _receive_loop(self):
        while True:
            data = await self._endpoint.recv()
            if not rtp.is_rtcp(data):
                if self._on_rtp is None:
                    self.stats.other_received += 1
                else:
                    self._on_rtp(data)
                continue
            try:
                packets = rtcp.parse_compound(self._srtp.unprotect_rtcp(data))
            except (SrtpError, ValueError):
                self.stats.rtcp_rejected += 1
                continue
            self.stats.rtcp_received += 1
            for packet in packets:
                for block in getattr(packet, "reports", ()):
                    if block.ssrc == self.session.uplink_ssrc:
                        self._apply_report(block)
            if self._on_rtcp is not None:
                self._on_rtcp(packets)

    def _apply_report(self, block):
        stats = self.stats
        stats.fraction_lost = block.fraction_lost / 256
        stats.packets_lost = block.packets_lost
        stats.jitter_ms = block.jitter * 1000 / codec.rtp_clock_hz(
            self.session.codec, self.session.sample_rate_hz)
        arrival = rtcp_time.compact_ntp(rtcp_time.ntp_from_unix(clock.wall_time_s()))
        rtt_s = rtcp_time.round_trip_s(arrival, block.lsr, block.dlsr)
        if rtt_s is not None:
            stats.round_trip_ms = rtt_s * 1000
