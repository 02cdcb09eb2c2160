"""`pipit fleet serve`: the fleet service and a gateway in one process.

The single-host setup: one broker (started separately with `pipit broker
start`), this process granting sessions on its own gateway, where each
session gets a conversation (host/pipeline/conversation.py, configured by
pipit.toml) and its uplink is recorded to WAV under the state dir; with no
conversation config the gateway only records.
"""
from host.fleet import broker as pipit_broker
from host.fleet.gateways import LocalGateway
from host.fleet.operations import host_client
from host.fleet.registry import open_registry
from host.fleet.service import FleetService
from host.gateway.server import Gateway, GatewaySettings
from host.gateway.wav_sink import wav_sink_factory

# An underscore is not allowed in a device id, so no device can ever take this client id.
SERVICE_CLIENT_ID = "pipit_fleet_service"


def service_client(info, client_id=SERVICE_CLIENT_ID):
    """The fleet service's MQTT client: a persistent session under a fixed client id.

    The broker keeps its subscriptions and queues QoS 1 reports for it while
    it is away (a service restart) and across a broker restart, where a clean
    session would lose what devices resend before it has resubscribed.
    Each service process sharing a broker needs its own client_id.
    """
    return host_client(info, "fleet", client_id=client_id, clean_session=False)


def _media(paths, gateway_listen, conversation_config):
    """(Gateway, Conversations or None) for serve_fleet."""
    if conversation_config is None:
        return Gateway(GatewaySettings(host=gateway_listen[0], port=gateway_listen[1]),
                       sink_factory=wav_sink_factory(paths.recordings)), None
    from host.pipeline.conversation import Conversations, gateway_settings
    conversations = Conversations(conversation_config, record_directory=str(paths.recordings))
    return Gateway(gateway_settings(conversation_config, *gateway_listen),
                   conversations.sink_factory), conversations


async def serve_fleet(paths, gateway_listen, advertised_host, stop_event, on_ready=print,
                      conversation_config=None, max_sessions=None):
    """Run until stop_event is set; returns the service counters.

    conversation_config (host.pipeline.config.Config): talk to every session;
    None: only record them. max_sessions: the most the gateway serves at once.
    """
    info = pipit_broker.broker_info(paths.broker)
    paths.recordings.mkdir(parents=True, exist_ok=True)
    paths.registry.parent.mkdir(parents=True, exist_ok=True)
    registry = open_registry(paths.registry)
    gateway, conversations = _media(paths, gateway_listen, conversation_config)
    await gateway.start()
    link = LocalGateway("gw-1", gateway, advertised_host, max_sessions)
    service = FleetService(service_client(info), registry, [link])
    try:
        await service.start()
        on_ready("fleet service connected to mqtts://%s:%d; gateway gw-1 at %s:%d"
                 % ((info.connect_host, info.port) + tuple(link.media_address)))
        await stop_event.wait()
    finally:
        await service.stop()
        await gateway.stop()
        if conversations is not None:
            await conversations.stop()
        registry.close()
    return dict(service.counters)
