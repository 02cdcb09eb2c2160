"""Jitter buffer: ordering, loss, concealment and time alignment, frame by frame.

L16 makes frames identifiable (frame i holds the constant sample i + 1, and a
concealed L16 frame is silence, 0); Opus (real libopus) checks FEC and PLC.
"""
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from device.codec import make_decoder, make_encoder
from host.gateway.counters import COUNTER_NAMES, Counters
from host.gateway.jitter_buffer import JitterBuffer, JitterPolicy
from host.gateway.opus_fec import has_fec
from tests.host.gateway.audio import rms, rms_difference, sine_frames

FRAME_SAMPLES = 320  # 20 ms at 16 kHz
FRAME_S = 0.02
SEQ0 = 65530  # wraps after 6 packets
TS0 = 0xFFFFFFFF - 1000  # wraps after 4 packets


class Collector:
    """emit() target: keeps every frame and its arrival time."""

    def __init__(self):
        self.frames = []
        self.arrivals = []

    def __call__(self, pcm, arrival_s):
        self.frames.append(pcm)
        self.arrivals.append(arrival_s)

    @property
    def values(self):
        return [struct.unpack_from("<h", frame)[0] for frame in self.frames]


def l16_buffer(**policy):
    out = Collector()
    counters = Counters()
    buffer = JitterBuffer(make_decoder("l16", 16000, 1), out, counters, FRAME_SAMPLES,
                          FRAME_SAMPLES, 20, JitterPolicy(**policy))
    return buffer, out, counters


def push_l16(buffer, index, arrival_s=None, extra_ticks=0, marker=False, payload=None):
    if payload is None:
        payload = struct.pack(">%dh" % FRAME_SAMPLES, *([index + 1] * FRAME_SAMPLES))
    buffer.push((SEQ0 + index) & 0xFFFF, (TS0 + index * FRAME_SAMPLES + extra_ticks) & 0xFFFFFFFF,
                marker, payload, index * FRAME_S if arrival_s is None else arrival_s)


def nonzero(counters):
    return {name: value for name, value in counters.as_dict().items() if value}


def test_in_order_packets_are_released_at_once_across_wraparound():
    buffer, out, counters = l16_buffer()
    for index in range(10):
        push_l16(buffer, index)
        assert len(out.frames) == index + 1
    assert out.values == list(range(1, 11))
    assert out.arrivals == [index * FRAME_S for index in range(10)]
    assert nonzero(counters) == {}
    assert buffer.held == 0 and buffer.deadline_s is None


def test_reordered_packets_are_played_in_sequence():
    buffer, out, counters = l16_buffer()
    released = []
    for index in (0, 2, 1, 3, 5, 4):
        push_l16(buffer, index)
        released.append(len(out.frames))
    assert released == [1, 1, 3, 4, 4, 6]
    assert out.values == [1, 2, 3, 4, 5, 6]
    assert nonzero(counters) == {"reordered": 2}


def test_duplicates_are_dropped_whether_played_or_held():
    buffer, out, counters = l16_buffer()
    for index in (0, 1, 1, 3, 3, 2, 2, 0):
        push_l16(buffer, index)
    assert out.values == [1, 2, 3, 4]
    assert nonzero(counters) == {"duplicate": 4, "reordered": 1}


def test_gap_is_given_up_after_depth_frames_and_the_straggler_is_late():
    buffer, out, counters = l16_buffer(depth_frames=3)
    released = []
    for index in (0, 2, 3, 4, 1):
        push_l16(buffer, index)
        released.append(len(out.frames))
    assert released == [1, 1, 1, 5, 5]
    assert out.values == [1, 0, 3, 4, 5]  # L16 conceals with silence
    assert nonzero(counters) == {"lost": 1, "concealed": 1, "late": 1}


def test_gap_is_given_up_after_max_hold_time():
    buffer, out, counters = l16_buffer(depth_frames=10, max_hold_ms=60)
    push_l16(buffer, 0, arrival_s=0.0)
    push_l16(buffer, 2, arrival_s=0.02)
    assert buffer.deadline_s == 0.02 + 0.06
    buffer.tick(0.079)
    assert len(out.frames) == 1
    buffer.tick(0.08)
    assert out.values == [1, 0, 3]
    assert out.arrivals == [0.0, None, 0.02]
    assert buffer.deadline_s is None
    assert nonzero(counters) == {"lost": 1, "concealed": 1}


