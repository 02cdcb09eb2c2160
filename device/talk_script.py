"""`python -m device.talker`: a scripted conversation on the virtual board.

    micropython -m device.talker SESSION.json MIC SPEAKER.wav [options]
    python3 -m device.talker SESSION.json MIC SPEAKER.wav [options]

MIC is what the user says: `-` (silence only), a WAV file, or a comma-
separated list `a.wav@0,b.wav@3200`: each file starts at that many ms after
the microphone's first frame (rounded down to a frame), cutting short what
was playing; a file without `@MS` is heard after the one before it. After
the last file the microphone hears silence for as long as the run lasts.
The WAVs must have the session's sample rate and channels.

SPEAKER.wav receives what the device plays, with SPEAKER.wav.timeline
(`sample_offset,ticks_ms,samples` per write: when each frame was played).

Options:
    --mode push_to_talk|always_listening   (default push_to_talk)
    --half-duplex                          mute the microphone while speaking
    --no-voice-gate                        always listening: send every frame, not only
                                           what the voice gate lets through
    --press PRESS_MS:RELEASE_MS[,...]      the button's schedule, ms after the start;
                                           repeatable (push-to-talk on the virtual board)
    --volume PCT                           speaker volume 0..100 (default 100: unity)
    --idle-stop-ms N                       stop once the microphone and button scripts are
                                           over and the device has been idle, with nothing
                                           to play, for N ms (default 3000)
    --max-ms N                             stop after N ms whatever happens (default 60000)
    --stall-timeout-ms N                   give up on a gateway that says nothing about a
                                           turn for N ms: back to idle (default 15000)

At the end it prints one JSON line: "uplink", "downlink", "conversation"
(device/talker.py Talker.as_dict), "mic" ({"start_ms", "heard": [[path,
ticks_ms]]}), "started_ms", "ended_ms". All times are ticks_ms
(CLOCK_MONOTONIC in ms, masked to 30 bits, on both runtimes).
"""
import asyncio
import json

from device import session as media_session
from device.conversation import IDLE, MODES, PUSH_TO_TALK, STALL_TIMEOUT_MS
from device.hal import clock
from device.hal.net import UdpEndpoint
from device.hal.virtual import VirtualButton, VirtualMic, VirtualSpeaker
from device.talker import Talker

USAGE = ("usage: device.talker SESSION.json MIC SPEAKER.wav [--mode push_to_talk|always_listening] "
         "[--half-duplex] [--no-voice-gate] [--press MS:MS[,MS:MS]] [--volume PCT] [--idle-stop-ms N] [--max-ms N] [--stall-timeout-ms N]")
_DEFAULTS = {"mode": PUSH_TO_TALK, "half_duplex": False, "voice_gate": True, "presses": [], "volume": 100,
             "idle_stop_ms": 3000, "max_ms": 60000, "stall_timeout_ms": STALL_TIMEOUT_MS}
_INT_OPTIONS = {"--volume": "volume", "--idle-stop-ms": "idle_stop_ms", "--max-ms": "max_ms",
                "--stall-timeout-ms": "stall_timeout_ms"}


def parse_args(argv):
    """(session path, mic spec, speaker path, options dict); ValueError with the reason."""
    options = dict(_DEFAULTS)
    options["presses"] = []
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--half-duplex":
            options["half_duplex"] = True
        elif arg == "--no-voice-gate":
            options["voice_gate"] = False
        elif arg in ("--mode", "--press") or arg in _INT_OPTIONS:
            if i + 1 == len(argv):
                raise ValueError("%s needs a value" % arg)
            i += 1
            _take_option(options, arg, argv[i])
        elif arg.startswith("--"):
            raise ValueError("unknown option %s" % arg)
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 3:
        raise ValueError("expected SESSION.json MIC SPEAKER.wav, got %d arguments" % len(positional))
    return positional[0], positional[1], positional[2], options


