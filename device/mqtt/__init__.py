"""MQTT 3.1.1 for the control plane: packets (pure) and an asyncio client.

The same code runs on the device (MicroPython and CPython) and in the host
services. See device/mqtt/client.py for why pipit has its own client.
"""
from device.mqtt.client import MqttClient, Will  # noqa: F401
from device.mqtt.link import MqttError  # noqa: F401
from device.mqtt.tls import tls_context  # noqa: F401
