"""The formats one device's factory data can be written in, found by name.

A format is one module in this package. It declares, as data:
  * ``NAME`` and ``DESCRIPTION``;
  * ``FIELDS``: the model fields it stores, each with the key (or tag name) it is stored under;
and offers three functions:
  * ``encode(device: FactoryData, options: dict | None = None) -> bytes``: the image of one device;
  * ``decode(data: bytes, options: dict | None = None) -> FactoryData``: the device back from an image;
  * ``looks_like(data: bytes) -> bool``: whether an image is probably of this format.

``inspect``, ``batch``, the drop-ins and the end-to-end tests find formats here; adding a format is adding
its module to ``MODULES`` (with its command and tests).
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from ..errors import InvalidInput
from ..model import FIELD_SPECS, check_field

MODULES = ("nrfconnect", "telink", "nxp", "esp32", "esp_secure_cert", "ti", "bouffalolab")


def get(name: str) -> ModuleType:
    """The format module called ``name``."""
    if name not in MODULES:
        raise InvalidInput("--format", f"{name!r} is not a format (known: {', '.join(MODULES)})")
    return import_module(f"{__name__}.{name}")


def names() -> tuple[str, ...]:
    return MODULES


def detect(data: bytes) -> str | None:
    """The first format whose ``looks_like`` accepts ``data`` (nrfconnect last: its CBOR has no magic)."""
    for name in (*MODULES[1:], MODULES[0]):
        if get(name).looks_like(data):
            return name
    return None


def stored_value_problems(fmt: ModuleType, values: dict, skip: tuple = ()) -> list[str]:
    """The model's rule for every value an image holds (``values`` keyed as the format stores them, already
    decoded to model types), one line per broken rule, naming the format's key."""
    problems = []
    for field, key in fmt.FIELDS.items():
        if key in values and field in FIELD_SPECS and field not in skip:
            try:
                check_field(field, values[key], key)
            except InvalidInput as e:
                problems.append(str(e))
    return problems
