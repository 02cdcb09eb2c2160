"""RTCP (RFC 3550 section 6) sender and receiver reports, multiplexed with RTP
on one port (RFC 5761): parse and build, shared by the device and the host.

Runs unchanged on MicroPython and CPython. Malformed input raises ValueError
with the reason; nothing here asserts. SR and RR are decoded; every other
packet type (SDES, BYE, APP, feedback, XR) is kept as RtcpUnknown so a
compound packet can be read and rebuilt without understanding all of it.
The report blocks SR and RR carry are in device/rtcp_report_block.py; NTP
timestamps and the round-trip time in device/rtcp_time.py.
"""
import struct

from device.rtcp_report_block import REPORT_BLOCK_SIZE, ReportBlock, check_u32

RTCP_VERSION = 2
HEADER_SIZE = 4
MAX_REPORT_BLOCKS = 31

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204
SDES_CNAME = 1

# RFC 5761 section 4: on a muxed port RTCP packet types stay in 192..223 so
# that they never collide with RTP payload types (with the marker bit set).
_PT_MIN = 192
_PT_MAX = 223

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _header(count, packet_type, body_size):
    if body_size % 4:
        raise ValueError("rtcp: packet body of %d bytes is not a whole number of 32-bit words"
                         % body_size)
    return struct.pack("!BBH", (RTCP_VERSION << 6) | count, packet_type, body_size // 4)


def _reports_bytes(reports, extension):
    if len(reports) > MAX_REPORT_BLOCKS:
        raise ValueError("rtcp: at most 31 report blocks per packet, got %d" % len(reports))
    return b"".join([block.to_bytes() for block in reports]) + bytes(extension)


def _parse_reports(data, start, end, count, fixed, name):
    """Report blocks after `fixed` bytes of body; the rest is the extension."""
    need = fixed + REPORT_BLOCK_SIZE * count
    if end - start < need:
        raise ValueError("rtcp: %s with %d report blocks needs %d bytes of body, has %d"
                         % (name, count, need, end - start))
    at = start + fixed
    reports = [ReportBlock.parse(data, at + REPORT_BLOCK_SIZE * i) for i in range(count)]
    return reports, bytes(data[start + need:end])


class SenderReport:
    """SR (packet type 200): sender info plus optional report blocks."""

    packet_type = PT_SR

    def __init__(self, ssrc, ntp_timestamp=0, rtp_timestamp=0, packet_count=0,
                 octet_count=0, reports=None, extension=b""):
        self.ssrc = ssrc
        self.ntp_timestamp = ntp_timestamp
        self.rtp_timestamp = rtp_timestamp
        self.packet_count = packet_count
        self.octet_count = octet_count
        self.reports = list(reports or ())
        self.extension = extension

    def __repr__(self):
        return "SenderReport(ssrc=%08x, ntp=%016x, rtp=%d, packets=%d, octets=%d, reports=%r)" % (
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count,
            self.octet_count, self.reports)

    def __eq__(self, other):
        return isinstance(other, SenderReport) and (
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count,
            self.octet_count, self.reports, bytes(self.extension)) == (
            other.ssrc, other.ntp_timestamp, other.rtp_timestamp, other.packet_count,
            other.octet_count, other.reports, bytes(other.extension))

    @classmethod
    def parse(cls, data):
        """Parse bytes holding exactly one SR; raise ValueError otherwise."""
        return _parse_single(data, cls)

    @classmethod
    def _from_body(cls, data, start, end, count):
        reports, extension = _parse_reports(data, start, end, count, 24, "SR")
        ssrc, ntp_high, ntp_low, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", data, start)
        return cls(ssrc, (ntp_high << 32) | ntp_low, rtp_ts, packets, octets, reports, extension)

    def to_bytes(self):
        """Serialize to wire bytes (no padding)."""
        if not 0 <= self.ntp_timestamp <= _U64:
            raise ValueError("rtcp: ntp_timestamp %r is not an unsigned 64-bit value"
                             % self.ntp_timestamp)
        for name in ("rtp_timestamp", "packet_count", "octet_count"):
            if getattr(self, name) < 0:
                raise ValueError("rtcp: %s %r is negative" % (name, getattr(self, name)))
        # RTP timestamp and the sender's counters are modular: they wrap (RFC 3550 6.4.1).
        sender_info = struct.pack(
            "!IIIIII", check_u32("ssrc", self.ssrc), self.ntp_timestamp >> 32,
            self.ntp_timestamp & _U32, self.rtp_timestamp & _U32,
            self.packet_count & _U32, self.octet_count & _U32)
        rest = _reports_bytes(self.reports, self.extension)
        return _header(len(self.reports), PT_SR, len(sender_info) + len(rest)) + sender_info + rest

    def __bytes__(self):
        return self.to_bytes()


class ReceiverReport:
    """RR (packet type 201): report blocks from a receiver that does not send."""

    packet_type = PT_RR

    def __init__(self, ssrc, reports=None, extension=b""):
        self.ssrc = ssrc
        self.reports = list(reports or ())
        self.extension = extension

    def __repr__(self):
        return "ReceiverReport(ssrc=%08x, reports=%r)" % (self.ssrc, self.reports)

    def __eq__(self, other):
        return isinstance(other, ReceiverReport) and (
            self.ssrc, self.reports, bytes(self.extension)) == (
            other.ssrc, other.reports, bytes(other.extension))

    @classmethod
    def parse(cls, data):
        """Parse bytes holding exactly one RR; raise ValueError otherwise."""
        return _parse_single(data, cls)

    @classmethod
    def _from_body(cls, data, start, end, count):
        reports, extension = _parse_reports(data, start, end, count, 4, "RR")
        return cls(struct.unpack_from("!I", data, start)[0], reports, extension)

    def to_bytes(self):
        """Serialize to wire bytes (no padding)."""
        ssrc = struct.pack("!I", check_u32("ssrc", self.ssrc))
        rest = _reports_bytes(self.reports, self.extension)
        return _header(len(self.reports), PT_RR, 4 + len(rest)) + ssrc + rest

    def __bytes__(self):
        return self.to_bytes()


class RtcpUnknown:
    """Any other RTCP packet (SDES, BYE, APP, ...): type, count field and body."""

    def __init__(self, packet_type, count, body):
        self.packet_type = packet_type
        self.count = count
        self.body = body

    def __repr__(self):
        return "RtcpUnknown(type=%d, count=%d, %d bytes)" % (
            self.packet_type, self.count, len(self.body))

    def __eq__(self, other):
        return isinstance(other, RtcpUnknown) and (
            self.packet_type, self.count, bytes(self.body)) == (
            other.packet_type, other.count, bytes(other.body))

    @classmethod
    def _from_body(cls, data, start, end, count, packet_type):
        return cls(packet_type, count, bytes(data[start:end]))

    def to_bytes(self):
        """Serialize to wire bytes; the body must be whole 32-bit words."""
        if not _PT_MIN <= self.packet_type <= _PT_MAX:
            raise ValueError("rtcp: packet type %r outside 192..223" % self.packet_type)
        if not 0 <= self.count <= 31:
            raise ValueError("rtcp: count field %r out of range 0..31" % self.count)
        return _header(self.count, self.packet_type, len(self.body)) + bytes(self.body)

    def __bytes__(self):
        return self.to_bytes()


def sdes_cname(ssrc, cname):
    """SDES packet with one CNAME item: RFC 3550 wants one in every compound."""
    text = cname.encode() if isinstance(cname, str) else bytes(cname)
    if not 0 < len(text) <= 255:
        raise ValueError("rtcp: CNAME must be 1..255 bytes, got %d" % len(text))
    chunk = struct.pack("!IBB", check_u32("ssrc", ssrc), SDES_CNAME, len(text)) + text
    # The item list ends with a null octet, then nulls up to a 32-bit boundary.
    chunk += bytes(4 - len(chunk) % 4)
    return RtcpUnknown(PT_SDES, 1, chunk)


def bye(ssrcs):
    """BYE packet for the given SSRCs (no reason text)."""
    ssrcs = list(ssrcs)
    if len(ssrcs) > 31:
        raise ValueError("rtcp: at most 31 SSRCs in a BYE, got %d" % len(ssrcs))
    return RtcpUnknown(PT_BYE, len(ssrcs), b"".join([struct.pack("!I", check_u32("ssrc", s))
                                                     for s in ssrcs]))


def _parse_one(data, at, total):
    """Parse the packet at offset `at`; return (packet, offset after it)."""
    if total - at < HEADER_SIZE:
        raise ValueError("rtcp: %d trailing bytes at offset %d, shorter than a 4-byte header"
                         % (total - at, at))
    first, packet_type, words = struct.unpack_from("!BBH", data, at)
    if first >> 6 != RTCP_VERSION:
        raise ValueError("rtcp: version is %d at offset %d, expected 2" % (first >> 6, at))
    if not _PT_MIN <= packet_type <= _PT_MAX:
        raise ValueError("rtcp: packet type %d at offset %d is outside the RTCP range 192..223"
                         % (packet_type, at))
    end = at + 4 * (words + 1)
    if end > total:
        raise ValueError("rtcp: packet at offset %d claims %d bytes, only %d remain"
                         % (at, end - at, total - at))
    next_at = end
    if first & 0x20:
        # RFC 3550 A.2: only the last packet of a compound may be padded.
        if end != total:
            raise ValueError("rtcp: padding bit set on the packet at offset %d, which is not last" % at)
        padding = data[end - 1]
        if padding == 0 or padding > end - at - HEADER_SIZE:
            raise ValueError("rtcp: padding count %d is invalid for a %d-byte packet"
                             % (padding, end - at))
        end -= padding
    count = first & 0x1F
    start = at + HEADER_SIZE
    if packet_type == PT_SR:
        return SenderReport._from_body(data, start, end, count), next_at
    if packet_type == PT_RR:
        return ReceiverReport._from_body(data, start, end, count), next_at
    return RtcpUnknown._from_body(data, start, end, count, packet_type), next_at


def parse_compound(data):
    """Parse a compound RTCP packet into a list of packets; ValueError if malformed.

    Accepts reduced-size RTCP (RFC 5506): the first packet need not be SR/RR.
    """
    total = len(data)
    if total == 0:
        raise ValueError("rtcp: empty packet")
    packets = []
    at = 0
    while at < total:
        packet, at = _parse_one(data, at, total)
        packets.append(packet)
    return packets


def _parse_single(data, cls):
    packets = parse_compound(data)
    if len(packets) != 1 or not isinstance(packets[0], cls):
        raise ValueError("rtcp: expected one %s packet, got %r" % (cls.__name__, packets))
    return packets[0]


def build_compound(packets):
    """Concatenate packets into a compound packet that starts with SR or RR."""
    if not packets:
        raise ValueError("rtcp: a compound packet needs at least one packet")
    if not isinstance(packets[0], (SenderReport, ReceiverReport)):
        raise ValueError("rtcp: a compound packet must start with SR or RR (RFC 3550 6.1)")
    return b"".join([packet.to_bytes() for packet in packets])
