"""Conversations per core: how many talking boards one gateway core carries.

The gateway and every session's Pipecat pipeline (embedded default stack:
Silero VAD, pocketsphinx grammar, local intents, espeak-ng) run in this
process, pinned to CPU 0. K virtual boards (the device runtime on CPython,
Opus, always listening with the voice gate) run as processes pinned to the
other CPUs, so their cost does not land on the gateway's core.

Every board asks QUESTIONS_PER_BOARD questions back to back, one each
CYCLE_MS, the way `pipit talk` does; the boards' first questions are spread
evenly over one cycle, so turns overlap instead of lining up. That is a
worst case for a fleet: every user talking all the time.

For each K: voice-to-voice latency (end of the user's speech to the first
answer sample at the board) p50/p95, turns answered with the right intent,
and the gateway core's busy share while the boards talk. A gateway "carries"
K when every turn is answered with the right intent and voice to voice stays
under TARGET_P50_MS at p50 and TARGET_P95_MS at p95.

With --asr-workers N, pocketsphinx runs in N worker processes ([asr]
workers) pinned to the boards' CPUs, and the results go to
capacity-asr-workers.json/.md.

    python -m bench.capacity [--sessions 1 2 4 6 8] [--questions 6] [--asr-workers N]

Results: bench/results/capacity.json and capacity.md.
"""
import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench._cpuload import busy_fraction, cpu_times, wait_for_quiet
from bench._report import machine, markdown_table, percentile, source_state, write_results
from host import talk, talk_script
from host.pipeline.asr_workers import AsrWorkers
from host.pipeline.config import from_dict
from host.pipeline.intents import Matcher
from host.talk_script import Utterance

GATEWAY_CPU = 0
QUESTIONS = ("what time is it", "what is the date", "turn the volume up", "make it quieter",
             "set the volume to forty percent", "how are you doing")
CYCLE_MS = 6500              # one question and its answer, then the next
TARGET_P50_MS = 400
TARGET_P95_MS = 800
SAMPLE_INTERVAL_S = 0.25


class CpuSampler:
    """(monotonic s, per-CPU times, this process's CPU s) every SAMPLE_INTERVAL_S."""

    def __init__(self):
        self.samples = []
        self._task = None

    def _sample(self):
        self.samples.append((time.monotonic(), cpu_times(), time.process_time()))

    async def _run(self):
        while True:
            self._sample()
            await asyncio.sleep(SAMPLE_INTERVAL_S)  # sampling pace, not synchronisation

    def start(self):
        """Begin sampling on the running loop."""
        self._task = asyncio.ensure_future(self._run())

    def stop(self):
        """Stop sampling (takes one last sample)."""
        self._task.cancel()
        self._sample()

    def window(self, start_s, end_s):
        """(busy share of the gateway CPU, this process's CPU share) between two instants."""
        inside = [s for s in self.samples if start_s <= s[0] <= end_s]
        if len(inside) < 2:
            return None, None
        (t0, cpus0, own0), (t1, cpus1, own1) = inside[0], inside[-1]
        return busy_fraction(cpus0, cpus1, {GATEWAY_CPU}), (own1 - own0) / (t1 - t0)


def board_scripts(plan, boards, questions_per_board):
    """One list of Utterances per board, first questions spread over one cycle."""
    scripts = []
    for board in range(boards):
        offset_ms = talk_script.FIRST_AT_MS + board * CYCLE_MS // boards
        scripts.append([Utterance(wav=str(plan[(board + i) % len(plan)].path),
                                  at_ms=offset_ms + i * CYCLE_MS)
                        for i in range(questions_per_board)])
    return scripts


