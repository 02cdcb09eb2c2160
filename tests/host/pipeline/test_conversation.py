"""The conversation end to end: uplink PCM -> turn -> transcript -> answer -> downlink.

Real parts throughout: the gateway on 127.0.0.1 with libsrtp and Opus, the
Pipecat pipeline (pipit transport, pocketsphinx, the local intents, espeak-ng),
and a Board (conversation_harness.py) speaking the device's wire protocol.
Questions are espeak-ng voices made at test time (conftest.spoken).
Run with -s to see the per-turn latencies.
"""
import asyncio
import os
import time

from device import rtcp_app
from host.gateway.server import Gateway
from host.pipeline.agent import RING_TEXT
from host.pipeline.asr_workers import AsrWorkers
from host.pipeline.config import Config, from_dict
from host.pipeline.conversation import Conversations, gateway_settings
from host.pipeline.tts import EspeakTts
from host.sessions import new_session
from tests.host.pipeline.conversation_harness import (FRAME_S, FlakyRecognizers, rms, talking, voice_end_s,
                                                     wait_until)

TIMEOUT_S = 60.0


def run(coroutine):
    """Run a test coroutine on a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT_S))


def _report(label, record):
    print("\n%s: %s -> %r (%s) | end of speech -> first packet %.0f ms, end of turn -> first "
          "packet %.0f ms" % (label, record.transcript, record.reply_text, record.outcome,
                              record.as_dict()["speech_end_to_first_packet_ms"],
                              record.as_dict()["end_of_turn_to_first_packet_ms"]))


def test_a_spoken_question_is_answered_on_the_downlink_with_its_timeline(spoken):
    question = spoken("what time is it")

    async def scenario():
        async with talking(from_dict({})) as talk:
            sent_s = await talk.board.speak(question)
            await talk.board.silence(600)
            record = await talk.wait_turn(1)
            _report("vad", record)
            await wait_until(lambda: talk.board.packets, "the first answer packet")
            print("board: last voiced sample sent -> first answer packet received %.0f ms; "
                  "VAD's end of speech was %.0f ms after the true one" % (
                      (talk.board.packets[0][0] - voice_end_s(question, sent_s)) * 1000,
                      (record.speech_ended_s - voice_end_s(question, sent_s)) * 1000))
            assert record.outcome == "answered", record
            assert (record.transcript, record.transcript_source) == ("what time is it", "grammar")
            assert record.reply_source == "intent" and record.intent == "time"
            assert record.reply_text.startswith("It's ")
            stages = [record.speech_started_s, record.speech_ended_s, record.end_of_turn_s,
                      record.transcript_s, record.reply_s, record.first_audio_s,
                      record.first_packet_s, record.done_s]
            assert stages == sorted(stages), record
            # The end of turn is detected stop_ms (250) after the VAD's end of speech.
            assert 0.2 <= record.end_of_turn_s - record.speech_ended_s <= 0.4
            await talk.wait_event("done", 1)
            assert talk.board.turn_events() == [("heard", 1), ("answering", 1), ("done", 1)]
            expected_s = len(EspeakTts().synthesise(record.reply_text)) / 32000
            # libespeak-ng's output varies by ~2% with its state (docs/speech.md).
            await wait_until(lambda: len(talk.board.packets) * FRAME_S >= 0.95 * expected_s,
                             "the whole answer on the downlink")
            assert rms(talk.board.heard_pcm()) > 500  # speech, not silence
            assert talk.conversations.timelines()[talk.conversation.session.uplink_ssrc][0][
                "outcome"] == "answered"

    run(scenario())


def test_push_to_talk_ends_the_turn_on_release_without_a_vad_tail(spoken):
    question = spoken("what time is it")

    async def scenario():
        async with talking(from_dict({})) as talk:
            board = talk.board
            board.send_state("listening", turn=41)
            await board.speak(question)
            board.send_state("thinking", turn=41)
            board.send_state("thinking", turn=41)  # the next report repeats it: no effect
            record = await talk.wait_turn(41)
            _report("push to talk", record)
            assert record.mode == "push_to_talk" and record.outcome == "answered"
            assert record.end_of_turn_s == record.speech_ended_s
            assert record.transcript == "what time is it"
            await talk.wait_event("done", 41)
            assert board.turn_events() == [("heard", 41), ("answering", 41), ("done", 41)]

            # Pressed and released on silence: nothing to answer, nothing played.
            packets = len(board.packets)
            board.send_state("listening", turn=42)
            await board.silence(300)
            board.send_state("thinking", turn=42)
            empty = await talk.wait_turn(42)
            assert empty.outcome == "nothing" and empty.transcript == "", empty
            await talk.wait_event("nothing", 42)
            assert board.turn_events()[-2:] == [("heard", 42), ("nothing", 42)]
            await board.silence(200)
            assert len(board.packets) == packets

    run(scenario())


def test_barge_in_flushes_the_downlink_and_aborts_the_device(spoken):
    question, stop = spoken("what can you do"), spoken("stop")

    async def scenario():
        async with talking(from_dict({})) as talk:
            board = talk.board
            await board.speak(question)
            await board.silence(600)
            await wait_until(lambda: ("answering", 1) in board.turn_events(), "the answer")
            await board.silence(1000)  # the help answer runs ~7 s; interrupt it a second in
            await board.speak(stop)
            await board.silence(600)
            interrupted = await talk.wait_turn(1)
            stopped = await talk.wait_turn(2)
            assert interrupted.outcome == "interrupted"
            # The downlink holds at most ~40 ms + a chunk; the rest of the answer was
            # still in Pipecat's queues, which the interruption emptied.
            assert 0 < interrupted.flushed_ms <= 100
            help_s = len(EspeakTts().synthesise(interrupted.reply_text)) / 32000
            assert len(board.packets) * FRAME_S < help_s / 2
            assert interrupted.interrupted_s >= stopped.speech_started_s
            aborts = board.received(rtcp_app.Abort)
            assert len(aborts) == 3 and {a.abort_id for a in aborts} == {interrupted.abort_id}
            resume_seq = aborts[0].resume_seq
            abort_at = board.first_arrival(rtcp_app.Abort)
            late = [seq for arrival, seq, _, _ in board.packets if arrival > abort_at]
            assert not late, "answer packets after the abort: %r" % late
            assert max(seq for _, seq, _, _ in board.packets) < resume_seq
            print("\nbarge-in: interruption %.0f ms after the second turn's speech was detected, "
                  "%.0f ms of answer flushed" % ((interrupted.interrupted_s - stopped.speech_started_s)
                                                 * 1000, interrupted.flushed_ms))
            assert (stopped.intent, stopped.outcome) == ("stop", "stopped")
            await talk.wait_event("done", 2)
            assert board.turn_events()[-2:] == [("heard", 2), ("done", 2)]

    run(scenario())


def test_volume_and_timer_actions_reach_the_device(spoken):
    volume, timer = spoken("turn the volume up"), spoken("set a timer for one second")

    async def scenario():
        async with talking(from_dict({})) as talk:
            board = talk.board
            await board.speak(volume)
            await board.silence(600)
            record = await talk.wait_turn(1)
            assert record.intent == "volume_up" and record.outcome == "answered"
            await wait_until(lambda: len(board.received(rtcp_app.Volume)) == 3, "3 Volume copies")
            assert [(v.volume_pct, v.request_id) for v in board.received(rtcp_app.Volume)] == [(70, 1)] * 3
            await board.speak(timer)
            await board.silence(600)
            record = await talk.wait_turn(2)
            assert record.intent == "timer_set", record
            tts = EspeakTts()
            expected_s = (len(tts.synthesise(record.reply_text)) + len(tts.synthesise(RING_TEXT))) / 32000
            start_s = record.first_packet_s
            await wait_until(lambda: len(board.heard_pcm(since_s=start_s)) / 32000 >= 0.95 * expected_s,
                             "the answer, then the ring")

    run(scenario())


def test_an_empty_turn_and_a_failing_recogniser_leave_the_conversation_answering(spoken):
    question = spoken("what time is it")
    services = FlakyRecognizers()

    async def scenario():
        async with talking(from_dict({}), services=services) as talk:
            await talk.board.speak(question)
            await talk.board.silence(600)
            failed = await talk.wait_turn(1)
            assert failed.outcome == "error" and failed.error == "speech recognition failed"
            await talk.wait_event("nothing", 1)
            assert talk.board.turn_events() == [("heard", 1), ("nothing", 1)]
            await talk.board.speak(question)
            await talk.board.silence(600)
            record = await talk.wait_turn(2)
            assert record.outcome == "answered" and record.transcript == "what time is it"
            assert len(services.made) == 2

    run(scenario())


def test_the_session_going_away_mid_turn_ends_the_pipeline_cleanly(spoken):
    question = spoken("what time is it")

    async def scenario():
        async with talking(from_dict({})) as talk:
            await talk.board.speak(question[: len(question) // 2])
            await wait_until(lambda: talk.conversation.transport.input().record is not None,
                             "the turn to start")
            talk.gateway.remove_session(talk.conversation.session.uplink_ssrc)
            await asyncio.wait_for(talk.conversation.stop(), 10)
            assert not talk.conversation.running
            assert [(r.turn, r.outcome) for r in talk.turns] == [(1, "ended")]

    run(scenario())


def test_a_button_press_during_the_answer_cuts_the_downlink_without_an_abort(spoken):
    question, again = spoken("what can you do"), spoken("what time is it")

    async def scenario():
        async with talking(from_dict({})) as talk:
            board = talk.board
            board.send_state("listening", turn=1)
            await board.speak(question)
            board.send_state("thinking", turn=1)
            await talk.wait_event("answering", 1)
            await board.silence(500)
            pressed_s = time.monotonic()
            board.send_state("listening", turn=2)  # the device dropped its playback already
            cut = await talk.wait_turn(1)
            assert cut.outcome == "interrupted" and 0 < cut.flushed_ms <= 100
            assert cut.abort_id is None
            await board.speak(again)
            board.send_state("thinking", turn=2)
            record = await talk.wait_turn(2)
            assert record.outcome == "answered" and record.transcript == "what time is it"
            assert not board.received(rtcp_app.Abort)
            first_of_turn_2 = min(arrival for arrival, _, marker, _ in board.packets
                                  if arrival > pressed_s + 0.2)
            old = [arrival for arrival, _, _, _ in board.packets
                   if pressed_s + 0.15 < arrival < first_of_turn_2]
            assert not old, "packets of the cut answer kept coming"

    run(scenario())


def test_waiting_for_a_pipeline_that_ends_before_it_is_ready_says_so():
    async def scenario():
        conversations = Conversations(Config())
        gateway = Gateway(gateway_settings(Config(), "127.0.0.1", 0), conversations.sink_factory)
        host, port = await gateway.start()
        session = new_session(host, port, "opus")
        gateway.add_session(session)
        conversation = conversations.conversations[session.uplink_ssrc]
        gateway.remove_session(session.uplink_ssrc)  # gone before its pipeline took any audio
        try:
            await conversation.wait_ready(20.0)
        except RuntimeError as error:
            return str(error)
        finally:
            await gateway.stop()
            await conversations.stop()

    assert "the pipeline stopped while starting" in asyncio.run(asyncio.wait_for(scenario(), 30))


def test_recognition_in_a_worker_process_answers_the_same(spoken):
    # [asr] workers = 1: the session's recogniser lives in a worker process
    # (host/pipeline/asr_workers.py), off the gateway's GIL.
    question = spoken("set the volume to forty percent")

    async def scenario():
        async with talking(from_dict({"asr": {"workers": 1}})) as talk:
            await talk.board.speak(question)
            await talk.board.silence(600)
            record = await talk.wait_turn(1)
            await talk.wait_event("done", 1)
            return record

    record = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT_S))
    assert (record.transcript, record.transcript_source) == ("set the volume to forty percent", "grammar")
    assert (record.intent, record.outcome) == ("volume_set", "answered")
    workers = AsrWorkers.shared(1)
    assert workers.made >= 1 and all(pid != os.getpid() for pid in workers.pids)
