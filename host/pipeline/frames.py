"""pipit's own Pipecat frames: where a turn ends and where its answer starts and ends.

They carry the turn's TurnRecord (host/pipeline/timeline.py) through the
pipeline, so each processor stamps the stage it sees on the right turn.
AnswerStartFrame / AnswerEndFrame are control frames: they keep their place
among the answer's frames (a TTS service queues them behind the audio before
them) and an interruption drops them with the answer.
"""
from dataclasses import dataclass

from pipecat.frames.frames import ControlFrame, SystemFrame


@dataclass
class UserTurnEndedFrame(SystemFrame):
    """The user's turn is over (VAD end of turn, or push-to-talk released).

    heard_speech is False for a push-to-talk turn in which the VAD found no
    voice: no STT ran, no transcript will come.
    """
    record: object = None
    heard_speech: bool = True


@dataclass
class AnswerStartFrame(ControlFrame):
    """What follows, until AnswerEndFrame, answers record's turn (None: a timer ring)."""
    record: object = None


@dataclass
class AnswerEndFrame(ControlFrame):
    """The answer to record's turn is complete upstream of here."""
    record: object = None
