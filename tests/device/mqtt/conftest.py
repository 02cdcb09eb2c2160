"""Brokers for the MQTT client tests: real mosquitto processes (tests/brokers.py)."""
import pytest

from tests.brokers import Mosquitto


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One mosquitto (plain + TLS listener, anonymous) shared by tests that don't break it."""
    with Mosquitto(tmp_path_factory.mktemp("mosquitto"), tls=True) as running:
        yield running


@pytest.fixture
def own_broker(tmp_path):
    """A mosquitto of this test's own, to stop, restart or freeze (packets logged)."""
    with Mosquitto(tmp_path / "mosquitto", debug_log=True) as running:
        yield running


@pytest.fixture
def password_broker(tmp_path):
    """A mosquitto that refuses anonymous clients and checks a password file."""
    with Mosquitto(tmp_path / "mosquitto", users={"pipit-fleet": "right horse battery"}) as running:
        yield running
