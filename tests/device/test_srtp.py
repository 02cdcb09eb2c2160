"""SRTP/SRTCP (device/srtp.py, device/crypto.py) on CPython.

RFC 3711 appendix B vectors, byte-for-byte interop with libsrtp (pylibsrtp) in
both directions, and the refusals: tampering, replay, truncation, malformed.
The same code under MicroPython is tested in test_srtp_micropython.py.
"""
import hashlib
import hmac
import os
import random

import pytest
from hypothesis import given, settings, strategies as st
from pylibsrtp import Error as LibsrtpError, Policy, Session

from device import crypto
from device.rtp import RtpPacket
from device.srtp import (
    LABEL_RTCP_AUTH, LABEL_RTCP_ENCRYPTION, LABEL_RTCP_SALT, LABEL_RTP_AUTH,
    LABEL_RTP_ENCRYPTION, LABEL_RTP_SALT, SrtpContext, SrtpError, derive_key,
)


def unhex(text):
    return bytes.fromhex("".join(text.split()))


# RFC 3711 B.2: AES-CM keystream, 1044512 octets from this key and counter.
B2_KEY = unhex("2B7E151628AED2A6ABF7158809CF4F3C")
B2_IV = unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
B2_SEGMENT_LENGTH = 1044512
B2_FIRST = unhex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB"
                 "41E95B3BB0A2E8DD477901E4FCA894C0")
B2_LAST_IV = unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF")
B2_LAST = unhex("EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE"
                "6A2CC3787889374FBEB4C81B17BA6C44")

# RFC 3711 B.3: key derivation.
B3_MASTER_KEY = unhex("E1F97A0D3E018BE0D64FA32C06DE4139")
B3_MASTER_SALT = unhex("0EC675AD498AFEEBB6960B3AABE6")
B3_CIPHER_KEY = unhex("C61E7A93744F39EE10734AFE3FF7A087")
B3_CIPHER_SALT = unhex("30CBBC08863D8C85D49DB34A9AE1")
B3_AUTH_KEY_94 = unhex(
    "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE"
    "E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25"
    "6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2")

# RFC 2202 HMAC-SHA1 cases 1, 2, 3, 6 (the last has a key longer than a block).
HMAC_SHA1_VECTORS = [
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "aa4ae5e15272d00e95705637ce8a3b55ed402112"),
]

KEY = bytes(range(1, 17))
SALT = bytes(range(101, 115))
PROFILE = Policy.SRTP_PROFILE_AES128_CM_SHA1_80


def libsrtp(direction, key=KEY, salt=SALT):
    """A libsrtp session for any SSRC, 'in'bound or 'out'bound."""
    ssrc_type = Policy.SSRC_ANY_INBOUND if direction == "in" else Policy.SSRC_ANY_OUTBOUND
    return Session(policy=Policy(key=key + salt, ssrc_type=ssrc_type, srtp_profile=PROFILE))


def rtp(seq, ssrc=0x1234ABCD, payload=b"\x11" * 40, csrc=(), extension=None, marker=False):
    """Wire bytes of an RTP packet; extension is (profile, data) or None."""
    profile, ext_data = extension if extension else (None, b"")
    return RtpPacket(payload_type=111, sequence_number=seq & 0xFFFF, timestamp=seq * 960,
                     ssrc=ssrc, payload=payload, marker=marker, csrc=csrc,
                     extension_profile=profile, extension=ext_data).to_bytes()


