"""Conversations: one Pipecat pipeline per gateway session. The lead's entry point.

```python
conversations = Conversations(config, on_turn=print_turn)          # config: host.pipeline.config
gateway = Gateway(GatewaySettings(downlink_lead_ms=config.downlink.lead_ms, ...),
                  conversations.sink_factory)
await gateway.start()
gateway.add_session(media_session)   # the sink attaches itself: the pipeline starts
...
gateway.remove_session(uplink_ssrc)  # the pipeline task is cancelled and awaited (in stop())
await gateway.stop()
await conversations.stop()           # waits for every pipeline task to end
conversations.timelines()            # {uplink_ssrc: [turn dict, ...]}
```

Each session's sink is a `Conversation`: the gateway writes the decoded
uplink into it (write), gives it the served session (attach: the pipeline is
built and started, DeviceState messages are routed to it) and closes it when
the session is removed (close: the pipeline task is cancelled). The pipeline:

    PipitInput -> STT -> PipitAgent -> [LLM -> ReplyCollector] -> TTS -> PipitOutput

`record_directory` keeps the gateway's recording: the uplink also goes to a
WavSink per session.
"""
import asyncio
import logging
import os
import time

from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.workers.runner import WorkerRunner

from host.gateway.server import GatewaySettings
from host.gateway.wav_sink import WavSink
from host.pipeline import services as service_factory
from host.pipeline.agent import PipitAgent, ReplyCollector
from host.pipeline.device_link import DeviceLink
from host.pipeline.intents import IntentAgent
from host.pipeline.timeline import Timeline
from host.pipeline.transport import SAMPLE_RATE_HZ, PipitTransport

log = logging.getLogger(__name__)

# A push-to-talk board sends nothing between turns; its next packet jumps the
# RTP clock over the pause. The gateway fills a pause with silence up to this
# (enough for the VAD to close any turn) instead of up to a minute, which the
# VAD would have to chew through before the next turn's first word.
GATEWAY_MAX_GAP_MS = 2000


def gateway_settings(config, host="0.0.0.0", port=5004, **overrides):
    """GatewaySettings for a gateway that runs conversations with this config."""
    return GatewaySettings(host=host, port=port, downlink_lead_ms=config.downlink.lead_ms,
                           max_gap_ms=GATEWAY_MAX_GAP_MS, **overrides)


