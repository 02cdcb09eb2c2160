"""The device's downlink receiver: what handle() does with each datagram.

Packets come from libsrtp (pylibsrtp), as the gateway protects them, or from
the device's own SrtpContext where a test needs an authentic packet no
gateway would send. Playback is driven by hand here (due_ms/start/pull);
tests/host/gateway/test_downlink_end_to_end.py runs the playback task.
"""
import asyncio
import struct

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from device import rtp
from device.downlink import Downlink
from device.hal import clock
from device.hal.virtual import VirtualSpeaker, read_timeline
from device.srtp import SrtpContext
from tests.host.gateway.harness import OTHER_KEY, make_session, srtp_context

FRAME_SAMPLES = 320
VERDICTS = ("received", "foreign_ssrc", "auth_failed", "replayed", "refused", "wrong_type")


class QuietSpeaker:
    """A HAL speaker that keeps what it is given (handle() never touches it)."""

    sample_rate_hz = 16000
    channels = 1

    def __init__(self):
        self.written = []

    async def write(self, pcm):
        self.written.append(bytes(pcm))


def l16_session():
    return make_session(codec="l16")


def clear_rtp(session, index, payload=None, marker=None, payload_type=None, ssrc=None):
    payload = struct.pack(">%dh" % FRAME_SAMPLES, *([index + 1] * FRAME_SAMPLES)) \
        if payload is None else payload
    return rtp.RtpPacket(session.payload_type if payload_type is None else payload_type,
                         (40000 + index) & 0xFFFF, (7 + index * FRAME_SAMPLES) & 0xFFFFFFFF,
                         session.downlink_ssrc if ssrc is None else ssrc, payload,
                         marker=index == 0 if marker is None else marker).to_bytes()


def verdicts(stats):
    return {name: getattr(stats, name) for name in VERDICTS if getattr(stats, name)}


def play_out(downlink):
    """Start (as if the playout delay had passed) and pull until playback stops."""
    playout = downlink.playout
    if playout.due_ms(clock.ticks_add(clock.ticks_ms(), 1000)) == 0:
        playout.start()
    values = []
    pcm = playout.pull()
    while pcm is not None:
        values.append(struct.unpack_from("<h", pcm)[0])
        pcm = playout.pull()
    return values


def test_libsrtp_protected_downlink_is_authenticated_buffered_and_played():
    session = l16_session()
    downlink = Downlink(session, QuietSpeaker())
    gateway = srtp_context(session, session.downlink_ssrc)
    for index in (0, 1, 3, 2, 4):
        downlink.handle(gateway.protect(clear_rtp(session, index)))
    assert verdicts(downlink.stats) == {"received": 5}
    assert downlink.playout.buffered_ms == 100
    assert play_out(downlink) == [1, 2, 3, 4, 5]
    assert (downlink.stats.played, downlink.stats.reordered) == (5, 1)


def test_every_refusal_is_counted_and_nothing_reaches_the_buffer():
    session = l16_session()
    downlink = Downlink(session, QuietSpeaker())
    gateway = srtp_context(session, session.downlink_ssrc)
    first = gateway.protect(clear_rtp(session, 0))
    downlink.handle(first)
    downlink.handle(first)  # a network duplicate is an SRTP replay
    # Our own uplink reflected back authenticates under the session key: the
    # SSRC check stops it first.
    uplink = srtp_context(session, session.uplink_ssrc)
    downlink.handle(uplink.protect(clear_rtp(session, 1, ssrc=session.uplink_ssrc)))
    forged = srtp_context(session, session.downlink_ssrc, key=OTHER_KEY)
    downlink.handle(forged.protect(clear_rtp(session, 2)))
    downlink.handle(first[:21])
    downlink.handle(gateway.protect(clear_rtp(session, 3, payload_type=0)))
    device_sender = SrtpContext(session.srtp_master_key, session.srtp_master_salt)
    padded = bytearray(clear_rtp(session, 4, payload=b"\x00\x00\x00\xff"))
    padded[0] |= 0x20  # padding count 255: more than the payload
    downlink.handle(device_sender.protect(bytes(padded)))
    assert verdicts(downlink.stats) == {"received": 1, "replayed": 1, "foreign_ssrc": 1,
                                        "auth_failed": 1, "refused": 1, "wrong_type": 2}
    assert downlink.playout.buffered_ms == 20


def test_abort_drops_the_buffer_and_the_rest_of_the_answer_until_the_next_talk_spurt():
    session = l16_session()
    downlink = Downlink(session, QuietSpeaker())
    gateway = srtp_context(session, session.downlink_ssrc)
    for index in range(4):
        downlink.handle(gateway.protect(clear_rtp(session, index)))
    assert downlink.abort() == 80 and downlink.last_abort_ms is not None
    for index in (4, 5):  # sent before the gateway flushed, arriving after the abort
        downlink.handle(gateway.protect(clear_rtp(session, index)))
    downlink.handle(gateway.protect(clear_rtp(session, 6, marker=True)))
    stats = downlink.stats
    assert (stats.aborts, stats.flushed, stats.discarded, stats.received) == (1, 4, 2, 7)
    assert play_out(downlink) == [7]


