"""RTCP report block (RFC 3550 section 6.4.1): reception statistics about one source.

SR and RR packets (device/rtcp.py) carry them; device/reception.py builds
them. Runs unchanged on MicroPython and CPython; malformed input raises
ValueError with the reason.
"""
import struct

REPORT_BLOCK_SIZE = 24
_U32 = 0xFFFFFFFF


def check_u32(name, value):
    """value, or ValueError naming the field if it is not an unsigned 32-bit value."""
    if not 0 <= value <= _U32:
        raise ValueError("rtcp: %s %r is not an unsigned 32-bit value" % (name, value))
    return value


class ReportBlock:
    """Reception statistics about one source (RFC 3550 section 6.4.1)."""

    def __init__(self, ssrc, fraction_lost=0, packets_lost=0, highest_sequence=0,
                 jitter=0, lsr=0, dlsr=0):
        self.ssrc = ssrc
        self.fraction_lost = fraction_lost
        self.packets_lost = packets_lost
        self.highest_sequence = highest_sequence
        self.jitter = jitter
        self.lsr = lsr
        self.dlsr = dlsr

    def __repr__(self):
        return ("ReportBlock(ssrc=%08x, fraction_lost=%d, packets_lost=%d, highest_sequence=%d,"
                " jitter=%d, lsr=%08x, dlsr=%d)" % (
                    self.ssrc, self.fraction_lost, self.packets_lost, self.highest_sequence,
                    self.jitter, self.lsr, self.dlsr))

    def __eq__(self, other):
        return isinstance(other, ReportBlock) and self._fields() == other._fields()

    def _fields(self):
        return (self.ssrc, self.fraction_lost, self.packets_lost, self.highest_sequence,
                self.jitter, self.lsr, self.dlsr)

    @classmethod
    def parse(cls, data, offset=0):
        """Parse the 24-byte block at offset; raise ValueError if truncated."""
        if len(data) - offset < REPORT_BLOCK_SIZE:
            raise ValueError("rtcp: report block truncated (%d of 24 bytes)" % max(0, len(data) - offset))
        ssrc, lost_word, highest, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", data, offset)
        lost = lost_word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr)

    def to_bytes(self):
        """Serialize to the 24-byte wire layout."""
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError("rtcp: fraction_lost %r out of range 0..255" % self.fraction_lost)
        if not -0x800000 <= self.packets_lost <= 0x7FFFFF:
            raise ValueError("rtcp: packets_lost %r out of signed 24-bit range" % self.packets_lost)
        return struct.pack(
            "!IIIIII", check_u32("report ssrc", self.ssrc),
            (self.fraction_lost << 24) | (self.packets_lost & 0xFFFFFF),
            check_u32("highest_sequence", self.highest_sequence), check_u32("jitter", self.jitter),
            check_u32("lsr", self.lsr), check_u32("dlsr", self.dlsr))
