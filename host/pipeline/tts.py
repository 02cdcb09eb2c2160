"""espeak-ng speech as 16 kHz mono s16le PCM, streamed sentence by sentence.

Two backends make the same sound (espeak-ng's 22050 Hz output, resampled by
soxr, one stream per sentence):

- "library": libespeak-ng through ctypes in synchronous mode; the callback
  hands over ~20 ms buffers as they are made, so first audio comes in well
  under a millisecond of CPU. libespeak-ng has one synthesiser per process, so
  calls are serialised by a lock; it speaks ~100x faster than real time.
- "cli": one `espeak-ng --stdout` process per sentence (first audio ~10 ms,
  no shared state, runs in parallel).

`EspeakTts.sentences(text)` is a blocking generator of (sentence, pcm);
`chunks(text)` a blocking generator of small PCM chunks; `stream(text)` the
asyncio form of `chunks`, doing the blocking work in the default executor.
"""
import asyncio
import ctypes
import re
import shutil
import struct
import subprocess
import threading

import numpy as np
import soxr

SAMPLE_RATE_HZ = 16000
LIBRARY_NAME = "libespeak-ng.so.1"
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_RATE = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


def split_sentences(text):
    """Sentences (or clauses ending in ;:) of text, stripped, none empty."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


class _Library:
    """libespeak-ng, initialised once per process in synchronous mode."""

    _instance = None
    _instance_lock = threading.Lock()

    def __init__(self, buffer_ms=20):
        self.lib = ctypes.CDLL(LIBRARY_NAME)
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.sample_rate_hz = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, buffer_ms, None,
                                                         _INITIALIZE_DONT_EXIT)
        if self.sample_rate_hz <= 0:
            raise RuntimeError("libespeak-ng failed to initialise (espeak-ng-data missing?)")
        self._sink = None
        self._callback = _CALLBACK(self._on_audio)   # kept referenced: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()

    @classmethod
    def get(cls):
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _on_audio(self, wav, count, events):
        if wav and count > 0:
            keep_going = self._sink(ctypes.string_at(wav, count * 2))
            return 0 if keep_going is not False else 1
        return 0

    def speak(self, sentence, voice, words_per_minute, sink):
        """Synthesise one sentence; sink(bytes) gets 22050 Hz PCM, returns False to stop."""
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError("espeak-ng has no voice %r" % voice)
            self.lib.espeak_SetParameter(_RATE, int(words_per_minute), 0)
            data = sentence.encode("utf-8") + b"\0"
            self._sink = sink
            try:
                error = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0,
                                              _CHARS_UTF8 | _ENDPAUSE, None, None)
            finally:
                self._sink = None
            if error != 0:
                raise RuntimeError("espeak_Synth failed with %d" % error)


def _cli_speak(sentence, voice, words_per_minute, sink, on_rate):
    """The same through one `espeak-ng --stdout` process."""
    command = ["espeak-ng", "--stdout", "-v", voice, "-s", str(int(words_per_minute)), sentence]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        header = process.stdout.read(44)
        if len(header) < 44 or header[:4] != b"RIFF":
            raise RuntimeError("espeak-ng gave no WAV for %r (voice %r)" % (sentence, voice))
        on_rate(struct.unpack_from("<I", header, 24)[0])
        while True:
            block = process.stdout.read1(4096)
            if not block or sink(block) is False:
                process.kill()
                break


class EspeakTts:
    """Text to 16 kHz PCM with espeak-ng, one sentence at a time."""

    def __init__(self, voice="en-us", words_per_minute=175, backend="auto", quality="HQ"):
        """backend: "library", "cli", or "auto" (the library when it loads)."""
        if backend == "auto":
            backend = "library" if _library_available() else "cli"
        if backend == "cli" and shutil.which("espeak-ng") is None:
            raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.backend = backend
        self.quality = quality

    def chunks(self, text, stop=None):
        """Blocking generator of PCM chunks as they are made; stop() -> True aborts."""
        for sentence in split_sentences(text):
            if stop is not None and stop():
                return
            yield from self._sentence_chunks(sentence, stop)

    def sentences(self, text):
        """Blocking generator of (sentence, its whole PCM)."""
        for sentence in split_sentences(text):
            yield sentence, b"".join(self._sentence_chunks(sentence, None))

    def synthesise(self, text):
        """All of text as one PCM buffer (blocking)."""
        return b"".join(self.chunks(text))

    async def stream(self, text):
        """Async iterator of PCM chunks; synthesis runs in the default executor."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()
        cancelled = threading.Event()

        def produce():
            try:
                for chunk in self.chunks(text, stop=cancelled.is_set):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except BaseException as error:   # handed to the consumer below
                loop.call_soon_threadsafe(queue.put_nowait, error)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = loop.run_in_executor(None, produce)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()
            await worker

    def _sentence_chunks(self, sentence, stop):
        """Resampled chunks of one sentence, yielded while espeak is still speaking."""
        job = _SentenceJob(self, sentence, stop)
        resampler = None
        for blocks in job.blocks():
            if resampler is None:    # the rate is known before the first block
                resampler = soxr.ResampleStream(job.rate, SAMPLE_RATE_HZ, 1, dtype="int16",
                                                quality=self.quality)
            out = resampler.resample_chunk(np.frombuffer(b"".join(blocks), dtype="<i2"))
            if len(out):
                yield out.astype("<i2").tobytes()
        tail = resampler.resample_chunk(np.zeros(0, dtype="<i2"), last=True) if resampler else ()
        if len(tail):
            yield tail.astype("<i2").tobytes()


class _SentenceJob:
    """One sentence synthesised on a worker thread, its 22050 Hz blocks handed over.

    The library calls back inside espeak_Synth; the thread turns those
    callbacks into a generator without waiting for the whole sentence.
    """

    def __init__(self, tts, sentence, stop):
        self.rate = None
        self._pending = []
        self._ready = threading.Condition()
        self._done = False
        self._error = None
        self._stop = stop
        self._thread = threading.Thread(target=self._run, args=(tts, sentence), name="espeak",
                                        daemon=True)
        self._thread.start()

    def _on_rate(self, rate):
        self.rate = rate

    def _sink(self, block):
        with self._ready:
            self._pending.append(block)
            self._ready.notify()
        return not (self._stop is not None and self._stop())

    def _run(self, tts, sentence):
        try:
            if tts.backend == "library":
                library = _Library.get()
                self._on_rate(library.sample_rate_hz)
                library.speak(sentence, tts.voice, tts.words_per_minute, self._sink)
            else:
                _cli_speak(sentence, tts.voice, tts.words_per_minute, self._sink, self._on_rate)
        except BaseException as error:   # re-raised in the consumer's thread
            self._error = error
        with self._ready:
            self._done = True
            self._ready.notify()

    def blocks(self):
        """Lists of new blocks as they arrive, until the sentence is done."""
        while True:
            with self._ready:
                while not self._pending and not self._done:
                    self._ready.wait()
                blocks, done = self._pending[:], self._done
                self._pending.clear()
            if blocks:
                yield blocks
            if done:
                break
        self._thread.join()
        if self._error is not None:
            raise self._error


def _library_available():
    try:
        _Library.get()
        return True
    except OSError:
        return False
