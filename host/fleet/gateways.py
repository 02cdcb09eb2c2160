"""Gateways as the fleet service sees them: where devices send media.

A link installs and retires sessions on one gateway. LocalGateway drives a
gateway in the same process (the single-host setup); a remote gateway would
take the same two calls over its control topic. Assignment is sticky: a
device keeps its gateway while that gateway is up, else it goes to the least
loaded one.
"""


class LocalGateway:
    """A host.gateway.Gateway running in this process."""

    def __init__(self, gateway_id, gateway, advertised_host=None):
        self.gateway_id = gateway_id
        self.gateway = gateway
        self.advertised_host = advertised_host

    @property
    def media_address(self):
        """(host, port) devices send media to."""
        host, port = self.gateway.address
        if self.advertised_host:
            host = self.advertised_host
        elif host in ("0.0.0.0", "::"):
            raise ValueError("gateway %s listens on all interfaces: set advertised_host"
                             % self.gateway_id)
        return host, port

    @property
    def load(self):
        """Sessions installed now."""
        return len(self.gateway.sessions)

    def install(self, session):
        """Serve a session (its uplink SSRC is the key)."""
        self.gateway.add_session(session)

    def retire(self, uplink_ssrc):
        """Stop serving a session; a session already gone is not an error."""
        try:
            self.gateway.remove_session(uplink_ssrc)
        except KeyError:
            pass


def pick_gateway(links, current_id=None):
    """The device's current gateway if it is still listed, else the least loaded."""
    if not links:
        return None
    for link in links:
        if link.gateway_id == current_id:
            return link
    return min(links, key=lambda link: link.load)
