"""I2S microphone words to 16-bit mono PCM: the board's channel and gain, in integers.

machine.I2S on the ESP32 fills a receive buffer with little-endian words,
left slot first: 32-bit words (an INMP441-style microphone's 24-bit sample,
left-aligned in its 32-bit slot) or 16-bit ones (the top half of each slot);
both slots with STEREO, the left one alone with MONO. MonoConverter reads
such a buffer as an array('h') of 16-bit halves and writes 16-bit PCM: the
left slot, the right one, or the mean of both (channel "stereo"), times the
board's gain_db, saturated at the int16 limits.

The arithmetic stays in small integers, with no float and no big int per
sample (MicroPython's small ints are 31-bit on the ESP32, and a 32-bit word
would not fit). The gain is 2**e * m with m in [1, 2); a 32-bit sample s
becomes ((s >> (16 - e)) * round(m * 128)) >> 7, saturated. The shift is
taken from the halves, (hi << (16 - shift)) + (lo_unsigned >> shift), which
equals s >> shift exactly without building s. A 16-bit word w counts as
s = w << 16. gain_db 0 is the 32-bit word's top half, unchanged.

Runs on MicroPython and CPython (the tests check both give the same samples).
"""
INT16_MAX = 32767
INT16_MIN = -32768
MULTIPLIER_BITS = 7
CHANNELS = ("left", "right", "stereo")


def gain_terms(gain_db):
    """(shift, multiplier): a 32-bit sample s becomes ((s >> shift) * multiplier) >> 7."""
    gain = 10 ** (gain_db / 20)
    exponent = 0
    while gain >= 2:
        gain /= 2
        exponent += 1
    while gain < 1:
        gain *= 2
        exponent -= 1
    multiplier = int(gain * (1 << MULTIPLIER_BITS) + 0.5)
    if multiplier == 2 << MULTIPLIER_BITS:  # m rounded up to 2.0
        multiplier >>= 1
        exponent += 1
    return 16 - exponent, multiplier


def _shifted(words, at, wide, up, shift):
    """The sample whose high half is words[at], shifted right by `shift` (as a 32-bit value)."""
    high = words[at]
    value = high << up if up >= 0 else high >> -up
    if wide and up > 0:
        value += (words[at - 1] & 0xFFFF) >> shift
    return value


class MonoConverter:
    """Words from machine.I2S (bits 16 or 32, mono or stereo) to 16-bit mono PCM with gain."""

    def __init__(self, bits, stereo, channel, gain_db):
        if bits not in (16, 32):
            raise ValueError("i2s pcm: bits must be 16 or 32, got %r" % (bits,))
        if channel not in CHANNELS:
            raise ValueError("i2s pcm: channel must be one of %s, got %r" % (", ".join(CHANNELS), channel))
        if channel != "left" and not stereo:
            raise ValueError("i2s pcm: the %s channel needs a STEREO buffer (MONO holds the left slot only)"
                             % channel)
        slot_words = bits // 16
        self.bits = bits
        self.stereo = stereo
        self.channel = channel
        self.words_per_frame = slot_words * (2 if stereo else 1)
        self.shift, self.multiplier = gain_terms(gain_db)
        left_high = slot_words - 1
        right_high = 2 * slot_words - 1
        self._first = right_high if channel == "right" else left_high
        self._second = right_high if channel == "stereo" else None

    @property
    def bytes_per_frame(self):
        """Bytes of I2S words per output sample."""
        return 2 * self.words_per_frame

    def convert(self, words, count, out):
        """Write `count` samples into out (array('h')) from words (array('h') of I2S halves)."""
        shift = self.shift
        up = 16 - shift
        wide = self.bits == 32
        multiplier = self.multiplier
        step = self.words_per_frame
        first = self._first
        second = self._second
        for i in range(count):
            at = i * step
            value = _shifted(words, at + first, wide, up, shift)
            if second is not None:
                value = (value + _shifted(words, at + second, wide, up, shift)) >> 1
            # Clipped before the multiply (multiplier >= 128 clips it anyway),
            # so the product stays a small int.
            if value > INT16_MAX:
                value = INT16_MAX
            elif value < INT16_MIN:
                value = INT16_MIN
            value = (value * multiplier) >> MULTIPLIER_BITS
            if value > INT16_MAX:
                value = INT16_MAX
            elif value < INT16_MIN:
                value = INT16_MIN
            out[i] = value
