"""Tests run the same local Mosquitto as ``smartstore demo``: a real broker on a free loopback port."""

from collector.broker import LocalBroker as Mosquitto
from collector.broker import free_port

__all__ = ["Mosquitto", "free_port"]
