"""device/hal/boards.make(): which HAL each board file gets on CPython, and the refusals.

The PyAudio boards are built with pyaudio replaced by the test double of
tests/device/test_pyaudio_hal.py (no sound card here); the ESP32 HAL itself
is tested under MicroPython in tests/device/test_esp32_hal.py.
"""
import json

import pytest

from device.hal import boards, esp32_rules
from device.hal.pyaudio_hal import PyAudioBoard
from device.hal.virtual import VirtualBoard
from device.wav import WavWriter
from host.runtimes import REPO_ROOT
from tests.device.test_pyaudio_hal import FakePyAudio


def board_file(board_id):
    return boards.load(str(REPO_ROOT / "boards" / (board_id + ".json")))


@pytest.mark.parametrize("board_id", ["laptop", "rpi-respeaker-2mic"])
def test_a_laptop_or_a_pi_gets_the_pyaudio_hal(board_id):
    fake = FakePyAudio()
    hal = boards.make(board_file(board_id), pyaudio_module=fake)
    assert isinstance(hal, PyAudioBoard) and hal.name == board_id
    assert (hal.mic.sample_rate_hz, hal.mic.channels, hal.speaker.sample_rate_hz) == (16000, 1, 16000)
    # The Pi's button and LED are in its file but not driven by this HAL: not announced.
    assert hal.capabilities == ("microphone", "speaker") and hal.button is None


def test_a_pyaudio_board_with_a_gain_is_refused():
    board = dict(board_file("laptop"))
    board["microphone"] = dict(board["microphone"], gain_db=12)
    with pytest.raises(ValueError, match="board laptop: microphone.gain_db must be 0 with the pyaudio HAL"):
        boards.make(board, pyaudio_module=FakePyAudio())


def test_an_esp32_board_on_this_computer_needs_a_wav_file(tmp_path):
    board = board_file("esp32-s3-devkitc-1-inmp441-max98357a")
    with pytest.raises(ValueError, match="board esp32-s3-devkitc-1-inmp441-max98357a: the esp32 HAL runs on "
                                         "the board itself"):
        boards.make(board)
    wav = tmp_path / "mic.wav"
    WavWriter(str(wav), 16000, 1).close()
    hal = boards.make(board, mic_wav=str(wav))  # `pipit device run --board ... --mic WAV`
    assert isinstance(hal, VirtualBoard) and hal.name == board["id"]
    assert hal.capabilities == ("microphone", "speaker", "button", "led", "wifi")


def test_the_virtual_board_announces_the_parts_of_its_file():
    hal = boards.make(board_file("virtual-esp32s3"))
    assert isinstance(hal, VirtualBoard) and hal.name == "virtual-esp32s3"
    assert hal.capabilities == ("microphone", "speaker")


def test_an_unknown_hal_is_refused_with_the_board_and_the_hal():
    board = json.loads(json.dumps(board_file("laptop")))
    board["hal"] = "zephyr"
    with pytest.raises(ValueError, match=r"board laptop: unknown HAL 'zephyr' \(this firmware has virtual, "
                                         r"esp32, pyaudio, alsa\)"):
        boards.make(board)


def test_the_host_can_tell_which_esp32_boards_run_before_flashing():
    from tests.device.test_esp32_hal import REFUSED, esp32_boards
    for board in esp32_boards():
        reason = esp32_rules.unsupported(board)
        if board["id"] in REFUSED:
            assert all(words in reason for words in REFUSED[board["id"]]), reason
        else:
            assert reason is None, board["id"]
