"""Fleet control plane: provisioning 1,000 devices, a config push to all, session connect time.

Everything real on 127.0.0.1: mosquitto from host/fleet/broker.ensure_broker
(TLS, dynsec, the pattern ACL) in a temporary state dir on a free port; the
SQLite registry; the fleet service (host/fleet/service.FleetService with the
client `pipit fleet serve` uses) and a gateway in this process. Devices are
simulated (bench/_fleet_devices.py): a few worker processes each run a few
hundred device control planes (our MqttClient over TLS, the device's own
messages) on one asyncio loop, not one OS process per device.

1. Enrolment: enrolment.enroll_devices (registry + broker accounts, batched).
2. Provisioning: every device starts at once: connect, Status online, Hello,
   subscribe, the config the service publishes on Hello, ConfigAck. Timed to
   the registry showing every Hello and every config acknowledged.
3. Config push: registry.set_config("all", ...) and one publish per device,
   timed to the registry showing every device acknowledging the new version.
4. Connect time: a probe device (bench/_fleet_probe.py) asks for a session
   again and again; from publishing the request to the gateway's arrival time
   of the first packet it accepted for the new session (GatewaySession.first_received_s).

    python -m bench.fleet [--devices 1000] [--workers 4] [--requests 60]

Results: bench/results/fleet.json and fleet.md.
"""
import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path

from bench._cpuload import wait_for_quiet
from bench._fleet_devices import run_worker
from bench._fleet_meters import CpuMeter, RegistryWatch, broker_log_summary, listen_drops, raise_open_files
from bench._fleet_probe import run_probe
from bench._fleet_report import render
from bench._report import machine, percentile, source_state, write_results
from host.fleet import broker as pipit_broker
from host.fleet import broker_process
from host.fleet.enrolment import enroll_device, enroll_devices
from host.fleet.gateways import LocalGateway
from host.fleet.registry import open_registry
from host.fleet.runner import service_client
from host.fleet.service import FleetService
from host.gateway.server import Gateway, GatewaySettings

PHASE_TIMEOUT_S = 90.0
_POLL_S = 0.02


class NullSink:
    def write(self, pcm):
        pass

    def close(self):
        pass


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 2)


def _spread(values_s):
    """p50, p99 and max in ms of a list of seconds."""
    ordered = sorted(values_s)
    return {"n": len(ordered), "p50_ms": _ms(percentile(ordered, 0.50)), "p99_ms": _ms(percentile(ordered, 0.99)),
            "max_ms": _ms(ordered[-1]) if ordered else None}


async def _recv(conn, timeout_s):
    def receive():
        if not conn.poll(timeout_s):
            raise TimeoutError("bench: a worker did not answer within %.0f s" % timeout_s)
        return conn.recv()
    return await asyncio.to_thread(receive)


async def _wait_counts(watch, target, version, started_s, timeout_s):
    """Poll the registry until every device has said hello and applied; (hellos_s, applied_s)."""
    hellos_s = applied_s = None
    deadline = started_s + timeout_s
    while applied_s is None:
        hellos, applied = watch.counts(version)
        now = time.monotonic()
        if hellos_s is None and hellos >= target:
            hellos_s = now - started_s
        if applied >= target:
            applied_s = now - started_s
        elif now > deadline:
            break
        else:
            await asyncio.sleep(_POLL_S)
    return hellos_s, applied_s, watch.counts(version)


class Workers:
    """The simulated devices' processes."""

    def __init__(self, identities, count, broker):
        context = multiprocessing.get_context("spawn")
        devices = sorted((i.device_id, i.password) for i in identities.values())
        self.links, self.processes = [], []
        for index in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=run_worker, args=(child, devices[index::count], broker), daemon=True)
            process.start()
            self.links.append(parent)
            self.processes.append(process)

    async def ask(self, command, timeout_s=PHASE_TIMEOUT_S):
        for link in self.links:
            link.send((command,))
        return [await _recv(link, timeout_s) for link in self.links]

    async def ready(self):
        """Wait until every worker has built its clients."""
        self._cpu_s = sum([(await _recv(link, PHASE_TIMEOUT_S))[1] for link in self.links])

    async def report(self):
        """({device_id: times}, summed client stats, worker CPU s since the last report)."""
        times, stats = {}, {}
        for _, part, part_stats in await self.ask("report"):
            times.update(part)
            for name, value in part_stats.items():
                stats[name] = round(stats.get(name, 0) + value, 3)
        used, self._cpu_s = stats["cpu_s"] - self._cpu_s, stats["cpu_s"]
        return times, stats, used

    async def stop(self):
        try:
            await self.ask("stop", 30)
        finally:
            for process in self.processes:
                process.join(10)
                if process.is_alive():
                    process.terminate()
                    process.join(5)


