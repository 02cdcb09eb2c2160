"""Joining what the gateway and the board each saw of a conversation, turn by turn.

The gateway's TurnRecords (host/pipeline/timeline.py) are in time.monotonic()
seconds; the board's speaker timeline and microphone stamps are ticks_ms
(CLOCK_MONOTONIC in ms masked to 30 bits, device/hal/clock.py). Both are the
same clock, so one unmasking puts everything on one axis. Pure functions.
"""
from dataclasses import dataclass

TICKS_PERIOD = 1 << 30
FRAME_GAP_MS = 30     # a longer pause between speaker writes is silence
STAGES = (             # (TurnRecord field, label), in the order a turn goes through them
    ("end_of_turn_s", "end of speech detected"),
    ("transcript_s", "recognition final"),
    ("reply_s", "agent reply"),
    ("first_audio_s", "first synthesised audio"),
    ("first_packet_s", "first downlink packet"),
)


def unwrap_ticks_ms(ticks_ms, reference_s):
    """A board's ticks_ms as monotonic seconds, taking the period nearest reference_s."""
    reference_ms = int(reference_s * 1000)
    behind = (reference_ms - ticks_ms) % TICKS_PERIOD
    if behind > TICKS_PERIOD // 2:
        behind -= TICKS_PERIOD
    return (reference_ms - behind) / 1000.0


def speaker_spans_s(rows, reference_s, sample_rate_hz=16000):
    """Speaker timeline rows (offset, ticks_ms, samples) as merged (start_s, end_s) spans."""
    spans = []
    for _, ticks, samples in rows:
        start = unwrap_ticks_ms(ticks, reference_s)
        end = start + samples / sample_rate_hz
        if spans and start - spans[-1][1] <= FRAME_GAP_MS / 1000.0:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def first_played_after_s(spans, after_s):
    """When the speaker first played at or after after_s (None if it never did)."""
    for start, end in spans:
        if end > after_s:
            return max(start, after_s)
    return None


def silent_after_s(spans, after_s):
    """When the speaker went silent after after_s (after_s itself if it was silent then)."""
    for start, end in spans:
        if start <= after_s < end:
            return end
    return after_s


@dataclass
class SpokenTurn:
    """One utterance of the user, what the gateway made of it and what the board played."""
    index: int
    speech_start_s: float          # the user's first voiced sample left the microphone
    speech_end_s: float            # the user's last voiced sample left the microphone
    record: dict = None            # the gateway's TurnRecord.as_dict() for it
    first_played_s: float = None   # first sample of the answer played by the board
    silent_s: float = None         # when the board stopped playing what it played before

    @property
    def voice_to_voice_ms(self):
        """End of the user's speech to the first answer sample played (None if none)."""
        if self.first_played_s is None:
            return None
        return (self.first_played_s - self.speech_end_s) * 1000.0

    @property
    def barge_in_ms(self):
        """Start of the user's speech to the speaker going silent (0: it was silent)."""
        return (self.silent_s - self.speech_start_s) * 1000.0

    def stages_ms(self):
        """[(label, ms after the end of the user's speech)] for the stages that happened."""
        stages = [("end of user speech", 0.0)]
        for field, label in STAGES:
            if self.record and self.record.get(field) is not None:
                stages.append((label, (self.record[field] - self.speech_end_s) * 1000.0))
        if self.first_played_s is not None:
            stages.append(("first sample played", self.voice_to_voice_ms))
        return stages


def match_turns(utterances_s, records, spans):
    """SpokenTurns: each (speech_start_s, speech_end_s) with the record that heard it.

    A record belongs to the utterance during which its speech started (from
    0.5 s before the first voiced sample to the last one); its answer's first
    played sample is the first speaker activity after its first packet.
    """
    turns = []
    for index, (start_s, end_s) in enumerate(utterances_s):
        turn = SpokenTurn(index, start_s, end_s, silent_s=silent_after_s(spans, start_s))
        for record in records:
            began = record.get("speech_started_s")
            if began is not None and start_s - 0.5 <= began <= end_s:
                turn.record = record
                break
        if turn.record and turn.record.get("first_packet_s") is not None:
            turn.first_played_s = first_played_after_s(spans, turn.record["first_packet_s"])
        turns.append(turn)
    return turns


def format_turn(turn):
    """Lines for one turn: what was heard, what was answered, the timeline."""
    record = turn.record
    if record is None:
        return ["utterance %d: the gateway heard no turn" % (turn.index + 1)]
    answer = record.get("reply_text") or "(no answer: %s)" % (record.get("outcome"),)
    source = record.get("intent") or record.get("reply_source") or "-"
    lines = ["turn %d (%s): heard %r [%s] -> answered %r [%s], %s" % (
        record["turn"], record["mode"], record.get("transcript") or "",
        record.get("transcript_source") or "-", answer, source, record.get("outcome"))]
    for label, ms in turn.stages_ms():
        lines.append("    %-26s %+7.0f ms" % (label, ms))
    if record.get("interrupted_s") is not None:
        lines.append("    interrupted by the user's next turn (%.0f ms of audio flushed)"
                     % (record.get("flushed_ms") or 0))
    return lines
