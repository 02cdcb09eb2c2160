"""Audio codecs for the media stream: Opus (RFC 7587) and L16 (RFC 3551).

PCM is always 16-bit signed little-endian, interleaved when there are two
channels. Opus comes from opuslib_next on CPython or from a native `opus`
module in the ESP32 firmware (same Encoder/Decoder subset, see
docs/protocol.md); the MicroPython unix port has neither and negotiates L16,
which is plain PCM in network byte order. Runs on MicroPython and CPython.
"""
import array

OPUS = "opus"
L16 = "l16"
DEFAULT_PAYLOAD_TYPES = {OPUS: 111, L16: 96}
OPUS_RTP_CLOCK_HZ = 48000
OPUS_SAMPLE_RATES_HZ = (8000, 12000, 16000, 24000, 48000)
OPUS_FRAME_MS = (10, 20, 40, 60)
SAMPLE_BYTES = 2
_OPUS_MAX_PACKET_MS = 120
_MAX_CHANNELS = 8


def _load_opus():
    try:
        import opuslib_next
        return opuslib_next
    except Exception:  # ImportError, or opuslib_next raising because libopus is missing
        pass
    try:
        import opus
        return opus
    except ImportError:
        return None


_opus = _load_opus()
_OPUS_ERROR = getattr(_opus, "OpusError", ValueError)
# CPython arrays swap bytes in C; MicroPython arrays have no byteswap().
_HAS_BYTESWAP = hasattr(array.array("h"), "byteswap")


def use_opus_module(module):
    """Use another implementation of the Opus subset (a faster host binding).

    The host injects it; device code never imports host code.
    """
    global _opus, _OPUS_ERROR
    _opus = module
    _OPUS_ERROR = getattr(module, "OpusError", ValueError)


def available_codecs():
    """Codecs this runtime can encode and decode, preferred first."""
    return (OPUS, L16) if _opus is not None else (L16,)


def rtp_clock_hz(codec, sample_rate_hz):
    """RTP timestamp rate: 48 kHz for Opus (RFC 7587), the sample rate for L16."""
    if codec == OPUS:
        return OPUS_RTP_CLOCK_HZ
    if codec == L16:
        return sample_rate_hz
    raise ValueError("codec: unknown codec %r (known: opus, l16)" % (codec,))


def _check_format(sample_rate_hz, channels, max_channels):
    if not isinstance(sample_rate_hz, int) or sample_rate_hz <= 0:
        raise ValueError("codec: sample_rate_hz must be a positive integer, got %r" % (sample_rate_hz,))
    if not isinstance(channels, int) or not 1 <= channels <= max_channels:
        raise ValueError("codec: channels must be 1..%d, got %r" % (max_channels, channels))


def _pcm_size(data, channels, what):
    size = len(data)
    if size == 0 or size % (SAMPLE_BYTES * channels):
        raise ValueError("codec: %s of %d bytes is not a whole number of %d-channel 16-bit samples"
                         % (what, size, channels))
    return size


def _swap16_portable(src, dst, size):
    # One C-level copy shifted by a byte puts every low byte in place; the
    # Python loop then only fills the other half. Measured on the unix port:
    # ~30 us per 640-byte frame, against ~54 us bytewise and ~36 us via struct
    # (which also allocates a tuple of samples).
    memoryview(dst)[1:size] = memoryview(src)[:size - 1]
    for i in range(0, size, 2):
        dst[i] = src[i + 1]


class _ByteSwapper:
    """Copies 16-bit samples between byte orders with preallocated buffers."""

    def __init__(self, size):
        self._resize(size)

    def _resize(self, size):
        self._size = size
        if _HAS_BYTESWAP:
            self._scratch = array.array("h", bytes(size))
            self._scratch_bytes = memoryview(self._scratch).cast("B")

    def swap_into(self, src, dst, size):
        if len(dst) < size:
            raise ValueError("codec: output buffer of %d bytes, %d needed" % (len(dst), size))
        if not _HAS_BYTESWAP:
            _swap16_portable(src, dst, size)
            return
        if size != self._size:
            self._resize(size)
        self._scratch_bytes[:] = src
        self._scratch.byteswap()
        memoryview(dst)[:size] = self._scratch_bytes


