"""Conversation latency: voice to voice over many turns, and barge-in.

Everything is `pipit talk` (host/talk.py): the virtual board is the device
runtime in its own process (CPython, Opus), the gateway and the Pipecat
pipeline run in this one, on 127.0.0.1, with the embedded default stack
(Silero VAD, pocketsphinx grammar, local intents, espeak-ng).

1. Voice to voice: TURNS questions (espeak-ng, en-us, 160 wpm) one after the
   other, each after the previous answer has played. Measured from the last
   voiced sample of the question leaving the board's microphone to the first
   sample of the answer played by its speaker (the speaker timeline), with the
   share of each stage: end-of-turn detection, recognition, agent, first TTS
   audio, first downlink packet, network + board playout.
2. The same over a flaky network: a relay on the path loses FLAKY_LOSS_PCT of
   the packets each way and delays each by FLAKY_DELAY_MS + 0..FLAKY_JITTER_MS.
3. Barge-in: a long answer ("what can you do", ~7 s) is interrupted 1.5 s in
   by a new question. Measured from the first voiced sample of the new
   question to the board's speaker going silent.

    python -m bench.conversation [--turns 20] [--barge-ins 10] [--stop-ms 250]

Results: bench/results/conversation.json and conversation.md.
"""
import argparse
import asyncio
import tempfile
from pathlib import Path

from bench._cpuload import wait_for_quiet
from bench._report import machine, markdown_table, percentile, source_state, write_results
from host import talk, talk_script
from host.netem import LinkConditions
from host.pipeline.config import from_dict
from host.talk_script import Utterance

QUESTIONS = ("what time is it", "what is the date", "turn the volume up", "make it quieter",
             "set the volume to forty percent")
STAGES = (("end of turn detected", "end_of_turn_s"), ("recognition final", "transcript_s"),
          ("agent reply", "reply_s"), ("first TTS audio", "first_audio_s"),
          ("first downlink packet", "first_packet_s"))
TARGET_VOICE_TO_VOICE_P50_MS = 400
# A flaky Wi-Fi: this share lost each way, FLAKY_DELAY_MS + 0..FLAKY_JITTER_MS late (host/netem.py).
FLAKY_LOSS_PCT = 5.0
FLAKY_DELAY_MS = 20.0
FLAKY_JITTER_MS = 40.0
TARGET_BARGE_IN_P50_MS = 200


def _summary(values):
    ordered = sorted(value for value in values if value is not None)
    return {"n": len(ordered), "p50": percentile(ordered, 0.5), "p95": percentile(ordered, 0.95),
            "min": ordered[0] if ordered else None, "max": ordered[-1] if ordered else None}


def stage_increments(turn):
    """ms each stage added after the one before, ending at the first sample played."""
    increments, previous = {}, turn.speech_end_s
    for label, field in STAGES:
        at = turn.record.get(field)
        if at is None:
            return None
        increments[label] = (at - previous) * 1000.0
        previous = at
    increments["network + board playout"] = (turn.first_played_s - previous) * 1000.0
    return increments


async def voice_to_voice(work_dir, turns, config, voice_gate=True, network=None):
    utterances = [Utterance(text=QUESTIONS[i % len(QUESTIONS)]) for i in range(turns)]
    result = await talk.run_talk(utterances, work_dir, config=config, voice_gate=voice_gate,
                                 network=network)
    answered = [turn for turn in result.turns if turn.record and turn.first_played_s]
    stages = [stage_increments(turn) for turn in answered]
    stages = [s for s in stages if s]
    total = sum(sum(s.values()) for s in stages)
    shares = {label: {"p50_ms": _summary([s[label] for s in stages])["p50"],
                      "share": sum(s[label] for s in stages) / total if total else None}
              for label in stages[0]} if stages else {}
    right = sum(1 for turn, text in zip(result.turns, [u.text for u in utterances])
                if turn.record and turn.record.get("transcript") == text)
    return {"turns": turns, "answered": len(answered), "transcripts_exact": right,
            "voice_to_voice_ms": _summary([turn.voice_to_voice_ms for turn in answered]),
            "stages": shares,
            "each_ms": [round(turn.voice_to_voice_ms, 1) for turn in answered],
            "uplink": _media_counters(result.gateway["total"]),
            "downlink": _media_counters(result.device["downlink"])}


def _media_counters(counters):
    return {name: counters.get(name, 0) for name in ("lost", "late", "concealed", "fec_recovered")}


