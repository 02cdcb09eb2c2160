"""Per-turn timeline of a conversation: when each stage of a turn happened.

Times are time.monotonic() seconds (the gateway's clock), None until that
stage happened. The pipeline's processors fill a TurnRecord as the turn goes
on; `Timeline.close` ends it once, with its outcome, and hands it to the
on_turn callback (what `pipit talk` prints and the benchmarks read).
"""
import dataclasses
import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

OUTCOMES = ("answered", "nothing", "interrupted", "stopped", "error", "ended")


@dataclass
class TurnRecord:
    """One user turn and the answer to it."""
    turn: int                          # the number sent in TurnEvents (16 bits)
    mode: str                          # "vad" or "push_to_talk"
    speech_started_s: float = None     # start of speech detected (PTT: button down)
    speech_ended_s: float = None       # VAD's estimate of when speech ended (PTT: button up)
    end_of_turn_s: float = None        # end of turn detected: the pipeline starts answering
    transcript_s: float = None         # final transcript available
    transcript: str = None
    transcript_source: str = None      # "grammar", "lm", "none", or the STT service's name
    reply_s: float = None              # the agent's reply began (local answer, or first LLM text)
    reply_text: str = None
    reply_source: str = None           # "intent" or "llm"
    intent: str = None                 # the local intent's name, when reply_source is "intent"
    first_audio_s: float = None        # first synthesised audio of the answer reached the output
    first_packet_s: float = None       # first downlink packet of the answer sent
    interrupted_s: float = None        # barge-in: the answer was interrupted
    flushed_ms: float = None           # what the downlink still held and dropped at the barge-in
    abort_id: int = None               # the Abort sent to the device for that barge-in
    error: str = None                  # what failed, when something did
    done_s: float = None               # the record was closed
    outcome: str = None                # one of OUTCOMES

    def as_dict(self):
        """Plain dict of the fields plus the voice-to-answer latency in ms (or None)."""
        fields = dataclasses.asdict(self)
        fields["speech_end_to_first_packet_ms"] = _ms(self.speech_ended_s, self.first_packet_s)
        fields["end_of_turn_to_first_packet_ms"] = _ms(self.end_of_turn_s, self.first_packet_s)
        return fields


def _ms(start_s, end_s):
    if start_s is None or end_s is None:
        return None
    return (end_s - start_s) * 1000.0


class Timeline:
    """The closed turns of one conversation, in the order they closed."""

    def __init__(self, on_turn=None, clock=time.monotonic):
        self.records = []
        self.answers = []   # records being answered (agent decided, not closed yet), oldest first
        self.on_turn = on_turn
        self.callback_errors = 0     # on_turn calls that raised (logged, then ignored)
        self.clock = clock
        self._next_turn = 1

    def start(self, mode, turn=None, speech_started_s=None):
        """A new TurnRecord; turn numbers count from 1 unless the device gives one."""
        if turn is None:
            turn = self._next_turn
        self._next_turn = (turn + 1) & 0xFFFF
        return TurnRecord(turn, mode, speech_started_s=speech_started_s)

    def close(self, record, outcome, error=None):
        """End a record once: stamp done_s and outcome, keep it, call on_turn. False if closed."""
        if record.outcome is not None:
            return False
        if outcome not in OUTCOMES:
            raise ValueError("timeline: unknown outcome %r" % (outcome,))
        record.outcome = outcome
        record.done_s = self.clock()
        if record in self.answers:
            self.answers.remove(record)
        if error is not None and record.error is None:
            record.error = error
        self.records.append(record)
        if self.on_turn is not None:
            try:
                self.on_turn(record)
            except Exception:  # a caller's printing or metrics must not end the conversation
                self.callback_errors += 1
                log.exception("timeline: on_turn failed for turn %d", record.turn)
        return True

    def as_dicts(self):
        """Every closed record as a dict."""
        return [record.as_dict() for record in self.records]
