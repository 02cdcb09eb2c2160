"""Gateway capacity: how many concurrent 20 ms Opus SRTP uplinks one core serves.

The real Gateway runs alone in a process pinned to one CPU, with a sink that
discards PCM; sender processes on the other CPU(s) drive every stream on its
own 20 ms schedule (phases spread across the frame) with libsrtp-protected
packets of pre-encoded speech. Each step counts what was sent and what the
gateway authenticated and decoded, kernel drops on the gateway's socket, the
gateway's CPU time per second and per packet, and its arrival-to-PCM latency.
One extra step runs under cProfile to show where the per-packet time goes.

    python -m bench.gateway [--steps 50,100,200] [--duration-s 8] [--warmup-s 2]

Results: bench/results/gateway.json and gateway.md; method in docs/benchmarks.md.
"""
import argparse
import sys
import time
from dataclasses import asdict, dataclass

from bench._audio import opus_packets, test_signal
from bench._gateway_report import overall, render, summarise
from bench._report import machine, source_state, write_results
from bench._step import baseline_costs, cores, run_step
# What a step runs: the gateway and the device code it imports.
_MEASURED_SOURCES = ("host/gateway", "host/opus_fast.py", "host/sessions.py", "device/rtp.py",
                     "device/rtcp.py", "device/rtcp_report_block.py", "device/rtcp_time.py", "device/srtp.py",
                     "device/crypto.py", "device/codec.py", "device/reception.py", "device/session.py")


@dataclass
class BenchSettings:
    """What to run: stream counts, how long, how many senders, profiling."""

    steps: tuple = (50, 100, 200, 300, 400, 500, 600)
    duration_s: float = 8.0
    warmup_s: float = 2.0
    senders: int = 2
    rtcp_interval_s: float = 1.0
    refine: int = 2
    profile_streams: int = 200
    profile_s: float = 5.0
    drain_s: float = 0.5
    signal_s: int = 4
    quiet_wait_s: float = 5.0
    retries: int = 1
    budget_s: float = 125.0


def _refine(rows, settings, step_row, within_budget):
    """Bisect between the largest clean step and the smallest dropping one above it."""
    for _ in range(settings.refine):
        if not within_budget():
            return
        valid = [row for row in rows if row["undisturbed"]]
        clean = [row["streams"] for row in valid if row["clean"]]
        if not clean:
            return
        low = max(clean)
        dirty = [row["streams"] for row in valid if not row["clean"] and row["streams"] > low]
        if not dirty:
            return
        high = min(dirty)
        middle = int(round((low + high) / 2 / 10.0)) * 10
        if middle <= low or middle >= high:
            return
        rows.append(step_row(middle))
        rows.sort(key=lambda row: row["streams"])


class _Bench:
    """One benchmark run: the signal, the baseline, the steps, within a time budget."""

    def __init__(self, settings, payloads, baseline, log):
        self.settings = settings
        self.payloads = payloads
        self.baseline = baseline
        self.log = log
        self.started = time.monotonic()
        # The fastest decode seen: what this CPU does when nothing slows it down.
        self.fastest_decode_us = baseline["opus_decoder_us"]

    def _measure(self, streams):
        raw = run_step(streams, self.settings, self.payloads)
        self.fastest_decode_us = min([self.fastest_decode_us] + raw["decode_probes_us"])
        return summarise(raw, self.baseline, self.fastest_decode_us)

    def within_budget(self):
        """False once retries and refining steps should no longer start."""
        return time.monotonic() - self.started < self.settings.budget_s

    def step(self, streams):
        """One step as a table row, run again (bounded) if other load disturbed it."""
        row = self._measure(streams)
        attempts = 1
        while not row["undisturbed"] and attempts <= self.settings.retries and self.within_budget():
            self.log("  %4d streams: disturbed (other load %.0f %%, senders late %.1f ms p99, "
                     "CPU %.2fx slower), again" % (streams, row["other_load_on_gateway_cpu_pct"],
                                                   row["sender"]["late_p99_ms"], row["cpu_slowdown"]))
            row = self._measure(streams)
            attempts += 1
        row["attempts"] = attempts
        self.log("  %4d streams: dropped %d (kernel %s), cpu %.2f s/s, %.1f us/packet, "
                 "send->PCM p99 %s ms, other load %s %%"
                 % (streams, row["dropped"], row["kernel_drops"], row["cpu_s_per_s"],
                    row["cpu_us_per_packet"], row["send_to_pcm_ms"]["p99"],
                    row["other_load_on_gateway_cpu_pct"]))
        return row

    def profile(self):
        """The cProfile step, or None if disabled."""
        settings = self.settings
        if not settings.profile_streams:
            return None
        self.log("profiling %d streams for %.0f s under cProfile" % (settings.profile_streams, settings.profile_s))
        raw = run_step(settings.profile_streams, settings, self.payloads, True, settings.profile_s)
        return dict(summarise(raw, self.baseline, self.fastest_decode_us), profile=raw["gateway"]["profile"])