async def barge_in(work_dir, trials):
    utterances, next_ms = [], talk_script.FIRST_AT_MS
    plan = talk_script.prepare([Utterance(text="what can you do"), Utterance(text="what time is it")],
                               Path(work_dir) / "plan")
    ask, interrupt = plan
    for _ in range(trials):
        interrupt_at = next_ms + ask.speech_end_ms + 1500
        utterances += [Utterance(wav=str(ask.path), at_ms=next_ms),
                       Utterance(wav=str(interrupt.path), at_ms=interrupt_at)]
        next_ms = interrupt_at + interrupt.duration_ms + talk_script.DEFAULT_GAP_MS
    result = await talk.run_talk(utterances, work_dir)
    cut = [turn for turn in result.turns[1::2]]
    interrupted = [turn for turn in result.turns[0::2]
                   if turn.record and turn.record.get("outcome") == "interrupted"]
    answered = [turn for turn in cut if turn.record and turn.record.get("intent") == "time"
                and turn.first_played_s]
    return {"trials": trials, "answers_interrupted": len(interrupted),
            "new_requests_answered": len(answered),
            "speech_start_to_silence_ms": _summary([turn.barge_in_ms for turn in cut]),
            "each_ms": [round(turn.barge_in_ms, 1) for turn in cut]}


def render(data):
    v2v, barge, flaky = data["voice_to_voice"], data["barge_in"], data["flaky"]
    lines = ["# Conversation latency (embedded default stack, loopback)", "",
             "`python -m bench.conversation`: the virtual board (device runtime on CPython, Opus) "
             "talks to the gateway and the Pipecat pipeline on 127.0.0.1 (see the module docstring).",
             "", "## Voice to voice: end of the user's speech to the first answer sample played", "",
             "%d turns, %d answered, %d transcripts exact; VAD stop_ms %d."
             % (v2v["turns"], v2v["answered"], v2v["transcripts_exact"], data["stop_ms"]), "",
             markdown_table(["p50 ms", "p95 ms", "min ms", "max ms", "target p50 ms"],
                            [[v2v["voice_to_voice_ms"][k] for k in ("p50", "p95", "min", "max")]
                             + [TARGET_VOICE_TO_VOICE_P50_MS]]), "",
             markdown_table(["stage", "p50 ms", "share of the total"],
                            [[label, stage["p50_ms"], "%.0f %%" % (100 * stage["share"])]
                             for label, stage in v2v["stages"].items()]), "",
             "## Voice to voice over a flaky network", "",
             "The same questions through a relay that loses %g %% of packets each way and delays "
             "each by %g ms + 0..%g ms (host/netem.py): %d turns, %d answered, %d transcripts exact."
             % (FLAKY_LOSS_PCT, FLAKY_DELAY_MS, FLAKY_JITTER_MS, flaky["turns"], flaky["answered"],
                flaky["transcripts_exact"]), "",
             markdown_table(["p50 ms", "p95 ms", "min ms", "max ms"],
                            [[flaky["voice_to_voice_ms"][k] for k in ("p50", "p95", "min", "max")]]), "",
             markdown_table(["direction", "lost", "rebuilt from FEC", "concealed", "late"],
                            [[name, flaky[name]["lost"], flaky[name]["fec_recovered"],
                              flaky[name]["concealed"], flaky[name]["late"]]
                             for name in ("uplink", "downlink")]), "",
             "## Barge-in: start of the user's speech to the board's speaker silent", "",
             "%d trials: %d answers interrupted, %d new requests answered."
             % (barge["trials"], barge["answers_interrupted"], barge["new_requests_answered"]), "",
             markdown_table(["p50 ms", "p95 ms", "min ms", "max ms", "target p50 ms"],
                            [[barge["speech_start_to_silence_ms"][k] for k in ("p50", "p95", "min", "max")]
                             + [TARGET_BARGE_IN_P50_MS]]), "",
             "Machine: %s, %d CPUs; load at start %s." % (
                 data["machine"]["cpu_model"], data["machine"]["cpus"],
                 data["machine"]["load_average_at_start"])]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--barge-ins", type=int, default=10)
    parser.add_argument("--stop-ms", type=int, default=None, help="VAD stop_ms (default: pipit.toml's)")
    args = parser.parse_args(argv)
    talk.quiet_pipecat_logs()
    config = from_dict({"vad": {"stop_ms": args.stop_ms}} if args.stop_ms else {})
    waited = wait_for_quiet()
    with tempfile.TemporaryDirectory(prefix="pipit-bench-talk-") as folder:
        v2v = asyncio.run(voice_to_voice(Path(folder) / "v2v", args.turns, config))
        flaky_way = LinkConditions(FLAKY_LOSS_PCT, FLAKY_DELAY_MS, FLAKY_JITTER_MS)
        flaky = asyncio.run(voice_to_voice(Path(folder) / "flaky", args.turns, config,
                                           network=(flaky_way, flaky_way)))
        barge = asyncio.run(barge_in(Path(folder) / "barge", args.barge_ins))
    data = {"machine": machine(), "source": source_state(), "waited_for_quiet": waited,
            "stop_ms": config.vad.stop_ms, "voice_to_voice": v2v, "flaky": flaky, "barge_in": barge}
    markdown = render(data)
    write_results("conversation", data, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
