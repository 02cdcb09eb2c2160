"""The gateway's UDP media server: one socket, many sessions keyed by SSRC.

RTP and RTCP share the port (RFC 5761). Each datagram is routed by the SSRC in
its clear header (RTP bytes 8..12, SRTCP sender SSRC bytes 4..8) to the
session that owns that uplink SSRC; a datagram for no session costs one
counter increment and leaves no state behind. One task sends the periodic
receiver reports; stop() cancels it, flushes every session and closes sinks.
"""
import asyncio
import logging
import time
from dataclasses import dataclass

from host.gateway.counters import Counters
from host.gateway.downlink import DEFAULT_LEAD_MS
from host.gateway.jitter_buffer import JitterPolicy
from host.gateway.media_session import GatewaySession, check_supported
from host.gateway.srtp_streams import MAX_SRTP_SIZE
from host.gateway.udp_endpoint import DEFAULT_RECEIVE_BUFFER_BYTES, BatchedUdpEndpoint

log = logging.getLogger(__name__)

_RTP_HEADER_SIZE = 12


@dataclass
class GatewaySettings:
    """Where the gateway listens and how it buffers and reports."""

    host: str = "0.0.0.0"
    port: int = 5004
    jitter_depth_frames: int = 3
    jitter_max_hold_ms: int = 60
    max_gap_ms: int = 60000
    rtcp_interval_s: float = 1.0
    latency_samples: int = 512
    cname: str = "pipit-gateway"
    receive_buffer_bytes: int = DEFAULT_RECEIVE_BUFFER_BYTES
    downlink_lead_ms: int = DEFAULT_LEAD_MS

    def jitter_policy(self):
        """The JitterPolicy these settings describe."""
        return JitterPolicy(self.jitter_depth_frames, self.jitter_max_hold_ms, self.max_gap_ms)


class _GatewayProtocol(asyncio.DatagramProtocol):
    """Routes datagrams to sessions; the only per-packet code outside them."""

    def __init__(self, sessions, counters, clock):
        self._sessions = sessions
        self._counters = counters
        self._clock = clock

    def datagram_received(self, data, addr):
        now_s = self._clock()
        size = len(data)
        if size < _RTP_HEADER_SIZE or size > MAX_SRTP_SIZE:
            self._counters.malformed += 1
            return
        if 192 <= data[1] <= 223:  # RTCP on a muxed port (RFC 5761 section 4)
            session = self._sessions.get(int.from_bytes(data[4:8], "big"))
            if session is None:
                self._counters.unknown_ssrc += 1
                return
            session.receive_rtcp(data, addr, now_s)
            return
        session = self._sessions.get(int.from_bytes(data[8:12], "big"))
        if session is None:
            self._counters.unknown_ssrc += 1
            return
        session.receive_rtp(data, addr, now_s)

    def error_received(self, exc):
        # ICMP port unreachable after a report to a device that went away.
        log.debug("gateway: socket error %s", exc)


