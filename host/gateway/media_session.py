"""One device's media session inside the gateway: SRTP in, PCM out, RTCP back.

The gateway routes each datagram here by SSRC; this object authenticates it
with libsrtp, feeds the jitter buffer and reception statistics, and writes
16 kHz mono PCM to the session's sink. Nothing a client sends raises out of
receive_rtp()/receive_rtcp(): each refusal is one counter increment.
"""
import logging
import struct
import time

from device import codec as codecs
from device import rtcp, rtcp_app, rtcp_time
from device.reception import ReceptionStats
from device.rtp import header_size
from host import opus_fast
from host.gateway import srtp_streams
from host.gateway.counters import Counters
from host.gateway.downlink import DEFAULT_LEAD_MS, DownlinkSender
from host.gateway.jitter_buffer import JitterBuffer, JitterPolicy
from host.gateway.latency import LatencyReservoir
from host.gateway.rtcp_reports import DEFAULT_CNAME, ReportState
from host.gateway.srtp_streams import Error

# The gateway decodes hundreds of streams per core: use the host's faster
# libopus binding (same results, a third of the cost) for every decoder.
codecs.use_opus_module(opus_fast)

log = logging.getLogger(__name__)

OUTPUT_SAMPLE_RATE_HZ = 16000
OUTPUT_CHANNELS = 1
_SEQ_TS = struct.Struct("!HI")
# Gateway -> device PPIT messages go out this many times, this far apart: UDP
# may lose one, and the messages' ids make the repeats harmless.
APP_REPEATS = 3
APP_REPEAT_INTERVAL_S = 0.020


def check_supported(session):
    """Raise ValueError if the gateway cannot turn this session into 16 kHz mono."""
    if session.codec == codecs.L16 and (session.sample_rate_hz != OUTPUT_SAMPLE_RATE_HZ
                                        or session.channels != OUTPUT_CHANNELS):
        raise ValueError(
            "gateway: L16 sessions must be 16000 Hz mono, got %d Hz x%d "
            "(the gateway does not resample L16; use opus, which it decodes at 16 kHz)"
            % (session.sample_rate_hz, session.channels))
    if session.codec not in (codecs.OPUS, codecs.L16):
        raise ValueError("gateway: unsupported codec %r" % (session.codec,))


def _wall_ntp():
    return rtcp_time.ntp_from_unix(time.time())


