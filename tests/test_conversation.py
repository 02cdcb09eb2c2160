"""The conversation end to end: a virtual board (the device runtime in its own
process) talks to the gateway and the Pipecat pipeline on loopback.

Questions are spoken by espeak-ng at test time; what the board played is cut
from its speaker WAV by its timeline and decoded back by pocketsphinx.
"""
import asyncio
import time
import wave
from datetime import datetime

import numpy as np
import pytest

from device.hal.virtual import read_timeline
from host import talk
from host.netem import LinkConditions
from host.pipeline import grammar
from host.pipeline.asr import Recognizer
from host.pipeline.config import from_dict
from host.pipeline.intents import IntentAgent, normalise
from host.talk_report import unwrap_ticks_ms
from host.talk_script import Utterance
from tests.host.pipeline.conversation_harness import FlakyRecognizers

# question -> (intent, words its answer must contain)
QUESTIONS = {
    "what time is it": ("time", ("it's",)),
    "turn the volume up": ("volume_up", ("volume", "up")),
    "what is the date": ("date", ("today",)),
    # Last: its ring, ten seconds on, must not cut into another question.
    "set a timer for ten seconds": ("timer_set", ("timer", "ten", "seconds")),
}
VOICES = (("en-us", 160), ("en-gb", 140), ("en-us+f3", 175))


@pytest.fixture(autouse=True)
def quiet():
    talk.quiet_pipecat_logs()


