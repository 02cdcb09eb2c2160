"""Jitter buffer of one incoming stream: reorder, conceal, keep time alignment.

Pure: no clock and no I/O. The caller passes each packet's arrival time and
calls tick() when `deadline_s` passes; decoded 16 kHz PCM leaves through
emit(pcm, arrival_s), where arrival_s is None for synthesised frames. The
reorder window (held packets; in order, reordered, duplicate and late
verdicts) is device/playout.py's, shared with the device's playout buffer.

Policy (docs: gateway.md):
- a packet that is the next one expected is decoded at once (no added delay);
- a packet after a gap is held; the gap is declared lost once `depth_frames`
  later sequence numbers have been seen, or once the oldest held packet has
  waited `max_hold_s`, whichever comes first;
- a lost frame is rebuilt from the next packet's Opus in-band FEC when that
  packet directly follows it and carries FEC, else concealed with Opus PLC;
- a timestamp gap beyond the missing packets (the sender paused: DTX) becomes
  silence, so the recording stays aligned with the device's capture clock;
- synthesised frames never run ahead of the wall clock by more than
  `max_gap_s`: a wild timestamp or sequence jump is clipped, not filled.
"""
from device.playout import DUPLICATE, LATE, REORDERED, ReorderWindow
from device.rtp import sequence_delta, timestamp_delta
from host.gateway.opus_fec import has_fec


class JitterPolicy:
    """How long a gap may be waited for, and how far synthesis may run ahead."""

    def __init__(self, depth_frames=3, max_hold_ms=60, max_gap_ms=60000):
        if depth_frames < 1:
            raise ValueError("jitter: depth_frames must be at least 1, got %r" % depth_frames)
        if max_hold_ms <= 0 or max_gap_ms <= 0:
            raise ValueError("jitter: max_hold_ms and max_gap_ms must be positive")
        self.depth_frames = depth_frames
        self.max_hold_ms = max_hold_ms
        self.max_gap_ms = max_gap_ms


