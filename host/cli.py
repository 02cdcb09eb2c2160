"""`pipit`: one verb per job; each parses flags and calls a library function."""
import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from device import codec
from device import session as media_session


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

    device = verbs.add_parser("device", help="run the device runtime on this machine")
    device_verbs = device.add_subparsers(dest="device_verb", required=True)
    stream = device_verbs.add_parser("stream", help="stream a WAV file as a session file says")
    stream.add_argument("--session", required=True)
    stream.add_argument("--wav", required=True, help="16-bit WAV at the session's rate")
    stream.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    stream.add_argument("--sdp", help="also write an SDP describing the stream")
    stream.add_argument("--timeout-s", type=float, default=600)
    stream.set_defaults(func=cmd_device_stream)

    gateway = verbs.add_parser("gateway", help="run the media gateway, recording sessions to WAV")
    gateway.add_argument("--session", action="append", required=True, help="session file (repeatable)")
    gateway.add_argument("--listen", type=host_port, default=("127.0.0.1", 5004), metavar="HOST:PORT")
    gateway.add_argument("--record", default="recordings", help="folder for <ssrc>.wav files")
    gateway.add_argument("--duration-s", type=float, help="stop after this many seconds")
    gateway.set_defaults(func=cmd_gateway)
    return parser


def main(argv=None):
    """Console entry point."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
