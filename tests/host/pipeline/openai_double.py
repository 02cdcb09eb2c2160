"""A test double of the OpenAI chat-completions API, speaking the real protocol.

It stands in for a cloud LLM (OpenAI, or Ollama / vLLM / llama.cpp server,
which speak the same API) that cannot run here. It is an aiohttp server on
127.0.0.1 answering POST /v1/chat/completions exactly as the real service
streams: HTTP 200 with `Content-Type: text/event-stream`, one
`data: {json}\\n\\n` event per `chat.completion.chunk` (first chunk carries
`delta.role`, then `delta.content` pieces, then an empty delta with
`finish_reason: "stop"`, then, when `stream_options.include_usage` is set, a
chunk with empty `choices` and `usage`), ended by `data: [DONE]`. Errors are
the real error shape: an HTTP status with `{"error": {"message", "type",
"code"}}`. The real Pipecat OpenAILLMService (openai SDK, httpx) talks to it.

Each request is recorded (its JSON body and arrival time). Replies are
scripted in order with `Reply`; when the script runs out, `default` answers.
"""
import asyncio
import json
import time
from dataclasses import dataclass

from aiohttp import web


@dataclass
class Reply:
    """One scripted answer: text streamed in `pieces` chunks, or an HTTP error."""
    text: str = ""
    status: int = 200
    first_chunk_delay_s: float = 0.0   # time to first token
    chunk_delay_s: float = 0.0         # between chunks
    pieces: int = 0                    # 0: one chunk per word


class OpenAIChatDouble:
    """POST /v1/chat/completions on 127.0.0.1, streaming scripted replies."""

    def __init__(self, default=None):
        self.default = default or Reply("I do not know.")
        self.script = []
        self.requests = []    # (arrival monotonic s, JSON body)
        self._runner = None
        self.base_url = None

    async def start(self):
        """Listen on an ephemeral port; return the base URL (…/v1)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = "http://127.0.0.1:%d/v1" % port
        return self.base_url

    async def stop(self):
        """Close the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _completions(self, request):
        body = await request.json()
        self.requests.append((time.monotonic(), body))
        reply = self.script.pop(0) if self.script else self.default
        if reply.status != 200:
            return web.json_response({"error": {"message": "scripted failure", "type": "server_error",
                                                "code": None}}, status=reply.status)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        model = body.get("model", "double")
        await asyncio.sleep(reply.first_chunk_delay_s)
        for delta, finish in _deltas(reply):
            await response.write(_event(_chunk(model, delta, finish)))
            await asyncio.sleep(reply.chunk_delay_s)
        if body.get("stream_options", {}).get("include_usage"):
            usage = {"prompt_tokens": 10, "completion_tokens": len(reply.text.split()),
                     "total_tokens": 10 + len(reply.text.split())}
            await response.write(_event(dict(_chunk(model, None, None), choices=[], usage=usage)))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _deltas(reply):
    words = reply.text.split(" ")
    count = reply.pieces or len(words)
    per = -(-len(words) // count)
    pieces = [" ".join(words[i:i + per]) for i in range(0, len(words), per)]
    yield {"role": "assistant", "content": ""}, None
    for index, piece in enumerate(pieces):
        yield {"content": piece if index == 0 else " " + piece}, None
    yield {}, "stop"


def _chunk(model, delta, finish):
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {"id": "chatcmpl-double", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "system_fingerprint": None, "choices": [] if delta is None else [choice]}


def _event(payload):
    return b"data: " + json.dumps(payload).encode() + b"\n\n"