def _as_bytes(data):
    if not _HAS_BYTESWAP:
        return data  # MicroPython: no memoryview formats to normalise, no allocation
    data = memoryview(data)
    return data.cast("B") if data.format != "B" else data


class L16Encoder:
    """PCM to L16 payload: the same samples in network (big-endian) byte order."""

    codec = L16
    lookahead_samples = 0

    def __init__(self, sample_rate_hz, channels, frame_ms=20):
        _check_format(sample_rate_hz, channels, _MAX_CHANNELS)
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.rtp_clock_hz = sample_rate_hz
        self.frame_ms = frame_ms
        size = sample_rate_hz * frame_ms // 1000 * channels * SAMPLE_BYTES
        self._swapper = _ByteSwapper(size)
        self._out = bytearray(size)

    def encode(self, pcm):
        """Payload for one frame of PCM, as new bytes."""
        pcm = _as_bytes(pcm)
        size = _pcm_size(pcm, self.channels, "PCM")
        if size > len(self._out):
            self._out = bytearray(size)
        self._swapper.swap_into(pcm, self._out, size)
        return bytes(memoryview(self._out)[:size])

    def encode_into(self, pcm, out):
        """Write the payload into out (e.g. an RTP packet buffer); return its size."""
        pcm = _as_bytes(pcm)
        size = _pcm_size(pcm, self.channels, "PCM")
        self._swapper.swap_into(pcm, out, size)
        return size


