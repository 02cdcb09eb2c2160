"""The downlink of one gateway session: PCM in, paced SRTP out to the device.

say() queues 16 kHz mono PCM. One task frames it (the session's frame_ms),
encodes it with the session's codec (device/codec.py: Opus at 16 kHz mono,
which any Opus decoder plays at its own rate, or L16), builds RTP with the
session's downlink SSRC and payload type, protects it with the session's
outbound libsrtp context and sends it to the device's latched address.

Pacing: each frame leaves `lead_ms` before its real-time slot. A talk spurt
starts with lead + one frame at once, then one frame per frame period, so
never more than lead_ms + one frame of audio is in flight; what has not been
sent yet is what flush() can take back at a barge-in.

Talk spurts: the first packet after a pause (nothing queued and everything
sent has finished playing) or after flush() carries the marker bit. The RTP
timestamp counts on through a pause (whole frames, rounded up), so the device
can tell a pause from loss; after a flush the new spurt starts at once and its
timestamp goes on from the last packet sent (never back). The sender
keeps what an RTCP SR reports and turns the session's RR into an SR.
"""
import asyncio
import math
import random
import time

from device import codec as codecs
from device import rtcp, rtcp_time, rtp
from host.gateway.srtp_streams import Error

PCM_SAMPLE_RATE_HZ = 16000
_PCM_BYTES_PER_MS = PCM_SAMPLE_RATE_HZ * 2 // 1000
DEFAULT_LEAD_MS = 60
_COMPACT_AFTER_BYTES = 1 << 16


class DownlinkCounters:
    """What the downlink sent and dropped; integers that only grow."""

    __slots__ = ("frames_sent", "octets_sent", "talk_spurts", "frames_flushed", "flushes",
                 "no_address", "send_errors")

    def __init__(self):
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self):
        """Snapshot as a plain dict."""
        return {name: getattr(self, name) for name in self.__slots__}


def _wall_ntp():
    return rtcp_time.ntp_from_unix(time.time())


