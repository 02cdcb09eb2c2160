"""pocketsphinx in worker processes: the same transcripts, separate sessions, a worker's death survived."""
import os
import signal

import pytest

from host.pipeline.asr import Recognizer
from host.pipeline.asr_workers import AsrWorkerError, AsrWorkers
from host.pipeline.config import ConfigError, from_dict
from tests.host.pipeline.conftest import silence

PHRASES = ("set the volume to forty percent", "what time is it")


@pytest.fixture(scope="module")
def pool():
    workers = AsrWorkers(2)
    yield workers
    workers.close()


def _utterance(spoken, text):
    return silence(300) + spoken(text) + silence(300)


def test_a_worker_hears_what_the_gateway_process_hears(pool, spoken):
    for text in PHRASES:
        pcm = _utterance(spoken, text)
        here, there = Recognizer().transcribe(pcm), pool.recognizer().transcribe(pcm)
        assert (there.text, there.source, there.words) == (here.text, here.source, here.words)
        assert there.text == text


def test_sessions_on_one_worker_keep_their_own_utterances(pool, spoken):
    first, second = pool.recognizer(), pool.recognizer()
    third = pool.recognizer()  # round robin: back on the first one's worker
    a, b = (_utterance(spoken, text) for text in PHRASES)
    for i in range(0, max(len(a), len(b)), 640):  # interleaved, as concurrent sessions feed
        first.feed(a[i:i + 640])
        third.feed(b[i:i + 640])
        second.feed(a[i:i + 640])
    assert [r.finish().text for r in (first, second, third)] == [PHRASES[0], PHRASES[0], PHRASES[1]]


def test_a_dead_worker_fails_its_calls_clearly_and_the_pool_replaces_it(spoken):
    pool = AsrWorkers(1)
    try:
        recognizer = pool.recognizer()
        os.kill(pool.pids[0], signal.SIGKILL)
        pool._workers[0].process.join(5)
        with pytest.raises(AsrWorkerError, match="died"):
            recognizer.feed(bytes(640))
            recognizer.finish()
        replacement = pool.recognizer()
        assert pool.restarted == 1
        assert replacement.transcribe(_utterance(spoken, PHRASES[1])).text == PHRASES[1]
    finally:
        pool.close()


def test_a_failure_inside_the_worker_comes_back_with_its_reason():
    pool = AsrWorkers(1)
    try:
        with pytest.raises(AsrWorkerError, match="unexpected keyword argument 'beam_width'"):
            pool.recognizer(beam_width=3)
        assert pool.recognizer().finish().source == "none"  # the worker lives on
    finally:
        pool.close()


@pytest.mark.parametrize("asr, reason", [
    ({"workers": -1}, "asr.workers: must be 0..64, got -1"),
    ({"workers": 2, "engine": "openai", "base_url": "http://x/v1", "model": "m"},
     'asr.workers: only used with engine "pocketsphinx"'),
])
def test_bad_worker_settings_are_refused_with_the_key(asr, reason):
    with pytest.raises(ConfigError, match=reason.replace("(", r"\(")):
        from_dict({"asr": asr})
