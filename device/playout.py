"""Playout of one RTP stream: the reorder window both ends share, and the
device's clock-driven playout buffer (docs/protocol.md, Downlink).

ReorderWindow is what the gateway's jitter buffer and the device's
PlayoutBuffer have in common: packets held by sequence number until their slot
comes, and the verdict on each arrival. They differ in who drives time: the
gateway decodes a packet the moment it is next (push, no added delay); the
device's playback task takes one frame per frame period (pull), starting a
talk spurt once `delay_ms` is buffered, and conceals a slot that is empty when
its turn comes. Pure: arrival times are passed in (ms ticks on the device,
seconds on the gateway). Runs unchanged on MicroPython and CPython.
"""
from array import array

from device.hal.clock import ticks_diff
from device.rtp import sequence_delta, timestamp_delta

# Verdicts of ReorderWindow.admit() and PlayoutBuffer.push(); the first two
# mean the packet is held, the others that it was dropped.
IN_ORDER = 0
REORDERED = 1
DUPLICATE = 2
LATE = 3
OVERFLOW = 4
DISCARDED = 5

_PLAYED_RING = 64  # how far back a duplicate is told apart from a late packet
_PLAYED_MASK = _PLAYED_RING - 1


class ReorderWindow:
    """Packets of one RTP stream held by sequence number until their slot comes."""

    def __init__(self):
        self._played = array("l", [-1] * _PLAYED_RING)
        self.pending = {}  # seq -> (timestamp, marker, payload, arrival)
        self.next_seq = None  # the slot to fill next; None before the first packet
        self.next_ts = 0
        self.highest_seq = 0
        self.last_out = None  # the last slot played or given up

    def admit(self, seq, timestamp, marker, payload, arrival, rewind=False):
        """Hold a packet: IN_ORDER or REORDERED; DUPLICATE or LATE are not held.

        With rewind (nothing of the stream is playing yet), a packet before
        the next slot but after the last one played moves the start back to it.
        """
        if self.next_seq is None:
            self.restart_at(seq, timestamp)
            self.last_out = None  # nothing played: an earlier packet may still start the stream
        else:
            behind = sequence_delta(seq, self.next_seq)
            if behind < 0:
                if behind >= -_PLAYED_RING and self._played[seq & _PLAYED_MASK] == seq:
                    return DUPLICATE
                if not (rewind and behind >= -_PLAYED_RING and
                        (self.last_out is None or sequence_delta(seq, self.last_out) > 0)):
                    return LATE
                self.next_seq = seq
                self.next_ts = timestamp
        pending = self.pending
        if seq in pending:
            return DUPLICATE
        pending[seq] = (timestamp, marker, payload, arrival)
        if sequence_delta(seq, self.highest_seq) < 0:
            return REORDERED
        self.highest_seq = seq
        return IN_ORDER

    def restart_at(self, seq, timestamp):
        """Make seq the next slot, as if everything before it had been played."""
        self.next_seq = seq
        self.next_ts = timestamp
        self.highest_seq = seq
        self.last_out = (seq - 1) & 0xFFFF

    def first_held(self):
        """Sequence number of the earliest held packet (None if none)."""
        if not self.pending:
            return None
        next_seq = self.next_seq
        return min(self.pending, key=lambda held: (held - next_seq) & 0xFFFF)

    def played(self, seq, next_ts):
        """seq was decoded; the stream continues at next_ts."""
        self._played[seq & _PLAYED_MASK] = seq
        self.last_out = seq
        self.next_seq = (seq + 1) & 0xFFFF
        self.next_ts = next_ts & 0xFFFFFFFF

    def give_up(self, frame_ticks):
        """The next slot was concealed: move on by one slot."""
        self.last_out = self.next_seq
        self.next_seq = (self.next_seq + 1) & 0xFFFF
        self.next_ts = (self.next_ts + frame_ticks) & 0xFFFFFFFF

    def skip_to(self, seq):
        """Jump to the held packet seq (the slots before it are not played)."""
        self.last_out = (seq - 1) & 0xFFFF
        self.next_seq = seq
        self.next_ts = self.pending[seq][0]


