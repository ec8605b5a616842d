"""Telink factory data (TLSR9518/9528, TL7218, TL3218, TLSR9118 on Zephyr): nRF Connect's container (one
definite-length CBOR map, then one 0x00 byte, in its own flash partition) with Telink's key order and
encodings, as Telink's ``mfg_tool.py`` writes them and its ``FactoryDataParser.c`` reads them:

* keys in the order of ``FIELDS`` below (vendor first, ``version`` tenth, the certificates and the CD last);
* every text value, and every byte value, is a CBOR byte string; integers are minimal unsigned integers;
* ``rd_uid`` and ``enable_key`` are stored as the ASCII text of their hex digits (the device hex-decodes
  ``enable_key`` and uses the ``rd_uid`` text bytes as the unique ID), so ``rd_uid`` is at most 16 bytes;
* ``cert_dclrn`` holds the Certification Declaration (the ``cd`` option);
* ``user`` is a byte string (the JSON text): the Telink parser fails on a nested map;
* no ``product_finish`` or ``primary_color``: the Telink parser skips them.
"""

from __future__ import annotations

import io
import json

import cbor2

from ..errors import InvalidInput
from ..model import FactoryData
from . import nrfconnect

NAME = "telink"
DESCRIPTION = "Telink (Zephyr): nRF's CBOR partition with Telink's key order and encodings, plus the CD"
# model field -> key, in the on-flash order
FIELDS = {
    "vendor_id": "vendor_id", "vendor_name": "vendor_name", "product_id": "product_id",
    "product_name": "product_name", "hw_ver": "hw_ver", "hw_ver_str": "hw_ver_str", "date": "date",
    "rd_uid": "rd_uid", "sn": "sn", "version": "version", "enable_key": "enable_key",
    "product_label": "product_label", "product_url": "product_url", "part_number": "part_number",
    "discriminator": "discriminator", "spake2_it": "spake2_it", "spake2_salt": "spake2_salt",
    "spake2_verifier": "spake2_verifier", "passcode": "passcode", "dac_cert": "dac_cert", "dac_key": "dac_key",
    "pai_cert": "pai_cert", "user": "user",
}
CD_KEY = "cert_dclrn"
ORDER = (*list(FIELDS)[:-1], CD_KEY, "user")  # the CD after the PAI; user data last
HEX_TEXT = ("rd_uid", "enable_key")  # stored as the ASCII text of their hex digits
LIMITS = {"rd_uid": (16, 16)}  # bytes of the value: its 32-character text must fit the device's 32-byte buffer
PARTITION_SIZES = {"tl3218x": 0x800}  # boards whose factory_partition is not 4 KiB


def encode(device: FactoryData, options: dict | None = None) -> bytes:
    """One device's partition image (CBOR + terminator). ``options``: ``cd`` (the Certification
    Declaration, DER), ``size`` (the partition size: the image must fit)."""
    options = options or {}
    values = {}
    for field in ORDER:
        value = options.get("cd") if field == CD_KEY else getattr(device, field)
        if value is not None:
            values[field] = _stored(device, field, value)
    cbor = cbor2.dumps(values)
    if options.get("size") is not None:
        nrfconnect.check_size(cbor, options["size"])
    return nrfconnect.image_bytes(cbor)


def _stored(device: FactoryData, field: str, value):
    if field in LIMITS and not LIMITS[field][0] <= len(value) <= LIMITS[field][1]:
        lo, hi = LIMITS[field]
        raise InvalidInput(field, f"is {len(value)} bytes; Telink stores it as hex text and needs {lo}..{hi} bytes")
    if field in HEX_TEXT:
        return device.hex_text.get(field, value.hex().upper() if field == "enable_key" else value.hex()).encode()
    if field == "user":
        return json.dumps(value, separators=(",", ":")).encode()
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


def read(data: bytes) -> dict:
    """The stored map, keys as stored, values as CBOR gives them (byte strings as bytes)."""
    try:
        values = cbor2.CBORDecoder(io.BytesIO(data)).decode()
    except (cbor2.CBORDecodeError, ValueError, EOFError) as e:
        raise InvalidInput("partition", f"is not a CBOR map ({e})") from None
    if not isinstance(values, dict):
        raise InvalidInput("partition", f"must hold a CBOR map, not {type(values).__name__}")
    return values


def decode(data: bytes, options: dict | None = None) -> FactoryData:
    """The device an image holds (the CD is in ``read(data)["cert_dclrn"]``)."""
    values = read(data)
    device = FactoryData()
    for field in FIELDS:
        if field not in values:
            continue
        value = values[field]
        if field in HEX_TEXT:
            text = value.decode("ascii", "replace")
            try:
                value = bytes.fromhex(text)
            except ValueError:
                raise InvalidInput(field, f"{text!r} is not hex text") from None
            device.hex_text[field] = text
        elif field == "user":
            value = json.loads(value)
        elif isinstance(value, bytes) and field in _TEXT_FIELDS:
            value = value.decode("utf-8", "replace")
        setattr(device, field, value)
    return device


_TEXT_FIELDS = ("vendor_name", "product_name", "hw_ver_str", "date", "sn", "product_label", "product_url",
                "part_number")


def looks_like(data: bytes) -> bool:
    """A CBOR map whose first key is ``vendor_id`` (nRF Connect's starts with ``version``)."""
    key = b"\x69vendor_id"
    if data[:1] and 0xA0 <= data[0] <= 0xB7:
        return data[1:11] == key
    return data[:1] == b"\xb8" and data[2:12] == key
