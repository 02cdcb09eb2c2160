"""RTP packets (RFC 3550): parse and build, shared by the device and the host.

Runs unchanged on MicroPython and CPython. Malformed input raises ValueError
with the reason; nothing here asserts.
"""
import struct

RTP_VERSION = 2
FIXED_HEADER_SIZE = 12
SEQUENCE_MODULO = 65536
TIMESTAMP_MODULO = 1 << 32
MAX_CSRC_COUNT = 15

# RFC 5761 section 4: on a multiplexed port, a second byte in 192..223 is RTCP
# (packet types 200..204 with or without the marker bit folded in).
_RTCP_SECOND_BYTE_MIN = 192
_RTCP_SECOND_BYTE_MAX = 223


def is_rtcp(data):
    """True if a packet on a muxed RTP/RTCP port is RTCP (RFC 5761 section 4)."""
    return len(data) >= 2 and _RTCP_SECOND_BYTE_MIN <= data[1] <= _RTCP_SECOND_BYTE_MAX


def header_size(data):
    """Length in bytes of the RTP header (fixed part, CSRCs, extension)."""
    size = len(data)
    if size < FIXED_HEADER_SIZE:
        raise ValueError("rtp: packet shorter than the 12-byte header (%d bytes)" % size)
    first = data[0]
    if first >> 6 != RTP_VERSION:
        raise ValueError("rtp: version is %d, expected 2" % (first >> 6))
    length = FIXED_HEADER_SIZE + 4 * (first & 0x0F)
    if first & 0x10:
        if size < length + 4:
            raise ValueError("rtp: extension header truncated")
        words = (data[length + 2] << 8) | data[length + 3]
        length += 4 + 4 * words
    if size < length:
        raise ValueError("rtp: header (%d bytes) longer than packet (%d bytes)" % (length, size))
    return length


def ssrc_of(data):
    """SSRC of an RTP packet, read without parsing the rest."""
    if len(data) < FIXED_HEADER_SIZE:
        raise ValueError("rtp: packet shorter than the 12-byte header (%d bytes)" % len(data))
    return struct.unpack_from("!I", data, 8)[0]


def write_header(buf, payload_type, marker, sequence_number, timestamp, ssrc):
    """Write a 12-byte RTP header (no CSRC, no extension) into buf; return 12.

    The per-frame path of the device calls this on a preallocated buffer so
    that streaming does not allocate a header per packet.
    """
    struct.pack_into(
        "!BBHII", buf, 0,
        RTP_VERSION << 6,
        (0x80 if marker else 0) | (payload_type & 0x7F),
        sequence_number & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc & 0xFFFFFFFF,
    )
    return FIXED_HEADER_SIZE


def sequence_delta(newer, older):
    """Signed distance from older to newer on the 16-bit sequence circle."""
    delta = (newer - older) & 0xFFFF
    return delta - SEQUENCE_MODULO if delta >= 0x8000 else delta


def timestamp_delta(newer, older):
    """Signed distance from older to newer on the 32-bit timestamp circle."""
    delta = (newer - older) & 0xFFFFFFFF
    return delta - TIMESTAMP_MODULO if delta >= 0x80000000 else delta


class RtpPacket:
    """One RTP packet: header fields plus payload (padding removed)."""

    def __init__(self, payload_type=0, sequence_number=0, timestamp=0, ssrc=0,
                 payload=b"", marker=False, csrc=(), extension_profile=None,
                 extension=b""):
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.marker = marker
        self.csrc = list(csrc)
        self.extension_profile = extension_profile
        self.extension = extension

    def __repr__(self):
        return "RtpPacket(pt=%d, seq=%d, ts=%d, ssrc=%08x, marker=%s, %d bytes)" % (
            self.payload_type, self.sequence_number, self.timestamp, self.ssrc,
            self.marker, len(self.payload))

    @classmethod
    def parse(cls, data):
        """Parse bytes into an RtpPacket; raise ValueError if malformed."""
        length = header_size(data)
        first, second, seq, ts, ssrc = struct.unpack_from("!BBHII", data, 0)
        csrc_count = first & 0x0F
        csrc = [struct.unpack_from("!I", data, FIXED_HEADER_SIZE + 4 * i)[0]
                for i in range(csrc_count)]
        profile = None
        extension = b""
        if first & 0x10:
            at = FIXED_HEADER_SIZE + 4 * csrc_count
            profile = struct.unpack_from("!H", data, at)[0]
            extension = bytes(data[at + 4:length])
        end = len(data)
        if first & 0x20:
            padding = data[end - 1]
            if padding == 0 or end - padding < length:
                raise ValueError("rtp: padding length %d is invalid" % padding)
            end -= padding
        return cls(
            payload_type=second & 0x7F,
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[length:end]),
            marker=bool(second & 0x80),
            csrc=csrc,
            extension_profile=profile,
            extension=extension,
        )

    def to_bytes(self):
        """Serialize to wire bytes."""
        if len(self.csrc) > MAX_CSRC_COUNT:
            raise ValueError("rtp: at most 15 CSRCs, got %d" % len(self.csrc))
        if not 0 <= self.payload_type <= 127:
            raise ValueError("rtp: payload type %d out of range 0..127" % self.payload_type)
        has_extension = self.extension_profile is not None
        if has_extension and len(self.extension) % 4:
            raise ValueError("rtp: extension length must be a multiple of 4")
        first = (RTP_VERSION << 6) | (0x10 if has_extension else 0) | len(self.csrc)
        parts = [struct.pack(
            "!BBHII", first,
            (0x80 if self.marker else 0) | self.payload_type,
            self.sequence_number & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )]
        for source in self.csrc:
            parts.append(struct.pack("!I", source))
        if has_extension:
            parts.append(struct.pack("!HH", self.extension_profile, len(self.extension) // 4))
            parts.append(bytes(self.extension))
        parts.append(bytes(self.payload))
        return b"".join(parts)

    def __bytes__(self):
        return self.to_bytes()
