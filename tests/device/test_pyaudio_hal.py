"""device/hal/pyaudio_hal.py with PyAudio replaced by a test double.

What this covers: the frame and byte handling, queue bounds, flush, the
hand-off from PortAudio's callback thread to asyncio, and the error when
pyaudio is missing. What it does not: a sound card. FakePyAudio only records
how the stream was opened and lets the test call the stream callback (from a
thread, as PortAudio would); nothing here has run against audio hardware.
"""
import asyncio
import struct
import threading

import pytest

from device.hal.pyaudio_hal import INSTALL_HINT, PyAudioBoard, PyAudioMic, PyAudioSpeaker, load_pyaudio

FRAME_BYTES = 640  # 20 ms, 16 kHz mono


class FakeStream:
    def __init__(self, options):
        self.options = options
        self.callback = options["stream_callback"]
        self.stopped = self.closed = False

    def stop_stream(self):
        self.stopped = True

    def close(self):
        self.closed = True


class FakePyAudio:
    """Stands in for the pyaudio module: constants, PyAudio(), open() -> FakeStream."""

    paInt16 = 8
    paContinue = 0
    paInputOverflow = 2

    def __init__(self):
        self.streams = []
        self.terminated = 0

    def PyAudio(self):  # noqa: N802 - pyaudio's name
        return self

    def open(self, **options):
        stream = FakeStream(options)
        self.streams.append(stream)
        return stream

    def terminate(self):
        self.terminated += 1


def pcm(first, count):
    return struct.pack("<%dh" % count, *range(first, first + count))


def test_missing_pyaudio_says_how_to_install_it():
    with pytest.raises(RuntimeError) as raised:
        load_pyaudio("pyaudio_that_is_not_here")
    assert str(raised.value) == INSTALL_HINT
    assert "pip install -e .[laptop]" in INSTALL_HINT and "portaudio19-dev" in INSTALL_HINT


def test_mic_turns_callback_chunks_of_any_size_into_whole_frames_in_order():
    fake = FakePyAudio()
    mic = PyAudioMic(pyaudio_module=fake, max_buffered_ms=1000)

    async def scenario():
        buf = bytearray(FRAME_BYTES)
        reader = asyncio.create_task(mic.readinto(buf))
        await asyncio.sleep(0)  # the stream opens on the first read
        stream = fake.streams[0]
        assert (stream.options["rate"], stream.options["channels"], stream.options["format"]) == (16000, 1, 8)
        assert stream.options["input"] is True and stream.options["frames_per_buffer"] == 320
        # PortAudio's thread delivers 100, 300 and 240 samples: 640 of them in all.
        chunks = [pcm(0, 100), pcm(100, 300), pcm(400, 240)]
        results = []

        def portaudio():
            for chunk in chunks:
                results.append(stream.callback(chunk, len(chunk) // 2, {}, 0))

        thread = threading.Thread(target=portaudio)
        thread.start()
        assert await asyncio.wait_for(reader, 5) == FRAME_BYTES
        thread.join()
        first = bytes(buf)
        assert await mic.readinto(buf) == FRAME_BYTES
        return first, bytes(buf), results

    first, second, results = asyncio.run(scenario())
    assert first == pcm(0, 320) and second == pcm(320, 320)
    assert results == [(None, 0)] * 3
    mic.close()
    assert fake.streams[0].stopped and fake.streams[0].closed and fake.terminated == 1


def test_mic_keeps_the_newest_audio_when_nobody_reads_and_counts_overflows():
    fake = FakePyAudio()
    mic = PyAudioMic(pyaudio_module=fake, max_buffered_ms=40)  # two frames

    async def scenario():
        buf = bytearray(FRAME_BYTES)
        reader = asyncio.create_task(mic.readinto(buf))
        await asyncio.sleep(0)
        callback = fake.streams[0].callback
        callback(pcm(0, 960), 960, {}, FakePyAudio.paInputOverflow)  # 60 ms at once
        await asyncio.wait_for(reader, 5)
        return bytes(buf)

    assert asyncio.run(scenario()) == pcm(320, 320)  # the oldest 20 ms went
    assert (mic.dropped_bytes, mic.overflows) == (FRAME_BYTES, 1)


def test_speaker_plays_what_is_queued_then_silence_and_flush_drops_the_queue():
    fake = FakePyAudio()
    speaker = PyAudioSpeaker(pyaudio_module=fake, max_buffered_ms=60)

    async def scenario():
        frame = bytearray(pcm(1, 320))
        await speaker.write(frame)
        frame[:] = bytes(FRAME_BYTES)  # the caller reuses its buffer: the queue has a copy
        await speaker.write(pcm(321, 320))

    asyncio.run(scenario())
    stream = fake.streams[0]
    assert stream.options["output"] is True and speaker.queued_ms == 40
    out, flag = stream.callback(None, 480, {}, 0)  # the card asks for 30 ms
    assert flag == 0 and out == pcm(1, 480)
    out, _ = stream.callback(None, 320, {}, 0)  # 10 ms left, then silence
    assert out == pcm(481, 160) + bytes(320)
    assert (speaker.bytes_played, speaker.padded_bytes) == (1280, 320)
    assert stream.callback(None, 320, {}, 0)[0] == bytes(FRAME_BYTES)

    async def overfill():
        for index in range(5):  # 100 ms into a 60 ms queue: the oldest goes
            await speaker.write(pcm(index * 320, 320))

    asyncio.run(overfill())
    assert speaker.queued_ms == 60 and speaker.dropped_bytes == 2 * FRAME_BYTES
    assert stream.callback(None, 320, {}, 0)[0] == pcm(640, 320)
    speaker.flush()
    assert speaker.queued_ms == 0 and stream.callback(None, 320, {}, 0)[0] == bytes(FRAME_BYTES)


def test_the_laptop_board_has_the_board_interface():
    fake = FakePyAudio()
    board = PyAudioBoard(pyaudio_module=fake)
    assert (board.mic.sample_rate_hz, board.speaker.channels, board.button) == (16000, 1, None)
    endpoint = board.open_endpoint("127.0.0.1", 9)
    endpoint.close()
    board.close()  # nothing was opened: nothing to stop
    assert fake.streams == []
