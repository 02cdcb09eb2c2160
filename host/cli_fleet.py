"""`pipit broker ...` and `pipit fleet ...`: thin verbs over host/fleet."""
import asyncio
import json
import signal
import time
from pathlib import Path

from device import identity as identity_file
from device.control import settings as settings_rules
from host.fleet import broker as pipit_broker
from host.fleet import broker_process
from host.fleet import operations
from host.fleet.enrolment import enroll_device, revoke_device
from host.fleet.registry import open_registry


def _paths(args):
    return operations.FleetPaths(args.state_dir)


def _registry(paths):
    paths.registry.parent.mkdir(parents=True, exist_ok=True)
    return open_registry(paths.registry)


def _broker(paths):
    try:
        return operations.broker_for(paths)
    except pipit_broker.BrokerError as error:
        raise SystemExit("pipit: %s (start it with `pipit broker start`)" % error)


def parse_assignments(pairs):
    """KEY=VALUE words to a dict; values are JSON when they parse (60, true), else text."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit("pipit: expected KEY=VALUE, got %r" % pair)
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    return settings


def cmd_broker_start(args):
    paths = _paths(args)
    info = pipit_broker.ensure_broker(paths.broker, host=args.listen[0], port=args.listen[1],
                                      server_names=args.name or ())
    print("broker running: mqtts://%s:%d (CA %s)" % (info.connect_host, info.port, info.ca_path))
    return 0


def cmd_broker_stop(args):
    broker_process.stop_broker(_paths(args).broker)
    print("broker stopped")
    return 0


def cmd_broker_status(args):
    paths = _paths(args)
    running = broker_process.is_running(paths.broker)
    print("broker %s (state in %s)" % ("running" if running else "stopped", paths.broker))
    return 0 if running else 1


def cmd_enroll(args):
    paths = _paths(args)
    info = _broker(paths)
    with _registry(paths) as registry:
        try:
            identity = enroll_device(registry, info, args.device_id, args.board, args.tag or ())
        except ValueError as error:
            raise SystemExit("pipit: %s" % error)
    out = Path(args.out) if args.out else paths.devices / (args.device_id + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    identity_file.save(identity, out)
    out.chmod(0o600)
    print("enrolled %s; its bootstrap file (credentials, broker, CA) is %s" % (args.device_id, out))
    print("the password is in that file only: keep it, or revoke and enroll again")
    return 0


def _ago(last_seen_s):
    if not last_seen_s:
        return "never"
    seconds = max(0, time.time() - last_seen_s)
    return "%ds ago" % seconds if seconds < 120 else "%dm ago" % (seconds // 60)


def cmd_list(args):
    with _registry(_paths(args)) as registry:
        records = registry.list(tag=args.tag, include_revoked=args.revoked)
    if args.json:
        print(json.dumps([record.to_dict() for record in records], indent=1))
        return 0
    header = ("ID", "BOARD", "FIRMWARE", "ONLINE", "LAST SEEN", "GATEWAY", "CONFIG")
    rows = [(r.id, r.board or "-", r.firmware or "-",
             "revoked" if r.revoked else ("yes" if r.online else "no"), _ago(r.last_seen_s),
             r.gateway or "-", "%d/%d" % (r.config_version_applied, r.config_version_desired))
            for r in records]
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    print("%d device(s); CONFIG is applied/desired version" % len(rows))
    return 0


def cmd_show(args):
    with _registry(_paths(args)) as registry:
        record = registry.get(args.device_id)
        if record is None:
            raise SystemExit("pipit: no device %r" % args.device_id)
        data = record.to_dict()
        data["telemetry"] = registry.telemetry(args.device_id, 1)
    print(json.dumps(data, indent=1, default=str))
    return 0


def _selector(args):
    chosen = [s for s in (args.device, args.tag and "tag:" + args.tag, args.all and "all") if s]
    if len(chosen) != 1:
        raise SystemExit("pipit: choose exactly one of --device ID, --tag TAG, --all")
    return chosen[0]


def cmd_set(args):
    paths = _paths(args)
    settings = parse_assignments(args.assignments)
    try:
        settings_rules.validate_dict(settings)
    except ValueError as error:
        raise SystemExit("pipit: %s" % error)
    info = _broker(paths)
    with _registry(paths) as registry:
        version, device_ids, acks = asyncio.run(
            operations.push_config(info, registry, _selector(args), settings, args.wait_s))
    if version is None:
        raise SystemExit("pipit: no device matches")
    failed = {d: a.error for d, a in acks.items() if not a.ok}
    print("config version %d sent to %d device(s); acknowledged by %d, refused by %d, no answer from %d"
          % (version, len(device_ids), len(acks) - len(failed), len(failed), len(device_ids) - len(acks)))
    for device_id, error in sorted(failed.items()):
        print("  %s refused: %s" % (device_id, error))
    return 0 if not failed else 1


def cmd_tag(args):
    with _registry(_paths(args)) as registry:
        (registry.untag if args.remove else registry.tag)(args.device_id, args.tag)
    print("%s %s %s" % ("untagged" if args.remove else "tagged", args.device_id, args.tag))
    return 0


def cmd_command(args):
    paths = _paths(args)
    info = _broker(paths)
    with _registry(paths) as registry:
        try:
            ack = asyncio.run(operations.send_command(info, registry, args.device_id, args.name,
                                                      parse_assignments(args.args), args.wait_s))
        except ValueError as error:
            raise SystemExit("pipit: %s" % error)
    if ack is None:
        print("%s: no answer within %.1f s (the device may be offline)" % (args.device_id, args.wait_s))
        return 1
    print("%s: %s%s" % (args.device_id, "ok" if ack.ok else "refused: " + ack.error,
                        " " + json.dumps(ack.result) if ack.result else ""))
    return 0 if ack.ok else 1


def cmd_revoke(args):
    paths = _paths(args)
    info = _broker(paths)
    with _registry(paths) as registry:
        revoke_device(registry, info, args.device_id)
    print("revoked %s: its broker account is gone and its connection dropped" % args.device_id)
    return 0


def _conversation_config(args):
    if args.record_only:
        return None
    from host.pipeline.config import Config, ConfigError, load
    from host.talk import quiet_pipecat_logs
    quiet_pipecat_logs()
    try:
        return load(args.config) if args.config else Config()
    except ConfigError as error:
        raise SystemExit("pipit fleet serve: %s" % error)


def cmd_serve(args):
    from host.fleet.runner import serve_fleet
    stop = asyncio.Event()
    config = _conversation_config(args)

    async def main():
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_fleet(_paths(args), args.gateway_listen, args.advertise, stop,
                          on_ready=lambda text: print(text, flush=True), conversation_config=config,
                          max_sessions=args.max_sessions)
    asyncio.run(main())
    return 0
