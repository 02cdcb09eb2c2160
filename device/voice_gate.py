"""The device's voice gate: in always-listening mode, send the microphone only when it hears something.

A board that streams all the time costs its Wi-Fi, the network and a
gateway VAD per device, whether anyone speaks or not. The gate opens when a
frame's level stands well above the room's noise floor and closes after a
hangover of quieter frames; the gateway's VAD still decides what is speech
and when a turn ends (its stop_ms is well inside the hangover). When it
opens, the frames just before (the pre-roll) are sent first, so the start
of the first word is not lost.

Level: the mean absolute sample value over every 4th sample of a frame, in
integers (small ints on a 32-bit MicroPython too). Noise floor: follows the
level down at once and up slowly (1/32 of the difference per frame) while
the gate is closed. Pure: no I/O, no clock; runs on MicroPython and CPython.
"""
MIN_OPEN_LEVEL = 60      # never open below this level (a digitally silent microphone)
OPEN_RATIO = 4           # open when the level is this many times the noise floor (~12 dB)
OPEN_FRAMES = 2          # ... for this many frames in a row
HANGOVER_MS = 800        # stay open this long after the last loud frame
PREROLL_MS = 300         # frames kept while closed, sent when the gate opens
_STRIDE = 4


def frame_level(pcm):
    """Mean absolute value of every 4th 16-bit little-endian sample of a frame (0..32768).

    Reads the bytes in place: nothing is allocated per frame.
    """
    total = 0
    count = 0
    for i in range(0, len(pcm) - 1, 2 * _STRIDE):
        value = pcm[i] | (pcm[i + 1] << 8)
        total += value if value < 32768 else 65536 - value
        count += 1
    return total // count if count else 0


class VoiceGate:
    """feed() each frame; it says whether to send it, and hands back the pre-roll."""

    def __init__(self, frame_ms=20, preroll_ms=PREROLL_MS, hangover_ms=HANGOVER_MS,
                 open_ratio=OPEN_RATIO, min_open_level=MIN_OPEN_LEVEL):
        if frame_ms <= 0 or preroll_ms < 0 or hangover_ms < frame_ms:
            raise ValueError("voice gate: need frame_ms > 0, preroll_ms >= 0, hangover_ms >= frame_ms")
        self.open = False
        self.floor = None          # the noise floor, once a frame has been heard
        self.opened = 0            # how many times it opened
        self.frames_held = 0       # frames not sent (closed, and not in a pre-roll)
        self._preroll_frames = preroll_ms // frame_ms
        self._hangover_frames = hangover_ms // frame_ms
        self._ratio = open_ratio
        self._min_level = min_open_level
        self._loud_run = 0
        self._quiet_run = 0
        # The pre-roll: a ring of frame buffers allocated once, the newest at _ring_next - 1.
        self._ring = [bytearray(0) for _ in range(self._preroll_frames)]
        self._ring_next = 0
        self._ring_count = 0

    def _loud(self, level):
        threshold = self._ratio * self.floor
        return level > (threshold if threshold > self._min_level else self._min_level)

    def feed(self, pcm):
        """One frame: (send it?, frames to send before it: the pre-roll, oldest first).

        The pre-roll frames are the gate's own buffers: send them before the next feed().
        """
        level = frame_level(pcm)
        if self.floor is None:
            self.floor = level
        loud = self._loud(level)
        if self.open:
            self._quiet_run = 0 if loud else self._quiet_run + 1
            if self._quiet_run >= self._hangover_frames:
                self.open = False
                self._loud_run = 0
            return True, ()
        self._track_floor(level)
        self._loud_run = self._loud_run + 1 if loud else 0
        if self._loud_run >= OPEN_FRAMES:
            self.open = True
            self.opened += 1
            self._quiet_run = 0
            return True, self._take_preroll()
        self._hold(pcm)
        return False, ()

    def _track_floor(self, level):
        if level < self.floor:
            self.floor = level
        else:
            self.floor += (level - self.floor) >> 5

    def _hold(self, pcm):
        if not self._preroll_frames:
            self.frames_held += 1
            return
        slot = self._ring[self._ring_next]
        if len(slot) != len(pcm):
            slot = self._ring[self._ring_next] = bytearray(len(pcm))  # once, or a new frame size
        slot[:] = pcm
        self._ring_next = (self._ring_next + 1) % self._preroll_frames
        if self._ring_count == self._preroll_frames:
            self.frames_held += 1  # the oldest held frame is overwritten: never sent
        else:
            self._ring_count += 1

    def _take_preroll(self):
        # Oldest first; the buffers are the ring's own: send them before the next feed().
        size = self._preroll_frames
        first = (self._ring_next - self._ring_count) % size if size else 0
        frames = [self._ring[(first + k) % size] for k in range(self._ring_count)]
        self._ring_count = 0
        return frames

    def reset(self):
        """Closed, pre-roll dropped (the floor is kept: the room has not changed)."""
        self.open = False
        self._loud_run = 0
        self._quiet_run = 0
        self._ring_count = 0
