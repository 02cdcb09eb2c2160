"""SRTP and SRTCP with AES_CM_128_HMAC_SHA1_80 (RFC 3711), device and host alike.

Runs unchanged on MicroPython and CPython and interoperates byte for byte with
libsrtp. One SrtpContext holds the session keys derived from one master key
and salt, and per-SSRC state for any number of streams in each direction:
sending ROC and highest sequence number, receiving ROC estimate and a 64-packet
replay window, SRTCP index per sending SSRC and replay window per receiving one.
MKI is not used; the key derivation rate is 0.

unprotect checks, in RFC 3711 section 3.3 order: length, replay (from the index
estimate), then the tag. Nothing else in a packet is read before its tag
verifies, and receive state only advances after that.
"""
from device.crypto import AesCm, AesCmEcb, HmacSha1, equal

try:
    from micropython import const
except ImportError:
    def const(value):
        return value

MASTER_KEY_SIZE = 16
MASTER_SALT_SIZE = 14
AUTH_TAG_SIZE = 10
AUTH_KEY_SIZE = 20
REPLAY_WINDOW_SIZE = 64
SRTCP_INDEX_SIZE = 4

# Key derivation labels, RFC 3711 section 4.3.1 and 4.3.2.
LABEL_RTP_ENCRYPTION = 0
LABEL_RTP_AUTH = 1
LABEL_RTP_SALT = 2
LABEL_RTCP_ENCRYPTION = 3
LABEL_RTCP_AUTH = 4
LABEL_RTCP_SALT = 5

_RTP_HEADER = const(12)
_RTCP_HEADER = const(8)
_TAG = const(10)
_SEQ_MEDIAN = const(0x8000)
_MAX_INDEX = const(0xFFFFFFFFFFFF)
_WINDOW = const(64)  # REPLAY_WINDOW_SIZE, inlined on MicroPython
_WINDOW_MASK = const(0xFFFFFFFFFFFFFFFF)
_SRTCP_INDEX = const(4)
_MAX_SRTCP_INDEX = const(0x7FFFFFFF)
_E_FLAG = const(0x80000000)


class SrtpError(ValueError):
    """A packet refused by unprotect; .reason is truncated, auth, replay or malformed."""

    def __init__(self, reason, message):
        super().__init__("srtp: " + message)
        self.reason = reason


def derive_key(master_cipher, master_salt, label, length):
    """Session key of length bytes for label (RFC 3711 4.3.1, kdr 0)."""
    x = int.from_bytes(master_salt, "big") ^ (label << 48)
    return master_cipher.keystream((x << 16).to_bytes(16, "big"), length)


def _u32(packet, at):
    # Big-endian 32-bit word at packet[at:at + 4], without struct's tuple.
    return (packet[at] << 24) | (packet[at + 1] << 16) | (packet[at + 2] << 8) | packet[at + 3]


def _rtp_header_size(packet, end):
    """Length of the RTP header in packet[:end]; SrtpError if it does not fit."""
    if end < _RTP_HEADER:
        raise SrtpError("truncated", "RTP packet of %d bytes is shorter than its 12-byte header" % end)
    first = packet[0]
    if first >> 6 != 2:
        raise SrtpError("malformed", "RTP version is %d, expected 2" % (first >> 6))
    size = _RTP_HEADER + 4 * (first & 0x0F)
    if first & 0x10:
        if end < size + 4:
            raise SrtpError("malformed", "RTP extension header runs past the packet")
        size += 4 + 4 * ((packet[size + 2] << 8) | packet[size + 3])
    if size > end:
        raise SrtpError("malformed", "RTP header (%d bytes) runs past the packet (%d)" % (size, end))
    return size


def _guess_index(highest, seq):
    """Packet index of seq given the highest index seen (RFC 3711 3.3.1, appendix A)."""
    roc = highest >> 16
    last = highest & 0xFFFF
    if last < _SEQ_MEDIAN:
        # Behind a wrap; but an index below zero cannot exist (as libsrtp).
        if seq - last > _SEQ_MEDIAN and roc:
            roc -= 1
    elif last - _SEQ_MEDIAN > seq:
        roc += 1
    return (roc << 16) | seq


def _check_replay(state, index):
    """index if it is new to a stream's replay window; SrtpError replay if not."""
    if state is not None:
        behind = state[0] - index
        if behind >= 0 and (behind >= _WINDOW or (state[1] >> behind) & 1):
            raise SrtpError("replay", "packet index %d replayed or older than the window" % index)
    return index


def _accept(table, key, index):
    """Record an authenticated index in a stream's replay state [highest, bitmap]."""
    state = table.get(key)
    if state is None:
        table[key] = [index, 1]
        return
    ahead = index - state[0]
    if ahead > 0:
        state[0] = index
        state[1] = ((state[1] << ahead) | 1) & _WINDOW_MASK if ahead < _WINDOW else 1
    else:
        state[1] |= 1 << -ahead


def _word(value):
    return value.to_bytes(4, "big")


class _Keys:
    """Encryption, authentication and salt keys of one of SRTP or SRTCP."""

    def __init__(self, master_cipher, master_salt, first_label):
        self._cipher = AesCm(derive_key(master_cipher, master_salt, first_label, 16))
        self._auth = HmacSha1(derive_key(master_cipher, master_salt, first_label + 1, AUTH_KEY_SIZE))
        salt = derive_key(master_cipher, master_salt, first_label + 2, MASTER_SALT_SIZE)
        self._salt = int.from_bytes(salt, "big") << 16

    def crypt(self, packet, start, ssrc, index):
        """packet with its bytes from start on en- or decrypted (RFC 3711 4.1.1)."""
        iv = (self._salt ^ (ssrc << 64) ^ (index << 16)).to_bytes(16, "big")
        return self._cipher.crypt(iv, packet, start)

    def tag(self, data, tail):
        """The 80-bit authentication tag of data followed by tail."""
        return self._auth.digest(data, tail)[:_TAG]

    def verify(self, packet, end, tail):
        """Raise SrtpError auth unless packet[end:] is the tag of packet[:end] + tail."""
        if not equal(self.tag(packet[:end], tail), packet[end:]):
            raise SrtpError("auth", "authentication tag mismatch")


