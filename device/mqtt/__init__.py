"""MQTT 3.1.1 for the control plane: packets (pure) and an asyncio client.

The same code runs on the device (MicroPython and CPython) and in the host
services. See device/mqtt/client.py for why pipit has its own client.
"""
from device.mqtt.client import MqttClient, MqttError, Will, tls_context  # noqa: F401
