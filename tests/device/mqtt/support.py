"""What the MQTT client tests share: running a test, collecting messages, clients."""
import asyncio
import itertools

from device.mqtt import MqttClient

WAIT_S = 15.0
_names = itertools.count()


def run(coroutine, timeout_s=60.0):
    """Run one test body on a fresh event loop, bounded."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))


def unique(prefix):
    """A name no other test uses (client ids, topic roots)."""
    return "%s-%d" % (prefix, next(_names))


async def until(predicate, timeout_s=WAIT_S, what="condition"):
    """Wait until predicate() is true, checking on every loop turn (bounded)."""
    async def check():
        while not predicate():
            await asyncio.sleep(0.005)
    try:
        await asyncio.wait_for(check(), timeout_s)
    except asyncio.TimeoutError:
        raise AssertionError("timed out waiting for %s" % what) from None


class Inbox:
    """An on_message callback that records (topic, payload, retain) and wakes waiters."""

    def __init__(self):
        self.messages = []
        self._arrived = asyncio.Event()

    def __call__(self, topic, payload, retain):
        self.messages.append((topic, payload, retain))
        self._arrived.set()

    async def wait_count(self, count, timeout_s=WAIT_S):
        """The first `count` messages, once they have arrived."""
        async def wait():
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()
        try:
            await asyncio.wait_for(wait(), timeout_s)
        except asyncio.TimeoutError:
            raise AssertionError("%d of %d messages arrived: %r"
                                 % (len(self.messages), count, self.messages[-5:])) from None
        return self.messages[:count]

    async def wait_topic(self, topic, timeout_s=WAIT_S):
        """The first message on `topic`."""
        async def wait():
            while True:
                for message in self.messages:
                    if message[0] == topic:
                        return message
                self._arrived.clear()
                await self._arrived.wait()
        try:
            return await asyncio.wait_for(wait(), timeout_s)
        except asyncio.TimeoutError:
            raise AssertionError("nothing on %s; got %r" % (topic, self.messages[-5:])) from None


class Clients:
    """Makes MqttClients for one broker and stops them all at the end."""

    def __init__(self, broker):
        self.broker = broker
        self.made = []

    def make(self, prefix="c", tls=False, **options):
        options.setdefault("backoff_min_ms", 20)
        options.setdefault("backoff_max_ms", 500)
        if tls:
            options.setdefault("ssl_context", self.broker.client_tls_context())
            options.setdefault("server_hostname", "localhost")
        port = self.broker.tls_port if tls else self.broker.port
        client = MqttClient(unique(prefix), self.broker.host, port, **options)
        self.made.append(client)
        return client

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        for client in self.made:
            await client.stop()
