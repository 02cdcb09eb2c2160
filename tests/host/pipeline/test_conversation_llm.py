"""The LLM path: the real Pipecat OpenAI service against a local test double.

OpenAIChatDouble (openai_double.py) is a test double of the OpenAI
chat-completions API that speaks its real streaming protocol (SSE chunks,
[DONE]) on 127.0.0.1; everything else is real: gateway, Pipecat pipeline,
pocketsphinx, espeak-ng, the Board on UDP with libsrtp.
"""
import asyncio
import contextlib

from host.pipeline.config import from_dict
from host.pipeline.tts import EspeakTts
from tests.host.pipeline.conversation_harness import FRAME_S, rms, talking, wait_until
from tests.host.pipeline.openai_double import OpenAIChatDouble, Reply

PARIS = "The capital of France is Paris. It sits on the river Seine."


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60.0))


@contextlib.asynccontextmanager
async def llm_double(default):
    double = OpenAIChatDouble(default)
    await double.start()
    try:
        yield double
    finally:
        await double.stop()


def _config(base_url, local_intents):
    return from_dict({"agent": {"local_intents": local_intents},
                      "llm": {"base_url": base_url, "model": "double-1", "timeout_s": 5,
                              "system_prompt": "Be brief."}})


def test_the_llm_answers_and_its_reply_is_spoken_on_the_downlink(spoken):
    question = spoken("what time is it")

    async def scenario():
        async with llm_double(Reply(PARIS, chunk_delay_s=0.005)) as double:
            async with talking(_config(double.base_url, local_intents=False)) as talk:
                for turn in (1, 2):
                    await talk.board.speak(question)
                    await talk.board.silence(600)
                    record = await talk.wait_turn(turn)
                    await talk.wait_event("done", turn)
                    assert (record.outcome, record.reply_source) == ("answered", "llm")
                    assert record.reply_text == PARIS and record.transcript == "what time is it"
                    print("\nllm turn %d: end of speech -> first packet %.0f ms, transcript -> "
                          "first packet %.0f ms" % (
                              turn, record.as_dict()["speech_end_to_first_packet_ms"],
                              (record.first_packet_s - record.transcript_s) * 1000))
                expected_s = 2 * len(EspeakTts().synthesise(PARIS)) / 32000
                await wait_until(lambda: len(talk.board.packets) * FRAME_S >= 0.95 * expected_s,
                                 "both answers on the downlink")
                assert rms(talk.board.heard_pcm()) > 500
                assert talk.board.turn_events() == [("heard", 1), ("answering", 1), ("done", 1),
                                                    ("heard", 2), ("answering", 2), ("done", 2)]
            first, second = [body for _, body in double.requests]
            assert first["model"] == "double-1" and first["stream"] is True
            assert first["messages"] == [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "what time is it"}]
            assert second["messages"][2:] == [{"role": "assistant", "content": PARIS},
                                              {"role": "user", "content": "what time is it"}]

    run(scenario())


def test_local_intents_answer_first_and_the_llm_takes_the_rest(spoken):
    local, other = spoken("what time is it"), spoken("open the garage door")

    async def scenario():
        async with llm_double(Reply("I cannot open doors yet.")) as double:
            async with talking(_config(double.base_url, local_intents=True)) as talk:
                await talk.board.speak(local)
                await talk.board.silence(600)
                record = await talk.wait_turn(1)
                assert (record.reply_source, record.intent) == ("intent", "time")
                assert not double.requests
                await talk.board.speak(other)
                await talk.board.silence(600)
                record = await talk.wait_turn(2)
                assert record.transcript_source == "lm", record
                assert (record.reply_source, record.reply_text) == ("llm", "I cannot open doors yet.")
                assert len(double.requests) == 1

    run(scenario())


def test_a_failing_llm_tells_the_device_nothing_and_the_next_turn_is_answered(spoken):
    question = spoken("what time is it")

    async def scenario():
        async with llm_double(Reply(PARIS)) as double:
            double.script.append(Reply(status=500))
            async with talking(_config(double.base_url, local_intents=False)) as talk:
                await talk.board.speak(question)
                await talk.board.silence(600)
                failed = await talk.wait_turn(1)
                assert failed.outcome == "error" and "500" in failed.error
                await talk.wait_event("nothing", 1)
                assert not talk.board.packets
                await talk.board.speak(question)
                await talk.board.silence(600)
                record = await talk.wait_turn(2)
                assert record.outcome == "answered" and record.reply_text == PARIS
                await talk.wait_event("done", 2)
                # The unanswered first question left the context: roles still alternate
                # (llama.cpp and vLLM chat templates refuse two user messages in a row).
                last = double.requests[-1][1]["messages"]
                assert [m["role"] for m in last] == ["system", "user"]

    run(scenario())


def test_an_interrupted_llm_reply_stays_in_the_context_as_far_as_it_went(spoken):
    question = spoken("what time is it")
    slow = "It is late in the afternoon. The sun will set in about an hour. Enjoy the evening light."

    async def scenario():
        async with llm_double(Reply(PARIS)) as double:
            double.script.append(Reply(slow, chunk_delay_s=0.15))
            async with talking(_config(double.base_url, local_intents=False)) as talk:
                await talk.board.speak(question)
                await talk.board.silence(600)
                await wait_until(lambda: ("answering", 1) in talk.board.turn_events(), "the answer")
                await talk.board.speak(question)  # the user cuts in while the LLM still streams
                await talk.board.silence(600)
                interrupted = await talk.wait_turn(1)
                answered = await talk.wait_turn(2)
                assert interrupted.outcome == "interrupted"
                assert (answered.outcome, answered.reply_text) == ("answered", PARIS)
            messages = double.requests[-1][1]["messages"]
            assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
            partial = messages[2]["content"]
            assert partial and slow.startswith(partial) and partial != slow
            assert interrupted.reply_text == partial

    run(scenario())
