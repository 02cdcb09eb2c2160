"""The device's playout buffer, frame by frame, and the reorder window it shares.

L16 makes frames identifiable (every sample of frame i is i + 1; a concealed
L16 frame is silence, 0); Opus (real libopus) checks FEC and PLC. Times are
ms ticks passed in: the buffer reads no clock.
"""
import contextlib
import io
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from device.codec import make_decoder, make_encoder
from device.playout import (DISCARDED, DUPLICATE, IN_ORDER, LATE, OVERFLOW, REORDERED,
                            PlayoutBuffer, PlayoutStats)
from tests.host.gateway.audio import sine_frames
from tests.micropython import run_micropython

FRAME_SAMPLES = 320
SEQ0 = 65530  # wraps after 6 packets
TS0 = 0xFFFFFFFF - 1000  # wraps after 4 packets


def l16_payload(index):
    return struct.pack(">%dh" % FRAME_SAMPLES, *([index + 1] * FRAME_SAMPLES))


def l16_buffer(**options):
    stats = PlayoutStats()
    buffer = PlayoutBuffer(make_decoder("l16", 16000, 1), stats, FRAME_SAMPLES, FRAME_SAMPLES, 20,
                           **options)
    return buffer, stats


def push(buffer, index, now_ms=0, marker=None, extra_ticks=0, payload=None):
    return buffer.push((SEQ0 + index) & 0xFFFF,
                       (TS0 + index * FRAME_SAMPLES + extra_ticks) & 0xFFFFFFFF,
                       index == 0 if marker is None else marker,
                       l16_payload(index) if payload is None else payload, now_ms)


def drain(buffer):
    """Pull until playback stops; the first sample of each frame."""
    values = []
    while True:
        pcm = buffer.pull()
        if pcm is None:
            return values
        values.append(struct.unpack_from("<h", pcm)[0])


def nonzero(stats):
    return {name: value for name, value in vars(stats).items() if value}


def test_playback_waits_for_the_playout_delay_then_plays_in_order_across_wraparound():
    buffer, stats = l16_buffer(delay_ms=60)
    assert buffer.due_ms(0) is None  # nothing held
    push(buffer, 0, now_ms=1000)
    assert buffer.due_ms(1000) == 60 and buffer.due_ms(1045) == 15
    push(buffer, 1, now_ms=1020)
    assert buffer.pull() is None and not buffer.playing  # not started yet
    push(buffer, 2, now_ms=1040)
    assert buffer.due_ms(1040) == 0  # 60 ms held
    buffer.start()
    for index in range(3, 10):
        push(buffer, index, now_ms=1040 + index)
    assert drain(buffer) == list(range(1, 11))
    assert nonzero(stats) == {"played": 10}


def test_a_short_answer_starts_once_its_first_packet_has_waited_the_delay():
    buffer, _ = l16_buffer(delay_ms=60)
    push(buffer, 0, now_ms=500)
    assert buffer.due_ms(559) == 1 and buffer.due_ms(560) == 0
    assert buffer.due_ms(500 + (1 << 20)) == 0


def test_reordered_packets_play_in_sequence_and_a_packet_before_the_first_moves_the_start():
    buffer, stats = l16_buffer()
    assert push(buffer, 1, marker=False) == IN_ORDER
    assert push(buffer, 0) == REORDERED  # not playing yet: the start moves back
    assert push(buffer, 3) == IN_ORDER
    assert push(buffer, 2) == REORDERED
    buffer.start()
    assert drain(buffer) == [1, 2, 3, 4]
    assert nonzero(stats) == {"played": 4, "reordered": 2}


def test_lost_slot_is_concealed_with_silence_and_its_packet_is_late_afterwards():
    buffer, stats = l16_buffer()
    for index in (0, 1, 3, 4):
        push(buffer, index)
    buffer.start()
    assert [buffer.pull()[0] for _ in range(3)] == [1, 2, 0]
    assert push(buffer, 2) == LATE
    assert drain(buffer) == [4, 5]
    assert nonzero(stats) == {"played": 4, "lost": 1, "concealed": 1, "late": 1}


def test_duplicates_are_dropped_whether_held_or_played():
    buffer, stats = l16_buffer()
    push(buffer, 0)
    push(buffer, 1)
    assert push(buffer, 1) == DUPLICATE
    buffer.start()
    buffer.pull()
    assert push(buffer, 0) == DUPLICATE
    assert drain(buffer) == [2]
    assert nonzero(stats) == {"played": 2, "duplicate": 2}


