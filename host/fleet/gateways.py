"""Gateways as the fleet service sees them: where devices send media.

A link installs and retires sessions on one gateway. LocalGateway drives a
gateway in the same process (the single-host setup); a remote gateway would
take the same two calls over its control topic. Assignment is sticky: a
device keeps its gateway while that gateway is up and has room, else it goes
to the least loaded one with room. A gateway with max_sessions set takes no
more than that many (each session on a conversation gateway is a pipeline).
"""


class LocalGateway:
    """A host.gateway.Gateway running in this process."""

    def __init__(self, gateway_id, gateway, advertised_host=None, max_sessions=None):
        if max_sessions is not None and max_sessions < 1:
            raise ValueError("gateway %s: max_sessions must be >= 1, got %r" % (gateway_id, max_sessions))
        self.gateway_id = gateway_id
        self.gateway = gateway
        self.advertised_host = advertised_host
        self.max_sessions = max_sessions

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

    def has_room(self, replacing=0):
        """True while it takes another session (`replacing` of its sessions are about to go)."""
        return self.max_sessions is None or self.load - replacing < self.max_sessions

    def install(self, session):
        """Serve a session (its uplink SSRC is the key)."""
        self.gateway.add_session(session)

    def retire(self, uplink_ssrc):
        """Stop serving a session; a session already gone is not an error."""
        try:
            self.gateway.remove_session(uplink_ssrc)
        except KeyError:
            pass


def pick_gateway(links, current_id=None, held=()):
    """The device's current gateway if listed and not full, else the least loaded with room.

    held: the (link, uplink SSRC) sessions the device has now; a new grant
    replaces them, so they do not count against their gateway's room.
    """
    def replacing(link):
        return sum(1 for held_link, _ in held if held_link is link)

    open_links = [link for link in links if link.has_room(replacing(link))]
    if not open_links:
        return None
    for link in open_links:
        if link.gateway_id == current_id:
            return link
    return min(open_links, key=lambda link: link.load)