class Gateway:
    """Receives SRTP media from devices and records it through per-session sinks."""

    def __init__(self, settings=None, sink_factory=None, clock=time.monotonic):
        if sink_factory is None:
            raise ValueError("gateway: a sink_factory(session) -> sink is required")
        self.settings = settings or GatewaySettings()
        self._sink_factory = sink_factory
        self._clock = clock
        self._sessions = {}
        self._counters = Counters()  # datagrams that reached no session
        self._retired = Counters()  # counts of removed sessions, kept for totals
        self._transport = None
        self._loop = None
        self._report_task = None
        self.address = None

    async def start(self):
        """Bind the UDP socket and start reporting; return the bound (host, port)."""
        if self._transport is not None:
            raise RuntimeError("gateway: already started")
        self._loop = asyncio.get_running_loop()
        self._transport, _ = await BatchedUdpEndpoint.open(
            self._loop, lambda: _GatewayProtocol(self._sessions, self._counters, self._clock),
            self.settings.host, self.settings.port, self.settings.receive_buffer_bytes)
        self.address = self._transport.get_extra_info("sockname")[:2]
        self._report_task = asyncio.create_task(self._report_loop())
        log.info("gateway: listening on %s:%d", *self.address)
        return self.address

    def add_session(self, session):
        """Serve a MediaSession (keyed by its uplink SSRC); ValueError if refused."""
        if session.uplink_ssrc in self._sessions:
            raise ValueError("gateway: a session with uplink SSRC %08x already exists"
                             % session.uplink_ssrc)
        check_supported(session)  # before the sink exists: no empty file for a refusal
        sink = self._sink_factory(session)
        try:
            served = GatewaySession(
                session, sink, self._call_later, self._sendto,
                policy=self.settings.jitter_policy(), clock=self._clock,
                latency_samples=self.settings.latency_samples, cname=self.settings.cname,
                downlink_lead_ms=self.settings.downlink_lead_ms)
        except Exception:
            sink.close()
            raise
        attach = getattr(sink, "attach", None)
        if attach is not None:
            # A conversation sink needs the served session (downlink, on_app, send_app).
            try:
                attach(served)
            except Exception:
                served.close()
                raise
        self._sessions[session.uplink_ssrc] = served
        log.info("gateway: session %08x added (%s, %d Hz, %d ms)", session.uplink_ssrc,
                 session.codec, session.sample_rate_hz, session.frame_ms)
        return served

    def remove_session(self, ssrc):
        """Stop serving a session: flush it, close its sink; return its final stats."""
        served = self._sessions.pop(ssrc, None)
        if served is None:
            raise KeyError("gateway: no session with uplink SSRC %08x" % ssrc)
        served.close()
        self._retired.add(served.counters)
        log.info("gateway: session %08x removed", ssrc)
        return served.stats()

    def session(self, ssrc):
        """The GatewaySession serving an uplink SSRC (KeyError if none)."""
        return self._sessions[ssrc]

    @property
    def sessions(self):
        """Uplink SSRCs currently served."""
        return list(self._sessions)

    @property
    def counters(self):
        """Totals over the gateway, live sessions and removed ones (a fresh Counters)."""
        total = Counters().add(self._counters).add(self._retired)
        for served in self._sessions.values():
            total.add(served.counters)
        return total

    def stats(self):
        """Snapshot: total counters plus every live session's stats, by uplink SSRC."""
        return {
            "address": None if self.address is None else "%s:%d" % tuple(self.address),
            "total": self.counters.as_dict(),
            "sessions": {ssrc: served.stats() for ssrc, served in self._sessions.items()},
        }

    def latency_samples_s(self):
        """Every latency sample currently held by live sessions, in seconds."""
        samples = []
        for served in self._sessions.values():
            samples.extend(served.latency.samples())
        return samples

    async def stop(self):
        """Stop reporting, flush and close every session, close the socket.

        Returns the final stats, shaped like stats(), after the flush.
        """
        if self._report_task is not None:
            self._report_task.cancel()
            try:
                await self._report_task
            except asyncio.CancelledError:
                pass
            self._report_task = None
        for served in list(self._sessions.values()):
            await served.downlink.stop()
        final = {ssrc: self.remove_session(ssrc) for ssrc in list(self._sessions)}
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        stats = self.stats()
        stats["sessions"] = final
        return stats

    def _sendto(self, data, addr):
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def _call_later(self, delay_s, callback):
        return self._loop.call_later(delay_s, callback)

    async def _report_loop(self):
        interval_s = self.settings.rtcp_interval_s
        while True:
            await asyncio.sleep(interval_s)
            now_s = self._clock()
            for served in list(self._sessions.values()):
                served.send_report(now_s)


async def serve(settings, sessions, sink_factory, stop_event=None, on_ready=None):
    """Run a gateway for the given sessions until stop_event is set (or cancelled).

    on_ready(gateway, (host, port)) is called once the socket is bound and the
    sessions are added. Returns the gateway's final stats.
    """
    gateway = Gateway(settings, sink_factory)
    address = await gateway.start()
    try:
        for session in sessions:
            gateway.add_session(session)
        if on_ready is not None:
            on_ready(gateway, address)
        if stop_event is None:
            await asyncio.Future()
        else:
            await stop_event.wait()
    finally:
        final = await gateway.stop()
    return final