def test_a_pause_inside_buffered_audio_becomes_silence_and_a_long_gap_is_jumped():
    buffer, stats = l16_buffer(max_conceal_frames=5)
    push(buffer, 0)
    push(buffer, 1, extra_ticks=2 * FRAME_SAMPLES)  # sender paused 40 ms before packet 1
    push(buffer, 20)  # 18 packets missing: more than worth concealing
    buffer.start()
    assert drain(buffer) == [1, 0, 0, 2, 21]
    assert nonzero(stats) == {"played": 3, "silence_frames": 2, "lost": 18}


def test_running_dry_inside_a_talk_spurt_is_an_underrun_a_new_spurt_is_not():
    buffer, stats = l16_buffer()
    push(buffer, 0)
    buffer.start()
    assert drain(buffer) == [1]
    push(buffer, 1)  # the same spurt goes on: it came too late to follow on
    assert stats.underruns == 1
    buffer.start()
    assert drain(buffer) == [2]
    push(buffer, 5, marker=True)  # a new talk spurt after a pause
    assert stats.underruns == 1
    buffer.start()
    assert drain(buffer) == [6]
    assert stats.lost == 3  # 2..4 never came; nothing concealed across idle time
    assert stats.concealed == 0


def test_flush_drops_everything_and_discards_the_aborted_spurt_until_a_marker():
    buffer, stats = l16_buffer(abort_window_frames=8)
    for index in range(6):
        push(buffer, index)
    buffer.start()
    assert drain(buffer) == [1, 2, 3, 4, 5, 6]
    for index in range(6, 10):
        push(buffer, index)
    buffer.start()
    assert buffer.pull()[0] == 7
    assert buffer.flush() == 60 and buffer.pull() is None  # 3 frames held, gone at once
    assert [push(buffer, index) for index in (10, 11, 9)] == [DISCARDED] * 3
    assert push(buffer, 12, marker=True) == IN_ORDER  # the next answer
    assert push(buffer, 11) == LATE
    buffer.start()
    assert drain(buffer) == [13]
    assert (stats.flushed, stats.discarded, stats.late) == (3, 3, 1)


def test_after_a_flush_a_packet_beyond_the_abort_window_plays_even_without_its_marker():
    buffer, stats = l16_buffer(abort_window_frames=4)
    push(buffer, 0)
    buffer.flush()
    assert push(buffer, 4, marker=False) == DISCARDED
    assert push(buffer, 6, marker=False) == IN_ORDER  # lost marker packet: do not mute the answer
    buffer.start()
    assert drain(buffer) == [7]


def test_flush_with_a_resume_point_discards_exactly_what_came_before_it():
    buffer, stats = l16_buffer()
    push(buffer, 0)
    buffer.flush(resume_seq=(SEQ0 + 5) & 0xFFFF)
    assert push(buffer, 4, marker=True) == DISCARDED
    assert push(buffer, 6, marker=False) == IN_ORDER
    assert push(buffer, 5, marker=False) == REORDERED
    buffer.start()
    assert drain(buffer) == [6, 7]
    assert stats.lost == 0


def test_flush_before_anything_arrived_discards_nothing():
    buffer, stats = l16_buffer()
    assert buffer.flush() == 0
    assert push(buffer, 3, marker=False) == IN_ORDER
    assert stats.discarded == 0


def test_a_full_buffer_drops_new_packets():
    buffer, stats = l16_buffer(capacity=4)
    assert [push(buffer, index) for index in range(5)] == [IN_ORDER] * 4 + [OVERFLOW]
    assert stats.overflow == 1


def test_an_undecodable_payload_keeps_its_slot_as_concealment():
    buffer, stats = l16_buffer()
    push(buffer, 0)
    push(buffer, 1, payload=b"\x01\x02\x03")  # not whole 16-bit samples
    push(buffer, 2)
    buffer.start()
    assert drain(buffer) == [1, 0, 3]
    assert (stats.malformed, stats.concealed, stats.played) == (1, 1, 2)


def test_opus_loss_uses_the_next_packets_fec_or_plc_when_there_is_none():
    encoder = make_encoder("opus", 16000, 1)
    stats = PlayoutStats()
    buffer = PlayoutBuffer(make_decoder("opus", 16000, 1), stats, FRAME_SAMPLES, 960, 20,
                           fec=True, fec_detector=lambda payload: True)
    payloads = [encoder.encode(pcm) for pcm in sine_frames(12, FRAME_SAMPLES)]
    for index, payload in enumerate(payloads):
        if index not in (3, 7, 8):
            buffer.push(index, index * 960, index == 0, payload, 0)
    buffer.start()
    frames = []
    while True:
        pcm = buffer.pull()
        if pcm is None:
            break
        frames.append(pcm)
    assert [len(frame) for frame in frames] == [640] * 12
    # Slot 3: packet 4 is at hand (FEC); slot 7: packet 8 is lost too (PLC); slot 8: FEC.
    assert (stats.lost, stats.fec_recovered, stats.concealed, stats.played) == (3, 2, 1, 9)


