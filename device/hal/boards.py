"""A board's HAL from its board file (boards/<id>.json, copied to the board as /board.json).

Boards are data: the same firmware builds the right HAL from the file. The
virtual board is built here; the ESP32 I2S/PDM HAL and the PyAudio/ALSA HAL
are not in this firmware yet, and asking for them says so (naming the board
and the HAL) instead of failing later on a missing pin. Runs on MicroPython
and CPython.
"""
import json
import os
import sys


def load(path):
    """The board file's JSON object (the host validated it before copying it)."""
    with open(path) as handle:
        return json.loads(handle.read())


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def make(board, mic_wav=None):
    """The HAL object for this board; mic_wav (virtual microphone) overrides the board's HAL."""
    hal = board.get("hal")
    if hal == "virtual" or mic_wav is not None:
        from device.hal.virtual import VirtualBoard, VirtualMic
        if mic_wav is None and _exists("mic.wav"):
            mic_wav = "mic.wav"
        hal_board = VirtualBoard(VirtualMic(mic_wav, keep_open=True,
                                            frame_ms=board.get("frame_ms", 20)))
        hal_board.name = board.get("id", "virtual")
        hal_board.capabilities = tuple(_capabilities(board))
        return hal_board
    raise ValueError("board %s: the %r HAL is not in this firmware yet (give a WAV file to use the "
                     "virtual microphone)" % (board.get("id"), hal))


def _capabilities(board):
    """What the Hello announces: the same rule as host/boards/schema.Board.capabilities."""
    caps = ["microphone"]
    for name in ("speaker", "button", "led"):
        if board.get(name) is not None:
            caps.append(name)
    if board.get("aec"):
        caps.append("aec")
    if board.get("hal") == "esp32":
        caps.append("wifi")
    return caps


def reset():
    """Restart the board (machine.reset on MicroPython; on CPython the service manager restarts us)."""
    if sys.implementation.name == "micropython":
        import machine
        machine.reset()
    sys.exit(0)
