"""Receiver statistics (RFC 3550 A.1, A.3, A.8) on scripted packet sequences."""
import random

import pytest

from device.reception import MAX_DROPOUT, ReceptionStats
from device.rtcp_report_block import ReportBlock

RATE_HZ = 16000
STEP = 320  # 20 ms at 16 kHz


def feed(stats, sequences, transit_s=0.05, first_seq=None):
    """Packets sent every 20 ms, arriving transit_s later; ts follows the seq."""
    base = sequences[0] if first_seq is None else first_seq
    for seq in sequences:
        index = seq - base
        stats.update(seq & 0xFFFF, (1000 + index * STEP) & 0xFFFFFFFF, index * 0.02 + transit_s)


def test_in_order_stream_has_no_loss():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, list(range(100, 150)))
    assert stats.packets_received == 50
    assert stats.packets_expected == 50
    assert stats.packets_lost == 0
    assert stats.extended_highest_sequence == 149
    assert stats.jitter == 0


def test_loss_counts_and_fraction_per_interval():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, [1, 2, 3, 5, 6, 7, 8, 10], first_seq=1)  # 4 and 9 lost, expected 10
    assert stats.packets_lost == 2
    block = stats.report_block(0xABCD, lsr=0x1234, dlsr=0x10)
    assert isinstance(block, ReportBlock)
    assert (block.ssrc, block.lsr, block.dlsr) == (0xABCD, 0x1234, 0x10)
    assert block.fraction_lost == (2 << 8) // 10  # 51, i.e. 20 %
    assert block.packets_lost == 2
    assert block.highest_sequence == 10
    # Next interval: 11..20 all arrive; the fraction restarts, the total stays.
    feed(stats, list(range(11, 21)), first_seq=1)
    block = stats.report_block(0xABCD)
    assert block.fraction_lost == 0
    assert block.packets_lost == 2
    # A third interval with 1 of 4 lost.
    feed(stats, [21, 22, 24], first_seq=1)
    assert stats.report_block(0xABCD).fraction_lost == (1 << 8) // 4


def test_reordered_packets_are_not_loss():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, [1, 2, 4, 3, 5], first_seq=1)
    assert stats.packets_received == 5
    assert stats.packets_lost == 0
    assert stats.extended_highest_sequence == 5


def test_duplicates_make_loss_negative():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, [1, 2, 2, 3, 3, 3], first_seq=1)
    assert stats.packets_received == 6
    assert stats.packets_lost == -3
    block = stats.report_block(1)
    assert block.packets_lost == -3
    assert block.fraction_lost == 0  # negative interval loss reports as 0
    assert ReportBlock.parse(block.to_bytes()).packets_lost == -3


def test_sequence_wrap_extends_the_highest_sequence():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, [65533, 65534, 65535, 65536, 65537], first_seq=65533)
    assert stats.extended_highest_sequence == 65536 + 1
    assert stats.packets_lost == 0
    assert stats.jitter == 0  # the RTP timestamp wrapped too: no spike


def test_reordering_across_the_wrap_counts_one_cycle():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, [65534, 65535, 65537, 65536, 65538], first_seq=65534)
    assert stats.extended_highest_sequence == 65536 + 2
    assert stats.packets_lost == 0
    assert stats.packets_received == 5


def test_loss_across_the_wrap():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, [65530, 65531, 65538, 65539], first_seq=65530)
    assert stats.packets_lost == 6
    assert stats.extended_highest_sequence == 65536 + 3


def test_many_cycles():
    stats = ReceptionStats(RATE_HZ)
    seq = 0
    for _ in range(3 * 65536 + 10):
        stats.update_rtp_units(seq & 0xFFFF, seq * STEP, seq * STEP)
        seq += 1
    assert stats.extended_highest_sequence == 3 * 65536 + 9
    assert stats.packets_lost == 0


