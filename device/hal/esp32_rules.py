"""What the ESP32 HAL can drive, and the machine.I2S arguments, from the board file alone.

Pure (no `machine`): device/hal/esp32.py uses it on the board, and the host
can ask the same question before flashing. The limits are those of
machine.I2S on MicroPython's esp32 port (v1.29):
- the standard (Philips) I2S mode only: no PDM receive mode (the pull
  request micropython#14176 adds one and is not merged);
- one direction per I2S bus: opening I2S(n) a second time shuts the first
  one down, so a microphone and a speaker cannot share a bus;
- no master clock output (the port leaves MCLK unconnected).
Runs on MicroPython and CPython.
"""
MIC_BITS = 32
SPEAKER_BITS = 16
# I2S DMA buffers ('ibuf'): a few 20 ms frames. The port's receive DMA holds
# 8 bytes per sample (two 32-bit slots) whatever the format.
MIC_DMA_MS = 80
MIC_DMA_BYTES_PER_SAMPLE = 8
SPEAKER_DMA_MS = 64


def unsupported(board):
    """Why this firmware cannot drive the board's audio ("; "-joined reasons), or None."""
    reasons = []
    mic = board["microphone"]
    speaker = board.get("speaker")
    if mic["interface"] == "pdm":
        reasons.append("its microphone is PDM, and machine.I2S on MicroPython's esp32 port has no PDM "
                       "receive mode (standard I2S only; the PDM pull request micropython#14176 is not "
                       "merged)")
    elif mic["interface"] != "i2s":
        reasons.append("microphone interface %r is not one the ESP32 HAL drives (i2s)" % mic["interface"])
    if speaker is not None and speaker["interface"] != "i2s":
        reasons.append("speaker interface %r is not one the ESP32 HAL drives (i2s)" % speaker["interface"])
    if speaker is not None and mic["interface"] == "i2s" and speaker.get("bus") == mic.get("bus"):
        reasons.append("its microphone and speaker share I2S bus %d (full duplex), and machine.I2S opens "
                       "one direction per bus: opening the speaker would shut the microphone down"
                       % mic["bus"])
    parts = (("microphone", mic), ("speaker", speaker))
    mck = ["%s GPIO %d" % (name, part["pins"]["mck"]) for name, part in parts
           if part is not None and "mck" in part.get("pins", {})]
    if mck:
        reasons.append("it needs a master clock (mck: %s), which machine.I2S on the esp32 port does not "
                       "output" % ", ".join(mck))
    return "; ".join(reasons) if reasons else None


def i2s_settings(part, receive):
    """machine.I2S arguments for an audio part of the board file (pins as GPIO numbers)."""
    rate_hz = part["sample_rate_hz"]
    if receive:
        bits, stereo = MIC_BITS, part["channel"] != "left"
        ibuf = rate_hz * MIC_DMA_MS // 1000 * MIC_DMA_BYTES_PER_SAMPLE
    else:
        bits, stereo = SPEAKER_BITS, False
        ibuf = rate_hz * SPEAKER_DMA_MS // 1000 * SPEAKER_BITS // 8
    pins = part["pins"]
    return {"id": part["bus"], "sck": pins["sck"], "ws": pins["ws"], "sd": pins["sd"],
            "mode": "rx" if receive else "tx", "bits": bits, "format": "stereo" if stereo else "mono",
            "rate": rate_hz, "ibuf": ibuf}