def rtcp(ssrc=0x1234ABCD, body=b""):
    """A compound RTCP packet: a sender report (no blocks) then an SDES CNAME."""
    sr = bytes([0x80, 200, 0, 6]) + ssrc.to_bytes(4, "big") + bytes(range(20))
    cname = b"pipit" + body
    item = bytes([1, len(cname)]) + cname
    chunk = ssrc.to_bytes(4, "big") + item + bytes(4 - (len(item) % 4))
    sdes = bytes([0x81, 202]) + (len(chunk) // 4).to_bytes(2, "big") + chunk
    return sr + sdes


def stream(start_seq, count, ssrc=0x1234ABCD, seed=0):
    """count RTP packets from start_seq (wrapping), varied sizes, CSRCs and extensions."""
    rng = random.Random(seed)
    packets = []
    for i in range(count):
        shape = i % 4
        packets.append(rtp(
            start_seq + i, ssrc=ssrc,
            payload=rng.randbytes(rng.choice((0, 1, 15, 16, 17, 43, 80, 160, 640))),
            csrc=[rng.getrandbits(32) for _ in range(shape)],
            extension=(0xBEDE, rng.randbytes(4 * shape)) if shape >= 2 else None,
            marker=i == 0))
    return packets


def reason_of(call, *args):
    with pytest.raises(SrtpError) as caught:
        call(*args)
    return caught.value.reason


# --- RFC 3711 appendix B --------------------------------------------------

AES_CM_CLASSES = [crypto.AesCmEcb, crypto.AesCmCtr]


@pytest.mark.parametrize("aes_cm", AES_CM_CLASSES, ids=lambda c: c.__name__)
def test_aes_cm_keystream_matches_rfc3711_b2(aes_cm):
    cipher = aes_cm(B2_KEY)
    segment = cipher.keystream(B2_IV, B2_SEGMENT_LENGTH)
    assert len(segment) == B2_SEGMENT_LENGTH
    assert segment[:48] == B2_FIRST
    assert segment[-48:] == B2_LAST
    assert cipher.keystream(B2_LAST_IV, 48) == B2_LAST


def test_both_aes_cm_paths_agree_over_the_whole_b2_segment_and_past_16_bit_carries():
    ecb, ctr = crypto.AesCmEcb(B2_KEY), crypto.AesCmCtr(B2_KEY)
    assert ecb.keystream(B2_IV, B2_SEGMENT_LENGTH) == ctr.keystream(B2_IV, B2_SEGMENT_LENGTH)
    rng = random.Random(7)
    for iv in (bytes(14) + b"\xff\xf0", b"\x01" * 12 + b"\xff\xff\xff\xfe", b"\xff" * 16,
               bytes(15) + b"\xfe"):
        assert ecb.keystream(iv, 100) == ctr.keystream(iv, 100), iv.hex()
        data = rng.randbytes(77)
        for start in (0, 12, 76, 77, 90):
            assert ecb.crypt(iv, data, start) == ctr.crypt(iv, data, start)


def test_crypt_keeps_the_clear_prefix_and_is_its_own_inverse():
    cipher = crypto.AesCm(B2_KEY)
    data = bytes(12) + b"payload bytes"
    sealed = cipher.crypt(B2_IV, data, 12)
    assert sealed[:12] == bytes(12)
    assert sealed[12:] == bytes(a ^ b for a, b in zip(data[12:], B2_FIRST))
    assert cipher.crypt(B2_IV, sealed, 12) == data


def test_key_derivation_matches_rfc3711_b3():
    master = crypto.AesCmEcb(B3_MASTER_KEY)
    assert derive_key(master, B3_MASTER_SALT, LABEL_RTP_ENCRYPTION, 16) == B3_CIPHER_KEY
    assert derive_key(master, B3_MASTER_SALT, LABEL_RTP_SALT, 14) == B3_CIPHER_SALT
    assert derive_key(master, B3_MASTER_SALT, LABEL_RTP_AUTH, 94) == B3_AUTH_KEY_94
    assert derive_key(master, B3_MASTER_SALT, LABEL_RTP_AUTH, 20) == B3_AUTH_KEY_94[:20]


def test_labels_are_rfc3711_values():
    assert (LABEL_RTP_ENCRYPTION, LABEL_RTP_AUTH, LABEL_RTP_SALT) == (0, 1, 2)
    assert (LABEL_RTCP_ENCRYPTION, LABEL_RTCP_AUTH, LABEL_RTCP_SALT) == (3, 4, 5)


@pytest.mark.parametrize("key, message, expected", HMAC_SHA1_VECTORS)
def test_hmac_sha1_matches_rfc2202(key, message, expected):
    assert crypto.HmacSha1(key).digest(message).hex() == expected


def test_hmac_sha1_splits_data_and_tail_like_one_message_and_is_reusable():
    rng = random.Random(3)
    for key_size in (0, 1, 20, 63, 64, 65, 200):
        key = rng.randbytes(key_size)
        mac = crypto.HmacSha1(key)
        for size in (0, 1, 55, 56, 64, 650):
            data, tail = rng.randbytes(size), rng.randbytes(4)
            expected = hmac.new(key, data + tail, hashlib.sha1).digest()
            assert mac.digest(memoryview(data), tail) == expected
            assert mac.digest(data + tail) == expected


def test_equal_compares_bytes():
    assert crypto.equal(b"\x01\x02", memoryview(b"\x01\x02"))
    assert not crypto.equal(b"\x01\x02", b"\x01\x03")
    assert not crypto.equal(b"\x00\x01", b"\x01")


# --- construction ------------------------------------------------------------

@pytest.mark.parametrize("key, salt", [
    (bytes(15), bytes(14)), (bytes(17), bytes(14)), (bytes(16), bytes(13)),
    (bytes(16), bytes(30)), ("0" * 16, bytes(14)), (bytes(16), None),
])
def test_context_refuses_wrong_key_or_salt(key, salt):
    with pytest.raises(ValueError):
        SrtpContext(key, salt)


def test_srtp_error_is_a_value_error_with_a_reason():
    error = SrtpError("auth", "tag mismatch")
    assert isinstance(error, ValueError)
    assert error.reason == "auth"
    assert "tag mismatch" in str(error)


def test_hand_built_srtp_packet_equals_protect_output():
    # RFC 3711 sections 3.1, 4.1.1, 4.2 and 4.3 followed step by step with the
    # crypto primitives, as an independent check of SrtpContext.protect.
    packet = rtp(7, csrc=[1, 2], extension=(0xBEDE, b"\x10\x20\x30\x40"))
    header = 12 + 8 + 8
    master = crypto.AesCmEcb(KEY)
    enc_key = derive_key(master, SALT, 0, 16)
    auth_key = derive_key(master, SALT, 1, 20)
    salt = int.from_bytes(derive_key(master, SALT, 2, 14), "big")
    iv = ((salt << 16) ^ (0x1234ABCD << 64) ^ (7 << 16)).to_bytes(16, "big")
    payload = packet[header:]
    stream_ = crypto.AesCmCtr(enc_key).keystream(iv, len(payload))
    sealed = packet[:header] + bytes(a ^ b for a, b in zip(payload, stream_))
    tag = hmac.new(auth_key, sealed + (0).to_bytes(4, "big"), hashlib.sha1).digest()[:10]
    assert SrtpContext(KEY, SALT).protect(packet) == sealed + tag


# --- interop with libsrtp ------------------------------------------------------

def test_srtp_byte_for_byte_with_libsrtp_across_a_sequence_wrap():
    ours, theirs, their_rx = SrtpContext(KEY, SALT), libsrtp("out"), libsrtp("in")
    packets = stream(65400, 400)  # crosses 65535 -> 0 after 136 packets: ROC 0 -> 1
    for packet in packets:
        protected = ours.protect(packet)
        assert protected == theirs.protect(packet)
        assert len(protected) == len(packet) + 10
        assert their_rx.unprotect(protected) == packet


def test_we_unprotect_libsrtp_across_a_wrap_with_csrc_and_extensions():
    sender, ours = libsrtp("out"), SrtpContext(KEY, SALT)
    for packet in stream(65500, 300, seed=1):
        assert ours.unprotect(sender.protect(packet)) == packet


def test_reordering_across_the_wrap_is_decrypted_with_the_right_roc():
    sender, ours = libsrtp("out"), SrtpContext(KEY, SALT)
    packets = [rtp(seq, payload=bytes([seq & 0xFF]) * 30) for seq in (65533, 65534, 65535, 0, 1, 2)]
    protected = [sender.protect(p) for p in packets]
    # 65535 (ROC 0) arrives after 0 (ROC 1), and 1 after 2.
    for i in (0, 1, 3, 2, 5, 4):
        assert ours.unprotect(protected[i]) == packets[i]


def test_a_late_send_after_our_wrap_keeps_its_old_roc_for_libsrtp():
    ours, receiver = SrtpContext(KEY, SALT), libsrtp("in")
    for seq in (65534, 0, 1, 65535, 2):  # 65535 is sent late, after the wrap
        packet = rtp(seq)
        assert receiver.unprotect(ours.protect(packet)) == packet


def test_one_context_carries_several_ssrcs_each_way():
    ours_tx, ours_rx = SrtpContext(KEY, SALT), SrtpContext(KEY, SALT)
    their_tx, their_rx = libsrtp("out"), libsrtp("in")
    streams = [stream(start, 150, ssrc=ssrc, seed=ssrc & 0xFF)
               for start, ssrc in ((65450, 0x11111111), (0, 0x22222222), (30000, 0x33333333))]
    for step in range(150):
        for packets in streams:
            packet = packets[step]
            assert their_rx.unprotect(ours_tx.protect(packet)) == packet
            assert ours_rx.unprotect(their_tx.protect(packet)) == packet
    for ssrc in (0x11111111, 0x22222222):
        report = rtcp(ssrc)
        assert their_rx.unprotect_rtcp(ours_tx.protect_rtcp(report)) == report
        assert ours_rx.unprotect_rtcp(their_tx.protect_rtcp(report)) == report


def test_srtcp_both_ways_with_libsrtp():
    ours_tx, ours_rx = SrtpContext(KEY, SALT), SrtpContext(KEY, SALT)
    their_tx, their_rx = libsrtp("out"), libsrtp("in")
    for i in range(200):
        report = rtcp(body=os.urandom(i % 37))
        protected = ours_tx.protect_rtcp(report)
        assert len(protected) == len(report) + 4 + 10
        assert int.from_bytes(protected[-14:-10], "big") == 0x80000000 | i  # E flag, index
        assert their_rx.unprotect_rtcp(protected) == report
        assert ours_rx.unprotect_rtcp(their_tx.protect_rtcp(report)) == report


def test_srtcp_byte_for_byte_with_libsrtp_once_indexes_line_up():
    # RFC 3711 3.4: our first SRTCP index is 0; libsrtp starts at 1. After one
    # packet of ours to spend index 0, both produce the same bytes.
    ours, theirs = SrtpContext(KEY, SALT), libsrtp("out")
    ours.protect_rtcp(rtcp())
    for i in range(50):
        report = rtcp(body=bytes([i]) * (i % 9))
        assert ours.protect_rtcp(report) == theirs.protect_rtcp(report)


def test_unencrypted_srtcp_is_authenticated_and_accepted():
    # An E=0 SRTCP packet, built from libsrtp's own keys: RTCP in clear,
    # index word without the E flag, tag over both.
    master = crypto.AesCmEcb(KEY)
    auth = crypto.HmacSha1(derive_key(master, SALT, LABEL_RTCP_AUTH, 20))
    report = rtcp()
    body = report + (5).to_bytes(4, "big")
    packet = body + auth.digest(body)[:10]
    ours = SrtpContext(KEY, SALT)
    assert ours.unprotect_rtcp(packet) == report
    assert reason_of(ours.unprotect_rtcp, packet) == "replay"


# --- refusals --------------------------------------------------------------------

def sample_srtp():
    return SrtpContext(KEY, SALT).protect(
        rtp(1000, payload=bytes(range(50)), csrc=[7, 8], extension=(0xBEDE, b"\x01\x02\x03\x04")))


def sample_srtcp():
    return SrtpContext(KEY, SALT).protect_rtcp(rtcp())


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_any_flipped_byte_of_srtp_is_refused_as_auth(flip):
    packet = sample_srtp()
    for at in range(len(packet)):
        tampered = bytearray(packet)
        tampered[at] ^= flip
        assert reason_of(SrtpContext(KEY, SALT).unprotect, bytes(tampered)) == "auth", at


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_any_flipped_byte_of_srtcp_is_refused_as_auth(flip):
    packet = sample_srtcp()
    for at in range(len(packet)):
        tampered = bytearray(packet)
        tampered[at] ^= flip
        assert reason_of(SrtpContext(KEY, SALT).unprotect_rtcp, bytes(tampered)) == "auth", at


def test_a_packet_under_another_key_is_refused_as_auth():
    packet = SrtpContext(bytes(16), SALT).protect(rtp(1))
    assert reason_of(SrtpContext(KEY, SALT).unprotect, packet) == "auth"
    report = SrtpContext(KEY, bytes(14)).protect_rtcp(rtcp())
    assert reason_of(SrtpContext(KEY, SALT).unprotect_rtcp, report) == "auth"


def test_the_same_srtp_packet_twice_is_a_replay():
    sender, receiver = SrtpContext(KEY, SALT), SrtpContext(KEY, SALT)
    first, second = sender.protect(rtp(10)), sender.protect(rtp(11))
    assert receiver.unprotect(first) == rtp(10)
    assert reason_of(receiver.unprotect, first) == "replay"
    assert receiver.unprotect(second) == rtp(11)
    assert reason_of(receiver.unprotect, first) == "replay"
    assert reason_of(receiver.unprotect, second) == "replay"


def test_srtp_replay_window_is_64_packets():
    sender, receiver = SrtpContext(KEY, SALT), SrtpContext(KEY, SALT)
    protected = {seq: sender.protect(rtp(seq)) for seq in range(65500, 65500 + 70)}
    receiver.unprotect(protected[65500])
    receiver.unprotect(protected[65564])  # newest is now 65500 + 64 (across the wrap)
    assert reason_of(receiver.unprotect, protected[65500]) == "replay"  # 64 behind: outside
    assert receiver.unprotect(protected[65501]) == rtp(65501)           # 63 behind: inside
    assert reason_of(receiver.unprotect, protected[65501]) == "replay"
    assert receiver.unprotect(protected[65530]) == rtp(65530)           # late but unseen
    receiver.unprotect(protected[65569])
    assert reason_of(receiver.unprotect, protected[65505]) == "replay"  # now 64 behind


def test_srtcp_replay_and_window():
    sender, receiver = SrtpContext(KEY, SALT), SrtpContext(KEY, SALT)
    protected = [sender.protect_rtcp(rtcp(body=bytes([i]))) for i in range(70)]
    assert receiver.unprotect_rtcp(protected[0]) == rtcp(body=b"\x00")
    assert reason_of(receiver.unprotect_rtcp, protected[0]) == "replay"
    receiver.unprotect_rtcp(protected[65])
    assert reason_of(receiver.unprotect_rtcp, protected[1]) == "replay"   # 64 behind
    assert receiver.unprotect_rtcp(protected[2]) == rtcp(body=b"\x02")    # 63 behind
    assert reason_of(receiver.unprotect_rtcp, protected[65]) == "replay"


def test_replay_state_moves_only_for_authentic_packets():
    sender, receiver = SrtpContext(KEY, SALT), SrtpContext(KEY, SALT)
    old, new = sender.protect(rtp(5)), sender.protect(rtp(6))
    receiver.unprotect(sender.protect(rtp(10)))
    forged = bytearray(sender.protect(rtp(5000)))
    forged[-1] ^= 1
    assert reason_of(receiver.unprotect, bytes(forged)) == "auth"
    # Had the forgery moved the window to 5000, these would be replays.
    assert receiver.unprotect(old) == rtp(5)
    assert receiver.unprotect(new) == rtp(6)
    genuine = sender.protect_rtcp(rtcp())
    forged = bytearray(genuine)
    forged[-1] ^= 1
    assert reason_of(receiver.unprotect_rtcp, bytes(forged)) == "auth"
    assert receiver.unprotect_rtcp(genuine) == rtcp()


def test_replays_are_per_ssrc():
    sender, receiver = SrtpContext(KEY, SALT), SrtpContext(KEY, SALT)
    a, b = rtp(100, ssrc=1), rtp(100, ssrc=2)
    assert receiver.unprotect(sender.protect(a)) == a
    assert receiver.unprotect(sender.protect(b)) == b


def test_short_packets_are_truncated():
    srtp, srtcp = sample_srtp(), sample_srtcp()
    receiver = SrtpContext(KEY, SALT)
    for size in range(22):  # 12-byte RTP header + 10-byte tag
        assert reason_of(receiver.unprotect, srtp[:size]) == "truncated"
    for size in range(22):  # 8-byte RTCP header + 4-byte index + 10-byte tag
        assert reason_of(receiver.unprotect_rtcp, srtcp[:size]) == "truncated"
    assert reason_of(receiver.unprotect, srtp[:22]) == "auth"
    assert reason_of(receiver.unprotect_rtcp, srtcp[:22]) == "auth"


def test_protect_refuses_what_is_not_rtp_or_rtcp():
    ours = SrtpContext(KEY, SALT)
    assert reason_of(ours.protect, rtp(1)[:11]) == "truncated"
    assert reason_of(ours.protect, b"\x40" + rtp(1)[1:]) == "malformed"        # version 1
    assert reason_of(ours.protect, b"\x83" + rtp(1, payload=b"")[1:]) == "malformed"  # 3 CSRCs missing
    assert reason_of(ours.protect, b"\x90" + rtp(1, payload=b"\x00\x01")[1:]) == "malformed"
    assert reason_of(ours.protect_rtcp, rtcp()[:7]) == "truncated"
    assert reason_of(ours.protect_rtcp, b"\x00" + rtcp()[1:]) == "malformed"


def test_authentic_but_malformed_rtp_header_is_malformed():
    # A sender that seals whatever it is given (not ours: protect refuses):
    # tag over a packet whose extension header runs past its end.
    master = crypto.AesCmEcb(KEY)
    auth = crypto.HmacSha1(derive_key(master, SALT, LABEL_RTP_AUTH, 20))
    body = bytes([0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]) + b"\xbe\xde\x00\x09" + bytes(4)
    packet = body + auth.digest(body, bytes(4))[:10]
    assert reason_of(SrtpContext(KEY, SALT).unprotect, packet) == "malformed"
    body = bytes([0x40]) + body[1:]
    packet = body + auth.digest(body, bytes(4))[:10]
    assert reason_of(SrtpContext(KEY, SALT).unprotect, packet) == "malformed"


def test_libsrtp_refuses_our_tampered_packets_too():
    tampered = bytearray(sample_srtp())
    tampered[20] ^= 1
    with pytest.raises(LibsrtpError):
        libsrtp("in").unprotect(bytes(tampered))


# --- properties ------------------------------------------------------------------

rtp_packets = st.builds(
    lambda seq, ssrc, payload, csrc, ext: rtp(
        seq, ssrc=ssrc, payload=payload, csrc=csrc,
        extension=(0xBEDE, ext) if ext is not None else None),
    st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.binary(max_size=700),
    st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    st.none() | st.binary(max_size=40).map(lambda b: b[:len(b) // 4 * 4]))


@settings(max_examples=200, deadline=None)
@given(packet=rtp_packets)
def test_any_rtp_packet_round_trips_and_matches_libsrtp(packet):
    protected = SrtpContext(KEY, SALT).protect(packet)
    assert protected == libsrtp("out").protect(packet)
    assert SrtpContext(KEY, SALT).unprotect(protected) == packet


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_only_ever_raise_srtp_error(data):
    receiver = SrtpContext(KEY, SALT)
    with pytest.raises(SrtpError):
        receiver.unprotect(data)
    with pytest.raises(SrtpError):
        receiver.unprotect_rtcp(data)


def mutate(draw, packet):
    """A different packet: bits flipped, cut, extended or a span overwritten."""
    kind = draw(st.sampled_from(["flip", "cut", "extend", "overwrite"]))
    data = bytearray(packet)
    if kind == "flip":
        for at in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=4, unique=True)):
            data[at] ^= draw(st.integers(1, 255))
    elif kind == "cut":
        start = draw(st.integers(0, len(data) - 1))
        data = data[:start] + data[draw(st.integers(start + 1, len(data))):]
    elif kind == "extend":
        data[draw(st.integers(0, len(data))):0] = draw(st.binary(min_size=1, max_size=20))
    else:
        start = draw(st.integers(0, len(data) - 1))
        data[start:start + 8] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), packet=rtp_packets)
def test_mutated_srtp_never_yields_data(data, packet):
    protected = SrtpContext(KEY, SALT).protect(packet)
    mutated = mutate(data.draw, protected)
    if mutated == protected:
        return
    with pytest.raises(SrtpError):
        SrtpContext(KEY, SALT).unprotect(mutated)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), body=st.binary(max_size=200))
def test_mutated_srtcp_never_yields_data(data, body):
    protected = SrtpContext(KEY, SALT).protect_rtcp(rtcp(body=body))
    mutated = mutate(data.draw, protected)
    if mutated == protected:
        return
    with pytest.raises(SrtpError):
        SrtpContext(KEY, SALT).unprotect_rtcp(mutated)
