"""WAV reading and writing shared by the virtual microphone and speaker."""
import wave

import numpy as np
import pytest

from device.wav import WavReader, WavWriter


def test_writer_output_is_read_by_the_stdlib(tmp_path):
    pcm = (np.arange(1000, dtype="<i2") * 7).tobytes()
    writer = WavWriter(tmp_path / "a.wav", 16000)
    writer.write(pcm[:500])
    writer.write(pcm[500:])
    writer.close()
    with wave.open(str(tmp_path / "a.wav")) as handle:
        assert handle.getframerate() == 16000 and handle.getnchannels() == 1
        assert handle.readframes(handle.getnframes()) == pcm


def test_reader_streams_stdlib_wav_in_frames(tmp_path):
    pcm = (np.arange(700, dtype="<i2") * 3).tobytes()
    with wave.open(str(tmp_path / "b.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(pcm)
    reader = WavReader(tmp_path / "b.wav")
    buf = bytearray(640)
    chunks = []
    while True:
        got = reader.readinto(buf)
        if not got:
            break
        chunks.append(bytes(buf[:got]))
    reader.close()
    assert [len(c) for c in chunks] == [640, 640, 120]
    assert b"".join(chunks) == pcm
    assert reader.duration_ms == 43


def test_non_pcm16_is_refused(tmp_path):
    with wave.open(str(tmp_path / "c.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(1)
        handle.setframerate(8000)
        handle.writeframes(b"\x80" * 10)
    with pytest.raises(ValueError, match="only 16-bit PCM"):
        WavReader(tmp_path / "c.wav")
    (tmp_path / "d.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="not a RIFF/WAVE"):
        WavReader(tmp_path / "d.wav")
