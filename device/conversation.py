"""The conversation on the device: a pure state machine (no I/O, no clock).

States (the names DeviceState carries, device/rtcp_app.py):

    idle       no turn in progress
    listening  the user's turn is being captured (button held, a `listen`
               command, or after a barge-in Abort, until the gateway says
               it heard the turn)
    thinking   the turn is over; the gateway is preparing the answer
    speaking   the answer is playing (or announced and about to)

The state is derived, never set: from the button, a pending listen, the
progress of the current turn as the gateway reported it (TurnEvent heard,
answering, done/nothing) and whether the speaker is busy. Every input takes
now_ms (ticks) so that the machine can give up on a gateway that went quiet
(stall_timeout_ms) without reading a clock itself.

Turn numbers (16 bits): in always_listening the gateway numbers the turns
(its VAD finds them) and the device adopts any newer number; in push_to_talk
the user starts each turn, so the device numbers it: a press, a `listen` or
an Abort that starts listening makes it current + 1, announced in the
DeviceState `listening`, and the gateway's events for it carry that number.
An event for a turn older than the current one, or one that does not move
the current turn forward (a repeat: every TurnEvent is sent three times), is
ignored. A turn the device cut short (button, `listen`, `stop`, Abort) is
finished for the device: late events of that turn are ignored too. Abort ids
act once.

Outputs: `state`, `sending` (should the uplink send), the return value of
the inputs that may drop an answer (True: flush playback now), `turn`,
`turns`, `aborts`, `ignored`, `changes`. Runs on MicroPython and CPython.
"""
from device.hal.clock import ticks_diff
from device.rtcp_app import MODES, STATES

IDLE, LISTENING, THINKING, SPEAKING = STATES
ALWAYS_LISTENING, PUSH_TO_TALK = MODES
STALL_TIMEOUT_MS = 15000

# Progress of the current turn, as the gateway reported it.
_NONE = 0
_HEARD = 1
_ANSWERING = 2
_FINISHED = 3
_RANKS = {"heard": _HEARD, "answering": _ANSWERING, "done": _FINISHED, "nothing": _FINISHED}


def turn_is_newer(turn, than):
    """True if 16-bit turn number `turn` comes after `than` (serial arithmetic)."""
    return 0 < ((turn - than) & 0xFFFF) < 0x8000


class RecentIds:
    """The last few ids seen, so that a message repeated over UDP acts once."""

    def __init__(self, size=8):
        self._ids = []
        self._size = size

    def first_time(self, key):
        """True the first time key is seen (among the last `size` keys)."""
        if key in self._ids:
            return False
        self._ids.append(key)
        if len(self._ids) > self._size:
            self._ids.pop(0)
        return True

    def clear(self):
        """Forget every id (a new session numbers its messages afresh)."""
        self._ids = []