def _provisioning_figures(times, go_s):
    connect, hello_to_ack, start_to_ack, hello_to_config = [], [], [], []
    for record in times.values():
        if "connected" in record:
            connect.append(record["connected"] - record["start"])
        if record["acked"]:
            first = min(record["acked"])
            hello_to_ack.append(record["acked"][first] - record["hello"])
            hello_to_config.append(record["config"][first] - record["hello"])
            start_to_ack.append(record["acked"][first] - go_s)
    last_connected = max((r["connected"] for r in times.values() if "connected" in r), default=None)
    return {"connect": _spread(connect), "hello_to_config": _spread(hello_to_config),
            "hello_to_ack": _spread(hello_to_ack), "go_to_ack": _spread(start_to_ack),
            "all_connected_s": None if last_connected is None else round(last_connected - go_s, 3)}


async def provision(workers, watch, count, cpu):
    """Start every device at once; time to all hellos and all configs acknowledged."""
    cpu.mark()
    drops = listen_drops()
    for link in workers.links:
        link.send(("go",))
    go_s = time.monotonic()
    hellos_s, applied_s, final = await _wait_counts(watch, count, None, go_s, PHASE_TIMEOUT_S)
    times, stats, workers_s = await workers.report()
    phase_cpu = cpu.mark(workers_s)  # includes the report's few ms
    figures = _provisioning_figures(times, go_s)
    figures.update({"devices": count, "all_hellos_s": hellos_s and round(hellos_s, 3),
                    "all_acked_s": applied_s and round(applied_s, 3), "hellos_recorded": final[0],
                    "acked_recorded": final[1], "client_stats": stats, "cpu": phase_cpu,
                    "listen_queue_drops": None if drops is None else listen_drops() - drops})
    return figures


async def push(service, registry, workers, watch, count, cpu):
    """set_config("all") + one publish per device; time to every ack of the new version."""
    cpu.mark()
    start_s = time.monotonic()
    version, device_ids = registry.set_config("all", {"volume_pct": 40})
    set_s = time.monotonic() - start_s
    await asyncio.gather(*(service.publish_config(device_id) for device_id in device_ids))
    published_s = time.monotonic() - start_s
    _, applied_s, final = await _wait_counts(watch, count, version, start_s, PHASE_TIMEOUT_S)
    times, _, workers_s = await workers.report()
    phase_cpu = cpu.mark(workers_s)
    received = [r["config"][version] - start_s for r in times.values() if version in r["config"]]
    acked = [r["acked"][version] - start_s for r in times.values() if version in r["acked"]]
    return {"devices": len(device_ids), "version": version, "set_config_s": round(set_s, 3),
            "publish_all_s": round(published_s, 3), "all_acked_s": applied_s and round(applied_s, 3),
            "acked_recorded": final[1], "acks_sent_by_devices": len(acked),
            "received": _spread(received), "acked": _spread(acked), "cpu": phase_cpu}


