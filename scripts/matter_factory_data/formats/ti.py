"""TI CC13x4/CC26x4 (and CC13x2/CC26x2) factory data, as the SimpleLink ``FactoryDataProvider`` reads it from
its linked ``.factory_data_struct`` region (0xFE800, 0x900 bytes on CC13x4/CC26x4; 0xAC000 on CC13x2/CC26x2):

* 17 entries ``{u32le length, u32le absolute address}`` in the device's fixed order (136 bytes);
* then the values back to back from base + 0x88, no padding, CRC, magic or version;
* text as its bytes (no NUL), byte values raw, integers little-endian: 2 bytes, ``spake2_it`` 2..4 bytes (its
  entry's length says how many), ``passcode`` 4 bytes.

The Intel HEX is written as TI's ``create_factory_data.py`` leaves it after its ``objcopy`` pass (GNU BFD's
writer): a type 02 extended segment address record, 16-byte data records, a type 03 start segment address
record for the base, CRLF line ends.
"""

from __future__ import annotations

import struct

from ..errors import InvalidInput
from ..model import FactoryData

NAME = "ti"
DESCRIPTION = "TI CC13x4/CC26x4: a table of 17 {length, address} pairs at 0xFE800, then the values"
# model field -> the key of create_factory_data.py's JSON, in the device's order
FIELDS = {
    "sn": "serial_number", "vendor_id": "vendor_id", "product_id": "product_id", "vendor_name": "vendor_name",
    "product_name": "product_name", "date": "manufacturing_date", "hw_ver": "hw_ver", "hw_ver_str": "hw_ver_str",
    "dac_cert": "dac_cert", "dac_key": "dac_priv_key", "pai_cert": "pai_cert", "rd_uid": "rd_uniqueid",
    "spake2_it": "spake2_it", "spake2_salt": "spake2_salt", "spake2_verifier": "spake2_verifier",
    "discriminator": "discriminator", "passcode": "passcode",
}
ORDER = tuple(FIELDS.values())
KEY_FIELD = {key: field for field, key in FIELDS.items()}
TEXT = ("serial_number", "vendor_name", "product_name", "manufacturing_date", "hw_ver_str")
INTEGERS = ("vendor_id", "product_id", "hw_ver", "spake2_it", "discriminator", "passcode")
BASES = {"cc13x4_26x4": 0xFE800, "cc13x2_26x2": 0xAC000}  # -device: where the region is linked
REGION = 0x900  # FLASH_FACTORY_DATA's length
TABLE = 8 * len(ORDER)


def int_length(key: str, value: int) -> int:
    """The bytes an integer takes: 2, ``passcode`` 4, ``spake2_it`` 2 up to 65535 else 4."""
    if key == "passcode":
        return 4
    if key == "spake2_it":
        return 2 if value <= 0xFFFF else 4
    return 2


def value_bytes(key: str, value, length: int | None = None) -> bytes:
    """One value as the region stores it (``length``: the entry's length, which sets ``spake2_it``'s width)."""
    if isinstance(value, int) and not isinstance(value, bool):
        width = length if key == "spake2_it" and length in (2, 3, 4) else int_length(key, value)
        if not 0 <= value < 1 << (8 * width):
            raise InvalidInput(key, f"{value} does not fit the {width} bytes the device reads")
        return value.to_bytes(width, "little")
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def encode(device: FactoryData, options: dict | None = None) -> bytes:
    """The region's bytes from its base (table, then values). Every one of the 17 values is needed: the device
    reads each through its table entry. ``options``: ``device`` (a ``-device`` name, default
    cc13x4_26x4) or ``base`` (its address), ``passcode`` (when the device model holds none)."""
    options = options or {}
    values = {key: getattr(device, field) for field, key in FIELDS.items()}
    if values["passcode"] is None:
        values["passcode"] = options.get("passcode")
    missing = [key for key, value in values.items() if value is None]
    if missing:
        raise InvalidInput("device", f"the TI layout stores all 17 values; missing: {', '.join(missing)}")
    base = options.get("base") or base_of(options.get("device"))
    return region(base, [(key, value_bytes(key, values[key])) for key in ORDER])


