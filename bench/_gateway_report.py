"""Turning raw gateway-bench results into table rows, a summary and Markdown."""
from bench._report import markdown_table

FRAME_S = 0.020
TARGET_STREAMS_PER_CORE = 400
# A step is undisturbed when the rest of the machine left the gateway's CPU and
# the senders alone: it is shared, and its neighbours come and go.
MAX_OTHER_LOAD_PCT = 10.0
MAX_SENDER_LATE_P99_MS = 5.0
# Neighbours outside this VM slow its CPU without showing in /proc/stat; a
# decode timed just before and after each step shows it.
MAX_CPU_SLOWDOWN = 1.3
# Nothing dropped is not enough for a voice gateway: the stricter figure also
# keeps the socket queue short (send -> PCM at p99, queueing included).
MAX_PROMPT_P99_MS = 20.0


def _sender_summary(senders):
    return {"late_p99_ms": max(s["late_p99_ms"] or 0.0 for s in senders),
            "late_max_ms": max(s["late_max_ms"] or 0.0 for s in senders),
            "cpu_s": round(sum(s["cpu_s"] for s in senders), 3),
            "rtcp_answers": sum(s["rtcp_answers"] for s in senders),
            "aborted": any(s["aborted"] for s in senders)}


def _ratio(value, reference):
    return None if value is None or not reference else round(value / reference, 2)


def summarise(raw, baseline, fastest_decode_us):
    """One table row from run_step()'s raw results, the baseline and the fastest decode seen."""
    gateway, senders = raw["gateway"], raw["senders"]
    window, totals = gateway["window"], gateway["totals"]
    sent = sum(s["sent_rtp"] for s in senders)
    kernel = (gateway["kernel"] or {}).get("drops")
    wall_s, cpu_s, packets = window["t_s"], window["cpu_s"], window["received"]
    per_packet_us = round(cpu_s / packets * 1e6, 2) if packets else None
    row = {
        "streams": raw["streams"], "packets_sent": sent, "packets_received": totals["received"],
        "dropped": sent - totals["received"], "kernel_drops": kernel, "lost": totals["lost"],
        "concealed": totals["concealed"], "fec_recovered": totals["fec_recovered"],
        "rtcp_sent": sum(s["sent_rtcp"] for s in senders), "rtcp_received": totals["rtcp_received"],
        "window_s": round(wall_s, 3), "window_packets": packets,
        "offered_pps": round(raw["streams"] / FRAME_S),
        "received_pps": round(packets / wall_s) if wall_s else None,
        "cpu_s_per_s": round(cpu_s / wall_s, 4) if wall_s else None,
        "cpu_us_per_packet": per_packet_us,
        "system_share_pct": round(100.0 * window["system_s"] / cpu_s, 1) if cpu_s else None,
        "cpu_per_stream_pct": round(100.0 * cpu_s / wall_s / raw["streams"], 4) if wall_s else None,
        "decode_us": round(sum(raw["decode_probes_us"]) / 2, 2),
        "decode_probes_us": raw["decode_probes_us"],
        "cpu_slowdown": round(max(raw["decode_probes_us"]) / fastest_decode_us, 2),
        "ratio_to_decode": _ratio(per_packet_us, sum(raw["decode_probes_us"]) / 2),
        "ratio_to_bare_libopus": _ratio(per_packet_us, baseline["libopus_bare_us"]),
        "latency_ms": gateway["latency_ms"], "send_to_pcm_ms": gateway["send_to_pcm_ms"],
        "loop_lag_ms": gateway["loop_lag_ms"], "gc": gateway["gc"],
        "other_load_on_gateway_cpu_pct": round(
            100.0 * max(0.0, window["core_busy_s"] - cpu_s) / wall_s, 1) if wall_s else None,
        "busy_before_step_pct": round(100.0 * raw["busy_before"], 1),
        "quiet_wait_s": raw["quiet_wait_s"], "receive_buffer_bytes": raw["receive_buffer_bytes"],
        "rx_queue_peak_bytes": raw["rx_queue_peak_bytes"], "sender": _sender_summary(senders),
    }
    row["clean"] = (row["dropped"] == 0 and not kernel and not row["lost"]
                    and not row["sender"]["aborted"])
    row["undisturbed"] = (row["other_load_on_gateway_cpu_pct"] is not None
                          and row["other_load_on_gateway_cpu_pct"] <= MAX_OTHER_LOAD_PCT
                          and row["sender"]["late_p99_ms"] <= MAX_SENDER_LATE_P99_MS
                          and row["cpu_slowdown"] <= MAX_CPU_SLOWDOWN)
    return row