class JitterBuffer:
    """Turns packets (in any order) into a gap-free, time-aligned PCM stream."""

    def __init__(self, decoder, emit, counters, frame_samples, frame_ticks, frame_ms,
                 policy=None, fec=False, decode_errors=(ValueError,)):
        policy = policy or JitterPolicy()
        self._decoder = decoder
        self._emit = emit
        self.counters = counters
        self._frame_samples = frame_samples
        self._frame_ticks = frame_ticks
        # RTP ticks per output sample (3 for Opus: 48 kHz clock, 16 kHz PCM), so
        # a packet longer than the session's frame still advances time rightly.
        self._ticks_per_sample = max(frame_ticks // frame_samples, 1)
        self._frame_s = frame_ms / 1000.0
        self._depth = policy.depth_frames
        self._max_hold_s = policy.max_hold_ms / 1000.0
        self._slack_frames = policy.max_gap_ms // frame_ms
        self._fec = fec
        self._decode_errors = decode_errors
        self._silence = bytes(2 * frame_samples)
        self._window = ReorderWindow()
        self._pending = self._window.pending  # seq -> (timestamp, marker, payload, arrival_s)
        self._held_since_s = 0.0
        self._first_arrival_s = 0.0
        self.frames_out = 0

    @property
    def deadline_s(self):
        """When tick() must be called to give up on a gap; None if nothing is held."""
        if not self._pending:
            return None
        return self._held_since_s + self._max_hold_s

    @property
    def highest_seq(self):
        """Highest sequence number taken so far (None before the first packet)."""
        window = self._window
        return None if window.next_seq is None else window.highest_seq

    @property
    def held(self):
        """Number of packets held behind a gap."""
        return len(self._pending)

    def push(self, seq, timestamp, marker, payload, arrival_s):
        """Take one authenticated packet that arrived at arrival_s."""
        window = self._window
        if seq == window.next_seq and not self._pending:
            # The common case, in order with nothing held: decoded at once,
            # without a trip through the window's dict.
            window.highest_seq = seq
            self._play(seq, timestamp, payload, arrival_s, arrival_s)
            return
        if window.next_seq is None:
            self._first_arrival_s = arrival_s
        was_holding = bool(self._pending)
        verdict = window.admit(seq, timestamp, marker, payload, arrival_s)
        if verdict >= DUPLICATE:
            if verdict == DUPLICATE:
                self.counters.duplicate += 1
            elif verdict == LATE:
                self.counters.late += 1
            return
        if verdict == REORDERED:
            self.counters.reordered += 1
        if seq == window.next_seq:
            self._drain(arrival_s)
            self._restart_hold()
        elif not was_holding:
            self._held_since_s = arrival_s
        self._give_up_due(arrival_s)

    def tick(self, now_s):
        """Declare lost any gap whose hold time has run out by now_s."""
        self._give_up_due(now_s)

    def flush(self, now_s):
        """End of stream: declare every remaining gap lost, release everything."""
        while self._pending:
            self._fill_gap(now_s)

    def _give_up_due(self, now_s):
        while self._pending:
            ahead = sequence_delta(self._window.highest_seq, self._window.next_seq)
            if ahead < self._depth and now_s - self._held_since_s < self._max_hold_s:
                return
            self._fill_gap(now_s)
            self._restart_hold()

    def _restart_hold(self):
        # The next gap's hold runs from the arrival of the oldest packet behind it.
        if self._pending:
            self._held_since_s = min([held[3] for held in self._pending.values()])

    def _fill_gap(self, now_s):
        """Synthesise the frames up to the first held packet, then play from it."""
        window = self._window
        seq = window.first_held()
        timestamp, marker, payload, arrival_s = self._pending.pop(seq)
        missing = (seq - window.next_seq) & 0xFFFF
        self.counters.lost += missing
        frames = max(timestamp_delta(timestamp, window.next_ts) // self._frame_ticks, missing)
        frames = self._clip(frames, now_s)
        concealed = min(missing, frames)
        use_fec = (self._fec and not marker and concealed > 0 and frames == concealed
                   and has_fec(payload))
        self._conceal(concealed - 1 if use_fec else concealed)
        if use_fec:
            self._recover(payload)
        self._insert_silence(frames - concealed)
        window.next_ts = timestamp
        self._play(seq, timestamp, payload, arrival_s, now_s)
        self._drain(now_s)

    def _drain(self, now_s):
        window = self._window
        pending = self._pending
        while window.next_seq in pending:
            seq = window.next_seq
            timestamp, _, payload, arrival_s = pending.pop(seq)
            self._play(seq, timestamp, payload, arrival_s, now_s)

    def _play(self, seq, timestamp, payload, arrival_s, now_s):
        """Decode the packet that is next in sequence, after any pause before it."""
        next_ts = self._window.next_ts
        if timestamp != next_ts:
            gap = timestamp_delta(timestamp, next_ts)
            if gap >= self._frame_ticks:
                self._insert_silence(self._clip(gap // self._frame_ticks, now_s))
        try:
            pcm = self._decoder.decode(payload)
        except self._decode_errors:
            # Authenticated but undecodable: keep the slot's time, conceal it.
            self.counters.malformed += 1
            self._conceal(1)
            ticks = self._frame_ticks
        else:
            self.frames_out += 1
            self._emit(pcm, arrival_s)
            ticks = (len(pcm) >> 1) * self._ticks_per_sample or self._frame_ticks
        self._window.played(seq, timestamp + ticks)

    def _recover(self, payload):
        try:
            pcm = self._decoder.decode_fec(payload, self._frame_samples)
        except self._decode_errors:
            self._conceal(1)
            return
        self.counters.fec_recovered += 1
        self._emit_synth(pcm)

    def _clip(self, frames, now_s):
        """At most as many synthesised frames as the wall clock (plus slack) allows."""
        elapsed = int((now_s - self._first_arrival_s) / self._frame_s)
        budget = elapsed + self._slack_frames - self.frames_out
        if frames > budget:
            self.counters.discontinuities += 1
            return max(budget, 0)
        return frames

    def _conceal(self, count):
        for _ in range(count):
            self._emit_synth(self._decoder.conceal(self._frame_samples))
            self.counters.concealed += 1

    def _insert_silence(self, count):
        for _ in range(count):
            self._emit_synth(self._silence)
            self.counters.silence_frames += 1

    def _emit_synth(self, pcm):
        self.frames_out += 1
        self._emit(pcm, None)