def base_of(family: str | None) -> int:
    family = family or "cc13x4_26x4"
    if family not in BASES:
        raise InvalidInput("-device", f"{family!r} is not one of {', '.join(BASES)}")
    return BASES[family]


def region(base: int, values: list[tuple[str, bytes]]) -> bytes:
    """Table and values for (key, stored bytes) in the device's order; the region's size is checked."""
    table, data = bytearray(), bytearray()
    address = base + TABLE
    for _, stored in values:
        table += struct.pack("<II", len(stored), address)
        address += len(stored)
        data += stored
    image = bytes(table + data)
    if len(image) > REGION:
        raise InvalidInput("factory data", f"needs {len(image)} bytes (0x{len(image):x}); the TI region holds "
                                           f"{REGION} (0x{REGION:x})")
    return image


def read(data: bytes, base: int | None = None) -> dict:
    """The 17 stored values (bytes), by key, following the table; ``base`` defaults to where the first value's
    address says the table is."""
    if len(data) < TABLE:
        raise InvalidInput("region", f"is {len(data)} bytes, shorter than the 136-byte table")
    entries = [struct.unpack_from("<II", data, 8 * i) for i in range(len(ORDER))]
    if base is None:
        base = entries[0][1] - TABLE
    values = {}
    for key, (length, address) in zip(ORDER, entries):
        start = address - base
        if not TABLE <= start or start + length > min(len(data), REGION):
            raise InvalidInput(key, f"its table entry (length {length} at 0x{address:x}) points outside the "
                                    f"region 0x{base:x}..0x{base + REGION - 1:x}")
        values[key] = data[start:start + length]
    return values


def decode(data: bytes, options: dict | None = None) -> FactoryData:
    values = read(data, (options or {}).get("base"))
    device = FactoryData()
    for key, raw in values.items():
        field = KEY_FIELD[key]
        if key in INTEGERS:
            value = int.from_bytes(raw, "little")
        elif key in TEXT:
            value = raw.decode("utf-8", "replace")
        else:
            value = raw
        setattr(device, field, value)
    return device


def looks_like(data: bytes) -> bool:
    """The table of a known base: the first value right after the table, each next one right after the last."""
    if len(data) < TABLE:
        return False
    entries = [struct.unpack_from("<II", data, 8 * i) for i in range(len(ORDER))]
    base = entries[0][1] - TABLE
    if base not in BASES.values():
        return False
    address = entries[0][1]
    for length, at in entries:
        if at != address:
            return False
        address += length
    return address - base <= REGION


def to_hex(image: bytes, base: int) -> bytes:
    """Intel HEX as GNU objcopy writes it (the reference's last step): type 02 segment records, 16-byte data
    records within each 64 KiB segment, a type 03 start segment address (the base), CRLF."""
    lines = []
    segment = None
    for i in range(0, len(image), 16):
        address = base + i
        chunk = image[i:i + 16]
        if address >> 16 != (address + len(chunk) - 1) >> 16:  # never across a segment
            chunk = chunk[:0x10000 - (address & 0xFFFF)]
        if segment != address >> 16:
            segment = address >> 16
            lines.append(_record(2, 0, struct.pack(">H", segment << 12)))
        lines.append(_record(0, address & 0xFFFF, chunk))
        rest = image[i + len(chunk):i + 16]
        if rest:  # the part past a segment boundary (a base not 16-aligned)
            address += len(chunk)
            segment = address >> 16
            lines.append(_record(2, 0, struct.pack(">H", segment << 12)))
            lines.append(_record(0, address & 0xFFFF, rest))
    lines.append(_record(3, 0, struct.pack(">HH", (base >> 4) & 0xF000, base & 0xFFFF)))
    lines.append(_record(1, 0, b""))
    return "".join(line + "\r\n" for line in lines).encode("ascii")


def _record(kind: int, address: int, data: bytes) -> str:
    body = bytes([len(data), address >> 8, address & 0xFF, kind]) + data
    return ":" + (body + bytes([-sum(body) & 0xFF])).hex().upper()