def overall(steps, baseline):
    """Headline: the largest stream count served with nothing dropped, and its costs.

    Only undisturbed steps count; a disturbed one says nothing about the gateway.
    """
    undisturbed = [row for row in steps if row["undisturbed"]]
    inconclusive = not undisturbed
    steps = undisturbed or steps
    clean = [row for row in steps if row["clean"]]
    best = max(clean, key=lambda row: row["streams"]) if clean else None
    above = [row for row in steps if not row["clean"] and (best is None or row["streams"] > best["streams"])]
    first_dirty = min(above, key=lambda row: row["streams"]) if above else None
    prompt = [row for row in clean if (row["send_to_pcm_ms"]["p99"] or 0) <= MAX_PROMPT_P99_MS]
    summary = {"max_clean_streams_per_core": best["streams"] if best else 0,
               "max_prompt_streams_per_core": max(row["streams"] for row in prompt) if prompt else 0,
               "prompt_p99_ms": MAX_PROMPT_P99_MS,
               "first_dropping_step": first_dirty["streams"] if first_dirty else None,
               "target_streams_per_core": TARGET_STREAMS_PER_CORE,
               "meets_target": bool(best and best["streams"] >= TARGET_STREAMS_PER_CORE),
               "decode_only_ceiling_streams": int(1e6 * FRAME_S / baseline["opus_decoder_us"]),
               "receive_rtp_ceiling_streams": int(1e6 * FRAME_S / baseline["receive_rtp_us"]),
               "receive_rtp_many_ceiling_streams": int(1e6 * FRAME_S / baseline["receive_rtp_many_us"])}
    if best:
        summary.update({key + "_at_max": best[key] for key in (
            "cpu_s_per_s", "cpu_us_per_packet", "ratio_to_decode", "ratio_to_bare_libopus")})
        summary.update({"latency_p50_ms_at_max": best["latency_ms"]["p50"],
                        "latency_p99_ms_at_max": best["latency_ms"]["p99"],
                        "send_to_pcm_p50_ms_at_max": best["send_to_pcm_ms"]["p50"],
                        "send_to_pcm_p99_ms_at_max": best["send_to_pcm_ms"]["p99"]})
    if first_dirty:
        summary["received_pps_at_first_dropping"] = first_dirty["received_pps"]
        summary["offered_pps_at_first_dropping"] = first_dirty["offered_pps"]
    summary["inconclusive"] = inconclusive
    summary["headline"] = ("%d streams/core with nothing dropped (target %d: %s); %d with "
                           "send→PCM p99 under %.0f ms too%s" % (
                               summary["max_clean_streams_per_core"], TARGET_STREAMS_PER_CORE,
                               "met" if summary["meets_target"] else "not met",
                               summary["max_prompt_streams_per_core"], MAX_PROMPT_P99_MS,
                               " (INCONCLUSIVE: every step was disturbed by other load)"
                               if inconclusive else ""))
    return summary


_CAPACITY_HEADERS = ["streams", "offered pkt/s", "received pkt/s", "sent", "received", "dropped",
                     "kernel drops", "lost", "concealed", "CPU s/s", "CPU us/packet", "of which kernel %",
                     "CPU/stream % core", "decode us (probe)", "x decode", "clean"]
_HEALTH_HEADERS = ["streams", "latency p50 ms", "latency p99 ms", "send→PCM p50 ms",
                   "send→PCM p99 ms", "loop lag p99 ms", "rx queue peak KiB", "sender late p99 ms",
                   "other load on gateway CPU %", "CPU slowdown", "GC gen2 max ms"]


def _capacity_cells(row):
    return [row["streams"], row["offered_pps"], row["received_pps"], row["packets_sent"],
            row["packets_received"], row["dropped"], row["kernel_drops"], row["lost"],
            row["concealed"], row["cpu_s_per_s"], row["cpu_us_per_packet"], row["system_share_pct"],
            row["cpu_per_stream_pct"], row["decode_us"], row["ratio_to_decode"],
            ("yes" if row["clean"] else "NO") + ("" if row["undisturbed"] else " (disturbed)")]


def _health_cells(row):
    return [row["streams"], row["latency_ms"]["p50"], row["latency_ms"]["p99"],
            row["send_to_pcm_ms"]["p50"], row["send_to_pcm_ms"]["p99"], row["loop_lag_ms"]["p99"],
            round(row["rx_queue_peak_bytes"] / 1024.0, 1), row["sender"]["late_p99_ms"],
            row["other_load_on_gateway_cpu_pct"], row["cpu_slowdown"], row["gc"]["gen2"]["max_ms"]]


