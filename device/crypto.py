"""AES counter mode and HMAC-SHA1 for SRTP (RFC 3711), on MicroPython and CPython.

MicroPython has only cryptolib's AES-ECB (no CTR mode on the target), so AES-CM
is built from ECB: all counter blocks of a packet go through one ECB call and
the keystream is applied with one big-integer XOR, which runs in C on both
runtimes (a byte loop in Python is several times slower). CPython runs the same
construction on `cryptography`'s ECB; for packet sizes it is as fast as that
library's CTR mode (whose per-packet cipher setup costs ~6 us), so both
runtimes share one code path. AesCmCtr, on CTR mode, is kept as an independent
implementation that the tests check AesCmEcb against.
MicroPython has no hmac module and its sha1 objects have no copy(), so HMAC-SHA1
is written out, with the padded keys computed once per key.
"""
import hashlib

try:
    import cryptolib
except ImportError:
    cryptolib = None
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 16
SHA1_BLOCK_SIZE = 64
SHA1_DIGEST_SIZE = 20
_MODE_ECB = 1  # cryptolib's constant; MODE_ECB itself is optional in firmware builds
_MASK_128 = (1 << 128) - 1


def _check_aes_key(key):
    if len(key) != 16:
        raise ValueError("crypto: AES-128 key must be 16 bytes, got %d" % len(key))


if cryptolib is not None:
    def ecb_encryptor(key):
        """AES-128-ECB encrypt function: f(blocks, out) writes out and returns it."""
        _check_aes_key(key)
        return cryptolib.aes(bytes(key), _MODE_ECB).encrypt
else:
    def ecb_encryptor(key):
        """AES-128-ECB encrypt function: f(blocks, out) returns the ciphertext."""
        _check_aes_key(key)
        update = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor().update

        def encrypt(blocks, out=None):
            return update(blocks)
        return encrypt


def counter_blocks(iv, count):
    """The count AES-CM input blocks iv, iv+1, ... (mod 2**128) as a bytearray."""
    if iv[15] + count <= 0x100:
        # SRTP's case: the low 16 bits of an SRTP IV are zero and packets are
        # under 4 KB, so only the last byte of each block changes.
        return _count_in_last_byte(bytearray(iv * count), iv[15], count << 4)
    return _count_wide(iv, count)


def _count_in_last_byte(blocks, value, end):
    # A function of its own so that the per-packet loop runs in a small frame:
    # MicroPython puts frames of more than 11 slots on the heap.
    for at in range(15, end, 16):
        blocks[at] = value
        value += 1
    return blocks


def _count_wide(iv, count):
    blocks = bytearray(iv * count)
    base = int.from_bytes(iv, "big")
    for index in range(count):
        at = index << 4
        blocks[at:at + 16] = ((base + index) & _MASK_128).to_bytes(16, "big")
    return blocks


class AesCmEcb:
    """AES-128 counter mode (RFC 3711 section 4.1.1) built on AES-ECB."""

    def __init__(self, key):
        self._encrypt = ecb_encryptor(key)

    def keystream(self, iv, length):
        """length bytes of keystream from the counter block iv (16 bytes)."""
        blocks = counter_blocks(iv, (length + 15) >> 4)
        return bytes(self._encrypt(blocks, blocks)[:length])

    def crypt(self, iv, data, start):
        """data with the bytes from start on XORed with the keystream from iv.

        The bytes before start (a clear header) ride through the same integer
        XOR, so the result comes out in one piece without slicing and joining.
        """
        size = len(data)
        if size <= start:
            return bytes(data)
        return (int.from_bytes(data, "big") ^ self._stream(iv, size - start)).to_bytes(size, "big")

    def _stream(self, iv, length):
        # The keystream as an integer of exactly length bytes.
        blocks = counter_blocks(iv, (length + 15) >> 4)
        return int.from_bytes(memoryview(self._encrypt(blocks, blocks))[:length], "big")


if cryptolib is None:
    class AesCmCtr:
        """AES-128 counter mode on cryptography's CTR mode (CPython only)."""

        def __init__(self, key):
            _check_aes_key(key)
            self._algorithm = algorithms.AES(bytes(key))

        def keystream(self, iv, length):
            """length bytes of keystream starting at the 16-byte counter block iv."""
            return Cipher(self._algorithm, modes.CTR(bytes(iv))).encryptor().update(bytes(length))

        def crypt(self, iv, data, start):
            """data with the bytes from start on XORed with the keystream from iv."""
            view = memoryview(data)
            encryptor = Cipher(self._algorithm, modes.CTR(bytes(iv))).encryptor()
            return bytes(view[:start]) + encryptor.update(view[start:])
else:
    AesCmCtr = None

AesCm = AesCmEcb


class HmacSha1:
    """HMAC-SHA1 (RFC 2104) with the padded keys prepared once."""

    def __init__(self, key):
        key = bytes(key)
        if len(key) > SHA1_BLOCK_SIZE:
            key = hashlib.sha1(key).digest()
        key = key + bytes(SHA1_BLOCK_SIZE - len(key))
        self._inner_key = bytes(b ^ 0x36 for b in key)
        self._outer_key = bytes(b ^ 0x5C for b in key)
        inner = hashlib.sha1(self._inner_key)
        # CPython can snapshot the state after the key block; MicroPython
        # cannot (no copy()), so there the key block is hashed every time.
        if hasattr(inner, "copy"):
            self._inner = inner
            self._outer = hashlib.sha1(self._outer_key)
        else:
            self._inner = None
            self._outer = None

    def digest(self, data, tail=b""):
        """HMAC-SHA1 of data followed by tail (no concatenation is made)."""
        if self._inner is None:
            inner = hashlib.sha1(self._inner_key)
            inner.update(data)
            inner.update(tail)
            outer = hashlib.sha1(self._outer_key)
        else:
            inner = self._inner.copy()
            inner.update(data)
            inner.update(tail)
            outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def equal(a, b):
    """Compare two byte strings in time independent of where they differ."""
    if len(a) != len(b):
        return False
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")) == 0
