"""Intent accuracy of the embedded recogniser on espeak-ng voices.

Each (voice, rate) is one session: one Recognizer hears every question in
turn, as a device would. A question counts when the agent's matcher gets the
right intent and slots from the transcript. Out-of-grammar questions count as
rejected when the grammar search gives them up (source != "grammar").

    .venv/bin/python -m tests.host.pipeline.accuracy      # prints the tables
"""
import sys
import tempfile
import time
from pathlib import Path

from host.pipeline.asr import DEFAULT_REJECT_PENALTY, Recognizer
from host.pipeline.intents import Matcher
from host.speech import synthesise
from tests.host.pipeline.conftest import read_pcm

VOICES = ("en-us", "en-gb", "en-us+f3")
RATES_WPM = (140, 175)
# (question, intent, slots): two phrasings of every intent.
QUESTIONS = (
    ("what time is it", "time", {}),
    ("tell me the time", "time", {}),
    ("what is the date today", "date", {}),
    ("what day is it", "date", {}),
    ("set a timer for five minutes", "timer_set", {"count": "five", "unit": "minutes"}),
    ("set a timer for thirty seconds", "timer_set", {"count": "thirty", "unit": "seconds"}),
    ("cancel the timer", "timer_cancel", {}),
    ("stop the timer", "timer_cancel", {}),
    ("how much time is left", "timer_left", {}),
    ("how long is left on the timer", "timer_left", {}),
    ("turn the volume up", "volume_up", {}),
    ("louder", "volume_up", {}),
    ("turn the volume down", "volume_down", {}),
    ("make it quieter", "volume_down", {}),
    ("set the volume to forty percent", "volume_set", {"percent": "forty"}),
    ("volume to seventy five percent", "volume_set", {"percent": "seventy five"}),
    ("what can you do", "help", {}),
    ("help", "help", {}),
    ("device status", "status", {}),
    ("how are you doing", "status", {}),
    ("stop", "stop", {}),
    ("be quiet", "stop", {}),
)
OUT_OF_GRAMMAR = (
    "tell me a joke about penguins", "what is the capital of france",
    "play some music by the beatles", "what's the weather like tomorrow",
    "who won the football game last night", "remind me to buy milk",
    "how do you make pancakes", "call my mother", "what is the meaning of life",
    "open the garage door", "good morning", "thank you very much",
)


def evaluate(speak, reject_penalty=DEFAULT_REJECT_PENALTY, voices=VOICES, rates=RATES_WPM,
             questions=QUESTIONS, out_of_grammar=OUT_OF_GRAMMAR):
    """Per-question results: dicts with voice, rate, text, expected, got, source, ms."""
    matcher = Matcher()
    results = []
    for voice in voices:
        for rate in rates:
            recognizer = Recognizer(reject_penalty=reject_penalty)
            cases = [(q, (i, s)) for q, i, s in questions] + [(q, None) for q in out_of_grammar]
            for text, expected in cases:
                pcm = speak(text, voice, rate)
                began = time.process_time()
                transcript = recognizer.transcribe(pcm)
                cpu_ms = (time.process_time() - began) * 1000
                results.append(dict(voice=voice, rate=rate, text=text, expected=expected,
                                    got=matcher.match(transcript.text), transcript=transcript,
                                    cpu_ms=cpu_ms))
    return results


def intent_table(results):
    """Markdown: correct/total per intent and per voice+rate."""
    columns = sorted({(r["voice"], r["rate"]) for r in results}, key=lambda c: (VOICES.index(c[0]), c[1]))
    intents = []
    for r in results:
        if r["expected"] and r["expected"][0] not in intents:
            intents.append(r["expected"][0])
    lines = ["| intent | " + " | ".join("%s %d" % c for c in columns) + " | all |",
             "|---" * (len(columns) + 2) + "|"]
    for intent in intents + ["all"]:
        cells = []
        for column in columns + ["all"]:
            rows = [r for r in results if r["expected"] and (intent == "all" or r["expected"][0] == intent)
                    and (column == "all" or (r["voice"], r["rate"]) == column)]
            cells.append("%d/%d" % (sum(r["got"] == r["expected"] for r in rows), len(rows)))
        lines.append("| %s | %s |" % (intent, " | ".join(cells)))
    return "\n".join(lines)


def summary(results):
    """Counts: in-grammar correct, via grammar, out-of-grammar rejected and misread as an intent."""
    inside = [r for r in results if r["expected"]]
    outside = [r for r in results if not r["expected"]]
    return dict(
        correct=sum(r["got"] == r["expected"] for r in inside), questions=len(inside),
        by_grammar=sum(r["transcript"].source == "grammar" for r in inside),
        rejected=sum(r["transcript"].source != "grammar" for r in outside), out_of_grammar=len(outside),
        false_intents=sum(r["got"] is not None for r in outside),
        grammar_cpu_ms_per_s=1000 * sum(r["cpu_ms"] for r in inside if r["transcript"].source == "grammar")
        / max(1, sum(r["transcript"].audio_ms for r in inside if r["transcript"].source == "grammar")),
    )


def _speaker(folder):
    cache = {}

    def speak(text, voice, rate):
        key = (text, voice, rate)
        if key not in cache:
            path = Path(folder) / ("q%d.wav" % len(cache))
            cache[key] = read_pcm(synthesise(text, path, voice=voice, words_per_minute=rate))
        return cache[key]
    return speak


def main(argv):
    penalties = [None if a == "off" else float(a) for a in argv] or [DEFAULT_REJECT_PENALTY]
    with tempfile.TemporaryDirectory() as folder:
        speak = _speaker(folder)
        for penalty in penalties:
            results = evaluate(speak, reject_penalty=penalty)
            print("\nreject_penalty=%s %s\n" % (penalty, summary(results)))
            print(intent_table(results))
            for r in results:
                if r["got"] != r["expected"]:
                    print("  %-9s %d %-40r -> %-45r [%s]" % (r["voice"], r["rate"], r["text"],
                                                             r["transcript"].text, r["transcript"].source))


if __name__ == "__main__":
    main(sys.argv[1:])