async def connect_times(registry, info, gateway, broker, requests):
    """Session request -> first packet accepted, `requests` times, one after another."""
    identity = await asyncio.to_thread(enroll_device, registry, info, "probe-1")
    context = multiprocessing.get_context("spawn")
    link, child = context.Pipe()
    process = context.Process(target=run_probe, args=(child, identity.device_id, identity.password, broker),
                              daemon=True)
    process.start()
    samples = []
    try:
        await _recv(link, PHASE_TIMEOUT_S)
        for index in range(requests):
            _, sent = await _recv(link, 30)
            served = gateway.session(sent["ssrc"])
            deadline = time.monotonic() + 5.0
            while served.first_received_s is None and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            sent["accepted_s"] = served.first_received_s
            samples.append(sent)
            link.send(("next",) if index + 1 < requests else ("stop",))
        _, stats = await _recv(link, 30)
    finally:
        process.join(10)
        if process.is_alive():
            process.terminate()
    done = [s for s in samples if s["accepted_s"] is not None]
    return {"requests": requests, "accepted": len(done),
            "total": _spread([s["accepted_s"] - s["request_s"] for s in done]),
            "request_to_puback": _spread([s["puback_s"] - s["request_s"] for s in done]),
            "request_to_grant": _spread([s["grant_s"] - s["request_s"] for s in done]),
            "grant_to_sent": _spread([s["sent_s"] - s["grant_s"] for s in done]),
            "sent_to_accepted": _spread([s["accepted_s"] - s["sent_s"] for s in done]),
            "probe_client_stats": stats}


async def run(args, info, state_dir):
    """All phases against a running broker; the results dict."""
    registry = open_registry(state_dir / "registry.sqlite")
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0), sink_factory=lambda session: NullSink())
    await gateway.start()
    # The probe asks for a session again and again: no rate limit for it.
    service = FleetService(service_client(info), registry, [LocalGateway("gw-1", gateway)],
                           min_grant_interval_s=0)
    await service.start()
    watch = RegistryWatch(state_dir / "registry.sqlite")
    cpu = CpuMeter(int((Path(info.state_dir) / "mosquitto.pid").read_text()))
    broker = {"host": info.connect_host, "port": info.port, "server_hostname": info.server_hostname,
              "ca_pem": Path(info.ca_path).read_text()}
    workers = None
    try:
        ids = ["sim-%04d" % index for index in range(args.devices)]
        started = time.monotonic()
        identities = await asyncio.to_thread(enroll_devices, registry, info, ids)
        enrol = {"devices": len(identities), "s": round(time.monotonic() - started, 3), "cpu": cpu.mark()}
        workers = Workers(identities, args.workers, broker)
        await workers.ready()
        provisioning = await provision(workers, watch, args.devices, cpu)
        pushed = await push(service, registry, workers, watch, args.devices, cpu)
        connect = await connect_times(registry, info, gateway, broker, args.requests)
        return {"enrol": enrol, "provisioning": provisioning, "push": pushed, "connect": connect,
                "service_counters": dict(service.counters), "service_rejections": dict(service.rejections),
                "service_client_stats": dict(service.client.stats)}
    finally:
        if workers is not None:
            await workers.stop()
        watch.close()
        await service.stop()
        await gateway.stop()
        registry.close()


def start_broker(state_dir, attempts=5):
    """ensure_broker on a free loopback port (another process may take a probed port: retry)."""
    import socket
    for attempt in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            return pipit_broker.ensure_broker(state_dir, port=port)
        except pipit_broker.BrokerError:
            if attempt == attempts - 1:
                raise


def main(argv=None):
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--requests", type=int, default=60, help="session requests timed for connect time")
    args = parser.parse_args(argv)
    waited_s, busy = wait_for_quiet(threshold=0.15, max_wait_s=30.0)
    data = {"machine": machine(), "source": source_state(("device", "host", "bench")),
            "settings": dict(vars(args), open_files=raise_open_files(args.devices * 2 + 256)),
            "quiet_wait": {"waited_s": round(waited_s, 1), "busy_fraction": round(busy, 3)}}
    with tempfile.TemporaryDirectory(prefix="pipit-bench-fleet-") as tmp:
        info = start_broker(Path(tmp) / "broker")
        try:
            data.update(asyncio.run(run(args, info, Path(tmp))))
        finally:
            broker_process.stop_broker(info.state_dir)
            data["broker_log"] = broker_log_summary(info.state_dir)
    json_path, md_path = write_results("fleet", data, render(data))
    print(render(data))
    print("\nwritten: %s, %s" % (json_path, md_path))


if __name__ == "__main__":
    main()
