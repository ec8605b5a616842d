"""The esp_secure_cert partition (TLV format) as esp-matter-mfg-tool writes it through esp-secure-cert-tool,
and a reader for ``inspect`` and tests.

Record: magic 0xBA5EBA11 (u32 LE), flags (u8), 3 reserved zero bytes, type (u8), subtype (u8), length
(u16 LE), the data, zero padding to a multiple of 16 data bytes, CRC-32 (u32 LE, zlib's with initial value
0xFFFFFFFF) over header, data and padding. The file ends after the last record (it is not padded to the
partition size).

Records, in the reference's order: an optional security configuration (type 6, with the DS peripheral:
eFuse block = key id + 4, then 39 zero bytes), the DAC (type 1), the PAI (type 0), the DAC key as SEC1 DER
(type 2; flags bit 3 when the key is for the DS peripheral) and, when the commissionable data and the
rotating device ID unique ID live here too, type 201 with subtypes 0 discriminator (u16 LE), 1 verifier
(97 raw bytes), 2 salt, 3 iteration count (u32 LE), 4 rd-id-uid, 128 and 129 (32 random bytes each).
"""

from __future__ import annotations

import struct
import zlib

from ..crypto.dac_template import key_der_from_scalar
from ..crypto.der import ec_private_scalar
from ..errors import InvalidInput
from ..model import FactoryData

NAME = "esp_secure_cert"
DESCRIPTION = "ESP32 esp_secure_cert partition: DAC, PAI, DAC key, and optionally the commissionable data"
# model field -> the record name it is stored under (SUBTYPES, TYPE_NAMES)
FIELDS = {"dac_cert": "dac-cert", "pai_cert": "pai-cert", "dac_key": "dac-key", "discriminator": "discriminator",
          "spake2_verifier": "verifier", "spake2_salt": "salt", "spake2_it": "iteration-count", "rd_uid": "rd-id-uid"}
MAGIC = 0xBA5EBA11
PARTITION_SIZE = 0x2000
CA_CERT, DEV_CERT, PRIV_KEY, SEC_CFG, MATTER = 0, 1, 2, 6, 201
FLAG_ECDSA_PERIPHERAL = 1 << 3
SUBTYPES = {0: "discriminator", 1: "verifier", 2: "salt", 3: "iteration-count", 4: "rd-id-uid", 128: "random1",
            129: "random2"}
TYPE_NAMES = {CA_CERT: "pai-cert", DEV_CERT: "dac-cert", PRIV_KEY: "dac-key", SEC_CFG: "sec-cfg"}
_HEADER = struct.Struct("<IB3sBBH")


def record(tlv_type: int, subtype: int, data: bytes, flags: int = 0) -> bytes:
    if len(data) > 0xFFFF:
        raise InvalidInput("esp_secure_cert", f"a record of {len(data)} bytes does not fit the 16-bit length")
    body = _HEADER.pack(MAGIC, flags, b"\0\0\0", tlv_type, subtype, len(data)) + data + bytes(-len(data) % 16)
    return body + struct.pack("<I", zlib.crc32(body, 0xFFFFFFFF) & 0xFFFFFFFF)


def partition(dac_der: bytes, pai_der: bytes, dac_key_der: bytes, *, efuse_key_id: int | None = None,
              commissionable: dict | None = None) -> bytes:
    """The partition bytes. ``efuse_key_id``: the DAC key is for the DS peripheral (ECDSA) in that eFuse
    key block. ``commissionable``: discriminator, verifier (97 bytes), salt, iteration_count, rd_uid and
    random1/random2 (32 bytes each)."""
    parts = []
    if efuse_key_id is not None:
        parts.append(record(SEC_CFG, 0, bytes([efuse_key_id + 4]) + bytes(39)))
    parts += [record(DEV_CERT, 0, dac_der), record(CA_CERT, 0, pai_der),
              record(PRIV_KEY, 0, dac_key_der, FLAG_ECDSA_PERIPHERAL if efuse_key_id is not None else 0)]
    if commissionable is not None:
        c = commissionable
        parts += [record(MATTER, 0, struct.pack("<H", c["discriminator"])), record(MATTER, 1, c["verifier"]),
                  record(MATTER, 2, c["salt"]), record(MATTER, 3, struct.pack("<I", c["iteration_count"])),
                  record(MATTER, 4, c["rd_uid"]), record(MATTER, 128, c["random1"]),
                  record(MATTER, 129, c["random2"])]
    out = b"".join(parts)
    if len(out) > PARTITION_SIZE:
        raise InvalidInput("esp_secure_cert", f"needs {len(out)} bytes, the partition holds {PARTITION_SIZE}")
    return out


