"""NXP factory data binary: KLV entries behind a 12-byte header, optionally AES-ECB encrypted or wrapped
in the K32W1/MCXW71 HWParameters ``APP_FACT_DATA`` record.

    header  = 5E BA 47 CE || u32 LE size || SHA-256(payload)[0:4]
    payload = (tag u8 || length u16 LE || value) * n, ascending tags
    ECB     = header(size = padded length, hash over the padded plaintext) || AES-ECB(payload || 1..16 zeros)
    hw_params = "APP_FACT_DATA:  " || u32 LE len(plain) || plain || u16 LE CRC-16/XMODEM(plain)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import InvalidInput
from ..model import PRODUCT_COLORS, PRODUCT_FINISHES, FactoryData

MAGIC = bytes.fromhex("5EBA47CE")
HW_PARAMS_ID = b"APP_FACT_DATA:  "

# tag: (name, kind, max length) -- kind: b64 (base64 text), u32, u16, u8, bytes, str
TAGS = {
    1: ("verifier", "b64", 133), 2: ("salt", "b64", 45), 3: ("iteration_count", "u32", 4),
    4: ("dac_key", "bytes", 56), 5: ("dac_cert", "bytes", 600), 6: ("pai_cert", "bytes", 600),
    7: ("discriminator", "u32", 4), 8: ("passcode", "u32", 4), 9: ("vendor_id", "u16", 2),
    10: ("product_id", "u16", 2), 11: ("cert_declaration", "bytes", 1000), 12: ("vendor_name", "str", 32),
    13: ("product_name", "str", 32), 14: ("serial_number", "str", 32), 15: ("manufacturing_date", "str", 16),
    16: ("hardware_version", "u16", 2), 17: ("hardware_version_str", "str", 64), 18: ("unique_id", "bytes", 32),
    19: ("part_number", "str", 32), 20: ("product_url", "str", 256), 21: ("product_label", "str", 64),
    22: ("product_finish", "u8", 1), 23: ("product_primary_color", "u8", 1), 24: ("el2go_blob", "bytes", None),
    25: ("el2go_dac_key_id", "u32", 4), 26: ("el2go_dac_cert_id", "u32", 4),
}
NAME_TO_TAG = {v[0]: k for k, v in TAGS.items()}
NAME = "nxp"
DESCRIPTION = "NXP K32W0/K32W1/MCXW71/RW61x/RT1060/RT1170: 12-byte header + tag-length-value entries"
# model field -> the tag name it is stored under (see TAGS); the CD and EdgeLock 2GO entries are options
FIELDS = {
    "spake2_verifier": "verifier", "spake2_salt": "salt", "spake2_it": "iteration_count", "dac_key": "dac_key",
    "dac_cert": "dac_cert", "pai_cert": "pai_cert", "discriminator": "discriminator", "passcode": "passcode",
    "vendor_id": "vendor_id", "product_id": "product_id", "vendor_name": "vendor_name",
    "product_name": "product_name", "sn": "serial_number", "date": "manufacturing_date",
    "hw_ver": "hardware_version", "hw_ver_str": "hardware_version_str", "rd_uid": "unique_id",
    "part_number": "part_number", "product_url": "product_url", "product_label": "product_label",
    "product_finish": "product_finish", "primary_color": "product_primary_color",
}
# NXP's generator spells the Matter enums capitalised
FINISHES = [name.capitalize() for name in PRODUCT_FINISHES]
COLORS = [name.capitalize() for name in PRODUCT_COLORS]
PLATFORMS = {  # where each NXP platform reads its factory data
    # name: (address or None, reader buffer limit, accepts ECB)
    "k32w0": (0x9D600, 4096, False),
    "k32w1": (0xFE080, 0x800, True),
    "mcxw71": (0xFE080, 0x800, True),
    "rw61x": (0xBFFF000, 4096, True),
    "rt1060": (None, 4096, True),
    "rt1170": (None, 4096, True),
}
READER_BUFFER = 4096
# K32W0 reader's per-tag maxima (maxLengths): an over-long value is treated as not found there.
K32W0_MAX = {1: 133, 2: 45, 3: 4, 4: 32, 5: 600, 6: 600, 7: 4, 8: 4, 9: 2, 10: 2, 11: 183 + 350, 12: 32, 13: 32,
             14: 32, 15: 16, 16: 2, 17: 64, 18: 32, 19: 32, 20: 256, 21: 64}
HW_PARAMS_MAX = 0x800
SSS_BLOB_LEN = 56
ELS_BLOB_LEN = 48


def canonical_b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


def encode_value(tag: int, value) -> bytes:
    kind = TAGS[tag][1]
    if kind == "u32":
        return struct.pack("<I", value)
    if kind == "u16":
        return struct.pack("<H", value)
    if kind == "u8":
        return struct.pack("<B", value)
    if kind == "b64":
        return canonical_b64(value)
    if kind == "str":
        return value.encode("utf-8")
    return bytes(value)


def encode_payload(entries: dict[int, object]) -> bytes:
    """KLV entries in ascending tag order (values as Python objects, see ``TAGS``)."""
    out = bytearray()
    for tag in sorted(entries):
        raw = encode_value(tag, entries[tag])
        if len(raw) > 0xFFFF:
            raise InvalidInput(TAGS[tag][0], f"{len(raw)} bytes do not fit a 16-bit length")
        out += struct.pack("<BH", tag, len(raw)) + raw
    return bytes(out)


def entries_of(device: FactoryData, options: dict | None = None) -> dict[int, object]:
    """The tag -> value entries of one device. ``options``: ``cd`` (the Certification Declaration, DER),
    ``passcode`` (stored even when the model leaves it out), ``dac_key_blob`` (an SSS/ELS blob stored instead
    of the key), ``el2go`` (blob, DAC key ID, DAC certificate ID)."""
    options = options or {}
    entries: dict[int, object] = {}
    for field, name in FIELDS.items():
        value = getattr(device, field)
        if value is not None:
            entries[NAME_TO_TAG[name]] = value
    if options.get("passcode") is not None:
        entries[NAME_TO_TAG["passcode"]] = options["passcode"]
    if options.get("cd") is not None:
        entries[NAME_TO_TAG["cert_declaration"]] = options["cd"]
    if options.get("dac_key_blob") is not None:
        entries[NAME_TO_TAG["dac_key"]] = options["dac_key_blob"]
    if options.get("el2go") is not None:
        for name, value in zip(("el2go_blob", "el2go_dac_key_id", "el2go_dac_cert_id"), options["el2go"]):
            entries[NAME_TO_TAG[name]] = value
    return entries


def encode(device: FactoryData, options: dict | None = None) -> bytes:
    """One device's image: plain, AES-ECB (``aes_key``), or wrapped in the HWParameters record
    (``hw_params``); ``pad16`` pads a plain payload to whole AES blocks. Other options: ``entries_of``."""
    options = options or {}
    payload = encode_payload(entries_of(device, options))
    key = options.get("aes_key")
    if key is not None:
        return encrypted_image(payload, key)
    if options.get("pad16") and len(payload) % 16:
        payload += bytes(16 - len(payload) % 16)
    image = plain_image(payload)
    return hw_params_image(image) if options.get("hw_params") else image


def plain_image(payload: bytes) -> bytes:
    return MAGIC + struct.pack("<I", len(payload)) + hashlib.sha256(payload).digest()[:4] + payload


def check_aes_key(key: bytes, option: str) -> None:
    want = 16 if "128" in option else 32
    if len(key) != want:
        raise InvalidInput(option, f"must be {want} bytes ({2 * want} hex digits), got {len(key)}")


def _ecb(key: bytes, data: bytes, decrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def encrypted_image(payload: bytes, key: bytes) -> bytes:
    """AES-ECB as the reference writes it: 1..16 zero bytes of padding (a whole block when aligned)."""
    padded = payload + bytes(16 - len(payload) % 16)
    return MAGIC + struct.pack("<I", len(padded)) + hashlib.sha256(padded).digest()[:4] + _ecb(key, padded, False)


def crc16_xmodem(data: bytes) -> int:
    return binascii.crc_hqx(data, 0)


def hw_params_image(plain: bytes) -> bytes:
    return HW_PARAMS_ID + struct.pack("<I", len(plain)) + plain + struct.pack("<H", crc16_xmodem(plain))


# ---------------------------------------------------------------- decoding


class Decoded:
    def __init__(self):
        self.wrapper = "plain"  # plain, ecb, hw_params
        self.size = 0
        self.entries: list[tuple[int, bytes]] = []
        self.padding = 0

    def values(self) -> dict:
        out = {}
        for tag, raw in self.entries:
            name, kind, _ = TAGS.get(tag, (f"tag_{tag}", "bytes", None))
            out[name] = decode_value(tag, raw)
        return out


def decode_value(tag: int, raw: bytes):
    kind = TAGS.get(tag, ("", "bytes", None))[1]
    name = TAGS.get(tag, (f"tag {tag}",))[0]
    try:
        if kind == "u32":
            return struct.unpack("<I", raw)[0]
        if kind == "u16":
            return struct.unpack("<H", raw)[0]
        if kind == "u8":
            return raw[0] if len(raw) == 1 else struct.unpack("<B", raw)[0]
        if kind == "b64":
            return base64.b64decode(raw, validate=True)
        if kind == "str":
            return raw.decode("utf-8")
    except (struct.error, ValueError, UnicodeDecodeError, IndexError):
        raise InvalidInput(name, f"{len(raw)} byte value cannot be read as {kind}") from None
    return raw


def decode(data: bytes, options: dict | None = None) -> FactoryData:
    """The device an image holds (``options``: ``aes_key``); entries the model has no field for (the CD,
    EdgeLock 2GO) are left out: ``read`` keeps everything."""
    values = read(data, (options or {}).get("aes_key")).values()
    return FactoryData(**{field: values[name] for field, name in FIELDS.items() if name in values})


def looks_like(data: bytes) -> bool:
    return data.startswith(MAGIC) or data.startswith(HW_PARAMS_ID[:10])


def read(data: bytes, key: bytes | None = None) -> Decoded:
    """Check the wrapper, header, hash (decrypting with ``key`` when the plain hash does not match) and
    walk the entries; the first problem raises ``InvalidInput`` naming it."""
    d = Decoded()
    if data.startswith(HW_PARAMS_ID[:10]):
        if len(data) < 22:
            raise InvalidInput("hw_params", "record is truncated")
        if data[:16] != HW_PARAMS_ID:
            raise InvalidInput("hw_params", f"identifier {data[:16]!r} is not {HW_PARAMS_ID!r}")
        length = struct.unpack("<I", data[16:20])[0]
        if length == 0 or 20 + length + 2 > len(data):
            raise InvalidInput("hw_params", f"record length {length} does not fit the {len(data)}-byte file")
        inner = data[20 : 20 + length]
        crc = struct.unpack("<H", data[20 + length : 22 + length])[0]
        if crc != crc16_xmodem(inner):
            raise InvalidInput("hw_params", f"CRC 0x{crc:04X} does not match the record (0x{crc16_xmodem(inner):04X})")
        if 16 + 4 + length + 2 > HW_PARAMS_MAX:
            raise InvalidInput("hw_params", f"record of {22 + length} bytes exceeds the 0x800-byte HWParameters limit")
        d.wrapper = "hw_params"
        data = inner
    if len(data) < 12:
        raise InvalidInput("header", f"file of {len(data)} bytes is shorter than the 12-byte header")
    if data[:4] != MAGIC:
        raise InvalidInput("header", f"magic {data[:4].hex().upper()} is not 5EBA47CE")
    size = struct.unpack("<I", data[4:8])[0]
    digest = data[8:12]
    body = data[12:]
    if size > len(body):
        raise InvalidInput("header", f"size {size} exceeds the {len(body)} bytes after the header (truncated?)")
    payload = body[:size]
    if hashlib.sha256(payload).digest()[:4] != digest:
        if d.wrapper == "hw_params":
            raise InvalidInput("header", "SHA-256 does not match (hw_params images are never encrypted)")
        if key is None:
            raise InvalidInput("header", "SHA-256 does not match: the image is corrupt, or encrypted (give its AES key)")
        if size % 16:
            raise InvalidInput("header", f"SHA-256 does not match and size {size} is not a whole number of AES blocks")
        payload = _ecb(key, payload, True)
        if hashlib.sha256(payload).digest()[:4] != digest:
            raise InvalidInput("header", "SHA-256 does not match after decryption: wrong AES key or corrupt image")
        d.wrapper = "ecb"
    d.size = size
    pos = 0
    seen = set()
    while pos < len(payload):
        tag = payload[pos]
        if tag == 0:
            rest = payload[pos:]
            if any(rest):
                raise InvalidInput("payload", f"non-zero bytes after the end marker at offset {pos}")
            d.padding = len(rest)
            break
        if pos + 3 > len(payload):
            raise InvalidInput("payload", f"entry header truncated at offset {pos}")
        length = struct.unpack("<H", payload[pos + 1 : pos + 3])[0]
        if pos + 3 + length > len(payload):
            raise InvalidInput("payload", f"tag {tag} at offset {pos} claims {length} bytes, only "
                                          f"{len(payload) - pos - 3} remain (truncated)")
        if tag not in TAGS:
            raise InvalidInput("payload", f"unknown tag {tag} at offset {pos}")
        if tag in seen:
            raise InvalidInput("payload", f"tag {tag} ({TAGS[tag][0]}) appears twice")
        seen.add(tag)
        d.entries.append((tag, payload[pos + 3 : pos + 3 + length]))
        pos += 3 + length
    return d