class Conversation:
    """Where the device is in the conversation, from the inputs it was given."""

    def __init__(self, mode=PUSH_TO_TALK, half_duplex=False, stall_timeout_ms=STALL_TIMEOUT_MS,
                 now_ms=0):
        self.state = IDLE
        self.since_ms = now_ms   # when the state was entered
        self.changes = 0         # state changes so far
        self.turn = None         # number of the current turn; None before any
        self.turns = 0           # turns started (push-to-talk) or announced by the gateway
        self.aborts = 0          # barge-in aborts obeyed
        self.ignored = 0         # turn events and aborts that did nothing (repeats, old turns)
        self.stall_timeout_ms = stall_timeout_ms
        self._rank = _NONE
        self._held = False       # the button is down
        self._listen = False     # listening until the gateway reports the turn heard
        self._awaiting = False   # push-to-talk released: the gateway has the turn
        self._playing = False    # the speaker has audio (playing or buffered)
        self._accepted = 0       # turn events accepted, to tell whether one came since a press
        self._accepted_at_listen = 0
        self._activity_ms = now_ms
        self._abort_ids = RecentIds()
        self.configure(mode, half_duplex, now_ms)

    def configure(self, mode, half_duplex, now_ms):
        """Change the listen mode and half-duplex flag (the state itself stays)."""
        if mode not in MODES:
            raise ValueError("conversation: mode %r is not one of %s" % (mode, ", ".join(MODES)))
        self.mode = mode
        self.half_duplex = bool(half_duplex)
        self._update(now_ms)

    @property
    def sending(self):
        """Whether the uplink should send the microphone now."""
        if self.mode == PUSH_TO_TALK:
            return self.state == LISTENING
        return not (self.half_duplex and self.state == SPEAKING)

    @property
    def button_held(self):
        """True between press() and release() (or stop())."""
        return self._held

    # -- the user ----------------------------------------------------------

    def press(self, now_ms):
        """Button down: listen; cut the answer short. True: flush playback now."""
        if self._held:
            return False
        self._held = True
        return self._start_listening(now_ms)

    def release(self, now_ms):
        """Button up: push-to-talk hands the turn to the gateway; always-listening listens on."""
        if not self._held:
            return False
        self._held = False
        if self._accepted == self._accepted_at_listen:  # the gateway has said nothing since
            if self.mode == PUSH_TO_TALK:
                self._awaiting = True
            else:
                self._listen = True
        self._update(now_ms)
        return False

    def listen(self, now_ms):
        """The `listen` command: as a press, released when the gateway hears the turn."""
        flush = self._start_listening(now_ms)
        self._listen = True
        self._update(now_ms)
        return flush

    def stop(self, now_ms):
        """The `stop` command: end the turn and the answer now. True: flush playback."""
        self._held = False
        flush = self._cut_short()
        self._update(now_ms)
        return flush

    def _start_listening(self, now_ms):
        """A new user turn, unless one is being captured already; True: flush."""
        flush = False
        if self.state != LISTENING:
            flush = self._cut_short()
            self._new_turn()
        self._accepted_at_listen = self._accepted
        self._update(now_ms)
        return flush

    def _new_turn(self):
        # Push-to-talk: the device numbers the turn the user starts.
        if self.mode == PUSH_TO_TALK:
            self.turn = 1 if self.turn is None else (self.turn + 1) & 0xFFFF
            self.turns += 1
            self._rank = _NONE

    def _cut_short(self):
        """The current turn is over for the device; True if an answer must be dropped."""
        flush = self._playing or self.state in (THINKING, SPEAKING)
        self._rank = _FINISHED
        self._listen = False
        self._awaiting = False
        if flush:
            self._playing = False
        return flush

    # -- the gateway ---------------------------------------------------------

    def turn_event(self, event, turn, now_ms):
        """A TurnEvent (heard, answering, done, nothing); True if it moved the turn forward."""
        rank = _RANKS.get(event)
        if rank is None:
            self.ignored += 1
            return False
        if self.turn is None or turn_is_newer(turn, self.turn):
            self.turn = turn
            self.turns += 1
        elif turn != self.turn or rank <= self._rank:
            self.ignored += 1
            return False
        self._rank = rank
        self._accepted += 1
        self._listen = False
        self._awaiting = False
        self._update(now_ms)
        return True

    def abort(self, abort_id, now_ms):
        """A barge-in Abort: drop the answer, listen. True (flush) once per abort_id."""
        if not self._abort_ids.first_time(abort_id):
            self.ignored += 1
            return False
        self.aborts += 1
        self._start_listening(now_ms)
        self._playing = False
        self._listen = True
        self._update(now_ms)
        return True

    def session_lost(self, now_ms):
        """The media session ended or was replaced: idle, everything forgotten. True: flush."""
        flush = self._playing or self.state in (THINKING, SPEAKING)
        self.turn = None
        self._rank = _NONE
        self._listen = False
        self._awaiting = False
        self._playing = False
        self._abort_ids.clear()
        self._update(now_ms)
        return flush

    # -- the speaker and the clock ---------------------------------------------

    def playout_started(self, now_ms):
        """The speaker has audio to play."""
        self._playing = True
        self._update(now_ms)

    def playout_drained(self, now_ms):
        """The speaker has nothing left; idle if the answer is done."""
        self._playing = False
        self._update(now_ms)

    def tick(self, now_ms):
        """Give up on a gateway that said nothing for stall_timeout_ms; True if it did."""
        waiting = ((self.state == LISTENING and not self._held) or self.state == THINKING
                   or (self.state == SPEAKING and not self._playing))
        if not waiting or ticks_diff(now_ms, self._activity_ms) < self.stall_timeout_ms:
            return False
        self._rank = _FINISHED
        self._listen = False
        self._awaiting = False
        self._update(now_ms)
        return True

    # -- the derived state -------------------------------------------------------

    def _derive(self):
        if self._held or self._listen:
            return LISTENING
        if self._rank == _ANSWERING or self._playing:
            return SPEAKING
        if self._rank == _HEARD or self._awaiting:
            return THINKING
        return IDLE

    def _update(self, now_ms):
        self._activity_ms = now_ms
        state = self._derive()
        if state != self.state:
            self.state = state
            self.since_ms = now_ms
            self.changes += 1

