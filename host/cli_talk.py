"""`pipit talk`: talk to the companion through a virtual board (host/talk.py)."""
import asyncio
import tempfile

from host.runtimes import RUNTIMES


def _utterance(text):
    from host.talk_script import Utterance
    words, sep, at = text.rpartition("@")
    if sep and at.isdigit():
        return Utterance(text=words, at_ms=int(at))
    return Utterance(text=text)


def _network(args):
    """(uplink, downlink) LinkConditions from the flags, or None for a straight path."""
    from host.netem import LinkConditions
    if not (args.loss_pct or args.delay_ms or args.jitter_ms):
        return None
    conditions = LinkConditions(args.loss_pct, args.delay_ms, args.jitter_ms)
    return conditions, conditions


def cmd_talk(args):
    from host import talk
    from host.pipeline.config import ConfigError, load
    from host.talk_script import Utterance
    try:
        config = load(args.config) if args.config else None
    except ConfigError as error:
        raise SystemExit("pipit talk: %s" % error)
    utterances = [_utterance(text) for text in args.say or ()]
    utterances += [Utterance(wav=path) for path in args.wav or ()]
    if not utterances:
        utterances = [Utterance(text=text) for text in talk.DEFAULT_QUESTIONS]
    for utterance in utterances:
        if utterance.text is not None:
            utterance.voice, utterance.words_per_minute = args.voice, args.rate
    if not args.verbose:
        talk.quiet_pipecat_logs()
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="pipit-talk-")
    try:
        network = _network(args)
        print("pipit talk: board on %s, %s, %d utterance(s)%s; files in %s"
              % (args.runtime, args.mode.replace("_", "-"), len(utterances),
                 "" if network is None else ", each way %r" % (network[0],), work_dir))
        result = asyncio.run(talk.run_talk(utterances, work_dir, runtime=args.runtime,
                                           mode=args.mode, config=config,
                                           half_duplex=args.half_duplex,
                                           voice_gate=not args.no_voice_gate, network=network))
    except ValueError as error:
        raise SystemExit("pipit talk: %s" % error)
    for line in talk.report_lines(result):
        print(line)
    answered = [turn for turn in result.turns if turn.first_played_s is not None]
    return 0 if len(answered) == len(result.turns) and result.final_state == "idle" else 1


def add_talk(verbs):
    """Register `pipit talk` on the top-level subparsers."""
    talk = verbs.add_parser("talk", help="talk to the companion through a virtual board")
    talk.add_argument("--say", action="append", metavar="TEXT[@MS]",
                      help="what the user says (espeak-ng), optionally MS after the start; "
                           "repeatable (default: three questions)")
    talk.add_argument("--wav", action="append", metavar="FILE",
                      help="a 16 kHz mono WAV the user says; repeatable")
    talk.add_argument("--voice", default="en-us", help="espeak-ng voice for --say (en-us)")
    talk.add_argument("--rate", type=int, default=160, help="words per minute for --say (160)")
    talk.add_argument("--runtime", choices=RUNTIMES, default="cpython",
                      help="the board's runtime: cpython (Opus) or micropython (L16)")
    talk.add_argument("--mode", choices=("always_listening", "push_to_talk"),
                      default="always_listening", help="how the board listens")
    talk.add_argument("--half-duplex", action="store_true",
                      help="mute the board's microphone while it speaks (no echo canceller)")
    talk.add_argument("--no-voice-gate", action="store_true",
                      help="always listening: the board sends every frame, not only what its voice gate opens for")
    talk.add_argument("--loss-pct", type=float, default=0.0,
                      help="a flaky network: lose this share of packets each way (host/netem.py)")
    talk.add_argument("--delay-ms", type=float, default=0.0, help="a flaky network: delay each way")
    talk.add_argument("--jitter-ms", type=float, default=0.0,
                      help="a flaky network: up to this much more delay, packet by packet (reorders)")
    talk.add_argument("--config", help="pipit.toml (default: the embedded stack, docs/pipit.toml)")
    talk.add_argument("--work-dir", help="where to keep the WAV files (default: a temp dir)")
    talk.add_argument("--verbose", action="store_true", help="keep Pipecat's debug log")
    talk.set_defaults(func=cmd_talk)
