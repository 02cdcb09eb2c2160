"""`pipit`: one verb per job; each parses flags and calls a library function."""
import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from device import session as media_session
from host.cli_talk import add_talk


def host_port(text):
    """Parse HOST:PORT for argparse, with a clear error."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT (port 0..65535), got %r" % text)
    return host, int(port)


def _load_session(path):
    try:
        return media_session.load(path)
    except (OSError, ValueError) as error:
        raise SystemExit("pipit: session file %s: %s" % (path, error))


def cmd_demo(args):
    from host import demo
    return demo.main(args.work_dir, args.text or demo.DEMO_TEXT)


def cmd_session_new(args):
    from host.sdp import uplink_sdp
    from host.sessions import new_session
    session = new_session(args.gateway[0], args.gateway[1], args.codec,
                          sample_rate_hz=args.sample_rate_hz, frame_ms=args.frame_ms)
    media_session.save(session, args.out)
    print("session written to %s (uplink SSRC %08x, %s)" % (args.out, session.uplink_ssrc, session.codec))
    if args.sdp:
        Path(args.sdp).write_text(uplink_sdp(session))
        print("SDP written to %s" % args.sdp)
    return 0


def cmd_device_stream(args):
    from host.loopback import run_device_stream
    from host.sdp import uplink_sdp
    session = _load_session(args.session)
    if args.sdp:
        Path(args.sdp).write_text(uplink_sdp(session))
    stats = asyncio.run(run_device_stream(args.runtime, args.session, args.wav, args.timeout_s))
    print(json.dumps(stats, indent=2))
    return 0


def cmd_device_run(args):
    import os
    from host.runtimes import device_command, device_env
    argv = device_command(args.runtime, "device.main", [args.identity] + ([args.mic] if args.mic else []))
    os.execve(argv[0], argv, device_env(args.runtime))


async def _run_gateway(args, sessions):
    from host.gateway.server import GatewaySettings, serve
    from host.gateway.wav_sink import wav_sink_factory
    Path(args.record).mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if args.duration_s:
        loop.call_later(args.duration_s, stop.set)
    settings = GatewaySettings(host=args.listen[0], port=args.listen[1])

    def ready(gateway, address):
        print("gateway listening on %s:%d, %d session(s), recording to %s"
              % (address[0], address[1], len(sessions), args.record), flush=True)

    return await serve(settings, sessions, wav_sink_factory(args.record), stop, ready)


def cmd_gateway(args):
    sessions = [_load_session(path) for path in args.session]
    final = asyncio.run(_run_gateway(args, sessions))
    print(json.dumps(final, indent=2, default=str))
    return 0


def build_parser():
    """The argparse tree of every pipit command."""
    parser = argparse.ArgumentParser(prog="pipit", description="Voice-companion toolkit.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    demo = verbs.add_parser("demo", help="stream speech from the virtual board to a local gateway")
    demo.add_argument("--work-dir", help="where to keep the WAV files (default: a temp dir)")
    demo.add_argument("--text", help="what the virtual board says")
    demo.set_defaults(func=cmd_demo)

    add_talk(verbs)
    _add_session(verbs)
    device_verbs, run = _add_device(verbs)
    _add_gateway(verbs)
    _add_broker_and_fleet(verbs)
    from host import cli_flash
    cli_flash.register(verbs, device_verbs, run)
    return parser


def _add_session(verbs):
    session = verbs.add_parser("session", help="development-mode media sessions")
    session_verbs = session.add_subparsers(dest="session_verb", required=True)
    new = session_verbs.add_parser("new", help="write a session file with fresh SSRCs and keys")
    new.add_argument("--gateway", type=host_port, required=True, metavar="HOST:PORT")
    new.add_argument("--codec", choices=media_session.CODECS,
                     default="opus")
    new.add_argument("--sample-rate-hz", type=int, default=16000)
    new.add_argument("--frame-ms", type=int, default=20)
    new.add_argument("--out", required=True, help="session file to write")
    new.add_argument("--sdp", help="also write an SDP for receiving the uplink (ffmpeg, VLC)")
    new.set_defaults(func=cmd_session_new)


def _add_device(verbs):
    """`pipit device ...`; returns its subparsers and `device run` for cli_flash to extend."""
    device = verbs.add_parser("device", help="run the device runtime on this machine")
    device_verbs = device.add_subparsers(dest="device_verb", required=True)
    stream = device_verbs.add_parser("stream", help="stream a WAV file as a session file says")
    stream.add_argument("--session", required=True)
    stream.add_argument("--wav", required=True, help="16-bit WAV at the session's rate")
    stream.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    stream.add_argument("--sdp", help="also write an SDP describing the stream")
    stream.add_argument("--timeout-s", type=float, default=600)
    stream.set_defaults(func=cmd_device_stream)

    run = device_verbs.add_parser("run", help="run the device runtime from a bootstrap file")
    run.add_argument("--identity", required=True, help="bootstrap file from `pipit fleet enroll`")
    run.add_argument("--mic", help="virtual board: WAV file its microphone hears (then silence)")
    run.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    run.set_defaults(func=cmd_device_run)
    return device_verbs, run


def _add_gateway(verbs):
    gateway = verbs.add_parser("gateway", help="run the media gateway, recording sessions to WAV")
    gateway.add_argument("--session", action="append", required=True, help="session file (repeatable)")
    gateway.add_argument("--listen", type=host_port, default=("127.0.0.1", 5004), metavar="HOST:PORT")
    gateway.add_argument("--record", default="recordings", help="folder for <ssrc>.wav files")
    gateway.add_argument("--duration-s", type=float, help="stop after this many seconds")
    gateway.set_defaults(func=cmd_gateway)


def _add_broker_and_fleet(verbs):
    from host import cli_fleet as f
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument("--state-dir", help="where broker, registry and device files live (default: var/)")

    broker = verbs.add_parser("broker", help="the MQTT broker (mosquitto, TLS, per-device accounts)")
    broker_verbs = broker.add_subparsers(dest="broker_verb", required=True)
    start = broker_verbs.add_parser("start", parents=[state], help="generate CA/config if missing and start")
    start.add_argument("--listen", type=host_port, default=("127.0.0.1", 8883), metavar="HOST:PORT")
    start.add_argument("--name", action="append", help="extra DNS name for the server certificate")
    start.set_defaults(func=f.cmd_broker_start)
    broker_verbs.add_parser("stop", parents=[state]).set_defaults(func=f.cmd_broker_stop)
    broker_verbs.add_parser("status", parents=[state]).set_defaults(func=f.cmd_broker_status)

    fleet = verbs.add_parser("fleet", help="enroll, watch, configure and command devices")
    fleet_verbs = fleet.add_subparsers(dest="fleet_verb", required=True)
    _add_fleet_inventory(fleet_verbs, state, f)
    _add_fleet_changes(fleet_verbs, state, f)
    _add_fleet_serve(fleet_verbs, state, f)


def _add_fleet_inventory(fleet_verbs, state, f):
    """`pipit fleet enroll`, `list` and `show`: adding devices and looking at them."""
    enroll = fleet_verbs.add_parser("enroll", parents=[state], help="new device: id, credentials, bootstrap file")
    enroll.add_argument("device_id")
    enroll.add_argument("--board", default="virtual")
    enroll.add_argument("--tag", action="append")
    enroll.add_argument("--out", help="bootstrap file to write (default: var/devices/ID.json)")
    enroll.set_defaults(func=f.cmd_enroll)
    listing = fleet_verbs.add_parser("list", parents=[state], help="table of devices")
    listing.add_argument("--tag")
    listing.add_argument("--revoked", action="store_true", help="include revoked devices")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=f.cmd_list)
    show = fleet_verbs.add_parser("show", parents=[state], help="one device, in full")
    show.add_argument("device_id")
    show.set_defaults(func=f.cmd_show)


def _add_fleet_changes(fleet_verbs, state, f):
    """`pipit fleet set`, `tag`, `command` and `revoke`: changing devices."""
    setting = fleet_verbs.add_parser("set", parents=[state], help="KEY=VALUE config to a device, a tag or all")
    setting.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    setting.add_argument("--device")
    setting.add_argument("--tag")
    setting.add_argument("--all", action="store_true")
    setting.add_argument("--wait-s", type=float, default=5.0, help="how long to wait for acknowledgements")
    setting.set_defaults(func=f.cmd_set)
    tag = fleet_verbs.add_parser("tag", parents=[state], help="tag (or --remove) a device")
    tag.add_argument("device_id")
    tag.add_argument("tag")
    tag.add_argument("--remove", action="store_true")
    tag.set_defaults(func=f.cmd_tag)
    command = fleet_verbs.add_parser("command", parents=[state], help="listen, stop, volume, reboot, set_config")
    command.add_argument("device_id")
    command.add_argument("name", choices=("listen", "stop", "volume", "reboot", "set_config"))
    command.add_argument("args", nargs="*", metavar="KEY=VALUE")
    command.add_argument("--wait-s", type=float, default=5.0)
    command.set_defaults(func=f.cmd_command)
    revoke = fleet_verbs.add_parser("revoke", parents=[state], help="revoke a device's access")
    revoke.add_argument("device_id")
    revoke.set_defaults(func=f.cmd_revoke)


def _add_fleet_serve(fleet_verbs, state, f):
    serve = fleet_verbs.add_parser("serve", parents=[state], help="run the fleet service and a gateway")
    serve.add_argument("--gateway-listen", type=host_port, default=("127.0.0.1", 5004), metavar="HOST:PORT")
    serve.add_argument("--advertise", help="gateway address devices should use (when listening on 0.0.0.0)")
    serve.add_argument("--config", help="pipit.toml for the conversations (default: the embedded stack)")
    serve.add_argument("--max-sessions", type=int, metavar="N",
                       help="the most media sessions the gateway serves at once (default: no limit)")
    serve.add_argument("--record-only", action="store_true",
                       help="no conversation: only record each session's uplink to WAV")
    serve.set_defaults(func=f.cmd_serve)


def main(argv=None):
    """Console entry point."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
