"""Telink factory data (TLSR9518/9528, TL7218, TL3218, TLSR9118 on Zephyr): nRF Connect's container (one
definite-length CBOR map, then one 0x00 byte, in its own flash partition) with Telink's key order and
encodings, as Telink's ``mfg_tool.py`` writes them and its ``FactoryDataParser.c`` reads them:

* keys in the order of ``FIELDS`` below (vendor first, ``version`` tenth, the certificates and the CD last);
* every text value, and every byte value, is a CBOR byte string; integers are minimal unsigned integers;
* ``enable_key`` is stored as the ASCII text of its 32 hex digits (the device hex-decodes it);
* ``rd_uid`` is stored as the text the user gave (``--rd-id-uid``: its ASCII bytes are the device's unique
  ID), or as raw bytes when it was generated; either way 16..32 stored bytes;
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
HEX_TEXT = ("rd_uid", "enable_key")  # stored as the ASCII text of their hex digits (rd_uid: when typed as text)
LIMITS = {"rd_uid": (16, 32), "enable_key": (32, 32)}  # stored bytes: the device's buffers
# what commissioning needs from the partition (the Telink parser itself requires no key)
COMMISSIONING = ("discriminator", "spake2_it", "spake2_salt", "spake2_verifier", "dac_cert", "dac_key", "pai_cert")
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
    if field in HEX_TEXT:
        if field in device.hex_text:
            value = device.hex_text[field].encode()
        elif field == "enable_key":
            value = value.hex().upper().encode()
        lo, hi = LIMITS[field]
        if not lo <= len(value) <= hi:
            form = "as hex text" if field in device.hex_text or field == "enable_key" else "raw"
            raise InvalidInput(field, f"is {len(value)} bytes stored {form}; the Telink device needs {lo}..{hi}")
        return value
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
            if _is_hex_text(text):
                value = bytes.fromhex(text)
                device.hex_text[field] = text
            elif field == "enable_key":
                raise InvalidInput(field, f"{text!r} is not hex text")
        elif field == "user":
            value = json.loads(value)
        elif isinstance(value, bytes) and field in _TEXT_FIELDS:
            value = value.decode("utf-8", "replace")
        setattr(device, field, value)
    return device


def _is_hex_text(text: str) -> bool:
    """32 (or 16..32, an even number of) hex digits: the text form; anything else is raw bytes."""
    return len(text) % 2 == 0 and 16 <= len(text) <= 64 and all(c in "0123456789abcdefABCDEF" for c in text)


_TEXT_FIELDS = ("vendor_name", "product_name", "hw_ver_str", "date", "sn", "product_label", "product_url",
                "part_number")


def looks_like(data: bytes) -> bool:
    """A CBOR map whose first key is ``vendor_id`` (nRF Connect's starts with ``version``)."""
    key = b"\x69vendor_id"
    if data[:1] and 0xA0 <= data[0] <= 0xB7:
        return data[1:11] == key
    return data[:1] == b"\xb8" and data[2:12] == key