class L16Decoder:
    """L16 payload to PCM; a lost packet becomes silence."""

    codec = L16

    def __init__(self, sample_rate_hz, channels):
        _check_format(sample_rate_hz, channels, _MAX_CHANNELS)
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.rtp_clock_hz = sample_rate_hz
        self._swapper = _ByteSwapper(sample_rate_hz // 50 * channels * SAMPLE_BYTES)

    def decode(self, payload):
        """PCM for one payload, as new bytes."""
        payload = _as_bytes(payload)
        size = _pcm_size(payload, self.channels, "L16 payload")
        pcm = bytearray(size)
        self._swapper.swap_into(payload, pcm, size)
        return bytes(pcm)

    def decode_into(self, payload, out):
        """Write the PCM of payload into out; return its size in bytes."""
        payload = _as_bytes(payload)
        size = _pcm_size(payload, self.channels, "L16 payload")
        self._swapper.swap_into(payload, out, size)
        return size

    def conceal(self, samples_per_channel):
        """Silence standing in for a lost packet."""
        if samples_per_channel <= 0:
            raise ValueError("codec: samples_per_channel must be positive, got %r" % samples_per_channel)
        return bytes(samples_per_channel * self.channels * SAMPLE_BYTES)


def _require_opus():
    if _opus is None:
        raise ValueError("codec: opus is not available on this runtime "
                         "(no opuslib_next, no native opus module); use l16")
    return _opus


def _check_opus_format(sample_rate_hz, channels):
    _check_format(sample_rate_hz, channels, 2)
    if sample_rate_hz not in OPUS_SAMPLE_RATES_HZ:
        raise ValueError("codec: opus sample_rate_hz must be one of %s, got %d"
                         % (OPUS_SAMPLE_RATES_HZ, sample_rate_hz))


def _check_range(name, value, low, high):
    if not low <= value <= high:
        raise ValueError("codec: %s must be in %d..%d, got %r" % (name, low, high, value))


class OpusEncoder:
    """PCM frames to Opus packets (libopus, VoIP mode, in-band FEC)."""

    codec = OPUS
    rtp_clock_hz = OPUS_RTP_CLOCK_HZ

    def __init__(self, sample_rate_hz, channels, bitrate_bps=24000, frame_ms=20,
                 complexity=5, fec=True, expected_loss_pct=10, application="voip"):
        module = _require_opus()
        _check_opus_format(sample_rate_hz, channels)
        if frame_ms not in OPUS_FRAME_MS:
            raise ValueError("codec: opus frame_ms must be one of %s, got %r" % (OPUS_FRAME_MS, frame_ms))
        _check_range("bitrate_bps", bitrate_bps, 6000, 510000)
        _check_range("complexity", complexity, 0, 10)
        _check_range("expected_loss_pct", expected_loss_pct, 0, 100)
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.frame_ms = frame_ms
        self.samples_per_frame = sample_rate_hz * frame_ms // 1000
        self.frame_bytes = self.samples_per_frame * channels * SAMPLE_BYTES
        encoder = module.Encoder(sample_rate_hz, channels, application)
        encoder.bitrate = bitrate_bps
        encoder.complexity = complexity
        # libopus adds in-band FEC (LBRR) only when it expects loss and the bit
        # rate leaves room. Measured with libopus 1.3.1, complexity 5, 24 kbps:
        # at 16..48 kHz no FEC at 2..5 % expected loss, FEC from 6 %; hence 10 %.
        encoder.inband_fec = 1 if fec else 0
        encoder.packet_loss_perc = expected_loss_pct
        self._encoder = encoder
        # Decoded audio lags the input by this much (Opus look-ahead).
        self.lookahead_samples = encoder.lookahead

    def encode(self, pcm):
        """One Opus packet for exactly one frame of PCM."""
        if len(pcm) != self.frame_bytes:
            raise ValueError("codec: opus frame must be %d bytes of PCM (%d ms), got %d"
                             % (self.frame_bytes, self.frame_ms, len(pcm)))
        try:
            return self._encoder.encode(bytes(pcm), self.samples_per_frame)
        except _OPUS_ERROR as error:
            raise ValueError("codec: opus cannot encode: %s" % error)


class OpusDecoder:
    """Opus packets to PCM, with packet-loss concealment and in-band FEC."""

    codec = OPUS
    rtp_clock_hz = OPUS_RTP_CLOCK_HZ

    def __init__(self, sample_rate_hz, channels):
        _check_opus_format(sample_rate_hz, channels)
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self._decoder = _require_opus().Decoder(sample_rate_hz, channels)
        self._max_samples = sample_rate_hz * _OPUS_MAX_PACKET_MS // 1000

    def _decode(self, payload, samples, fec):
        try:
            return self._decoder.decode(payload, samples, fec)
        except _OPUS_ERROR as error:
            raise ValueError("codec: opus cannot decode a %d-byte payload: %s" % (len(payload), error))

    def _check_samples(self, samples_per_channel):
        # libopus conceals and recovers in whole 2.5 ms steps.
        step = self.sample_rate_hz // 400
        if samples_per_channel <= 0 or samples_per_channel % step or \
                samples_per_channel > self._max_samples:
            raise ValueError("codec: samples_per_channel must be a multiple of %d up to %d, got %r"
                             % (step, self._max_samples, samples_per_channel))

    def _check_payload(self, payload):
        if not payload:
            raise ValueError("codec: empty opus payload (a lost packet is conceal())")
        return bytes(payload)

    def decode(self, payload):
        """PCM for one Opus packet."""
        return self._decode(self._check_payload(payload), self._max_samples, False)

    def conceal(self, samples_per_channel):
        """PCM guessed by libopus for a lost packet (decode with no data)."""
        self._check_samples(samples_per_channel)
        return self._decode(b"", samples_per_channel, False)

    def decode_fec(self, next_payload, samples_per_channel):
        """PCM of a lost packet, recovered from the FEC in the packet after it.

        Without FEC in next_payload, libopus falls back to concealment. Decode
        next_payload itself with decode() afterwards.
        """
        payload = self._check_payload(next_payload)
        self._check_samples(samples_per_channel)
        return self._decode(payload, samples_per_channel, True)


def make_encoder(codec, sample_rate_hz, channels, frame_ms=20, **opts):
    """Encoder for a negotiated codec; Opus tuning options are ignored for L16."""
    if codec == OPUS:
        _require_opus()
        return OpusEncoder(sample_rate_hz, channels, frame_ms=frame_ms, **opts)
    if codec == L16:
        return L16Encoder(sample_rate_hz, channels, frame_ms)
    raise ValueError("codec: unknown codec %r (known: opus, l16)" % (codec,))


def make_decoder(codec, sample_rate_hz, channels):
    """Decoder for a negotiated codec."""
    if codec == OPUS:
        _require_opus()
        return OpusDecoder(sample_rate_hz, channels)
    if codec == L16:
        return L16Decoder(sample_rate_hz, channels)
    raise ValueError("codec: unknown codec %r (known: opus, l16)" % (codec,))
