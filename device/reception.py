"""Receiver-side statistics of one RTP source (RFC 3550 appendix A).

Sequence validation with wrap-around (A.1), cumulative and interval loss
(A.3) and interarrival jitter (A.8), ready to go into an RTCP report block.
Pure: the caller passes each packet's arrival time; nothing reads a clock.
Runs unchanged on MicroPython and CPython; only integers in the per-packet
path, so single-precision floats on a board do not erode the jitter.
"""
from device.rtcp_report_block import ReportBlock

SEQUENCE_MODULO = 65536
# RFC 3550 A.1: a jump ahead of at most MAX_DROPOUT is loss; a step back of at
# most MAX_MISORDER is a late or duplicate packet; anything else is a jump
# that is believed only when the next packet confirms it.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
_LOST_MAX = 0x7FFFFF
_LOST_MIN = -0x800000


class ReceptionStats:
    """Loss, extended sequence and jitter of one incoming RTP stream."""

    def __init__(self, clock_rate_hz):
        if clock_rate_hz <= 0:
            raise ValueError("reception: clock_rate_hz must be positive, got %r" % clock_rate_hz)
        self.clock_rate_hz = clock_rate_hz
        self._started = False
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq = SEQUENCE_MODULO + 1
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._transit = None
        self._jitter_q4 = 0  # jitter in RTP units, scaled by 16 (A.8 integer form)

    def _init_seq(self, seq):
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = SEQUENCE_MODULO + 1
        self._cycles = 0
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0

    def update(self, sequence_number, rtp_timestamp, arrival_s):
        """Account one packet that arrived at arrival_s seconds; True if counted."""
        return self.update_rtp_units(sequence_number, rtp_timestamp,
                                     round(arrival_s * self.clock_rate_hz))

    def update_rtp_units(self, sequence_number, rtp_timestamp, arrival_rtp):
        """Like update(), with the arrival time already in RTP clock units.

        A board with single-precision floats computes arrival_rtp from an
        integer clock (ms ticks * clock_rate_hz // 1000) and calls this.
        """
        if not self._update_seq(sequence_number & 0xFFFF):
            return False
        self._update_jitter(rtp_timestamp & 0xFFFFFFFF, arrival_rtp)
        return True

    def _update_seq(self, seq):
        # The SSRC comes from an authenticated session (SRTP), so a new source
        # needs no probation (A.1 MIN_SEQUENTIAL): its first packet counts.
        if not self._started:
            self._started = True
            self._init_seq(seq)
            self._received = 1
            return True
        udelta = (seq - self._max_seq) & 0xFFFF
        if udelta < MAX_DROPOUT:
            if seq < self._max_seq:
                self._cycles += SEQUENCE_MODULO
            self._max_seq = seq
        elif udelta <= SEQUENCE_MODULO - MAX_MISORDER:
            if seq != self._bad_seq:
                # A big jump: believe it only if the next packet follows it.
                self._bad_seq = (seq + 1) & 0xFFFF
                return False
            # Two sequential packets after a jump: the sender restarted.
            self._init_seq(seq)
            self._transit = None
        # else: a duplicate or a packet that arrived out of order; count it.
        self._received += 1
        return True

    def _update_jitter(self, rtp_timestamp, arrival_rtp):
        transit = arrival_rtp - rtp_timestamp
        if self._transit is None:
            self._transit = transit
            return
        # Differences on the 32-bit circle, so a timestamp wrap is no spike.
        d = (transit - self._transit) & 0xFFFFFFFF
        if d >= 0x80000000:
            d = 0x100000000 - d
        self._transit = transit
        # J += (|D| - J) / 16, kept as 16 * J in integers (RFC 3550 A.8).
        self._jitter_q4 += d - ((self._jitter_q4 + 8) >> 4)

    @property
    def packets_received(self):
        """Packets counted since the stream started (or resynchronised)."""
        return self._received

    @property
    def extended_highest_sequence(self):
        """Highest sequence number seen, extended with the wrap-around count."""
        return (self._cycles + self._max_seq) & 0xFFFFFFFF

    @property
    def packets_expected(self):
        """Packets the sender has sent from the first one to the highest seen."""
        if not self._started:
            return 0
        return self._cycles + self._max_seq - self._base_seq + 1

    @property
    def packets_lost(self):
        """Cumulative loss; negative when duplicates outnumber losses (RFC 3550)."""
        return self.packets_expected - self._received

    @property
    def jitter(self):
        """Interarrival jitter in RTP timestamp units."""
        return self._jitter_q4 >> 4

    @property
    def jitter_ms(self):
        """Interarrival jitter in milliseconds."""
        return self._jitter_q4 * 1000 / (16 * self.clock_rate_hz)

    def _take_fraction_lost(self):
        # Loss since the previous report as 8-bit fixed point (A.3); starts a new interval.
        expected = self.packets_expected
        expected_interval = expected - self._expected_prior
        self._expected_prior = expected
        received_interval = self._received - self._received_prior
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval

    def report_block(self, ssrc, lsr=0, dlsr=0):
        """RTCP report block about this source; starts a new fraction-lost interval."""
        lost = self.packets_lost
        if lost > _LOST_MAX:
            lost = _LOST_MAX
        elif lost < _LOST_MIN:
            lost = _LOST_MIN
        return ReportBlock(
            ssrc, fraction_lost=self._take_fraction_lost(), packets_lost=lost,
            highest_sequence=self.extended_highest_sequence,
            jitter=min(self.jitter, 0xFFFFFFFF), lsr=lsr, dlsr=dlsr)
