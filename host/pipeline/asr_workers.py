"""pocketsphinx in worker processes, so recognition leaves the gateway's GIL.

pocketsphinx holds Python's GIL while it decodes: in the gateway's process
every session's recognition takes turns with the event loop, Silero and the
codec, on one core however many the host has (docs/benchmarks.md,
"Conversations per core"). With `[asr] workers = N` the sessions'
recognisers live in N worker processes instead (multiprocessing, "spawn"),
assigned round robin. RemoteRecognizer has Recognizer's interface, so
PocketsphinxSTTService uses it unchanged: audio goes to the worker without
waiting for it (one pipe message per chunk), finish() waits for the
Transcript. The open-model fallback runs in the worker too.

A worker that dies fails the calls of its recognisers with AsrWorkerError;
the STT service then gives that turn an empty transcript and asks for a new
recogniser, which the pool makes on a live worker (it restarts dead ones).
"""
import itertools
import multiprocessing
import os
import threading

DEFAULT_CHUNK_BYTES = 640  # as Recognizer.transcribe


class AsrWorkerError(RuntimeError):
    """A worker process died or refused a call."""


def _serve(connection, cpus):
    """A worker's loop: recognisers by id, until the pipe closes."""
    from host.pipeline.asr import Recognizer
    if cpus:
        os.sched_setaffinity(0, set(cpus))
    recognizers, failed = {}, {}
    while True:
        try:
            operation, recognizer_id, argument = connection.recv()
        except (EOFError, OSError):
            return
        try:
            if operation == "feed":
                if recognizer_id not in failed:
                    recognizers[recognizer_id].feed(argument)
                continue
            if operation == "close":
                recognizers.pop(recognizer_id, None)
                failed.pop(recognizer_id, None)
                continue
            if operation == "new":
                recognizers[recognizer_id] = Recognizer(**argument)
                result = None
            elif operation == "partial":
                result = recognizers[recognizer_id].partial()
            elif recognizer_id in failed:  # finish after a feed that raised
                raise AsrWorkerError(failed.pop(recognizer_id))
            else:
                result = recognizers[recognizer_id].finish()
            connection.send(("ok", result))
        except Exception as error:  # reported to the caller, never the end of the worker
            text = "%s: %s" % (type(error).__name__, error)
            if operation == "feed":
                failed[recognizer_id] = text
            elif operation != "close":
                connection.send(("error", text))


class _Worker:
    """One worker process and the pipe to it; calls are serialised by a lock."""

    def __init__(self, context, cpus):
        parent, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, cpus), daemon=True,
                                       name="pipit-asr")
        self.process.start()
        child.close()
        self._connection = parent
        self._lock = threading.Lock()

    @property
    def alive(self):
        return self.process.is_alive()

    def send(self, message):
        """Send without waiting for an answer."""
        with self._lock:
            self._send(message)

    def call(self, message):
        """Send and wait for the answer; its value, or AsrWorkerError."""
        with self._lock:
            self._send(message)
            try:
                status, value = self._connection.recv()
            except (EOFError, OSError):
                raise AsrWorkerError("asr worker %d died" % self.process.pid)
        if status != "ok":
            raise AsrWorkerError("asr worker %d: %s" % (self.process.pid, value))
        return value

    def _send(self, message):
        try:
            self._connection.send(message)
        except (BrokenPipeError, OSError):
            raise AsrWorkerError("asr worker %d died" % self.process.pid)

    def close(self):
        self._connection.close()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class RemoteRecognizer:
    """Recognizer's interface, served by a worker process."""

    def __init__(self, worker, recognizer_id, options):
        self._worker = worker
        self._id = recognizer_id
        worker.call(("new", recognizer_id, options))

    def feed(self, pcm):
        """Send a chunk of the current utterance (does not wait for its decoding)."""
        self._worker.send(("feed", self._id, bytes(pcm)))

    def partial(self):
        """The grammar search's best guess so far."""
        return self._worker.call(("partial", self._id, None))

    def finish(self):
        """End the utterance; its Transcript (AsrWorkerError if the worker failed)."""
        return self._worker.call(("finish", self._id, None))

    def transcribe(self, pcm, chunk_bytes=DEFAULT_CHUNK_BYTES):
        """A whole utterance, fed in chunks as a stream would be."""
        for i in range(0, len(pcm), chunk_bytes):
            self.feed(pcm[i:i + chunk_bytes])
        return self.finish()

    def close(self):
        """Free the recogniser in the worker (a dead worker has nothing to free)."""
        try:
            self._worker.send(("close", self._id, None))
        except AsrWorkerError:
            pass


class AsrWorkers:
    """N worker processes hosting recognisers; recognizer() hands them out round robin."""

    _shared = None
    _shared_lock = threading.Lock()

    def __init__(self, count, cpus=None):
        """cpus: CPU numbers the workers run on (bench/capacity.py); None: anywhere."""
        if not 1 <= count <= 64:
            raise ValueError("asr: workers must be in 1..64, got %r" % (count,))
        self._context = multiprocessing.get_context("spawn")
        self._cpus = tuple(cpus) if cpus else None
        self._workers = [_Worker(self._context, self._cpus) for _ in range(count)]
        self._ids = itertools.count(1)
        self._next = itertools.cycle(range(count))
        self._lock = threading.Lock()
        self.made = 0  # recognisers handed out
        self.restarted = 0  # dead workers replaced

    @classmethod
    def shared(cls, count, cpus=None):
        """The process-wide pool, made on first use (later calls get the same one)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls(count, cpus)
            return cls._shared

    def recognizer(self, **options):
        """A RemoteRecognizer (options as Recognizer's jsgf_text, reject_penalty, fallback)."""
        with self._lock:
            index = next(self._next)
            if not self._workers[index].alive:
                self._workers[index] = _Worker(self._context, self._cpus)
                self.restarted += 1
            worker, recognizer_id = self._workers[index], next(self._ids)
            self.made += 1
        return RemoteRecognizer(worker, recognizer_id, options)

    @property
    def pids(self):
        """The worker processes' ids."""
        return [worker.process.pid for worker in self._workers]

    def close(self):
        """Stop every worker."""
        for worker in self._workers:
            worker.close()