async def one_step(plan, boards, questions_per_board, work_dir, board_cpus, config=None):
    """Run K boards at once; return the step's figures."""
    sampler = CpuSampler()
    sampler.start()
    children_before = os.times()
    try:
        results = await talk.run_talks(board_scripts(plan, boards, questions_per_board), work_dir,
                                       board_cpus=board_cpus, config=config)
    finally:
        sampler.stop()
    children_after = os.times()
    matcher, expected = Matcher(), {str(item.path): item.utterance.text for item in plan}
    turns, right, v2v = [], 0, []
    for script, result in zip(board_scripts(plan, boards, questions_per_board), results):
        for utterance, turn in zip(script, result.turns):
            turns.append(turn)
            wanted = matcher.match(expected[utterance.wav])
            heard = turn.record and matcher.match(turn.record.get("transcript") or "")
            if heard == wanted and turn.first_played_s is not None:
                right += 1
                v2v.append(turn.voice_to_voice_ms)
    starts = [turn.speech_start_s for turn in turns]
    ends = [turn.first_played_s or turn.speech_end_s for turn in turns]
    gateway_busy, own_share = sampler.window(min(starts), max(ends))
    ordered = sorted(v2v)
    board_cpu_s = ((children_after.children_user + children_after.children_system)
                   - (children_before.children_user + children_before.children_system))
    p50, p95 = percentile(ordered, 0.5), percentile(ordered, 0.95)
    return {"boards": boards, "turns": len(turns), "answered_right": right,
            "voice_to_voice_ms": {"p50": p50, "p95": p95, "max": ordered[-1] if ordered else None},
            "gateway_cpu_busy": gateway_busy, "gateway_process_cpu": own_share,
            "board_cpu_s_each": board_cpu_s / boards,
            "carried": right == len(turns) and p50 is not None and p50 <= TARGET_P50_MS
            and p95 <= TARGET_P95_MS}


def render(data):
    rows = [[s["boards"], "%d/%d" % (s["answered_right"], s["turns"]), s["voice_to_voice_ms"]["p50"],
             s["voice_to_voice_ms"]["p95"], s["voice_to_voice_ms"]["max"],
             "%.0f %%" % (100 * s["gateway_cpu_busy"]) if s["gateway_cpu_busy"] is not None else None,
             "yes" if s["carried"] else "no"] for s in data["steps"]]
    carried = [s["boards"] for s in data["steps"] if s["carried"]]
    return "\n".join([
        "# Conversations per gateway core (embedded default stack, loopback)", "",
        "Recognition: %s." % ("in the gateway's process" if not data["asr_workers"] else
                              "%d pocketsphinx worker process(es) on CPU %s" % (
                                  data["asr_workers"], ",".join(map(str, data["board_cpus"])))), "",
        "`python -m bench.capacity`: K virtual boards talk at once, each asking a question every "
        "%.1f s (a worst case: every user talking all the time); the gateway and all pipelines on "
        "CPU %d, the boards on the other CPUs (see the module docstring)." % (CYCLE_MS / 1000, GATEWAY_CPU),
        "", markdown_table(["boards", "right answers", "v2v p50 ms", "v2v p95 ms", "v2v max ms",
                            "gateway core busy", "carried"], rows), "",
        "Carried: every turn answered with the right intent, voice to voice p50 <= %d ms and "
        "p95 <= %d ms. Largest carried here: %s." % (TARGET_P50_MS, TARGET_P95_MS,
                                                    max(carried) if carried else "none"), "",
        "Machine: %s, %d CPUs; load at start %s." % (
            data["machine"]["cpu_model"], data["machine"]["cpus"], data["machine"]["load_average_at_start"])])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 6, 8])
    parser.add_argument("--questions", type=int, default=6, help="questions per board")
    parser.add_argument("--asr-workers", type=int, default=0,
                        help="pocketsphinx in N worker processes on the boards' CPUs ([asr] workers)")
    args = parser.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or GATEWAY_CPU not in cpus:
        raise SystemExit("bench.capacity: needs CPU %d and one more, has %s" % (GATEWAY_CPU, cpus))
    # Before onnxruntime and Pipecat start their threads: they inherit it.
    os.sched_setaffinity(0, {GATEWAY_CPU})
    board_cpus = [cpu for cpu in cpus if cpu != GATEWAY_CPU]
    talk.quiet_pipecat_logs()
    config = None
    if args.asr_workers:
        # Made here, before any conversation, so they run on the boards' CPUs, not the gateway's.
        AsrWorkers.shared(args.asr_workers, cpus=board_cpus)
        config = from_dict({"asr": {"workers": args.asr_workers}})
    steps = []
    with tempfile.TemporaryDirectory(prefix="pipit-bench-capacity-") as folder:
        plan = talk_script.prepare([Utterance(text=text) for text in QUESTIONS], Path(folder) / "plan")
        for boards in args.sessions:
            wait_for_quiet()
            step = asyncio.run(one_step(plan, boards, args.questions, Path(folder) / ("k%d" % boards),
                                        board_cpus, config))
            print(step, flush=True)
            steps.append(step)
    data = {"machine": machine(), "source": source_state(), "gateway_cpu": GATEWAY_CPU,
            "board_cpus": board_cpus, "cycle_ms": CYCLE_MS, "questions_per_board": args.questions,
            "asr_workers": args.asr_workers, "steps": steps}
    markdown = render(data)
    write_results("capacity" if not args.asr_workers else "capacity-asr-workers", data, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