def answers_played(result):
    """What the board played for each answered turn, cut from its speaker WAV by its timeline.

    A turn's answer is everything played from its first sample to the next
    turn's first sample (the speaker WAV holds no silence, so a late write
    under load leaves no gap in it).
    """
    with wave.open(str(result.speaker_wav), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
    now_s = time.monotonic()
    rows = [(offset, unwrap_ticks_ms(ticks, now_s), samples)
            for offset, ticks, samples in read_timeline(str(result.speaker_wav) + ".timeline")]
    starts = [turn.first_played_s for turn in result.turns if turn.first_played_s is not None]
    pieces = []
    for first_s, next_s in zip(starts, starts[1:] + [float("inf")]):
        inside = [(offset, samples) for offset, at_s, samples in rows
                  if first_s - 0.001 <= at_s < next_s - 0.001]
        pieces.append(pcm[inside[0][0] * 2:(inside[-1][0] + inside[-1][1]) * 2])
    return pieces


def decode_answer(pcm, candidates):
    """Which candidate sentence pocketsphinx hears in pcm (grammar of the candidates)."""
    recognizer = Recognizer(grammar.sentences_jsgf(candidates, public=False), reject_penalty=None,
                            fallback=None)
    return recognizer.transcribe(pcm).text


def other_answers():
    """What the agent answers to other questions: the decoder's wrong choices."""
    agent = IntentAgent(clock=lambda: datetime(2026, 3, 4, 15, 10),
                        status=lambda: {"volume_pct": 60})
    asked = ["help", "what's the volume", "cancel the timer", "turn the volume down",
             "set the volume to forty percent", "how long is left on the timer"]
    return [agent.handle(question).text for question in asked]


def test_spoken_questions_are_answered_and_the_board_plays_the_answer(tmp_path):
    # Three boards, one voice each, talking at once to one gateway: three sessions,
    # three pipelines, and no answer lands on the wrong board.
    boards = [[Utterance(text=text, voice=voice, words_per_minute=rate) for text in QUESTIONS]
              for voice, rate in VOICES]
    results = asyncio.run(talk.run_talks(boards, tmp_path))
    assert len({result.speaker_wav for result in results}) == len(VOICES)
    for (voice, rate), result in zip(VOICES, results):
        assert result.final_state == "idle", voice
        records = [turn.record for turn in result.turns]
        assert [r and r["intent"] for r in records] == [q[0] for q in QUESTIONS.values()], voice
        replies = [record["reply_text"] for record in records]
        played = answers_played(result)
        assert len(played) == len(replies), (voice, len(played))
        candidates = replies + other_answers() + ["Your timer is done."]
        answers = [decode_answer(pcm, candidates) for pcm in played]
        assert answers == [normalise(text) for text in replies], (voice, answers, [len(p) // 32 for p in played])
        for text, (_, words) in zip(answers, QUESTIONS.values()):
            assert all(word in text.split() for word in words), (voice, text, words)


def test_questions_are_answered_over_a_flaky_network(tmp_path):
    # 5 % of packets lost each way and 20..60 ms of delay: the gateway conceals or
    # rebuilds (Opus FEC) what the uplink lost, the board does the same for the answer.
    flaky = LinkConditions(loss_pct=5, delay_ms=20, jitter_ms=40)
    utterances = [Utterance(text=text) for text in QUESTIONS]
    result = asyncio.run(talk.run_talk(utterances, tmp_path, network=(flaky, flaky)))
    assert result.final_state == "idle"
    assert [turn.record and turn.record["intent"] for turn in result.turns] == [
        intent for intent, _ in QUESTIONS.values()]
    assert all(turn.first_played_s is not None for turn in result.turns)
    uplink, downlink = result.gateway["total"], result.device["downlink"]
    assert uplink["lost"] > 0 and uplink["concealed"] + uplink["fec_recovered"] > 0
    assert downlink["lost"] > 0 and downlink["fec_recovered"] > 0


def test_barge_in_silences_the_board_and_the_new_request_is_answered(tmp_path):
    first = Utterance(text="what can you do")
    # The help answer lasts ~7 s: interrupt it 1.5 s after it would have started.
    plan = talk.talk_script.prepare([first], tmp_path / "plan")
    interrupt_ms = plan[0].start_ms + plan[0].speech_end_ms + 1500
    result = asyncio.run(talk.run_talk(
        [first, Utterance(text="what time is it", at_ms=interrupt_ms)], tmp_path))
    helped, timed = result.turns
    assert helped.record["intent"] == "help" and helped.record["outcome"] == "interrupted"
    assert helped.first_played_s is not None and helped.first_played_s < timed.speech_start_s
    assert result.device["conversation"]["aborts"], "the board got no Abort"
    # The speaker went quiet while the user was still saying the new request...
    assert timed.silent_s < timed.speech_end_s
    # ...and its answer is the new one, not the rest of the old.
    assert timed.record["intent"] == "time" and timed.record["outcome"] == "answered"
    assert timed.first_played_s is not None
    assert result.final_state == "idle"


def test_push_to_talk_half_duplex_on_micropython(tmp_path):
    result = asyncio.run(talk.run_talk(
        [Utterance(text="make it quieter"), Utterance(text="what time is it")], tmp_path,
        runtime="micropython", mode="push_to_talk", half_duplex=True))
    assert [turn.record["intent"] for turn in result.turns] == ["volume_down", "time"]
    assert [turn.record["mode"] for turn in result.turns] == ["push_to_talk"] * 2
    assert all(turn.first_played_s is not None for turn in result.turns)
    assert result.device["conversation"]["volume_pct"] < 100  # the intent reached the board
    assert result.final_state == "idle"


def test_a_noise_burst_is_an_empty_turn_and_the_board_returns_to_idle(tmp_path):
    rng = np.random.default_rng(7)
    burst = np.concatenate([np.zeros(4000), rng.normal(0, 2000, 3200), np.zeros(8000)])
    path = tmp_path / "cough.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(16000)
        wav.writeframes(burst.astype("<i2").tobytes())
    result = asyncio.run(talk.run_talk([Utterance(wav=str(path)), Utterance(text="what time is it")],
                                       tmp_path, mode="push_to_talk"))
    empty, asked = result.turns
    assert empty.record["outcome"] == "nothing" and empty.first_played_s is None
    assert asked.record["intent"] == "time" and asked.first_played_s is not None
    assert result.final_state == "idle"


def test_a_failing_recogniser_is_survived_and_the_board_returns_to_idle(tmp_path):
    services = FlakyRecognizers()
    question = Utterance(text="what time is it")
    result = asyncio.run(talk.run_talk([question, Utterance(text="what time is it")], tmp_path,
                                       services=services))
    failed, answered = result.turns
    assert failed.record["outcome"] == "error" and failed.first_played_s is None
    assert answered.record["intent"] == "time" and answered.first_played_s is not None
    assert result.final_state == "idle"


def test_a_wrong_config_is_refused_with_the_key():
    with pytest.raises(ValueError, match=r"vad\.stop_ms"):
        from_dict({"vad": {"stop_ms": -5}})


def test_a_turn_cut_by_a_lost_session_ends_with_the_board_idle(tmp_path):
    async def lose_the_session_once_heard(gateway, session, conversation):
        # The moment the gateway tells the board it heard the turn, the session goes:
        # the board is thinking and no answer can come.
        loop, link = asyncio.get_running_loop(), conversation.link
        send_turn_event = link.turn_event

        def then_lose_the_session(event, turn):
            sent = send_turn_event(event, turn)
            if event == "heard":
                loop.call_soon(gateway.remove_session, session.uplink_ssrc)
            return sent

        link.turn_event = then_lose_the_session

    result = asyncio.run(talk.run_talk([Utterance(text="what time is it")], tmp_path,
                                       stall_timeout_ms=1500, during=lose_the_session_once_heard))
    (turn,) = result.turns
    assert turn.first_played_s is None  # the session went before any answer
    states = [state for state, _ in result.device["conversation"]["states"]]
    assert states[-2:] == ["thinking", "idle"]  # it gave up waiting for the answer
    assert result.final_state == "idle"
