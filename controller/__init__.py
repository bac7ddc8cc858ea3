"""MQTT fleet controller for ESP32 classroom attendance devices."""

__version__ = "0.1.0"
