"""Speech recognition with pocketsphinx: a grammar first, the open model as fallback.

`Recognizer` decodes one utterance at a time from 16 kHz mono s16le PCM fed in
chunks as it arrives (`feed`), so most of the work is done while the user is
still talking; `finish` (at end of turn) returns a `Transcript`.

- The grammar search is built from the intents' phrasings
  (host.pipeline.grammar) plus a phone loop that soaks up speech outside the
  grammar; every phone of the loop costs `reject_penalty`, so in-grammar speech
  prefers the grammar and other speech falls into the loop.
- The result is "grammar" when the search ended inside the grammar on a whole
  phrase. Otherwise (nothing heard, only the phone loop, or a half phrase) the
  buffered utterance is decoded again by the open language model
  (`OpenVocabulary`, shared by all recognisers, loaded on first use) and the
  result is "lm". docs/speech.md has the measurements behind this rule.

Models are the ones the pocketsphinx wheel ships (pocketsphinx.get_model_path()).
The grammar decoder loads a dictionary cut down to the grammar's words, so a
recogniser costs ~6 MB and ~15 ms to make; keep one per session, since its live
cepstral mean adapts to the speaker and the line over the session's turns.
Everything here is blocking CPU work: call it from an executor.
"""
import functools
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass

import pocketsphinx

from host.pipeline import grammar as grammar_module
from host.pipeline import intents as intents_module

FRAME_MS = 10                     # pocketsphinx frames: 100 per second
BYTES_PER_MS = 32                 # 16 kHz, 16-bit mono
PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH "
          "T TH UH UW V W Y Z ZH").split()
GARBAGE_PREFIX = "gb_"
DEFAULT_REJECT_PENALTY = 1e-8
# Found by measurement (docs/speech.md): lattice rescoring (bestpath) loses the
# grammar's final state on short utterances; more Gaussians and wider beams
# help synthetic and accented voices at ~10% more CPU.
SEARCH_SETTINGS = dict(bestpath=False, topn=8, beam=1e-60, wbeam=1e-40, pbeam=1e-60)
# Half a bit of noise under the audio from a fixed seed: digital silence (a
# synthetic voice's pauses, a decoder's concealment, a gate's padding) has no
# log energy, and the cepstral mean drifts on it. A fixed seed keeps a session's
# results repeatable.
FRONT_END_SETTINGS = dict(dither=True, seed=1)
_NOT_WORDS = {"<s>", "</s>", "<sil>", "[NOISE]", "(NULL)"}


def model_paths():
    """(acoustic model folder, dictionary, language model) shipped in the wheel."""
    root = os.path.join(pocketsphinx.get_model_path(), "en-us")
    return (os.path.join(root, "en-us"), os.path.join(root, "cmudict-en-us.dict"),
            os.path.join(root, "en-us.lm.bin"))


@dataclass(frozen=True)
class Word:
    """A recognised word and where it is in the utterance."""
    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Transcript:
    """The result for one utterance."""
    text: str              # "" when nothing was understood
    source: str            # "grammar", "lm" or "none"
    words: tuple           # Word timings of the chosen search
    grammar_text: str      # what the grammar search said (garbage as gb_* phones)
    audio_ms: int
    finish_ms: float       # wall time spent in finish(): the latency after end of turn


def grammar_words(jsgf_text):
    """The words a JSGF grammar can produce."""
    body = "\n".join(line for line in jsgf_text.splitlines()
                     if line.strip() and not line.lstrip().startswith(("#", "grammar ")))
    body = re.sub(r"<[^>]*>|/[^/]*/|[=;|()\[\]*+]|\bpublic\b", " ", body)
    return set(body.split())


@functools.lru_cache(maxsize=8)
def dictionary_text(words):
    """The pocketsphinx dictionary cut down to words (a frozenset), plus the loop's phones."""
    wanted = {w for w in words if not w.startswith(GARBAGE_PREFIX)}
    lines, found = [], set()
    with open(model_paths()[1], encoding="utf-8") as source:
        for line in source:
            base = line.split(" ", 1)[0].split("(", 1)[0]
            if base in wanted:
                lines.append(line if line.endswith("\n") else line + "\n")
                found.add(base)
    missing = wanted - found
    if missing:
        raise ValueError("not in the pocketsphinx dictionary: %s" % ", ".join(sorted(missing)))
    lines += ["%s%s %s\n" % (GARBAGE_PREFIX, phone.lower(), phone) for phone in PHONES]
    return "".join(lines)