def test_a_new_grant_starts_a_new_stream_under_its_own_ssrc_and_key():
    old, new = l16_session(), make_session(codec="l16", downlink_ssrc=0x0BADCAFE, key=OTHER_KEY)
    downlink = Downlink(old, QuietSpeaker())
    downlink.handle(srtp_context(old, old.downlink_ssrc).protect(clear_rtp(old, 0)))
    downlink.replace_session(new)
    assert downlink.playout.buffered_ms == 0  # the old stream's audio went with it
    downlink.handle(srtp_context(old, old.downlink_ssrc).protect(clear_rtp(old, 1)))
    downlink.handle(srtp_context(new, new.downlink_ssrc).protect(clear_rtp(new, 5)))
    assert verdicts(downlink.stats) == {"received": 2, "foreign_ssrc": 1}
    assert play_out(downlink) == [6]


def test_a_speaker_that_does_not_match_the_session_is_refused():
    speaker = QuietSpeaker()
    speaker.sample_rate_hz = 48000
    with pytest.raises(ValueError, match="speaker plays 48000 Hz x1, session sends 16000 Hz x1"):
        Downlink(l16_session(), speaker)


def test_the_virtual_speaker_timeline_says_where_and_when_each_write_played(tmp_path):
    path = tmp_path / "speaker.wav"
    speaker = VirtualSpeaker(str(path), timeline=True)

    async def play():
        await speaker.write(bytes(640))
        await speaker.write(bytes(1280))

    asyncio.run(play())
    speaker.close()
    rows = read_timeline(str(path) + ".timeline")
    assert [(row[0], row[2]) for row in rows] == [(0, 320), (320, 640)]
    assert rows[1][1] >= rows[0][1]
    assert (tmp_path / "speaker.wav.timeline").read_text().startswith("sample_offset,ticks_ms,samples\n")
    plain = VirtualSpeaker(str(tmp_path / "plain.wav"))
    plain.close()
    assert not (tmp_path / "plain.wav.timeline").exists()


# -- fuzz: whatever arrives is counted, nothing raises -------------------------

SESSION = l16_session()
_GATEWAY = srtp_context(SESSION, SESSION.downlink_ssrc)
VALID = [_GATEWAY.protect(clear_rtp(SESSION, index)) for index in range(24)]

random_bytes = st.binary(max_size=120)
mutated = st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 700), st.integers(1, 255),
                    st.integers(0, 700), st.binary(max_size=8)).map(
    lambda m: (VALID[m[0]][:m[1]] + bytes([VALID[m[0]][m[1]] ^ m[2]]) + VALID[m[0]][m[1] + 1:]
               if m[1] < len(VALID[m[0]]) else VALID[m[0]][:m[3]] + m[4]))
valid = st.integers(0, len(VALID) - 1).map(lambda index: VALID[index])
# Authentic (the session key) but anything in the header: version, padding,
# extension and CSRC bits, payload type, sequence number, timestamp, size.
authentic = st.tuples(st.one_of(st.sampled_from([0x80, 0x90, 0xA0, 0x81]), st.integers(0, 255)),
                      st.one_of(st.sampled_from([96, 96 | 0x80]), st.integers(0, 255)),
                      st.one_of(st.integers(39990, 40040), st.integers(0, 0xFFFF)),
                      st.integers(0, 0xFFFFFFFF),
                      st.one_of(st.binary(max_size=700), st.just(bytes(640))))


def _seal(sender, fields):
    first, second, seq, timestamp, payload = fields
    clear = struct.pack("!BBHII", first, second, seq, timestamp, SESSION.downlink_ssrc) + payload
    try:
        return sender.protect(clear)
    except ValueError:
        return clear  # not RTP enough to protect: it goes out as it is


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(random_bytes, mutated, valid, authentic), max_size=25),
       st.lists(st.integers(0, 3), max_size=25))
def test_any_datagram_is_counted_once_and_never_raises(datagrams, pulls):
    downlink = Downlink(SESSION, QuietSpeaker())
    sender = SrtpContext(SESSION.srtp_master_key, SESSION.srtp_master_salt)
    playout = downlink.playout
    for number, datagram in enumerate(datagrams):
        if isinstance(datagram, tuple):
            datagram = _seal(sender, datagram)
        downlink.handle(datagram)
        assert sum(verdicts(downlink.stats).values()) == number + 1
        now_ms = clock.ticks_add(clock.ticks_ms(), 20 * number)
        for _ in range(pulls[number] if number < len(pulls) else 1):
            if playout.due_ms(now_ms) == 0:
                playout.start()
            playout.pull()
        if number % 7 == 6:
            downlink.abort()
    stats = downlink.stats
    assert stats.received >= stats.played + stats.malformed
    event("played" if stats.played else "received" if stats.received else "refused all")
