"""matter-factory-data: Matter factory data for nRF Connect, NXP and ESP32, produced in-process."""

__version__ = "0.1.0"