class SrtpContext:
    """SRTP/SRTCP protect and unprotect under one master key and salt."""

    def __init__(self, master_key, master_salt):
        if not isinstance(master_key, (bytes, bytearray)) or len(master_key) != MASTER_KEY_SIZE:
            raise ValueError("srtp: master key must be %d bytes" % MASTER_KEY_SIZE)
        if not isinstance(master_salt, (bytes, bytearray)) or len(master_salt) != MASTER_SALT_SIZE:
            raise ValueError("srtp: master salt must be %d bytes" % MASTER_SALT_SIZE)
        master = AesCmEcb(master_key)
        self._rtp = _Keys(master, master_salt, LABEL_RTP_ENCRYPTION)
        self._rtcp = _Keys(master, master_salt, LABEL_RTCP_ENCRYPTION)
        self._send = {}          # ssrc -> highest packet index sent
        self._receive = {}       # ssrc -> [highest index, replay bitmap]
        self._rtcp_send = {}     # ssrc -> next SRTCP index
        self._rtcp_receive = {}  # ssrc -> [highest index, replay bitmap]

    def protect(self, rtp_packet):
        """RTP packet in, SRTP packet (payload encrypted, 80-bit tag) out."""
        header = _rtp_header_size(rtp_packet, len(rtp_packet))
        index = self._send_index(_u32(rtp_packet, 8), (rtp_packet[2] << 8) | rtp_packet[3])
        sealed = self._rtp.crypt(rtp_packet, header, _u32(rtp_packet, 8), index)
        return sealed + self._rtp.tag(sealed, _word(index >> 16))

    def _send_index(self, ssrc, seq):
        # The sender keeps its ROC by the same estimate a receiver makes, so a
        # packet sent late (lower sequence number) keeps the ROC it belongs to.
        highest = self._send.get(ssrc)
        index = seq if highest is None else _guess_index(highest, seq)
        if highest is None or index > highest:
            if index > _MAX_INDEX:
                raise SrtpError("malformed", "SRTP index exhausted for SSRC %08x: rekey" % ssrc)
            self._send[ssrc] = index
        return index

    def unprotect(self, srtp_packet):
        """SRTP packet in, RTP packet out; SrtpError if refused."""
        packet = memoryview(srtp_packet)
        end = len(packet) - _TAG
        if end < _RTP_HEADER:
            raise SrtpError("truncated", "SRTP packet of %d bytes is shorter than header and tag" % len(packet))
        index = self._receive_index(packet)
        self._rtp.verify(packet, end, _word(index >> 16))
        plain = self._rtp.crypt(packet[:end], _rtp_header_size(packet, end), _u32(packet, 8), index)
        _accept(self._receive, _u32(packet, 8), index)
        return plain

    def _receive_index(self, packet):
        # ROC estimate and replay check, before the tag is looked at.
        state = self._receive.get(_u32(packet, 8))
        seq = (packet[2] << 8) | packet[3]
        return _check_replay(state, seq if state is None else _guess_index(state[0], seq))

    def protect_rtcp(self, rtcp_packet):
        """RTCP (compound) packet in, SRTCP out: encrypted, E flag, index, tag."""
        if len(rtcp_packet) < _RTCP_HEADER:
            raise SrtpError("truncated", "RTCP packet shorter than 8 bytes")
        if rtcp_packet[0] >> 6 != 2:
            raise SrtpError("malformed", "RTCP version is %d, expected 2" % (rtcp_packet[0] >> 6))
        index = self._rtcp_send_index(_u32(rtcp_packet, 4))
        sealed = self._rtcp.crypt(rtcp_packet, _RTCP_HEADER, _u32(rtcp_packet, 4), index)
        trailer = _word(_E_FLAG | index)
        return sealed + trailer + self._rtcp.tag(sealed, trailer)

    def _rtcp_send_index(self, ssrc):
        index = self._rtcp_send.get(ssrc, 0)
        if index > _MAX_SRTCP_INDEX:
            raise SrtpError("malformed", "SRTCP index exhausted for SSRC %08x: rekey" % ssrc)
        self._rtcp_send[ssrc] = index + 1
        return index

    def unprotect_rtcp(self, srtcp_packet):
        """SRTCP packet in, RTCP packet out; SrtpError if refused."""
        packet = memoryview(srtcp_packet)
        end = len(packet) - _TAG - _SRTCP_INDEX
        if end < _RTCP_HEADER:
            raise SrtpError("truncated", "SRTCP packet of %d bytes is shorter than header, index and tag" % len(packet))
        word = _u32(packet, end)
        index = _check_replay(self._rtcp_receive.get(_u32(packet, 4)), word & _MAX_SRTCP_INDEX)
        self._rtcp.verify(packet, end + _SRTCP_INDEX, b"")
        if packet[0] >> 6 != 2:
            raise SrtpError("malformed", "RTCP version is %d, expected 2" % (packet[0] >> 6))
        if word & _E_FLAG:
            plain = self._rtcp.crypt(packet[:end], _RTCP_HEADER, _u32(packet, 4), index)
        else:
            plain = bytes(packet[:end])
        _accept(self._rtcp_receive, _u32(packet, 4), index)
        return plain
