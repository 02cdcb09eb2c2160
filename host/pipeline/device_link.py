"""What the conversation tells the device in-band: turn events, aborts, volume.

A thin layer over GatewaySession.send_app (device/rtcp_app.py messages in the
session's SRTCP, each sent three times by the gateway). It numbers aborts and
volume requests, and remembers which (event, turn) it already sent so that a
turn is never reported done twice. Before the device's address is latched
nothing can be sent; that is counted, not raised.
"""
from device import rtcp_app


class DeviceLink:
    """The conversation's in-band signals to one device."""

    def __init__(self, served, volume_pct=60):
        self._served = served
        self.volume_pct = volume_pct    # the last volume we set (the agent's "volume up" base)
        self.sent = []                  # every message sent, in order (tests, `pipit talk`)
        self.unsent = 0                 # messages dropped: no address latched yet
        self._abort_id = 0
        self._request_id = 0
        self._events = set()

    @property
    def downlink_ssrc(self):
        return self._served.downlink_ssrc

    def turn_event(self, event, turn):
        """Send TurnEvent(event, turn) unless this pair was sent already; True if sent now."""
        if turn is None or (event, turn) in self._events:
            return False
        self._events.add((event, turn))
        return self._send(rtcp_app.TurnEvent(self.downlink_ssrc, event, turn & 0xFFFF))

    def abort(self, resume_seq=None):
        """Send Abort with a fresh abort_id; return that id."""
        self._abort_id = (self._abort_id + 1) & 0xFFFF
        self._send(rtcp_app.Abort(self.downlink_ssrc, self._abort_id, resume_seq))
        return self._abort_id

    def volume(self, volume_pct):
        """Send Volume(volume_pct) with a fresh request_id; remember it as the volume now."""
        self.volume_pct = volume_pct
        self._request_id = (self._request_id + 1) & 0xFFFF
        self._send(rtcp_app.Volume(self.downlink_ssrc, volume_pct, self._request_id))
        return self._request_id

    def _send(self, message):
        self.sent.append(message)
        if not self._served.send_app(message):
            self.unsent += 1
            return False
        return True