class PlayoutStats:
    """What the playout buffer did with the packets it was given."""

    def __init__(self):
        self.played = 0          # frames decoded from their own packet
        self.concealed = 0       # frames synthesised by PLC (L16: silence) for a lost slot
        # Lost frames decoded from the next packet's FEC. Without a detector
        # (the device has none) libopus conceals when that packet holds no FEC.
        self.fec_recovered = 0
        self.silence_frames = 0  # frames of silence for a pause inside buffered audio
        self.lost = 0            # slots whose packet had not come when their turn came
        self.late = 0            # packets that came after their slot was played or concealed
        self.duplicate = 0       # packets already held or played
        self.reordered = 0       # packets that came after a higher sequence number, in time
        self.overflow = 0        # packets dropped because the buffer was full
        self.underruns = 0       # times playback ran dry inside a talk spurt
        self.flushed = 0         # frames dropped from the buffer by flush() (abort)
        self.discarded = 0       # packets of an aborted talk spurt that came after the abort
        self.malformed = 0       # authenticated payloads the decoder refused (slot concealed)


class PlayoutBuffer:
    """Frames for a speaker, one per pull(), from packets that arrive in any order."""

    def __init__(self, decoder, stats, frame_samples, frame_ticks, frame_ms, delay_ms=60,
                 fec=False, fec_detector=None, capacity=64, abort_window_frames=8,
                 max_conceal_frames=5, max_pause_frames=25):
        self.window = ReorderWindow()
        self.stats = stats
        self.playing = False
        self._decoder = decoder
        self._frame_samples = frame_samples
        self._frame_ticks = frame_ticks
        self._frame_ms = frame_ms
        self._delay_ms = delay_ms
        self._fec = fec
        self._fec_detector = fec_detector
        self._capacity = capacity
        self._abort_window = abort_window_frames
        self._max_conceal = max_conceal_frames
        self._max_pause = max_pause_frames
        self._ticks_per_sample = max(frame_ticks // frame_samples, 1)
        self._sample_bytes = 2 * decoder.channels
        frame_bytes = frame_samples * self._sample_bytes
        self._silence = bytes(frame_bytes)
        self._l16 = decoder.codec == "l16"
        self._pcm = bytearray(frame_bytes) if self._l16 else None
        self._prime_since = None
        self._starved = False
        self._discarding = False
        self._abort_seq = None
        self._resume_seq = None

    @property
    def buffered_ms(self):
        """Audio held and not yet played."""
        return len(self.window.pending) * self._frame_ms

    def push(self, seq, timestamp, marker, payload, now_ms):
        """Take one authenticated packet that arrived at now_ms; return its verdict."""
        stats = self.stats
        if self._discarding and self._discard(seq, marker, timestamp):
            stats.discarded += 1
            return DISCARDED
        window = self.window
        if len(window.pending) >= self._capacity:
            stats.overflow += 1
            return OVERFLOW
        verdict = window.admit(seq, timestamp, marker, payload, now_ms, not self.playing)
        if self._starved and verdict <= REORDERED and not marker:
            stats.underruns += 1  # the spurt went on after the buffer ran dry
        self._starved = False
        if verdict == REORDERED:
            stats.reordered += 1
        elif verdict == DUPLICATE:
            stats.duplicate += 1
        elif verdict == LATE:
            stats.late += 1
        if verdict <= REORDERED and not self.playing and self._prime_since is None:
            self._prime_since = now_ms
        return verdict

    def _discard(self, seq, marker, timestamp):
        """True if a packet belongs to the talk spurt that flush() aborted."""
        if self._resume_seq is not None:
            if sequence_delta(seq, self._resume_seq) < 0:
                return True
            start = self._resume_seq
        elif self._abort_seq is not None:
            # What was sent before the abort is at most the sender's lead plus
            # a frame beyond what had arrived; a marker starts the next spurt.
            ahead = sequence_delta(seq, self._abort_seq)
            if ahead <= 0 or (ahead <= self._abort_window and not marker):
                return True
            start = seq
        else:
            start = seq
        self._discarding = False
        self.window.restart_at(start, timestamp)
        return False

    def due_ms(self, now_ms):
        """Milliseconds until playback should start: 0 now, None if nothing is held."""
        window = self.window
        if self.playing or not window.pending:
            return None
        span = sequence_delta(window.highest_seq, window.first_held()) + 1
        if span * self._frame_ms >= self._delay_ms:
            return 0
        return max(0, self._delay_ms - ticks_diff(now_ms, self._prime_since))

    def start(self):
        """Begin playing from the earliest held packet (call when due_ms() is 0)."""
        window = self.window
        first = window.first_held()
        if first is None:
            return
        skipped = sequence_delta(first, window.next_seq)
        if skipped > 0:
            self.stats.lost += skipped
        window.skip_to(first)
        self.playing = True
        self._prime_since = None

    def pull(self):
        """PCM of the next frame, or None when there is nothing left (playback stops).

        An L16 frame is a buffer reused by the next pull(): play it before then.
        """
        if not self.playing:
            return None
        window = self.window
        pending = window.pending
        if not pending:
            self.playing = False
            self._starved = True
            return None
        seq = window.next_seq
        held = pending.get(seq)
        if held is None:
            first = window.first_held()
            if sequence_delta(first, seq) <= self._max_conceal:
                return self._conceal_slot(seq)
            # A gap this long is not worth concealing: jump to what is there.
            self.stats.lost += sequence_delta(first, seq)
            window.skip_to(first)
            seq, held = first, pending[first]
        pause = timestamp_delta(held[0], window.next_ts) // self._frame_ticks
        if pause > 0:
            if pause <= self._max_pause:
                window.next_ts = (window.next_ts + self._frame_ticks) & 0xFFFFFFFF
                self.stats.silence_frames += 1
                return self._silence
            window.next_ts = held[0]
        del pending[seq]
        return self._decode(seq, held[0], held[2])

    def _decode(self, seq, timestamp, payload):
        try:
            if self._l16 and len(payload) == len(self._pcm):
                self._decoder.decode_into(payload, self._pcm)
                pcm = self._pcm
            else:
                pcm = self._decoder.decode(payload)
        except ValueError:
            # Authenticated but undecodable: keep the slot's time, conceal it.
            self.stats.malformed += 1
            self.stats.concealed += 1
            self.window.played(seq, timestamp + self._frame_ticks)
            return self._concealment()
        self.stats.played += 1
        samples = len(pcm) // self._sample_bytes
        self.window.played(seq, timestamp + (samples * self._ticks_per_sample or self._frame_ticks))
        return pcm

    def _conceal_slot(self, seq):
        window = self.window
        self.stats.lost += 1
        pcm = None
        after = window.pending.get((seq + 1) & 0xFFFF)
        # In-band FEC of the packet right after the lost one, if it follows it
        # in time and does not start a talk spurt.
        if (self._fec and after is not None and not after[1]
                and after[0] == (window.next_ts + self._frame_ticks) & 0xFFFFFFFF
                and (self._fec_detector is None or self._fec_detector(after[2]))):
            try:
                pcm = self._decoder.decode_fec(after[2], self._frame_samples)
                self.stats.fec_recovered += 1
            except ValueError:
                pcm = None
        if pcm is None:
            pcm = self._concealment()
            self.stats.concealed += 1
        window.give_up(self._frame_ticks)
        return pcm

    def _concealment(self):
        return self._silence if self._l16 else self._decoder.conceal(self._frame_samples)

    def flush(self, resume_seq=None):
        """Drop everything held at once (an abort); return the ms of audio dropped.

        Packets of the aborted spurt still on their way are discarded too:
        those before resume_seq if given, else until a packet with the marker
        bit (or one too far ahead to have been sent before the abort).
        """
        window = self.window
        frames = len(window.pending)
        self.stats.flushed += frames
        window.pending.clear()
        self.playing = False
        self._starved = False
        self._prime_since = None
        self._resume_seq = resume_seq
        self._abort_seq = window.highest_seq if window.next_seq is not None else None
        self._discarding = resume_seq is not None or self._abort_seq is not None
        return frames * self._frame_ms