def _baseline_table(before, after):
    names = [("opus_decoder_us", "OpusDecoder.decode (gateway's binding)"),
             ("opus_decoder_many_us", "OpusDecoder.decode, 500 decoders taking turns"),
             ("opus_conceal_us", "OpusDecoder.conceal (PLC of one lost 20 ms frame)"),
             ("opuslib_next_decoder_us", "opuslib_next Decoder.decode"),
             ("libopus_bare_us", "bare libopus opus_decode"),
             ("srtp_unprotect_us", "libsrtp unprotect"),
             ("receive_rtp_us", "GatewaySession.receive_rtp (all of it)"),
             ("receive_rtp_many_us", "GatewaySession.receive_rtp, 500 sessions taking turns"),
             ("send_report_us", "GatewaySession.send_report (1/s per session)")]
    return markdown_table(["per packet, in-process", "us before steps", "us after steps"],
                          [[label, before[key], (after or {}).get(key)] for key, label in names])


def _profile_section(profile):
    packets = profile["window_packets"] or 1
    summary = profile["profile"]
    rows = [[entry["function"].replace("|", "/"), entry["calls"],
             round(entry["tottime_s"] * 1e6 / packets, 2),
             None if entry["busy_share"] is None else round(100.0 * entry["busy_share"], 1),
             round(entry["cumtime_s"] * 1e6 / packets, 2)]
            for entry in summary["by_own_time"]]
    return ["## Where the time goes (cProfile, %d streams, %d packets)" % (profile["streams"], packets), "",
            "Own time per received packet under cProfile (wall clock; it inflates every Python "
            "call, so shares matter more than absolute figures). Busy time %.2f s; epoll.poll "
            "(%.2f s) is mostly idle waiting and is left out of the shares." % (
                summary["busy_s"], summary["epoll_s"]), "",
            markdown_table(["function", "calls", "own us/packet", "own % of busy",
                            "cumulative us/packet"], rows)]


def _intro(data):
    machine, signal, source = data["machine"], data["signal"], data["source"]
    changes = source["uncommitted_files"]
    return ("Measured %s on %s (%d CPUs; gateway pinned to CPU %s, senders on %s), Python %s. "
            "Signal: %s, %d frames, mean Opus payload %.1f bytes. Source: commit %s%s. "
            "Full run %.0f s." % (
                machine["date_utc"], machine["cpu_model"], machine["cpus"], data["cores"]["gateway"],
                data["cores"]["senders"], machine["python"], signal["source"], signal["frames"],
                signal["mean_payload_bytes"], source["commit"],
                " plus uncommitted changes to " + ", ".join(changes) if changes else "",
                data.get("wall_s", 0)))


def render(data):
    """The human-readable gateway.md."""
    summary = data["summary"]
    lines = ["# Gateway capacity", "", _intro(data), "", "**%s.**" % summary["headline"], ""]
    if summary.get("cpu_us_per_packet_at_max") is not None:
        lines += ["At %d streams: %.2f CPU s/s, %.1f us per packet (%.2fx OpusDecoder.decode), "
                  "gateway latency p50 %.3f / p99 %.3f ms, send→PCM p50 %.2f / p99 %.2f ms. "
                  "Ceilings from in-process costs: decode alone %d streams, receive_rtp alone %d "
                  "(%d with 500 sessions taking turns)." % (
                      summary["max_clean_streams_per_core"], summary["cpu_s_per_s_at_max"],
                      summary["cpu_us_per_packet_at_max"], summary["ratio_to_decode_at_max"],
                      summary["latency_p50_ms_at_max"], summary["latency_p99_ms_at_max"],
                      summary["send_to_pcm_p50_ms_at_max"], summary["send_to_pcm_p99_ms_at_max"],
                      summary["decode_only_ceiling_streams"], summary["receive_rtp_ceiling_streams"],
                      summary["receive_rtp_many_ceiling_streams"]), ""]
    lines += ["## Per-packet reference costs", "", _baseline_table(data["baseline_us"], data.get("baseline_after_us")),
              "", "## Capacity", "", markdown_table(_CAPACITY_HEADERS, [_capacity_cells(r) for r in data["steps"]]),
              "", "## Latency and health", "", markdown_table(_HEALTH_HEADERS, [_health_cells(r) for r in data["steps"]]),
              "", "Clean: every packet sent was authenticated and decoded (no kernel drop, no gap declared "
              "lost). CPU us/packet: the gateway process's CPU time in the window over the RTP packets it "
              "received (RTCP and timers included). Latency: the gateway's own, from datagram_received to "
              "PCM at the sink. send→PCM: from the sender's schedule to the sink, so socket queueing is in "
              "it. Other load: time the gateway's CPU was busy with anything but the gateway. CPU "
              "slowdown: the slower of two OpusDecoder.decode probes (before and after the step) over "
              "the fastest seen in the run. Disturbed: other load above %.0f %%, senders late by more "
              "than %.0f ms at p99, or CPU slowdown above %.1fx (this machine is shared); such steps "
              "are retried once (time allowing) and never count for the headline."
              % (MAX_OTHER_LOAD_PCT, MAX_SENDER_LATE_P99_MS, MAX_CPU_SLOWDOWN), ""]
    if data.get("profile"):
        lines += _profile_section(data["profile"])
    return "\n".join(lines)
