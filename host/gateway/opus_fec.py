"""Does an Opus packet carry in-band FEC (SILK LBRR) for the previous frame?

libopus only grew opus_packet_has_lbrr() in 1.5; Debian ships 1.3.1. The test
is small: the LBRR flags are the first equiprobable bits of the SILK range
coder, so they are plain bits of the first frame's first byte (RFC 6716
sections 3.1-3.2 for the packet layout, 4.2.3-4.2.4 for the flags). Pure
function of the payload; anything it cannot parse counts as "no FEC", which
makes the gateway fall back to PLC, never fail.
"""

_SILK_FRAME_MS = (10, 20, 40, 60)
_HYBRID_FIRST_CONFIG = 12
_CELT_FIRST_CONFIG = 16


def _frame_size_field(payload, at):
    """(size, bytes used) of a frame length at payload[at] (RFC 6716 3.2.1)."""
    first = payload[at]
    if first < 252:
        return first, 1
    if at + 1 >= len(payload):
        return None, 0
    return first + 4 * payload[at + 1], 2


def _code3_first_frame(payload):
    """Offset and size of frame 0 of a code-3 packet, or (None, 0)."""
    size = len(payload)
    if size < 2:
        return None, 0
    count_byte = payload[1]
    frames = count_byte & 0x3F
    at = 2
    padding = 0
    if count_byte & 0x40:
        while True:
            if at >= size:
                return None, 0
            value = payload[at]
            at += 1
            padding += 254 if value == 255 else value
            if value != 255:
                break
    if frames == 0:
        return None, 0
    if count_byte & 0x80:
        first_size = None
        for _ in range(frames - 1):
            if at >= size:
                return None, 0
            length, used = _frame_size_field(payload, at)
            if used == 0:
                return None, 0
            if first_size is None:
                first_size = length
            at += used
        if first_size is None:
            first_size = size - at - padding
        return at, first_size
    return at, (size - at - padding) // frames


def _first_frame(payload):
    """Offset and size of the first Opus frame in the packet, or (None, 0)."""
    code = payload[0] & 0x03
    if code == 0:
        return 1, len(payload) - 1
    if code == 1:
        return 1, (len(payload) - 1) // 2
    if code == 2:
        if len(payload) < 2:
            return None, 0
        length, used = _frame_size_field(payload, 1)
        if used == 0:
            return None, 0
        return 1 + used, length
    return _code3_first_frame(payload)


def has_fec(payload):
    """True if the Opus packet's first frame carries LBRR data (in-band FEC)."""
    if len(payload) < 2:
        return False
    toc = payload[0]
    config = toc >> 3
    if config >= _CELT_FIRST_CONFIG:
        return False
    if config < _HYBRID_FIRST_CONFIG:
        frame_ms = _SILK_FRAME_MS[config & 0x03]
    else:
        frame_ms = 20 if config & 0x01 else 10
    silk_frames = frame_ms // 20 if frame_ms > 20 else 1
    at, size = _first_frame(payload)
    if at is None or size <= 0 or at >= len(payload):
        return False
    first = payload[at]
    lbrr = (first >> (7 - silk_frames)) & 1
    if toc & 0x04:
        lbrr |= (first >> (6 - 2 * silk_frames)) & 1
    return bool(lbrr)