def test_a_big_jump_is_believed_only_when_the_next_packet_follows():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, [100, 101, 102], first_seq=100)
    assert stats.update(20000, 5000, 10.0) is False  # lone jump: ignored
    assert stats.packets_received == 3
    assert stats.extended_highest_sequence == 102
    assert stats.update(103, 1000 + 3 * STEP, 0.11) is True  # the stream goes on
    assert stats.update(30000, 5000, 10.0) is False
    assert stats.update(30001, 5000 + STEP, 10.02) is True  # confirmed: resynchronised
    assert stats.packets_received == 1
    assert stats.extended_highest_sequence == 30001
    assert stats.packets_lost == 0


def test_a_step_back_beyond_misorder_is_a_jump():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, list(range(1000, 1010)), first_seq=1000)
    assert stats.update(800, 0, 1.0) is False
    assert stats.update(950, 0, 1.0) is True  # within MAX_MISORDER: a late packet


def test_jump_within_dropout_is_loss():
    stats = ReceptionStats(RATE_HZ)
    feed(stats, [1, 1 + MAX_DROPOUT - 1], first_seq=1)
    assert stats.packets_lost == MAX_DROPOUT - 2


def test_known_jitter_value():
    # Constant transit except packet 3, which arrives 10 ms (160 units) late,
    # so D = 0, 160, 160, 0. A.8 in floats: J = 10, 19.375, then 19.375 * 15 / 16
    # = 18.16; the integer form (16 J = 160, 310, 291) reports 18.
    stats = ReceptionStats(RATE_HZ)
    for seq in range(1, 6):
        arrival = seq * 0.02 + (0.01 if seq == 3 else 0.0)
        stats.update(seq, seq * STEP, arrival)
    assert stats.jitter == 18


def test_known_jitter_value_before_decay():
    stats = ReceptionStats(RATE_HZ)
    for seq, late in ((1, 0), (2, 0), (3, 160)):
        stats.update_rtp_units(seq, seq * STEP, seq * STEP + late)
    assert stats.jitter == 10
    stats.update_rtp_units(4, 4 * STEP, 4 * STEP)
    assert stats.jitter == 19
    assert stats.jitter_ms == pytest.approx(19.375 / 16)  # 19.375 units at 16 kHz


def test_integer_jitter_tracks_the_float_formula():
    rng = random.Random(7)
    stats = ReceptionStats(RATE_HZ)
    reference = 0.0
    previous = None
    for seq in range(2000):
        transit = 800 + rng.randint(0, 320)
        stats.update_rtp_units(seq, seq * STEP, seq * STEP + transit)
        if previous is not None:
            reference += (abs(transit - previous) - reference) / 16
        previous = transit
    assert abs(stats.jitter - reference) <= 1
    assert stats.jitter_ms == pytest.approx(reference * 1000 / RATE_HZ, abs=0.1)


def test_update_in_seconds_equals_update_in_rtp_units():
    seconds = ReceptionStats(48000)
    units = ReceptionStats(48000)
    rng = random.Random(3)
    for seq in range(200):
        arrival_units = seq * 960 + rng.randint(0, 2000)
        seconds.update(seq, seq * 960, arrival_units / 48000)
        units.update_rtp_units(seq, seq * 960, arrival_units)
    assert abs(seconds.jitter - units.jitter) <= 1


def test_report_block_clamps_cumulative_loss_to_24_bits():
    stats = ReceptionStats(RATE_HZ)
    seq = 0
    for _ in range(2800):  # each step loses 2998 packets: 8.39 M in all
        stats.update_rtp_units(seq & 0xFFFF, seq, seq)
        seq += MAX_DROPOUT - 1
    assert stats.packets_lost > 0x7FFFFF
    block = stats.report_block(1)
    assert block.packets_lost == 0x7FFFFF
    block.to_bytes()


def test_report_before_any_packet_is_all_zero():
    block = ReceptionStats(RATE_HZ).report_block(5)
    assert (block.fraction_lost, block.packets_lost, block.highest_sequence, block.jitter) == (0, 0, 0, 0)


def test_clock_rate_must_be_positive():
    with pytest.raises(ValueError, match="reception: clock_rate_hz"):
        ReceptionStats(0)
