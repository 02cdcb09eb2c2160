"""The fleet benchmark's fleet.md: headline against the targets, per-device spreads, CPU."""
from bench._report import markdown_table

TARGETS_S = {"provision_all": 10.0, "push_all": 2.0, "connect_p99": 0.020}


def _verdict(value, target):
    if value is None:
        return "not reached"
    return "met" if value < target else "missed"


def render(data):
    """The human-readable fleet.md."""
    enrol, prov, push_, conn = data["enrol"], data["provisioning"], data["push"], data["connect"]
    info = data["machine"]
    head = [
        "# Fleet control plane", "",
        "Measured %s on %s (%d CPUs), Python %s. Source: commit %s%s. %d simulated devices in %d "
        "worker processes, TLS to mosquitto on 127.0.0.1, fleet service and gateway in one process."
        % (info["date_utc"], info["cpu_model"], info["cpus"], info["python"], data["source"]["commit"],
           " (uncommitted: %s)" % ", ".join(data["source"]["uncommitted_files"])
           if data["source"]["uncommitted_files"] else "", data["settings"]["devices"],
           data["settings"]["workers"]), "",
    ]
    headline = markdown_table(["figure", "value", "target"], [
        ["enrol %d devices (registry + broker accounts)" % enrol["devices"], "%.2f s" % enrol["s"], "-"],
        ["provisioning: all connected", "%.2f s" % prov["all_connected_s"], "-"],
        ["provisioning: all hellos recorded", "%.2f s" % (prov["all_hellos_s"] or float("nan")), "-"],
        ["provisioning: all configs acknowledged", "%.2f s" % (prov["all_acked_s"] or float("nan")),
         "< 10 s: %s" % _verdict(prov["all_acked_s"], TARGETS_S["provision_all"])],
        ["config push to all: every ack recorded", "%.2f s" % (push_["all_acked_s"] or float("nan")),
         "< 2 s: %s" % _verdict(push_["all_acked_s"], TARGETS_S["push_all"])],
        ["connect time p50 / p99 (%d requests)" % conn["total"]["n"],
         "%s / %s ms" % (conn["total"]["p50_ms"], conn["total"]["p99_ms"]),
         "p99 < 20 ms: %s" % _verdict((conn["total"]["p99_ms"] or 1e9) / 1000, TARGETS_S["connect_p99"])],
    ])
    per_device = markdown_table(["per device", "n", "p50 ms", "p99 ms", "max ms"], [
        [label, spread["n"], spread["p50_ms"], spread["p99_ms"], spread["max_ms"]] for label, spread in (
            ("provisioning: start -> connected (TLS + CONNACK)", prov["connect"]),
            ("provisioning: hello -> config received", prov["hello_to_config"]),
            ("provisioning: hello -> config acknowledged (PUBACK)", prov["hello_to_ack"]),
            ("provisioning: go -> config acknowledged", prov["go_to_ack"]),
            ("push: set_config -> config received", push_["received"]),
            ("push: set_config -> ack sent (PUBACK)", push_["acked"]),
            ("connect: request -> PUBACK", conn["request_to_puback"]),
            ("connect: request -> grant received", conn["request_to_grant"]),
            ("connect: grant -> first packet sent (SRTP + Opus set-up, encode)", conn["grant_to_sent"]),
            ("connect: sent -> accepted by the gateway", conn["sent_to_accepted"]),
            ("connect: request -> first packet accepted", conn["total"]))])
    cpu = markdown_table(["phase", "wall s", "broker CPU s", "service process CPU s", "device workers CPU s",
                          "rest of the machine CPU s"], [
        [name, phase["cpu"]["wall_s"], phase["cpu"]["broker_s"], phase["cpu"]["service_s"],
         phase["cpu"]["workers_s"], phase["cpu"]["others_s"]]
        for name, phase in (("enrol", enrol), ("provisioning", prov), ("push", push_))])
    stats = prov["client_stats"]
    notes = [
        "Simulated devices' clients: %d connects, %d connect failures, %d reconnects, %d publish retries; "
        "worker processes' CPU %.2f s in all." % (stats["connects"], stats["connect_failures"],
                                                  stats["reconnects"], stats["publish_retries"], stats["cpu_s"]),
        "Kernel listen-queue drops during provisioning (SYNs turned away): %s. Waited %.1f s for a quiet "
        "machine before starting (busy fraction then %.2f)." % (
            prov["listen_queue_drops"], data["quiet_wait"]["waited_s"], data["quiet_wait"]["busy_fraction"]),
        "Push: set_config %.3f s, all %d publishes done %.3f s after the start; %d acks sent by devices, "
        "%d recorded." % (push_["set_config_s"], push_["devices"], push_["publish_all_s"],
                          push_["acks_sent_by_devices"], push_["acked_recorded"]),
        "Service counters: %s. Its MQTT client: %d connects, %d malformed. Broker log: %d warnings of "
        "outgoing messages dropped." % (
            ", ".join("%s %d" % item for item in sorted(data["service_counters"].items())),
            data["service_client_stats"]["connects"], data["service_client_stats"]["malformed"],
            data["broker_log"]["outgoing_dropped_warnings"]),
    ]
    return "\n".join(head + [headline, "", per_device, "", cpu, ""] + notes)