def _take_option(options, name, value):
    if name == "--mode":
        if value not in MODES:
            raise ValueError("--mode must be one of %s" % ", ".join(MODES))
        options["mode"] = value
    elif name == "--press":
        options["presses"].extend(parse_presses(value))
    else:
        options[_INT_OPTIONS[name]] = _ints([value], 1, name + " takes an integer >= 0")[0]
        if options["volume"] > 100:
            raise ValueError("--volume takes 0..100")


def parse_presses(text):
    """[(press_ms, release_ms)] from `0:2500,4000:4500` (`-`: none)."""
    if text == "-":
        return []
    return [tuple(_ints(item.split(":"), 2, "--press takes PRESS_MS:RELEASE_MS[,...]"))
            for item in text.split(",")]


def _ints(texts, count, reason):
    try:
        values = [int(text) for text in texts]
    except ValueError:
        raise ValueError(reason)
    if len(values) != count or min(values) < 0:
        raise ValueError(reason)
    return values


def parse_mic(spec):
    """[(path, at_ms or None)] from `a.wav@0,b.wav@3200` (`-` is silence: [])."""
    if spec == "-":
        return []
    items = []
    for item in spec.split(","):
        at = item.rfind("@")
        if at < 0:
            items.append((item, None))
        else:
            items.append((item[:at], _ints([item[at + 1:]], 1, "MIC takes PATH[@MS],... with MS >= 0")[0]))
    return items


def make_mic(session, items):
    """The virtual microphone hearing the scripted files, then silence."""
    mic = VirtualMic(frame_ms=session.frame_ms, keep_open=True,
                     sample_rate_hz=session.sample_rate_hz, channels=session.channels)
    for index, (path, at_ms) in enumerate(items):
        if at_ms is None and index == 0:
            at_ms = 0
        if at_ms is None:
            mic.say(path)
        else:
            mic.say_at(path, at_ms)
    return mic


def _quiet(talker, mic, button):
    return (talker.conversation.state == IDLE and not talker.busy and mic.done
            and (button is None or button.done))


async def talk(session, mic, speaker, button, options):
    """Run the Talker on the virtual board until idle (or max_ms); return the stats dict."""
    endpoint = UdpEndpoint(session.gateway_host, session.gateway_port)
    talker = Talker(session, mic, endpoint, speaker=speaker, button=button, mode=options["mode"],
                    half_duplex=options["half_duplex"], volume_pct=options["volume"],
                    stall_timeout_ms=options["stall_timeout_ms"], voice_gate=options["voice_gate"])
    started = clock.ticks_ms()
    if button is not None:
        button.start(started)
    task = asyncio.create_task(talker.run())
    quiet_since = None
    while clock.ticks_diff(clock.ticks_ms(), started) < options["max_ms"]:
        await clock.sleep_ms(20)
        if not _quiet(talker, mic, button):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = clock.ticks_ms()
        elif clock.ticks_diff(clock.ticks_ms(), quiet_since) >= options["idle_stop_ms"]:
            break
    talker.stop()
    stats = await task
    endpoint.close()
    stats["mic"] = {"start_ms": mic.start_ticks_ms, "heard": [list(item) for item in mic.heard]}
    stats["started_ms"] = started
    stats["ended_ms"] = clock.ticks_ms()
    return stats


def main(argv):
    """Command-line entry; prints the stats as one JSON line."""
    try:
        session_path, mic_spec, speaker_path, options = parse_args(argv)
        session = media_session.load(session_path)
        mic = make_mic(session, parse_mic(mic_spec))
        button = VirtualButton(options["presses"]) if options["presses"] else None
    except (OSError, ValueError) as error:
        print("device.talker: %s" % error)
        print(USAGE)
        return 2
    speaker = VirtualSpeaker(speaker_path, session.sample_rate_hz, session.channels, timeline=True)
    try:
        stats = asyncio.run(talk(session, mic, speaker, button, options))
    finally:
        speaker.close()
        mic.close()
    print(json.dumps(stats))
    return 0
