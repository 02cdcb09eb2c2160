"""A board's HAL from its board file (boards/<id>.json, copied to the board as /board.json).

Boards are data: the same firmware builds the right HAL from the file.
- "virtual" (or any board given a WAV file): the virtual microphone.
- "esp32": device/hal/esp32.py (MicroPython only, imported only here); it
  refuses, naming the board and the reason, what machine.I2S cannot drive
  (a PDM microphone; a microphone and a speaker on one I2S bus).
- "pyaudio" and "alsa" (a laptop, a Raspberry Pi): the computer's default
  sound card through device/hal/pyaudio_hal.py (CPython only). The board
  file names no sound device, so PortAudio's default input and output are
  used, as mono 16-bit PCM; the Pi's button and LED are not driven.
Any other HAL is refused with the board id and the HAL's name. Runs on
MicroPython and CPython.
"""
import json
import os
import sys

HALS = ("virtual", "esp32", "pyaudio", "alsa")


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


def _micropython():
    return sys.implementation.name == "micropython"


def make(board, mic_wav=None, pyaudio_module=None):
    """The HAL object for this board; mic_wav (virtual microphone) overrides the board's HAL.

    pyaudio_module stands in for the pyaudio module (tests).
    """
    hal = board.get("hal")
    if hal == "virtual" or mic_wav is not None:
        return _virtual(board, mic_wav)
    if hal == "esp32":
        if not _micropython():
            raise ValueError("board %s: the esp32 HAL runs on the board itself (MicroPython); on this "
                             "computer give a WAV file to use the virtual microphone" % board.get("id"))
        from device.hal import esp32
        return _finish(esp32.build(board), board)
    if hal in ("pyaudio", "alsa"):
        return _finish(_pyaudio(board, pyaudio_module), board)
    raise ValueError("board %s: unknown HAL %r (this firmware has %s)"
                     % (board.get("id"), hal, ", ".join(HALS)))


def _virtual(board, mic_wav):
    from device.hal.virtual import VirtualBoard, VirtualMic
    if mic_wav is None and _exists("mic.wav"):
        mic_wav = "mic.wav"
    hal_board = VirtualBoard(VirtualMic(mic_wav, keep_open=True, frame_ms=board.get("frame_ms", 20)))
    hal_board.name = board.get("id", "virtual")
    # The virtual board stands in for the board in the file: it announces its parts.
    hal_board.capabilities = tuple(_capabilities(board))
    return hal_board


def _pyaudio(board, pyaudio_module):
    board_id, hal = board.get("id"), board.get("hal")
    if _micropython():
        raise ValueError("board %s: the %s HAL runs under CPython (PyAudio), not MicroPython"
                         % (board_id, hal))
    mic, speaker = board["microphone"], board.get("speaker")
    if mic.get("gain_db", 0) != 0:
        raise ValueError("board %s: microphone.gain_db must be 0 with the %s HAL, which applies no gain "
                         "(set the capture level in the operating system's mixer)" % (board_id, hal))
    if speaker is None or speaker["sample_rate_hz"] != mic["sample_rate_hz"]:
        raise ValueError("board %s: the %s HAL plays and records through one sound card at one rate: "
                         "it needs a speaker part at the microphone's sample_rate_hz" % (board_id, hal))
    from device.hal.pyaudio_hal import PyAudioBoard
    return PyAudioBoard(mic["sample_rate_hz"], pyaudio_module=pyaudio_module)


def _finish(hal_board, board):
    """Name the HAL board after the file; announce only the parts it drives."""
    hal_board.name = board.get("id")
    hal_board.capabilities = tuple(
        cap for cap in _capabilities(board)
        if cap in ("microphone", "aec", "wifi") or getattr(hal_board, cap, None) is not None)
    return hal_board


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
    if _micropython():
        import machine
        machine.reset()
    sys.exit(0)
