"""`pipit talk`: a whole conversation with a virtual board, on this machine.

The board is the device runtime (`-m device.talker`) in its own process,
under CPython (Opus) or MicroPython (L16), the way a board would run it: its
microphone plays the user's utterances at real-time pace, its speaker writes
what it plays with a timeline. The gateway and one Pipecat conversation
(host/pipeline/conversation.py) run in this process on 127.0.0.1. At the end
the gateway's turn records and the board's speaker timeline are joined turn
by turn (host/talk_report.py).
"""
import asyncio
import copy
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from device import session as media_session
from device.hal.virtual import read_timeline
from host import talk_report, talk_script
from host.gateway.server import Gateway
from host.loopback import DEFAULT_CODEC, run_device_module
from host.netem import Relay
from host.pipeline.config import Config
from host.sessions import new_session

DEFAULT_QUESTIONS = ("what time is it", "set a timer for ten seconds", "turn the volume up")
MODES = ("always_listening", "push_to_talk")


@dataclass
class TalkResult:
    """Everything one conversation left behind."""
    turns: list                       # talk_report.SpokenTurn, one per utterance
    records: list                     # every TurnRecord.as_dict() the gateway closed
    device: dict                      # the board's stats line (device/talk_script.py)
    gateway: dict                     # the gateway's stats at the end
    speaker_wav: Path
    spans_s: list = field(default_factory=list)   # when the board's speaker played

    @property
    def final_state(self):
        """The board's conversation state when it stopped."""
        return self.device["conversation"]["state"]


def quiet_pipecat_logs(level="WARNING"):
    """Pipecat logs through loguru at DEBUG to stderr; keep warnings and errors only."""
    from loguru import logger
    logger.remove()
    logger.add(sys.stderr, level=level)


def _board_argv(session_path, placed, speaker, mode, half_duplex, idle_stop_ms, max_ms,
                stall_timeout_ms, voice_gate):
    argv = [session_path, talk_script.mic_argument(placed) or "-", speaker, "--mode", mode,
            "--idle-stop-ms", str(idle_stop_ms), "--max-ms", str(max_ms),
            "--stall-timeout-ms", str(stall_timeout_ms)]
    if mode == "push_to_talk":
        argv += ["--press", talk_script.button_schedule(placed)]
    if half_duplex:
        argv.append("--half-duplex")
    if not voice_gate:
        argv.append("--no-voice-gate")
    return argv


async def run_talk(utterances, work_dir, **options):
    """One board's conversation (options as run_talks); return its TalkResult."""
    return (await run_talks([utterances], work_dir, **options))[0]


async def run_talks(boards, work_dir, runtime="cpython", mode="always_listening", config=None,
                    half_duplex=False, idle_stop_ms=2500, services=None, on_turn=None,
                    stall_timeout_ms=15000, during=None, voice_gate=True, board_cpus=None,
                    network=None):
    """Several boards at once, each with its own session and conversation on one gateway.

    boards: one list of Utterances per board. Returns one TalkResult per board.
    services: session -> {name: Pipecat service} overrides (host/pipeline/conversation.py);
    during: an async function (gateway, session, conversation) run beside each board, for
    what happens to the gateway meanwhile (a test removes the session).
    board_cpus: CPU numbers the board processes are pinned to (bench/capacity.py
    keeps them off the gateway's core); None leaves them where this process runs.
    network: (uplink, downlink) host.netem.LinkConditions: each board talks through
    its own relay (seeded by its index) instead of straight to the gateway.
    """
    from host.pipeline.conversation import Conversations, gateway_settings
    if mode not in MODES:
        raise ValueError("talk: mode must be one of %s, got %r" % (", ".join(MODES), mode))
    work_dir = Path(work_dir)
    config = config or Config()
    conversations = Conversations(config, on_turn=on_turn, services=services,
                                  record_directory=str(work_dir))
    gateway = Gateway(gateway_settings(config, "127.0.0.1", 0), conversations.sink_factory)
    host, port = await gateway.start()
    plans, relays = [], []
    try:
        for index, utterances in enumerate(boards):
            folder = work_dir if len(boards) == 1 else work_dir / ("board-%d" % (index + 1))
            placed = talk_script.prepare(utterances, folder)
            session = new_session(host, port, DEFAULT_CODEC[runtime])
            gateway.add_session(session)
            session_path = folder / "session.json"
            if network is not None:
                relays.append(Relay((host, port), network[0], network[1], seed=index))
                relay_host, relay_port = await relays[-1].start()
                session = copy.copy(session)
                session.gateway_host, session.gateway_port = relay_host, relay_port
            media_session.save(session, session_path)
            plans.append((placed, session, session_path, folder / ("board-speaker-%s.wav" % runtime)))
        for _, session, _, _ in plans:
            await conversations.conversations[session.uplink_ssrc].wait_ready()
        runs = []
        for placed, session, session_path, speaker in plans:
            max_ms = talk_script.script_length_ms(placed) + 30000
            argv = _board_argv(session_path, placed, speaker, mode, half_duplex, idle_stop_ms,
                               max_ms, stall_timeout_ms, voice_gate)
            runs.append(run_device_module(runtime, "device.talker", argv, max_ms / 1000 + 30, "board",
                                          cpus=board_cpus))
            if during is not None:
                conversation = conversations.conversations[session.uplink_ssrc]
                runs.append(during(gateway, session, conversation))
        outcomes = await asyncio.gather(*runs)
        devices = outcomes[::2] if during is not None else outcomes
        timelines = conversations.timelines()
        records = [timelines.get(session.uplink_ssrc, []) for _, session, _, _ in plans]
    finally:
        for relay in relays:
            relay.close()
        gateway_stats = await gateway.stop()
        await conversations.stop()
    return [_join(placed, board_records, device, gateway_stats, speaker)
            for (placed, _, _, speaker), board_records, device in zip(plans, records, devices)]


def _join(placed, records, device, gateway_stats, speaker):
    now_s = time.monotonic()
    heard = {str(path): ticks for path, ticks in device["mic"]["heard"]}
    utterances_s = []
    for item in placed:
        started_s = talk_report.unwrap_ticks_ms(heard[str(item.path)], now_s)
        utterances_s.append((started_s + item.speech_start_ms / 1000.0,
                             started_s + item.speech_end_ms / 1000.0))
    timeline = Path(str(speaker) + ".timeline")
    rows = read_timeline(str(timeline)) if timeline.exists() else []
    spans = talk_report.speaker_spans_s(rows, now_s)
    turns = talk_report.match_turns(utterances_s, records, spans)
    return TalkResult(turns, records, device, gateway_stats, speaker, spans)


def report_lines(result):
    """What `pipit talk` prints."""
    lines = []
    for turn in result.turns:
        lines += talk_report.format_turn(turn)
    downlink = result.device["downlink"]
    lines.append("board: %s at the end; played %d frames, %d aborts; speaker WAV %s"
                 % (result.final_state, downlink.get("played", 0), downlink.get("aborts", 0),
                    result.speaker_wav))
    return lines