def test_next_gap_is_held_from_the_arrival_of_the_packet_behind_it():
    buffer, out, counters = l16_buffer(depth_frames=10, max_hold_ms=60)
    push_l16(buffer, 0, arrival_s=0.0)
    push_l16(buffer, 2, arrival_s=0.02)  # gap at 1
    push_l16(buffer, 5, arrival_s=0.05)  # gap at 3..4
    push_l16(buffer, 1, arrival_s=0.06)  # fills the first gap: 0, 1, 2 out
    assert len(out.frames) == 3
    assert buffer.deadline_s == 0.05 + 0.06  # not 0.02 + 0.06: packet 5 came later
    buffer.tick(0.1)
    assert len(out.frames) == 3
    buffer.tick(0.11)
    assert out.values == [1, 2, 3, 0, 0, 6]
    assert nonzero(counters) == {"reordered": 1, "lost": 2, "concealed": 2}


def test_packet_older_than_the_duplicate_window_is_late():
    buffer, out, counters = l16_buffer()
    for index in range(100):
        push_l16(buffer, index)
    push_l16(buffer, 10)  # played, but 90 packets ago: beyond the 64-entry window
    push_l16(buffer, 98)
    assert nonzero(counters) == {"late": 1, "duplicate": 1}
    assert len(out.frames) == 100


def test_timestamp_jump_of_a_paused_sender_becomes_silence():
    buffer, out, counters = l16_buffer()
    for index in range(3):
        push_l16(buffer, index)
    pause_frames = 10
    push_l16(buffer, 3, arrival_s=3 * FRAME_S + pause_frames * FRAME_S,
             extra_ticks=pause_frames * FRAME_SAMPLES, marker=True)
    assert out.values == [1, 2, 3] + [0] * pause_frames + [4]
    assert nonzero(counters) == {"silence_frames": pause_frames}


def test_loss_before_a_pause_is_concealed_then_silent():
    buffer, out, counters = l16_buffer(depth_frames=3)
    push_l16(buffer, 0)
    push_l16(buffer, 1)
    # packet 2 is lost; the sender then paused 5 frames before packet 3 (marker).
    for index in (3, 4, 5):
        push_l16(buffer, index, arrival_s=(index + 5) * FRAME_S, extra_ticks=5 * FRAME_SAMPLES,
                 marker=index == 3)
    assert len(out.frames) == 2 + 1 + 5 + 3
    assert out.values[-3:] == [4, 5, 6]
    assert nonzero(counters) == {"lost": 1, "concealed": 1, "silence_frames": 5}


def test_wild_timestamp_jump_is_clipped_to_the_wall_clock():
    buffer, out, counters = l16_buffer(max_gap_ms=1000)
    push_l16(buffer, 0, arrival_s=0.0)
    push_l16(buffer, 1, arrival_s=0.02, extra_ticks=3600 * 16000)  # "an hour later"
    # Budget: 1 frame of wall clock elapsed + 50 frames of slack - 1 frame already out.
    assert len(out.frames) == 1 + 50 + 1
    assert nonzero(counters) == {"silence_frames": 50, "discontinuities": 1}
    push_l16(buffer, 2, arrival_s=0.04, extra_ticks=3600 * 16000)
    assert len(out.frames) == 53  # realigned on the jump: no further silence


def test_packets_longer_than_the_session_frame_keep_time_without_silence():
    buffer, out, counters = l16_buffer()
    for index in range(5):  # 40 ms packets in a session negotiated at 20 ms
        payload = struct.pack(">%dh" % (2 * FRAME_SAMPLES), *([index + 1] * 2 * FRAME_SAMPLES))
        buffer.push(index, index * 2 * FRAME_SAMPLES, False, payload, index * 0.04)
    assert sum(len(frame) for frame in out.frames) == 5 * 2 * 2 * FRAME_SAMPLES
    assert nonzero(counters) == {}


def test_flush_releases_held_packets_and_conceals_the_gaps():
    buffer, out, counters = l16_buffer(depth_frames=6, max_hold_ms=1000)
    for index in (0, 2, 3, 6):
        push_l16(buffer, index)
    assert len(out.frames) == 1 and buffer.held == 3
    buffer.flush(0.2)
    assert out.values == [1, 0, 3, 4, 0, 0, 7]
    assert buffer.held == 0 and buffer.deadline_s is None
    assert nonzero(counters) == {"lost": 3, "concealed": 3}