def test_opus_fec_is_not_taken_across_a_talk_spurt_start_or_when_the_detector_says_none():
    encoder = make_encoder("opus", 16000, 1)
    payloads = [encoder.encode(pcm) for pcm in sine_frames(4, FRAME_SAMPLES)]
    for marker, detector in ((True, None), (False, lambda payload: False)):
        stats = PlayoutStats()
        buffer = PlayoutBuffer(make_decoder("opus", 16000, 1), stats, FRAME_SAMPLES, 960, 20,
                               fec=True, fec_detector=detector)
        buffer.push(0, 0, True, payloads[0], 0)
        buffer.push(2, 1920, marker, payloads[2], 0)
        buffer.start()
        while buffer.pull() is not None:
            pass
        assert (stats.fec_recovered, stats.concealed) == (0, 1)


# -- the same code under MicroPython --------------------------------------------

SCENARIO = """
import struct
from device.codec import make_decoder
from device.playout import PlayoutBuffer, PlayoutStats
stats = PlayoutStats()
buffer = PlayoutBuffer(make_decoder("l16", 16000, 1), stats, 320, 320, 20)
verdicts = []
def push(index, marker=False):
    payload = struct.pack(">320h", *([index + 1] * 320))
    verdicts.append(buffer.push((65530 + index) & 0xFFFF, (4294966295 + index * 320) & 0xFFFFFFFF,
                                marker, payload, 0))
for index in (1, 0, 3, 2, 2, 5, 6):
    push(index, index == 0)
buffer.start()
out = []
for _ in range(4):
    out.append(struct.unpack_from("<h", buffer.pull())[0])
flushed = buffer.flush()
for index in (7, 8):
    push(index)
push(9, True)
buffer.start()
pcm = buffer.pull()
while pcm is not None:
    out.append(struct.unpack_from("<h", pcm)[0])
    pcm = buffer.pull()
names = sorted(stats.__dict__)
print(verdicts, out, flushed, [getattr(stats, name) for name in names])
"""


def test_micropython_plays_the_same_frames_with_the_same_counts():
    namespace = {}
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        exec(SCENARIO, namespace)
    assert run_micropython(SCENARIO).strip() == captured.getvalue().strip()
    verdicts = [IN_ORDER, REORDERED, IN_ORDER, REORDERED, DUPLICATE, IN_ORDER, IN_ORDER,
                DISCARDED, DISCARDED, IN_ORDER]
    assert captured.getvalue().startswith("%s [1, 2, 3, 4, 10] 40 " % verdicts)


# -- properties -------------------------------------------------------------------

OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("push"), st.integers(-40, 200), st.integers(-5, 5), st.booleans(),
              st.sampled_from([0, 1, 2])),
    st.tuples(st.just("pull")),
    st.tuples(st.just("flush"), st.booleans()),
    st.tuples(st.just("wait"), st.integers(0, 200)),
), max_size=120)


@settings(max_examples=300, deadline=None)
@given(OPERATIONS)
def test_any_sequence_of_packets_pulls_and_flushes_never_raises_and_adds_up(operations):
    buffer, stats = l16_buffer(capacity=16)
    now = 0
    out = 0
    held_verdicts = 0
    for operation in operations:
        kind = operation[0]
        if kind == "push":
            _, index, ts_jitter, marker, shape = operation
            payload = (l16_payload(index), b"\x00" * 3, l16_payload(index) * 2)[shape]
            verdict = push(buffer, index, now, marker, ts_jitter * FRAME_SAMPLES, payload)
            held_verdicts += verdict in (IN_ORDER, REORDERED)
        elif kind == "pull":
            if buffer.due_ms(now) == 0:
                buffer.start()
            pcm = buffer.pull()
            if pcm is not None:
                assert len(pcm) in (640, 1280) and len(pcm) % 2 == 0
                out += 1
        elif kind == "flush":
            assert buffer.flush((SEQ0 + 50) & 0xFFFF if operation[1] else None) >= 0
        else:
            now += operation[1]
        assert len(buffer.window.pending) <= 16
        assert buffer.buffered_ms == 20 * len(buffer.window.pending)
    assert out == stats.played + stats.concealed + stats.fec_recovered + stats.silence_frames
    # Every packet held was played, is still held, was flushed, or was jumped over.
    assert held_verdicts >= stats.played + stats.malformed
