"""SLIP framing (RFC 1055) as the ESP ROM loader uses it: 0xC0 ends, 0xDB escapes."""

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD


def encode(packet):
    """One framed packet: C0 <escaped bytes> C0."""
    body = bytes(packet).replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return b"\xc0" + body + b"\xc0"


class Decoder:
    """Incremental decoder: feed() bytes as they arrive, get whole packets back.

    Bytes outside a frame are dropped (and counted), as the ROM ignores line
    noise between packets; an escape byte followed by anything but DC/DD ends
    that frame as invalid.
    """

    def __init__(self):
        self._packet = None
        self._escape = False
        self.noise_bytes = 0
        self.bad_frames = 0

    def feed(self, data):
        """Bytes in, list of complete packets out."""
        packets = []
        for byte in data:
            if self._packet is None:
                if byte == END:
                    self._packet = bytearray()
                else:
                    self.noise_bytes += 1
            elif self._escape:
                self._escape = False
                if byte == ESC_END:
                    self._packet.append(END)
                elif byte == ESC_ESC:
                    self._packet.append(ESC)
                else:
                    self.bad_frames += 1
                    self._packet = None
            elif byte == ESC:
                self._escape = True
            elif byte == END:
                if self._packet:
                    packets.append(bytes(self._packet))
                    self._packet = None
                # An empty frame (C0 C0) is the start of the next one.
                else:
                    self._packet = bytearray()
            else:
                self._packet.append(byte)
        return packets