def run(settings, log=print):
    """Run the whole benchmark; return the results as a dict."""
    host = machine()
    pcm, source = test_signal(settings.signal_s)
    payloads = opus_packets(pcm)
    signal = {"source": source, "frames": len(payloads),
              "mean_payload_bytes": round(sum(map(len, payloads)) / len(payloads), 1)}
    log("gateway bench: %(frames)d Opus frames of %(source)s, mean payload %(mean_payload_bytes).1f bytes" % signal)
    baseline = baseline_costs(payloads, settings)
    log("baseline: %s" % baseline)
    bench = _Bench(settings, payloads, baseline, log)
    rows = [bench.step(streams) for streams in settings.steps]
    _refine(rows, settings, bench.step, bench.within_budget)
    profile = bench.profile()
    after = baseline_costs(payloads, settings)
    log("baseline after the steps: %s" % after)
    gateway_cores, sender_cores = cores()
    return {"benchmark": "gateway", "machine": host, "source": source_state(_MEASURED_SOURCES),
            "settings": asdict(settings), "cores": {"gateway": gateway_cores, "senders": sender_cores},
            "signal": signal, "baseline_us": baseline, "baseline_after_us": after, "steps": rows,
            "summary": overall(rows, baseline), "profile": profile}


def _parse(argv):
    defaults = BenchSettings()
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default=",".join(map(str, defaults.steps)),
                        help="stream counts, comma-separated (default %(default)s)")
    parser.add_argument("--duration-s", type=float, default=defaults.duration_s,
                        help="measured seconds per step (default %(default)s)")
    parser.add_argument("--warmup-s", type=float, default=defaults.warmup_s)
    parser.add_argument("--senders", type=int, default=defaults.senders, help="sender processes")
    parser.add_argument("--rtcp-interval-s", type=float, default=defaults.rtcp_interval_s,
                        help="sender report interval per stream; 0 sends none")
    parser.add_argument("--refine", type=int, default=defaults.refine,
                        help="extra steps bisecting towards the largest clean count")
    parser.add_argument("--profile-streams", type=int, default=defaults.profile_streams,
                        help="streams in the cProfile step; 0 skips it")
    parser.add_argument("--profile-s", type=float, default=defaults.profile_s)
    parser.add_argument("--quiet-wait-s", type=float, default=defaults.quiet_wait_s,
                        help="before each step, wait up to this long for an idle machine")
    parser.add_argument("--retries", type=int, default=defaults.retries,
                        help="re-runs of a step disturbed by other load on the machine")
    parser.add_argument("--budget-s", type=float, default=defaults.budget_s,
                        help="no retries or refining steps start after this many seconds")
    args = parser.parse_args(argv)
    steps = tuple(sorted({int(value) for value in args.steps.split(",") if value.strip()}))
    if not steps or min(steps) < 1 or max(steps) > 5000:
        parser.error("--steps: stream counts must be 1..5000")
    if not 0 < args.duration_s <= 60 or not 0 <= args.warmup_s <= 30 or not 1 <= args.senders <= 16:
        parser.error("--duration-s 0..60, --warmup-s 0..30, --senders 1..16")
    return BenchSettings(steps=steps, duration_s=args.duration_s, warmup_s=args.warmup_s,
                         senders=args.senders, rtcp_interval_s=args.rtcp_interval_s,
                         refine=max(0, args.refine), profile_streams=max(0, args.profile_streams),
                         profile_s=args.profile_s, quiet_wait_s=max(0.0, args.quiet_wait_s),
                         retries=max(0, args.retries), budget_s=max(0.0, args.budget_s))


def main(argv=None):
    """Run with the command-line settings; write results/gateway.{json,md}."""
    settings = _parse(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    data = run(settings)
    data["wall_s"] = round(time.monotonic() - started, 1)
    paths = write_results("gateway", data, render(data))
    print("gateway bench: %s in %.0f s; wrote %s and %s"
          % (data["summary"]["headline"], data["wall_s"], *paths))


if __name__ == "__main__":
    main()
