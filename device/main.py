"""Start the device runtime: `python3 -m device.main IDENTITY.json [MIC [SPEAKER.wav]] [--press MS:MS,...]`.

The same module runs under MicroPython (`micropython -m device.main ...`) and
is what a board's main.py calls. With MIC the board is the virtual board:
MIC is a WAV file, or a list `a.wav@0,b.wav@3200` as for device.talker
(device/talk_script.py), then silence for as long as it runs; SPEAKER.wav
(with SPEAKER.wav.timeline) records what it plays. The virtual button
follows --press PRESS_MS:RELEASE_MS,... (ms after start; `--press -`: never
pressed); without --press it is held down for the whole run, so a
push-to-talk device streams its microphone as it did before it had a
conversation (the fleet tests rely on that).

With --pyaudio (CPython only) the board is this computer: its default sound
card is the microphone and the speaker (device/hal/pyaudio_hal.py), there is
no button (push-to-talk then listens on the `listen` command only).
"""
import asyncio
import sys

from device import identity as identity_file
from device.app import DeviceApp
from device.hal.virtual import VirtualBoard, VirtualButton, VirtualMic, VirtualSpeaker

USAGE = ("usage: device.main IDENTITY.json [MIC [SPEAKER.wav]] [--press MS:MS[,MS:MS]]\n"
         "       device.main IDENTITY.json --pyaudio   (CPython: this computer's sound card)")


def virtual_board(mic_wav=None, speaker_wav=None, presses=None):
    """A virtual board hearing mic_wav (a file or a timed list), then silence, forever."""
    from device import talk_script
    mic = VirtualMic(keep_open=True)
    for index, (path, at_ms) in enumerate(talk_script.parse_mic(str(mic_wav)) if mic_wav else ()):
        if at_ms is None and index > 0:
            mic.say(path)
        else:
            mic.say_at(path, at_ms or 0)
    speaker = None if speaker_wav is None else VirtualSpeaker(speaker_wav, timeline=True)
    button = VirtualButton(held=True) if presses is None else VirtualButton(presses)
    return VirtualBoard(mic, speaker, button)


def main(argv):
    """Command-line entry: IDENTITY.json [MIC [SPEAKER.wav]] [--press MS:MS,...]."""
    from device import talk_script
    presses = None
    if "--press" in argv:
        at = argv.index("--press")
        try:
            presses = talk_script.parse_presses(argv[at + 1])
        except (IndexError, ValueError):
            print(USAGE)
            return 2
        argv = argv[:at] + argv[at + 2:]
    laptop = "--pyaudio" in argv
    if laptop:
        argv = [arg for arg in argv if arg != "--pyaudio"]
    if not 1 <= len(argv) <= (1 if laptop else 3):
        print(USAGE)
        return 2
    identity = identity_file.load(argv[0])
    if laptop:
        from device.hal.pyaudio_hal import PyAudioBoard
        board = PyAudioBoard()
    else:
        board = virtual_board(argv[1] if len(argv) > 1 else None, argv[2] if len(argv) > 2 else None,
                              presses)
    try:
        asyncio.run(DeviceApp(identity, board).run())
    finally:
        board.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
