"""RTP/RTCP (and SRTP/SRTCP) packets over TCP, framed per RFC 4571.

Each packet is preceded by its length as a 16-bit big-endian integer. TCP
delivers a byte stream cut at arbitrary points, so the Deframer reassembles
packets from whatever chunks arrive, in one buffer allocated up front.
Runs unchanged on MicroPython and CPython.
"""
import struct

LENGTH_PREFIX_SIZE = 2
MAX_FRAME_BYTES = 65535
# Covers the largest media packet a session allows (60 ms of 48 kHz stereo
# L16 is 11520 bytes of payload) plus RTP and SRTP overhead; the host may pass
# MAX_FRAME_BYTES to accept anything RFC 4571 can carry.
DEFAULT_MAX_PACKET_BYTES = 16384


def _check_length(length, limit):
    if length == 0:
        raise ValueError("framing: zero-length frame")
    if length > limit:
        raise ValueError("framing: packet of %d bytes exceeds the %d-byte limit" % (length, limit))


def frame(packet):
    """Length prefix followed by the packet, as bytes."""
    _check_length(len(packet), MAX_FRAME_BYTES)
    return struct.pack("!H", len(packet)) + bytes(packet)


def frame_into(packet, buf):
    """Write the framed packet into buf (no allocation); return its size."""
    length = len(packet)
    _check_length(length, MAX_FRAME_BYTES)
    if len(buf) < length + LENGTH_PREFIX_SIZE:
        raise ValueError("framing: buffer of %d bytes too small for a %d-byte frame"
                         % (len(buf), length + LENGTH_PREFIX_SIZE))
    struct.pack_into("!H", buf, 0, length)
    memoryview(buf)[LENGTH_PREFIX_SIZE:LENGTH_PREFIX_SIZE + length] = packet
    return LENGTH_PREFIX_SIZE + length


class Deframer:
    """Turns a TCP byte stream back into packets.

    A length of 0 is refused: RFC 4571 frames carry RTP or RTCP packets and
    neither can be empty, so a 0 means the stream is not RFC 4571 or has lost
    its place. TCP framing has no marker to resynchronise on, so after any
    error the Deframer stays failed and the connection must be dropped.
    """

    def __init__(self, max_packet_bytes=DEFAULT_MAX_PACKET_BYTES):
        if not 0 < max_packet_bytes <= MAX_FRAME_BYTES:
            raise ValueError("framing: max_packet_bytes must be in 1..65535, got %r"
                             % max_packet_bytes)
        self.max_packet_bytes = max_packet_bytes
        self._buf = bytearray(max_packet_bytes)
        self._view = memoryview(self._buf)
        self._prefix = bytearray(LENGTH_PREFIX_SIZE)
        self._prefix_fill = 0
        self._length = 0  # length of the packet being assembled; 0 = reading a prefix
        self._fill = 0
        self._error = None

    @property
    def pending_bytes(self):
        """Bytes of an incomplete frame held back (prefix included)."""
        if self._length:
            return LENGTH_PREFIX_SIZE + self._fill
        return self._prefix_fill

    def feed(self, data):
        """Consume a chunk of the stream; return the packets it completed."""
        if self._error is not None:
            raise ValueError(self._error)
        try:
            return self._feed(memoryview(data))
        except ValueError as error:
            self._error = "framing: stream failed earlier: %s" % error
            raise

    def _feed(self, view):
        packets = []
        at = 0
        size = len(view)
        while at < size:
            if not self._length:
                at = self._read_prefix(view, at, size)
                if not self._length:
                    break
                # Fast path: the whole packet is in this chunk; no copy to the buffer.
                if self._fill == 0 and size - at >= self._length:
                    packets.append(bytes(view[at:at + self._length]))
                    at += self._length
                    self._length = 0
                    continue
            take = min(self._length - self._fill, size - at)
            self._view[self._fill:self._fill + take] = view[at:at + take]
            self._fill += take
            at += take
            if self._fill == self._length:
                packets.append(bytes(self._view[:self._length]))
                self._length = 0
                self._fill = 0
        return packets

    def _read_prefix(self, view, at, size):
        while self._prefix_fill < LENGTH_PREFIX_SIZE and at < size:
            self._prefix[self._prefix_fill] = view[at]
            self._prefix_fill += 1
            at += 1
        if self._prefix_fill == LENGTH_PREFIX_SIZE:
            length = (self._prefix[0] << 8) | self._prefix[1]
            self._prefix_fill = 0
            _check_length(length, self.max_packet_bytes)
            self._length = length
        return at