def encode(device: FactoryData, options: dict | None = None) -> bytes:
    """One device's partition. ``options``: ``efuse_key_id`` (the DAC key is for the DS peripheral),
    ``commissionable`` (also store discriminator, verifier, salt, iterations, rd_uid; then ``random1`` and
    ``random2``, 32 bytes each, default zeros)."""
    options = options or {}
    key_der = key_der_from_scalar(int.from_bytes(device.dac_key, "big"))
    commissionable = None
    if options.get("commissionable"):
        commissionable = dict(discriminator=device.discriminator, verifier=device.spake2_verifier,
                              salt=device.spake2_salt, iteration_count=device.spake2_it, rd_uid=device.rd_uid,
                              random1=options.get("random1", bytes(32)), random2=options.get("random2", bytes(32)))
    return partition(device.dac_cert, device.pai_cert, key_der, efuse_key_id=options.get("efuse_key_id"),
                     commissionable=commissionable)


def decode(data: bytes, options: dict | None = None) -> FactoryData:
    """The device values a partition holds (the DAC key as its 32-byte scalar)."""
    values = named_values(read(data))
    device = FactoryData(**{field: values[key] for field, key in FIELDS.items() if key in values and key != "dac-key"})
    if "dac-key" in values:
        scalar = ec_private_scalar(values["dac-key"], "dac-key")
        if scalar is None:
            raise InvalidInput("dac-key", "not an unencrypted P-256 key in SEC1 or PKCS#8 DER")
        device.dac_key = scalar.to_bytes(32, "big")
    return device


def looks_like(data: bytes) -> bool:
    return len(data) >= _HEADER.size and struct.unpack_from("<I", data)[0] == MAGIC


def read(data: bytes, what: str = "esp_secure_cert") -> list[tuple[int, int, int, bytes]]:
    """(type, subtype, flags, data) of every record, checked (magic, length, CRC). Stops at the end of the
    data or at erased flash (0xFF)."""
    out = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        magic, flags, _, tlv_type, subtype, length = _HEADER.unpack_from(data, pos)
        if magic == 0xFFFFFFFF:
            break
        if magic != MAGIC:
            raise InvalidInput(what, f"offset 0x{pos:x}: no TLV magic (found 0x{magic:08x})")
        end = pos + _HEADER.size + length + (-length % 16)
        if end + 4 > len(data):
            raise InvalidInput(what, f"offset 0x{pos:x}: the record of type {tlv_type} runs past the end")
        (crc,) = struct.unpack_from("<I", data, end)
        if crc != zlib.crc32(data[pos:end], 0xFFFFFFFF) & 0xFFFFFFFF:
            raise InvalidInput(what, f"offset 0x{pos:x}: CRC mismatch in the record of type {tlv_type}")
        out.append((tlv_type, subtype, flags, bytes(data[pos + _HEADER.size : pos + _HEADER.size + length])))
        pos = end + 4
    if pos < len(data) and data[pos:].strip(b"\xff"):
        raise InvalidInput(what, f"offset 0x{pos:x}: {len(data) - pos} bytes after the last record are neither a "
                                 f"record nor erased flash (truncated?)")
    if not out:
        raise InvalidInput(what, "holds no TLV records")
    return out


def named_values(records: list[tuple[int, int, int, bytes]], what: str = "esp_secure_cert") -> dict:
    """The records as named values (chip-factory names where NVS has the same value)."""
    out: dict = {}
    for tlv_type, subtype, flags, data in records:
        if tlv_type == MATTER:
            name = SUBTYPES.get(subtype, f"201/{subtype}")
            if subtype == 0:
                data = struct.unpack("<H", data)[0] if len(data) == 2 else data
            elif subtype == 3:
                data = struct.unpack("<I", data)[0] if len(data) == 4 else data
        else:
            name = TYPE_NAMES.get(tlv_type, f"{tlv_type}/{subtype}")
            if tlv_type == PRIV_KEY and flags & FLAG_ECDSA_PERIPHERAL:
                out["ds-peripheral"] = True
        if name in out:
            raise InvalidInput(what, f"record {name} appears twice")
        out[name] = data
    return out