def with_rejection(jsgf_text, reject_penalty):
    """The grammar with a phone loop beside it; jsgf_text's <utterance> must be private."""
    if reject_penalty is None:
        return jsgf_text + "public <input> = <utterance>;\n"
    phones = " | ".join(GARBAGE_PREFIX + p.lower() for p in PHONES)
    # Right recursion: each further phone costs reject_penalty.
    return jsgf_text + ("<phone> = %s;\n<garbage> = /1/ <phone> | /%g/ <phone> <garbage>;\n"
                        "public <input> = <utterance> | <garbage>;\n" % (phones, reject_penalty))


def _words(decoder):
    return tuple(Word(s.word.split("(", 1)[0], s.start_frame * FRAME_MS, (s.end_frame + 1) * FRAME_MS)
                 for s in decoder.seg() if s.word and s.word not in _NOT_WORDS)


class OpenVocabulary:
    """pocketsphinx's general English language model over the whole dictionary.

    Poor on synthetic voices (docs/speech.md) but open: the fallback for speech
    the grammar cannot hold. ~95 MB and ~0.3 s to load, so one per process;
    calls are serialised by a lock. Blocking, RTF ~0.25.
    """

    _shared = None
    _shared_lock = threading.Lock()

    def __init__(self):
        hmm, dictionary, lm = model_paths()
        self._decoder = pocketsphinx.Decoder(hmm=hmm, dict=dictionary, lm=lm, loglevel="FATAL",
                                             **FRONT_END_SETTINGS)
        self._lock = threading.Lock()

    @classmethod
    def shared(cls):
        """The process-wide instance, loaded on first use."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def transcribe(self, pcm):
        """(text, words) for one whole utterance of s16le PCM."""
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            return (hyp.hypstr if hyp else ""), _words(self._decoder)


class Recognizer:
    """One session's recogniser: grammar search with open-model fallback."""

    def __init__(self, jsgf_text=None, reject_penalty=DEFAULT_REJECT_PENALTY, fallback=True,
                 accept=None):
        """jsgf_text: a grammar whose <utterance> rule is private (default: the intents').

        accept(text) -> bool says whether a grammar result is a whole phrase
        (default: any text for a given grammar, an exact intent phrasing for
        the intents' grammar).
        """
        if jsgf_text is None:
            jsgf_text = grammar_module.jsgf(public=False)
            accept = accept or intents_module.Matcher().exact
        self.jsgf = with_rejection(jsgf_text, reject_penalty)
        self.fallback = OpenVocabulary.shared if fallback is True else fallback
        self.accept = accept or (lambda text: bool(text))
        hmm = model_paths()[0]
        with tempfile.TemporaryDirectory() as folder:
            dictionary = os.path.join(folder, "grammar.dict")
            with open(dictionary, "w", encoding="utf-8") as out:
                out.write(dictionary_text(frozenset(grammar_words(self.jsgf))))
            self._decoder = pocketsphinx.Decoder(hmm=hmm, dict=dictionary, lm=None,
                                                 loglevel="FATAL", **SEARCH_SETTINGS,
                                                 **FRONT_END_SETTINGS)
        self._decoder.add_jsgf_string(grammar_module.GRAMMAR_NAME, self.jsgf)
        self._decoder.activate_search(grammar_module.GRAMMAR_NAME)
        self._audio = bytearray()
        self._started = False

    def feed(self, pcm):
        """Decode a chunk of the current utterance (starts one if needed)."""
        if not pcm:
            return  # pocketsphinx's process_raw fails on an empty buffer
        if not self._started:
            self._decoder.start_utt()
            self._started = True
            self._audio.clear()
        self._audio += pcm
        self._decoder.process_raw(bytes(pcm))

    def partial(self):
        """The grammar search's best guess so far (may change)."""
        hyp = self._decoder.hyp() if self._started else None
        return hyp.hypstr if hyp else ""

    def finish(self):
        """End the utterance and return its Transcript."""
        began = time.perf_counter()
        if not self._started:
            return Transcript("", "none", (), "", 0, 0.0)
        self._decoder.end_utt()
        self._started = False
        hyp = self._decoder.hyp()
        heard = hyp.hypstr if hyp else ""
        audio_ms = len(self._audio) // BYTES_PER_MS
        if heard and GARBAGE_PREFIX not in heard and self.accept(heard):
            text, words, source = heard, _words(self._decoder), "grammar"
        elif self.fallback:
            text, words = self.fallback().transcribe(bytes(self._audio))
            source = "lm" if text else "none"
        else:
            text, words, source = "", (), "none"
        return Transcript(text, source, words, heard, audio_ms,
                          (time.perf_counter() - began) * 1000)

    def transcribe(self, pcm, chunk_bytes=640):
        """A whole utterance, fed in chunks as a stream would be."""
        for i in range(0, len(pcm), chunk_bytes):
            self.feed(pcm[i:i + chunk_bytes])
        return self.finish()