class GatewaySession:
    """Receive side of one MediaSession: counters, jitter buffer, sink, RTCP."""

    def __init__(self, session, sink, call_later, send, policy=None, clock=time.monotonic,
                 wall_ntp=_wall_ntp, latency_samples=512, cname=DEFAULT_CNAME,
                 downlink_lead_ms=DEFAULT_LEAD_MS):
        check_supported(session)
        self.session = session
        self.uplink_ssrc = session.uplink_ssrc
        self.downlink_ssrc = session.downlink_ssrc
        self.payload_type = session.payload_type
        self.counters = Counters()
        self.latency = LatencyReservoir(latency_samples)
        self.address = None
        # Arrival time (clock) of the first packet accepted: when media began to flow.
        self.first_received_s = None
        self._sink = sink
        self._call_later = call_later
        self._send = send
        self._clock = clock
        self._wall_ntp = wall_ntp
        self._timer = None
        self._closed = False
        # The conversation's hook: called with each DeviceState (device/rtcp_app.py)
        # the device sends in its SRTCP. Set by whoever drives the conversation.
        self.on_app = None
        self.app_packets_sent = 0
        self._inbound = srtp_streams.inbound_context(session)
        self._outbound = srtp_streams.outbound_context(session)
        # The answer to the device: paced SRTP to the latched address.
        self.downlink = DownlinkSender(session, self._outbound.protect, send, lambda: self.address,
                                       clock=clock, lead_ms=downlink_lead_ms, wall_ntp=wall_ntp)
        clock_rate = codecs.rtp_clock_hz(session.codec, session.sample_rate_hz)
        self.reception = ReceptionStats(clock_rate)
        self.reports = ReportState(self.uplink_ssrc, self.downlink_ssrc, self.reception, cname)
        self.frame_ms = session.frame_ms
        decoder = codecs.make_decoder(session.codec, OUTPUT_SAMPLE_RATE_HZ, OUTPUT_CHANNELS)
        self.jitter = JitterBuffer(
            decoder, self._emit, self.counters,
            frame_samples=OUTPUT_SAMPLE_RATE_HZ * session.frame_ms // 1000,
            frame_ticks=clock_rate * session.frame_ms // 1000,
            frame_ms=session.frame_ms, policy=policy or JitterPolicy(),
            fec=session.codec == codecs.OPUS, decode_errors=(ValueError,))

    # -- per-packet path -------------------------------------------------

    def receive_rtp(self, data, addr, now_s):
        """One SRTP datagram whose clear header carries our uplink SSRC."""
        counters = self.counters
        if len(data) < srtp_streams.MIN_SRTP_SIZE:
            counters.malformed += 1
            return
        try:
            clear = self._inbound.unprotect(data)
        except Error as error:
            self._count_refusal(error)
            return
        try:
            start = header_size(clear)
        except ValueError:
            counters.malformed += 1
            return
        second = clear[1]
        end = len(clear)
        if clear[0] & 0x20:
            end -= clear[end - 1]
            if end <= start:
                counters.malformed += 1
                return
        if second & 0x7F != self.payload_type:
            counters.malformed += 1
            return
        seq, timestamp = _SEQ_TS.unpack_from(clear, 2)
        if addr != self.address:
            self._follow(addr, seq)
            if self.first_received_s is None:
                self.first_received_s = now_s
        counters.received += 1
        self.reception.update(seq, timestamp, now_s)
        jitter = self.jitter
        jitter.push(seq, timestamp, second & 0x80, clear[start:end], now_s)
        if jitter.held and self._timer is None:
            self._arm_deadline()

    def receive_rtcp(self, data, addr, now_s):
        """One SRTCP datagram whose sender SSRC is our uplink SSRC."""
        if len(data) < srtp_streams.MIN_SRTCP_SIZE:
            self.counters.malformed += 1
            return
        try:
            clear = self._inbound.unprotect_rtcp(data)
        except Error as error:
            self._count_refusal(error)
            return
        try:
            packets = rtcp.parse_compound(clear)
        except ValueError:
            self.counters.malformed += 1
            return
        self.counters.rtcp_received += 1
        if addr != self.address:
            self._follow(addr, None)
        self._deliver_app(packets)
        if self.reports.on_compound(packets, now_s, self._wall_ntp()):
            # Answer an SR at once, so the device gets its RTT without waiting.
            self.send_report(now_s)

    def _deliver_app(self, packets):
        """Hand the device's PPIT DeviceState messages to on_app; count broken ones."""
        for packet in packets:
            try:
                message = rtcp_app.parse(packet)
            except ValueError:
                self.counters.malformed += 1
                continue
            if (not isinstance(message, rtcp_app.DeviceState) or message.ssrc != self.uplink_ssrc
                    or self.on_app is None):
                continue
            try:
                self.on_app(message)
            except Exception:  # the conversation's bug must not take the media path down
                log.exception("gateway: session %08x: on_app failed", self.uplink_ssrc)

    def send_app(self, *messages, repeats=APP_REPEATS, interval_s=APP_REPEAT_INTERVAL_S):
        """Send PPIT messages (Abort, TurnEvent, Volume) to the device, `repeats` times.

        The first copy leaves now, the others interval_s apart; each is
        protected on its own (a fresh SRTCP index, so none is a replay).
        False if no address is latched yet (nothing is sent).
        """
        if self.address is None or self._closed:
            return False
        clear = rtcp_app.compound(self.downlink_ssrc, *messages)
        self._send_app_now(clear)
        for index in range(1, repeats):
            self._call_later(index * interval_s, lambda: self._send_app_now(clear))
        return True

    def _send_app_now(self, clear):
        if self.address is None or self._closed:
            return
        try:
            packet = self._outbound.protect_rtcp(clear)
        except Error:
            return  # an exhausted SRTCP index: stay silent, as send_report does
        self._send(packet, self.address)
        self.app_packets_sent += 1

    def _emit(self, pcm, arrival_s):
        if arrival_s is not None:
            self.latency.add(self._clock() - arrival_s)
        try:
            self._sink.write(pcm)
        except OSError:
            self.counters.sink_errors += 1
            return
        self.counters.frames_written += 1

    # -- slow paths ------------------------------------------------------

    def _count_refusal(self, error):
        name = srtp_streams.counter_for(error)
        setattr(self.counters, name, getattr(self.counters, name) + 1)

    def _follow(self, addr, seq):
        """Latch the first authenticated address; move on NAT rebinding."""
        if self.address is None:
            self.address = addr
            return
        highest = self.jitter.highest_seq
        if seq is not None and highest is not None and ((seq - highest) & 0xFFFF) >= 0x8000:
            # An older packet from the old path arriving late: not a rebinding.
            return
        self.address = addr
        self.counters.address_changes += 1

    def _arm_deadline(self):
        delay = self.jitter.deadline_s - self._clock()
        self._timer = self._call_later(max(delay, 0.0), self._on_deadline)

    def _on_deadline(self):
        self._timer = None
        if self._closed:
            return
        self.jitter.tick(self._clock())
        if self.jitter.held:
            self._arm_deadline()

    def send_report(self, now_s):
        """Send an SRTCP report (RR, or SR once the downlink has sent) to the latched address.

        False if no address is latched yet.
        """
        if self.address is None or self._closed:
            return False
        try:
            clear = self.downlink.sender_report(self.reports.receiver_report(now_s), now_s)
            packet = self._outbound.protect_rtcp(clear)
        except Error:
            # Only an exhausted SRTCP index (2^31 reports) gets here: stay silent.
            return False
        self._send(packet, self.address)
        self.counters.rtcp_sent += 1
        return True

    def close(self):
        """End of session: release held packets, close the sink. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.downlink.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.jitter.flush(self._clock())
        finally:
            self._sink.close()

    def stats(self):
        """Snapshot for monitoring (plain dict; a Prometheus exporter reads this)."""
        address = None if self.address is None else "%s:%d" % self.address[:2]
        return {
            "uplink_ssrc": self.uplink_ssrc,
            "downlink_ssrc": self.downlink_ssrc,
            "codec": self.session.codec,
            "address": address,
            "counters": self.counters.as_dict(),
            "recorded_s": self.jitter.frames_out * self.frame_ms / 1000.0,
            "held_packets": self.jitter.held,
            "jitter_ms": self.reception.jitter_ms,
            "packets_lost_rfc3550": self.reception.packets_lost,
            "sender_reports": self.reports.sender_reports,
            "app_packets_sent": self.app_packets_sent,
            "rtt_ms": None if self.reports.rtt_s is None else self.reports.rtt_s * 1000.0,
            "latency": self.latency.summary_ms(),
            "downlink": self.downlink.stats(),
        }
