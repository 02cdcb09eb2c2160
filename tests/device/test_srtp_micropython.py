"""SRTP/SRTCP under the real MicroPython unix port: cryptolib ECB, own HMAC.

Each test runs device/srtp.py under MicroPython, which prints what it computed;
CPython compares it with the RFC 3711 vectors, with device/srtp.py on CPython
(byte for byte) and with libsrtp (pylibsrtp), which must accept it.
"""
import hashlib
import hmac

from device.srtp import SrtpContext
from tests.device.test_srtp import (
    B2_FIRST, B2_IV, B2_KEY, B2_LAST, B2_LAST_IV, B2_SEGMENT_LENGTH, B3_AUTH_KEY_94,
    B3_CIPHER_KEY, B3_CIPHER_SALT, B3_MASTER_KEY, B3_MASTER_SALT, HMAC_SHA1_VECTORS, KEY,
    SALT, libsrtp,
)
from tests.micropython import run_micropython

# Builds the same packets on both runtimes: CPython execs it, MicroPython runs it.
PACKETS_SOURCE = '''
from device.rtp import RtpPacket

def packets():
    out = []
    sizes = (0, 1, 16, 17, 43, 80, 160, 640)
    for i in range(160):
        shape = i % 4
        payload = bytes([(i * 7 + k) & 0xFF for k in range(sizes[i % 8])])
        csrc = [(0x01020304 * (k + 1)) & 0xFFFFFFFF for k in range(shape)]
        profile = 0xBEDE if shape >= 2 else None
        ext = bytes(range(4 * shape)) if shape >= 2 else b""
        # Two SSRCs interleaved; both cross the 65535 -> 0 wrap (ROC 0 -> 1).
        out.append(RtpPacket(111, (65470 + i) & 0xFFFF, i * 960, 0xCAFE0000 | (i % 2),
                             payload, i == 0, csrc, profile, ext).to_bytes())
    return out

def reports():
    out = []
    for i in range(40):
        ssrc = (0xCAFE0000 | (i % 2)).to_bytes(4, "big")
        sr = bytes([0x80, 200, 0, 6]) + ssrc + bytes([i]) * 20
        sdes = bytes([0x81, 202, 0, 3]) + ssrc + bytes([1, 5]) + b"pipit" + bytes(1)
        out.append(sr + sdes)
    return out
'''


def cpython_packets():
    namespace = {}
    exec(PACKETS_SOURCE, namespace)
    return namespace["packets"](), namespace["reports"]()


def run_lines(body):
    """Run PACKETS_SOURCE + body under MicroPython; its output lines split in words."""
    out = run_micropython(PACKETS_SOURCE + body)
    return [line.split() for line in out.splitlines() if line.strip()]


def test_micropython_uses_cryptolib_and_matches_rfc3711_b2_and_b3():
    lines = run_lines('''
import binascii, hashlib
from device import crypto
from device.srtp import derive_key
h = lambda b: binascii.hexlify(b).decode()
print("backend", "cryptolib" if crypto.cryptolib is not None else "other", crypto.AesCm.__name__)
cipher = crypto.AesCm(%r)
print("b2-first", h(cipher.keystream(%r, 48)))
print("b2-last", h(cipher.keystream(%r, 48)))
# The whole segment, 4096 blocks at a time (the heap is 2 MB).
digest = hashlib.sha256()
base = int.from_bytes(%r, "big")
left = %d
block = 0
while left:
    size = min(left, 4096 * 16)
    digest.update(cipher.keystream((base + block).to_bytes(16, "big"), size))
    left -= size
    block += 4096
print("b2-segment", h(digest.digest()))
master = crypto.AesCmEcb(%r)
salt = %r
print("b3-key", h(derive_key(master, salt, 0, 16)))
print("b3-salt", h(derive_key(master, salt, 2, 14)))
print("b3-auth", h(derive_key(master, salt, 1, 94)))
''' % (B2_KEY, B2_IV, B2_LAST_IV, B2_IV, B2_SEGMENT_LENGTH, B3_MASTER_KEY, B3_MASTER_SALT))
    got = {line[0]: line[1:] for line in lines}
    assert got["backend"] == ["cryptolib", "AesCmEcb"]
    assert got["b2-first"] == [B2_FIRST.hex()]
    assert got["b2-last"] == [B2_LAST.hex()]
    from device.crypto import AesCmCtr
    segment = AesCmCtr(B2_KEY).keystream(B2_IV, B2_SEGMENT_LENGTH)
    assert segment[-48:] == B2_LAST
    assert got["b2-segment"] == [hashlib.sha256(segment).hexdigest()]
    assert got["b3-key"] == [B3_CIPHER_KEY.hex()]
    assert got["b3-salt"] == [B3_CIPHER_SALT.hex()]
    assert got["b3-auth"] == [B3_AUTH_KEY_94.hex()]