class Conversation:
    """One session's conversation; also the gateway's sink for that session."""

    def __init__(self, session, config, on_turn=None, record_path=None, services=None,
                 clock=time.monotonic):
        self.session = session
        self.config = config
        self.timeline = Timeline(on_turn, clock=clock)
        self.link = None
        self.transport = None
        self.agent = None
        self._clock = clock
        self._services = services or {}   # test or caller overrides: stt, llm, tts, detector
        self._recording = WavSink(record_path) if record_path else None
        self._runner = None
        self._task = None
        self._closed = False

    # -- the sink side (called by the gateway) ----------------------------

    def write(self, pcm):
        """Decoded uplink, 16 kHz mono s16le."""
        if self._recording is not None:
            self._recording.write(pcm)
        if self.transport is not None:
            self.transport.input().feed(pcm)

    def attach(self, served):
        """Build the pipeline over the served session and start it."""
        self.link = DeviceLink(served)
        self.transport = PipitTransport(served, self._service("detector"), self.timeline,
                                        self.link, clock=self._clock)
        served.on_app = self.transport.input().device_state
        worker = PipelineWorker(
            Pipeline(self._processors()),
            params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE_HZ,
                                  audio_out_sample_rate=SAMPLE_RATE_HZ),
            idle_timeout_secs=None, cancel_on_idle_timeout=False, enable_rtvi=False,
            name="pipit-%08x" % self.session.uplink_ssrc)
        self._runner = WorkerRunner(handle_sigint=False)
        self._task = asyncio.get_running_loop().create_task(self._run(worker))

    def close(self):
        """The session is gone: stop the pipeline (asynchronously), close the recording."""
        if self._closed:
            return
        self._closed = True
        if self._recording is not None:
            self._recording.close()
        if self._runner is not None:
            asyncio.get_running_loop().create_task(self._runner.cancel("session removed"))

    # -- the pipeline ------------------------------------------------------

    def _service(self, name):
        if name in self._services:
            return self._services[name]
        config = self.config
        makers = {"detector": lambda: service_factory.make_detector(config.vad),
                  "stt": lambda: service_factory.make_stt(config.asr),
                  "tts": lambda: service_factory.make_tts(config.tts),
                  "llm": lambda: service_factory.make_llm(config.llm)}
        return makers[name]()

    def _processors(self):
        config = self.config
        context = LLMContext() if config.llm is not None else None
        intents = None
        if config.agent.local_intents:
            intents = IntentAgent(status=lambda: {"volume_pct": self.link.volume_pct})
        self.agent = PipitAgent(self.timeline, self.link, intents=intents, llm_context=context,
                                final_timeout_s=config.asr.final_timeout_ms / 1000.0,
                                clock=self._clock, name="pipit-agent")
        processors = [self.transport.input(), self._service("stt"), self.agent]
        if context is not None:
            processors += [self._service("llm"), ReplyCollector(context, clock=self._clock)]
        return processors + [self._service("tts"), self.transport.output()]

    async def _run(self, worker):
        try:
            await self._runner.add_workers(worker)
            await self._runner.run()
        except Exception:
            log.exception("conversation %08x: pipeline failed", self.session.uplink_ssrc)
        finally:
            self._close_open_turns()

    def _close_open_turns(self):
        input_ = self.transport.input()
        for record in [input_.record] + list(self.timeline.answers):
            if record is not None:
                self.timeline.close(record, "ended")
        if self.agent is not None and self.agent._awaiting is not None:
            self.timeline.close(self.agent._awaiting, "ended")

    async def stop(self):
        """Cancel the pipeline and wait for its task to end. Idempotent."""
        self.close()
        if self._task is not None:
            await self._task

    @property
    def ready(self):
        """True once the pipeline takes audio (earlier uplink is dropped)."""
        return self.transport is not None and self.transport.input().ready

    async def wait_ready(self, timeout_s=30.0):
        """Wait until the pipeline takes audio; RuntimeError if it ends first or takes too long."""
        if self._task is None:
            raise RuntimeError("conversation %08x: not attached to a session" % self.session.uplink_ssrc)
        started = asyncio.ensure_future(self.transport.input().started.wait())
        done, _ = await asyncio.wait({started, self._task}, timeout=timeout_s,
                                     return_when=asyncio.FIRST_COMPLETED)
        if started in done:
            return
        started.cancel()
        if self._task in done:
            raise RuntimeError("conversation %08x: the pipeline stopped while starting"
                               % self.session.uplink_ssrc)
        raise RuntimeError("conversation %08x: the pipeline was not ready in %.0f s"
                           % (self.session.uplink_ssrc, timeout_s))

    @property
    def running(self):
        """True while the pipeline task runs."""
        return self._task is not None and not self._task.done()


class Conversations:
    """A Conversation per gateway session: sink_factory for Gateway, stop() at the end."""

    def __init__(self, config, on_turn=None, record_directory=None, services=None):
        """on_turn(uplink_ssrc, TurnRecord) is called as each turn closes."""
        self.config = config
        self.on_turn = on_turn
        self.record_directory = record_directory
        self._services = services     # a function session -> {name: service} (tests)
        self.conversations = {}       # uplink SSRC -> Conversation (live and ended)

    def sink_factory(self, session):
        """Gateway's sink_factory: a Conversation for the session."""
        ssrc = session.uplink_ssrc
        on_turn = None if self.on_turn is None else (lambda record: self.on_turn(ssrc, record))
        path = None
        if self.record_directory is not None:
            path = os.path.join(str(self.record_directory), "%08x.wav" % ssrc)
        services = self._services(session) if self._services is not None else None
        conversation = Conversation(session, self.config, on_turn, path, services)
        self.conversations[ssrc] = conversation
        return conversation

    def timelines(self):
        """Every conversation's closed turns, as dicts, by uplink SSRC."""
        return {ssrc: conv.timeline.as_dicts() for ssrc, conv in self.conversations.items()}

    async def stop(self):
        """Stop every pipeline and wait for them."""
        for conversation in list(self.conversations.values()):
            await conversation.stop()
