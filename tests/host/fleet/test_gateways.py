"""Gateway choice: sticky, least loaded, and never past a gateway's max_sessions."""
import pytest

from host.fleet.gateways import LocalGateway, pick_gateway


class CountingGateway:
    """Stands in for host.gateway.Gateway in what the link reads: its sessions."""

    def __init__(self, sessions=0):
        self.sessions = list(range(sessions))
        self.address = ("127.0.0.1", 5004)


def link(name, sessions, max_sessions=None):
    return LocalGateway(name, CountingGateway(sessions), max_sessions=max_sessions)


def test_the_device_keeps_its_gateway_while_it_has_room():
    a, b = link("a", 5, max_sessions=10), link("b", 0)
    assert pick_gateway([a, b], "a") is a
    assert pick_gateway([a, b], None) is b


def test_a_full_gateway_takes_no_new_device_and_none_left_means_none():
    full, other = link("a", 2, max_sessions=2), link("b", 7, max_sessions=8)
    assert pick_gateway([full, other], "a") is other
    assert pick_gateway([full, link("c", 8, max_sessions=8)], "a") is None


def test_a_renewal_on_a_full_gateway_replaces_the_devices_own_session():
    full = link("a", 2, max_sessions=2)
    assert pick_gateway([full], "a", held=[(full, 1234)]) is full
    assert pick_gateway([full], "a", held=[(link("b", 1), 99)]) is None


def test_a_bad_limit_is_refused():
    with pytest.raises(ValueError, match="max_sessions must be >= 1"):
        LocalGateway("a", CountingGateway(), max_sessions=0)