def test_micropython_hmac_sha1_without_hmac_module_or_sha1_copy():
    cases = list(HMAC_SHA1_VECTORS) + [
        (bytes(range(k)), bytes(range(m)) * 3, None) for k, m in ((0, 0), (64, 55), (65, 200))]
    lines = run_lines('''
import binascii
from device.crypto import HmacSha1
for key, message, _ in %r:
    mac = HmacSha1(key)
    print(binascii.hexlify(mac.digest(message)).decode(),
          binascii.hexlify(mac.digest(message[:5], message[5:])).decode())
''' % (cases,))
    assert len(lines) == len(cases)
    for (key, message, expected), (whole, split) in zip(cases, lines):
        reference = hmac.new(key, message, hashlib.sha1).hexdigest()
        assert whole == split == reference
        if expected is not None:
            assert whole == expected


def test_micropython_protects_byte_for_byte_as_cpython_and_libsrtp_accepts_it():
    lines = run_lines('''
import binascii
from device.srtp import SrtpContext
ctx = SrtpContext(%r, %r)
for packet in packets():
    print("srtp", binascii.hexlify(ctx.protect(packet)).decode())
for report in reports():
    print("srtcp", binascii.hexlify(ctx.protect_rtcp(report)).decode())
''' % (KEY, SALT))
    from_micropython = [bytes.fromhex(words[1]) for words in lines if words[0] == "srtp"]
    rtcp_from_micropython = [bytes.fromhex(words[1]) for words in lines if words[0] == "srtcp"]
    packets, reports = cpython_packets()
    assert len(from_micropython) == len(packets) and len(rtcp_from_micropython) == len(reports)
    ours, receiver = SrtpContext(KEY, SALT), libsrtp("in")
    for packet, protected in zip(packets, from_micropython):
        assert protected == ours.protect(packet)
        assert receiver.unprotect(protected) == packet
    for report, protected in zip(reports, rtcp_from_micropython):
        assert protected == ours.protect_rtcp(report)
        assert receiver.unprotect_rtcp(protected) == report


def test_micropython_unprotects_what_libsrtp_protects(tmp_path):
    packets, reports = cpython_packets()
    sender = libsrtp("out")
    # Through a file: the unix port aborts on command-line arguments of ~1 KB.
    wire = tmp_path / "wire.txt"
    wire.write_text("".join(["p %s\n" % sender.protect(p).hex() for p in packets]
                            + ["r %s\n" % sender.protect_rtcp(r).hex() for r in reports]))
    lines = run_lines('''
import binascii
from device.srtp import SrtpContext, SrtpError
ctx = SrtpContext(%r, %r)
with open(%r) as wire:
    for line in wire:
        kind, text = line.split()
        data = binascii.unhexlify(text)
        try:
            plain = ctx.unprotect(data) if kind == "p" else ctx.unprotect_rtcp(data)
            print("ok", binascii.hexlify(plain).decode())
        except SrtpError as error:
            print("refused", error.reason)
''' % (KEY, SALT, str(wire)))
    assert lines == [["ok", p.hex()] for p in packets] + [["ok", r.hex()] for r in reports]


def test_micropython_refusals_carry_their_reasons():
    lines = run_lines('''
from device.srtp import SrtpContext, SrtpError
KEY, SALT = %r, %r

def reason(call, data):
    try:
        call(data)
    except SrtpError as error:
        return error.reason
    return "accepted"

sender = SrtpContext(KEY, SALT)
packet = sender.protect(packets()[3])
report = sender.protect_rtcp(reports()[0])
for name, data, method in (("srtp", packet, "unprotect"), ("srtcp", report, "unprotect_rtcp")):
    seen = set()
    for at in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            tampered = bytearray(data)
            tampered[at] ^= flip
            seen.add(reason(getattr(SrtpContext(KEY, SALT), method), bytes(tampered)))
    print(name, "tampered", " ".join(sorted(seen)))
    seen = set(reason(getattr(SrtpContext(KEY, SALT), method), data[:size]) for size in range(22))
    print(name, "short", " ".join(sorted(seen)))
    receiver = getattr(SrtpContext(KEY, SALT), method)
    print(name, "twice", reason(receiver, data), reason(receiver, data))
window = [sender.protect(RtpPacket(0, (65500 + i) & 0xFFFF, 0, 5, b"x").to_bytes()) for i in range(70)]
receiver = SrtpContext(KEY, SALT)
print("srtp", "window", reason(receiver.unprotect, window[0]), reason(receiver.unprotect, window[64]),
      reason(receiver.unprotect, window[0]), reason(receiver.unprotect, window[1]))
try:
    SrtpContext(KEY[:15], SALT)
except ValueError:
    print("key", "refused")
''' % (KEY, SALT))
    assert lines == [
        ["srtp", "tampered", "auth"],
        ["srtp", "short", "truncated"],
        ["srtp", "twice", "accepted", "replay"],
        ["srtcp", "tampered", "auth"],
        ["srtcp", "short", "truncated"],
        ["srtcp", "twice", "accepted", "replay"],
        ["srtp", "window", "accepted", "accepted", "replay", "accepted"],
        ["key", "refused"],
    ]
