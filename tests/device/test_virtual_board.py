"""The virtual board's scripted parts: a microphone that speaks files at given
times (say_at), a button pressed on a schedule, and the talker's command line."""
import asyncio
import struct

import pytest

from device import talk_script
from device.conversation import STALL_TIMEOUT_MS
from device.hal import clock
from device.hal.virtual import VirtualBoard, VirtualButton, VirtualMic
from device.wav import WavWriter

FRAME_BYTES = 640


def constant_wav(path, value, frames, rate_hz=16000):
    writer = WavWriter(str(path), rate_hz, 1)
    writer.write(struct.pack("<h", value) * (320 * frames))
    writer.close()
    return str(path)


def first_samples(mic, frames):
    async def read():
        values = []
        buf = bytearray(FRAME_BYTES)
        for _ in range(frames):
            assert await mic.readinto(buf) == FRAME_BYTES
            values.append(struct.unpack_from("<h", buf)[0])
        return values
    return asyncio.run(read())


def test_a_scheduled_file_cuts_in_at_its_time_and_queued_files_follow(tmp_path):
    a = constant_wav(tmp_path / "a.wav", 1, 10)
    b = constant_wav(tmp_path / "b.wav", 2, 2)
    c = constant_wav(tmp_path / "c.wav", 3, 1)
    mic = VirtualMic(realtime=False, keep_open=True)
    mic.say_at(b, 100)  # 5 frames in: a is cut short
    mic.say_at(a, 0)
    mic.say(c)  # heard once b is over
    assert not mic.done
    assert first_samples(mic, 10) == [1, 1, 1, 1, 1, 2, 2, 3, 0, 0]
    assert mic.done
    start = mic.start_ticks_ms
    assert [(path, clock.ticks_diff(ticks, start)) for path, ticks in mic.heard] == [
        (a, 0), (b, 100), (c, 140)]


def test_a_scheduled_file_must_match_the_microphone(tmp_path):
    mic = VirtualMic(sample_rate_hz=16000)
    with pytest.raises(ValueError, match="is 8000 Hz x1, microphone runs at 16000 Hz x1"):
        mic.say_at(constant_wav(tmp_path / "a.wav", 1, 1, rate_hz=8000), 0)


def test_the_button_follows_its_schedule():
    button = VirtualButton([(300, 400), (100, 200)])
    assert button.schedule == [(100, 200), (300, 400)]
    now = clock.ticks_ms()
    for elapsed, pressed, done in ((50, False, False), (150, True, False), (250, False, False),
                                   (399, True, False), (400, False, True)):
        button.start(clock.ticks_add(now, -elapsed))
        assert (button.pressed, button.done) == (pressed, done), elapsed
    for bad in ([(200, 100)], [(-1, 5)], [(0, 200), (100, 300)]):
        with pytest.raises(ValueError, match="presses must be"):
            VirtualButton(bad)


def test_the_board_lists_the_parts_it_has():
    mic = VirtualMic()
    assert VirtualBoard(mic).capabilities == ("microphone",)
    assert VirtualBoard(mic, speaker=object(), button=VirtualButton()).capabilities == (
        "speaker", "microphone", "button")


def test_the_command_line_is_parsed_with_reasons():
    session, mic, speaker, options = talk_script.parse_args(
        ["s.json", "a.wav@0,b.wav@3200", "out.wav", "--mode", "always_listening", "--half-duplex",
         "--press", "0:2500,4000:4500", "--press", "6000:6100", "--volume", "40",
         "--idle-stop-ms", "700", "--max-ms", "9000"])
    assert (session, mic, speaker) == ("s.json", "a.wav@0,b.wav@3200", "out.wav")
    assert options == {"mode": "always_listening", "half_duplex": True, "voice_gate": True, "volume": 40,
                       "presses": [(0, 2500), (4000, 4500), (6000, 6100)],
                       "idle_stop_ms": 700, "max_ms": 9000, "stall_timeout_ms": STALL_TIMEOUT_MS}
    assert talk_script.parse_args(["s", "-", "o"])[3]["mode"] == "push_to_talk"
    assert talk_script.parse_mic("a.wav@0,b.wav@3200,c.wav") == [
        ("a.wav", 0), ("b.wav", 3200), ("c.wav", None)]
    assert talk_script.parse_mic("-") == []
    for argv, reason in ((["s", "m"], "got 2 arguments"), (["s", "m", "o", "--mode", "x"], "--mode"),
                         (["s", "m", "o", "--press", "5"], "PRESS_MS:RELEASE_MS"),
                         (["s", "m", "o", "--volume", "101"], "0..100"),
                         (["s", "m", "o", "--max-ms"], "needs a value"),
                         (["s", "m", "o", "--loud"], "unknown option")):
        with pytest.raises(ValueError, match=reason):
            talk_script.parse_args(argv)
    with pytest.raises(ValueError, match="MIC takes"):
        talk_script.parse_mic("a.wav@soon")