class DownlinkSender:
    """Paced RTP/SRTP sender of one session's answer audio."""

    def __init__(self, session, protect, send, address, clock=time.monotonic,
                 lead_ms=DEFAULT_LEAD_MS, wall_ntp=_wall_ntp):
        if lead_ms < 0:
            raise ValueError("downlink: lead_ms must be >= 0, got %r" % (lead_ms,))
        self.session = session
        self.lead_ms = lead_ms
        self.counters = DownlinkCounters()
        self.max_in_flight_ms = 0.0
        self._protect = protect    # libsrtp outbound Session.protect
        self._send = send          # send(datagram, address)
        self._address = address    # () -> the device's latched address, or None
        self._clock = clock
        self._wall_ntp = wall_ntp
        self._lead_s = lead_ms / 1000.0
        self._frame_s = session.frame_ms / 1000.0
        self._frame_bytes = PCM_SAMPLE_RATE_HZ * session.frame_ms // 1000 * 2
        self._clock_hz = codecs.rtp_clock_hz(session.codec, session.sample_rate_hz)
        self._ticks = self._clock_hz * session.frame_ms // 1000
        self._encoder = None  # made at the first say(): most sessions never answer
        self._header = bytearray(rtp.FIXED_HEADER_SIZE)
        self._queue = bytearray()
        self._read = 0
        self._more = False
        self.sequence_number = random.getrandbits(16)  # of the next packet
        self.timestamp = random.getrandbits(32)        # of the next packet
        self._next_slot_s = None  # when the next frame starts playing, in real time
        self._marker = True
        self._restart = True  # the next say() starts its talk spurt now
        self._task = None
        self._closed = False
        # on_sent(sent_s, marker): called after each packet is sent (the
        # conversation takes its "first answer packet" time from it).
        self.on_sent = None

    @property
    def queued_ms(self):
        """Audio queued and not sent yet."""
        return (len(self._queue) - self._read) / _PCM_BYTES_PER_MS

    @property
    def in_flight_ms(self):
        """Audio sent whose real-time slot has not ended yet (at most lead + one frame).

        The device's playout buffer holds about this much; its playout delay
        is not included.
        """
        if self._next_slot_s is None:
            return 0.0
        return max(0.0, (self._next_slot_s - self._clock()) * 1000.0)

    def say(self, pcm, more=False):
        """Queue 16 kHz mono s16le PCM after what is queued; return the ms queued.

        A last partial frame is padded with silence when its turn comes, unless
        more=True says the caller (a streaming TTS) is about to add to it.
        Call it on the gateway's event loop.
        """
        if self._closed:
            raise RuntimeError("downlink: session is closed")
        size = len(pcm)
        if size % 2:
            raise ValueError("downlink: PCM of %d bytes is not whole 16-bit samples" % size)
        if self._encoder is None:
            self._encoder = codecs.make_encoder(self.session.codec, PCM_SAMPLE_RATE_HZ, 1,
                                                self.session.frame_ms)
        if len(self._queue) == self._read:
            self._begin(self._clock())
        self._queue += pcm
        self._more = more
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._pace())
        return self.queued_ms

    def _begin(self, now_s):
        """Nothing is queued: continue the stream, or start a talk spurt after a pause."""
        slot = self._next_slot_s
        if self._restart:
            # First answer, or after a flush: play from now, not after the slots
            # of audio the device has dropped. The timestamp still only grows.
            self._restart = False
            self._next_slot_s = now_s
            self._marker = True
        elif now_s > slot:
            frames = math.ceil((now_s - slot) / self._frame_s)
            self._next_slot_s = slot + frames * self._frame_s
            self.timestamp = (self.timestamp + frames * self._ticks) & 0xFFFFFFFF
            self._marker = True

    def flush(self):
        """Drop everything queued (barge-in); return the ms dropped.

        What was already sent (in_flight_ms) is the device's to drop; the next
        say() starts a new talk spurt (marker bit), which ends the device's
        discarding after its abort().
        """
        dropped = len(self._queue) - self._read
        self._queue = bytearray()
        self._read = 0
        self._more = False
        self._marker = True
        self._restart = True
        self.counters.flushes += 1
        self.counters.frames_flushed += -(-dropped // self._frame_bytes)
        if self._task is not None:
            self._task.cancel()
            self._task = None
        return dropped / _PCM_BYTES_PER_MS

    def _sendable(self):
        queued = len(self._queue) - self._read
        return queued >= self._frame_bytes or (queued > 0 and not self._more)

    async def _pace(self):
        while self._sendable():
            wait_s = self._next_slot_s - self._lead_s - self._clock()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
                continue
            self._send_frame(self._take_frame())

    def _take_frame(self):
        start = self._read
        end = min(start + self._frame_bytes, len(self._queue))
        frame = bytes(self._queue[start:end])
        if len(frame) < self._frame_bytes:
            frame += bytes(self._frame_bytes - len(frame))
        if end == len(self._queue):
            self._queue = bytearray()
            end = 0
        elif end >= _COMPACT_AFTER_BYTES:
            del self._queue[:end]
            end = 0
        self._read = end
        return frame

    def _send_frame(self, pcm):
        payload = self._encoder.encode(pcm)
        rtp.write_header(self._header, self.session.payload_type, self._marker,
                         self.sequence_number, self.timestamp, self.session.downlink_ssrc)
        counters = self.counters
        if self._marker:
            counters.talk_spurts += 1
        address = self._address()
        if address is None:
            counters.no_address += 1  # no packet from the device yet: nowhere to send
        else:
            try:
                self._send(self._protect(bytes(self._header) + payload), address)
            except Error:
                counters.send_errors += 1  # only an exhausted SRTP index
            else:
                counters.frames_sent += 1
                counters.octets_sent += len(payload)
                if self.on_sent is not None:
                    self.on_sent(self._clock(), self._marker)
        self._marker = False
        self.sequence_number = (self.sequence_number + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self._ticks) & 0xFFFFFFFF
        self._next_slot_s += self._frame_s
        self.max_in_flight_ms = max(self.max_in_flight_ms, self.in_flight_ms)

    def sender_report(self, compound, now_s):
        """The session's clear RR compound, as an SR compound once audio has been sent.

        The report block and SDES are the session's (rtcp_reports.ReportState);
        the SR adds the sender info: NTP now, the RTP time of now on the
        downlink clock, packets and payload octets sent.
        """
        if not self.counters.frames_sent:
            return compound
        packets = rtcp.parse_compound(compound)
        rtp_now = self.timestamp - round((self._next_slot_s - now_s) * self._clock_hz)
        report = rtcp.SenderReport(
            self.session.downlink_ssrc, self._wall_ntp(), rtp_now & 0xFFFFFFFF,
            self.counters.frames_sent & 0xFFFFFFFF, self.counters.octets_sent & 0xFFFFFFFF,
            packets[0].reports)
        return rtcp.build_compound([report] + packets[1:])

    async def stop(self):
        """Drop what is queued, stop the task and wait for it. Idempotent."""
        task = self._task
        self.close()
        if task is not None:
            try:
                await task
            except asyncio.CancelledError:
                pass

    def close(self):
        """Drop what is queued and cancel the task (sync: GatewaySession.close)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._queue = bytearray()
        self._read = 0

    def stats(self):
        """Snapshot for monitoring."""
        return dict(self.counters.as_dict(), queued_ms=self.queued_ms,
                    in_flight_ms=self.in_flight_ms, max_in_flight_ms=self.max_in_flight_ms,
                    lead_ms=self.lead_ms)