def test_undecodable_payload_keeps_its_slot_as_concealment():
    buffer, out, counters = l16_buffer()
    push_l16(buffer, 0)
    push_l16(buffer, 1, payload=b"\x01\x02\x03")  # not whole 16-bit samples
    push_l16(buffer, 2)
    assert out.values == [1, 0, 3]
    assert nonzero(counters) == {"malformed": 1, "concealed": 1}


def _opus_run(encoder_fec, drop, buffer_fec=True):
    """Encode 30 frames of a sine, drop one packet, return (collector, counters, packets)."""
    encoder = make_encoder("opus", 16000, 1, 20, fec=encoder_fec)
    packets = [encoder.encode(frame) for frame in sine_frames(30, FRAME_SAMPLES)]
    out = Collector()
    counters = Counters()
    buffer = JitterBuffer(make_decoder("opus", 16000, 1), out, counters, FRAME_SAMPLES, 960, 20,
                          JitterPolicy(depth_frames=3), fec=buffer_fec)
    for index, payload in enumerate(packets):
        if index != drop:
            buffer.push(index, 960 * index, index == 0, payload, index * FRAME_S)
    buffer.flush(1.0)
    return out, counters, packets


def _error_rms(frame, packets, index):
    """RMS difference between a frame and what lossless decoding gives for it."""
    decoder = make_decoder("opus", 16000, 1)
    reference = [decoder.decode(payload) for payload in packets][index]
    return rms_difference(frame, reference)


def test_lost_opus_packet_is_recovered_from_the_next_packets_fec():
    drop = 12
    out, counters, packets = _opus_run(encoder_fec=True, drop=drop)
    assert has_fec(packets[drop + 1])
    assert len(out.frames) == 30
    assert nonzero(counters) == {"lost": 1, "fec_recovered": 1}
    # The same packets with FEC ignored: PLC guesses, FEC knows.
    plc, plc_counters, _ = _opus_run(encoder_fec=True, drop=drop, buffer_fec=False)
    assert nonzero(plc_counters) == {"lost": 1, "concealed": 1}
    fec_error = _error_rms(out.frames[drop], packets, drop)
    plc_error = _error_rms(plc.frames[drop], packets, drop)
    assert fec_error < plc_error / 2


def test_lost_opus_packet_without_fec_is_concealed_with_plc():
    drop = 12
    out, counters, packets = _opus_run(encoder_fec=False, drop=drop)
    assert not any(has_fec(payload) for payload in packets)
    assert len(out.frames) == 30
    assert nonzero(counters) == {"lost": 1, "concealed": 1}
    assert rms(out.frames[drop]) > 1000  # PLC continues the tone instead of going silent
    assert out.arrivals[drop] is None and out.arrivals[drop + 1] == (drop + 1) * FRAME_S


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_arrival_order_yields_one_frame_per_slot_in_order(data):
    count = data.draw(st.integers(2, 40))
    kept = data.draw(st.lists(st.booleans(), min_size=count - 2, max_size=count - 2))
    indices = [0] + [i + 1 for i, keep in enumerate(kept) if keep] + [count - 1]
    order = [0] + data.draw(st.permutations(indices[1:]))
    dups = data.draw(st.lists(st.sampled_from(indices), max_size=5))
    for dup in dups:
        order.insert(data.draw(st.integers(1, len(order))), dup)
    buffer, out, counters = l16_buffer(depth_frames=data.draw(st.integers(1, 6)))
    for step, index in enumerate(order):
        push_l16(buffer, index, arrival_s=step * 0.001)
    buffer.flush(1.0)
    real = [value for value in out.values if value]
    assert len(out.frames) == count  # one frame per slot: time stays aligned
    assert real == sorted(set(real))  # real frames in sequence order, each once
    played = len(real)
    assert counters.lost == counters.concealed == count - played
    # Every push was played, or late (its slot was given up), or a duplicate.
    assert played + counters.late + counters.duplicate == len(order)
    assert counters.duplicate <= len(order) - len(set(indices))
    assert set(nonzero(counters)) <= {"lost", "concealed", "late", "duplicate", "reordered"}
    assert all(getattr(counters, name) >= 0 for name in COUNTER_NAMES)
