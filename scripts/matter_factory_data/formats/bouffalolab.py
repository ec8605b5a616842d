"""Bouffalo Lab (BL602, BL616, BL702, BL702L) factory data: the "MFD" partition the SDK's ``bl_mfd.c`` reads.

    u32le sec_len | sec[sec_len] | u32le crc32(sec) | u32le raw_len | raw[raw_len] | u32le crc32(raw)
    TLV = u16le id | u16le length | value        (raw TLVs carry id | 0x8000)

* ``sec`` holds the secured TLVs (only ``dac_key``) encrypted with AES-128-CBC under the device's eFuse key,
  zero-padded by 1..16 bytes first; the IV is the ``aes_iv`` TLV (always in ``raw``). Without a key there is
  no ``sec`` block and ``dac_key`` is a raw TLV.
* Every TLV id 1..22 is written, in order, empty (length 0) when there is no value.
* Integers are little-endian in as few bytes as they need (at least one: a zero-length discriminator is an
  empty value, which ``mfd_init`` refuses).
* The manufacturing date is 4 bytes ``[year >> 8, year & 0xFF, month, day]``, the buffer
  ``mfd_getManufacturingDate`` copies into; ``date_encoding="string"`` writes the 10-character text the
  reference tool writes (which the device cannot read).
* The device refuses an MFD with ``sec_len > 512``, a total over 4096 bytes, or without ``dac_key``,
  ``passcode``, ``pai_cert``, ``cd``, ``sn``, ``discriminator`` and the SPAKE2+ values.
"""

from __future__ import annotations

import struct
import zlib

from ..errors import InvalidInput
from ..model import FactoryData

NAME = "bouffalolab"
DESCRIPTION = "Bouffalo Lab MFD: a secured (AES-128-CBC) and a plain TLV block, each with a CRC-32"
# model field -> TLV name (ids in NAMES order)
FIELDS = {
    "dac_cert": "dac_cert", "dac_key": "dac_key", "passcode": "passcode", "pai_cert": "pai_cert", "sn": "sn",
    "discriminator": "discriminator", "rd_uid": "uid", "spake2_it": "spake2p_it", "spake2_salt": "spake2p_salt",
    "spake2_verifier": "spake2p_verifier", "vendor_name": "vendor_name", "vendor_id": "vendor_id",
    "product_name": "product_name", "product_id": "product_id", "part_number": "product_part_no",
    "product_url": "product_url", "product_label": "product_label", "date": "manufactoring_date",
    "hw_ver": "hardware_ver", "hw_ver_str": "hardware_ver_str",
}
NAMES = ("aes_iv", "dac_cert", "dac_key", "passcode", "pai_cert", "cd", "sn", "discriminator", "uid",
         "spake2p_it", "spake2p_salt", "spake2p_verifier", "vendor_name", "vendor_id", "product_name",
         "product_id", "product_part_no", "product_url", "product_label", "manufactoring_date", "hardware_ver",
         "hardware_ver_str")
IDS = {name: i + 1 for i, name in enumerate(NAMES)}
# the reference tool's limits (bytes)
LIMITS = {"aes_iv": 16, "passcode": 4, "sn": 32, "discriminator": 2, "uid": 32, "spake2p_it": 4,
          "spake2p_salt": 32, "vendor_name": 32, "vendor_id": 2, "product_name": 32, "product_id": 2,
          "product_part_no": 32, "product_url": 256, "product_label": 64, "manufactoring_date": 16,
          "hardware_ver": 4, "hardware_ver_str": 64}
INTEGERS = ("passcode", "discriminator", "spake2p_it", "vendor_id", "product_id", "hardware_ver")
TEXT = ("sn", "vendor_name", "product_name", "product_part_no", "product_url", "product_label",
        "hardware_ver_str")
SECURED = ("dac_key",)
REQUIRED = ("dac_key", "passcode", "pai_cert", "cd", "sn", "discriminator", "spake2p_it", "spake2p_salt",
            "spake2p_verifier")  # mfd_init fails without them
RAW_MASK = 0x8000
PARTITION = 0x1000  # the MFD partition (BL602/BL616 at 0x3FE000, BL702/BL702L at 0x1FE000)
SEC_MAX = 512  # BL_MFD_DECRYPT_BUF_LEN
PARTITION_ADDRESSES = {"bl602": 0x3FE000, "bl616": 0x3FE000, "bl702": 0x1FE000, "bl702l": 0x1FE000}


def reference_iv() -> bytes:
    """An IV as the reference tool draws one: 12 distinct bytes below 0xFF, then 4 zero bytes."""
    return distinct_bytes(12) + bytes(4)


def distinct_bytes(count: int) -> bytes:
    """``count`` distinct random byte values below 0xFF, as the reference draws its IVs and salts."""
    import secrets  # only values drawn here need it (secrets pulls in random: 4 ms)

    pool = list(range(0xFF))
    return bytes(pool.pop(secrets.randbelow(len(pool))) for _ in range(count))


def date_bytes(date: str, encoding: str = "binary") -> bytes:
    if encoding == "string":
        return date.encode("ascii")
    if encoding != "binary":
        raise InvalidInput("--date_encoding", f"{encoding!r} is not binary or string")
    year, month, day = int(date[:4]), int(date[5:7]), int(date[8:10])
    return bytes([year >> 8, year & 0xFF, month, day])


def stored(name: str, value) -> bytes:
    """One value's TLV bytes."""
    if value is None:
        return b""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InvalidInput(name, f"{value} is negative")
        return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "little")
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def encode(device: FactoryData, options: dict | None = None) -> bytes:
    """One device's MFD. ``options``: ``cd`` (DER, required by the device), ``aes_key`` (16 bytes: encrypt
    ``dac_key``), ``iv`` (16 bytes; default zeros without a key, the reference's kind of random IV with one),
    ``date_encoding`` (``binary``, default, or ``string``), ``passcode`` (when the device model holds none)."""
    options = options or {}
    key = options.get("aes_key")
    iv = options.get("iv")
    if iv is None:
        iv = reference_iv() if key else bytes(16)
    values = {"aes_iv": iv, "cd": options.get("cd")}
    for field, name in FIELDS.items():
        values[name] = getattr(device, field)
    if values["passcode"] is None:
        values["passcode"] = options.get("passcode")
    if device.date is not None:
        values["manufactoring_date"] = date_bytes(device.date, options.get("date_encoding", "binary"))
    tlvs = {name: stored(name, values.get(name)) for name in NAMES}
    missing = [name for name in REQUIRED if not tlvs[name]]
    if missing:
        raise InvalidInput("device", f"the device's mfd_init refuses an MFD without {', '.join(missing)}")
    return image(tlvs, key)


def image(tlvs: dict, key: bytes | None) -> bytes:
    """The MFD from every TLV's bytes (by name), ``dac_key`` secured when there is a ``key``."""
    for name, data in tlvs.items():
        if name in LIMITS and len(data) > LIMITS[name]:
            raise InvalidInput(name, f"is {len(data)} bytes; the MFD holds at most {LIMITS[name]}")
        if len(data) > 0xFFFF:
            raise InvalidInput(name, f"is {len(data)} bytes; a TLV holds at most 65535")
    if len(tlvs["aes_iv"]) != 16:
        raise InvalidInput("aes_iv", f"must be 16 bytes, got {len(tlvs['aes_iv'])}")
    secure = b"".join(struct.pack("<HH", IDS[n], len(tlvs[n])) + tlvs[n] for n in NAMES if key and n in SECURED)
    raw = b"".join(struct.pack("<HH", IDS[n] | RAW_MASK, len(tlvs[n])) + tlvs[n] for n in NAMES
                   if not (key and n in SECURED))
    if key:
        if len(key) != 16:
            raise InvalidInput("--key", f"must be 16 bytes (32 hex digits), got {len(key)}")
        secure = _cbc(key, tlvs["aes_iv"], secure + bytes(16 - len(secure) % 16), encrypt=True)
    if len(secure) > SEC_MAX:
        raise InvalidInput("factory data", f"the secured block is {len(secure)} bytes; the device decrypts at "
                                           f"most {SEC_MAX}")
    out = (struct.pack("<I", len(secure)) + secure + struct.pack("<I", zlib.crc32(secure))
           + struct.pack("<I", len(raw)) + raw + struct.pack("<I", zlib.crc32(raw)))
    if len(out) > PARTITION:
        raise InvalidInput("factory data", f"needs {len(out)} bytes; the MFD partition holds {PARTITION}")
    return out


def _cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # only encrypted MFDs need it

    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


def _blocks(data: bytes) -> tuple[bytes, bytes]:
    """(sec, raw) with both CRC-32s checked; errors name the block."""
    if len(data) < 16:
        raise InvalidInput("MFD", f"is {len(data)} bytes, too short for its two blocks")
    (sec_len,) = struct.unpack_from("<I", data, 0)
    if sec_len > SEC_MAX or 4 + sec_len + 8 > len(data):
        raise InvalidInput("MFD", f"secured block length {sec_len} is not possible (at most {SEC_MAX})")
    sec = data[4:4 + sec_len]
    (sec_crc,) = struct.unpack_from("<I", data, 4 + sec_len)
    (raw_len,) = struct.unpack_from("<I", data, 8 + sec_len)
    raw_at = 12 + sec_len
    if raw_at + raw_len + 4 > len(data):
        raise InvalidInput("MFD", f"plain block length {raw_len} runs past the end of the data")
    raw = data[raw_at:raw_at + raw_len]
    (raw_crc,) = struct.unpack_from("<I", data, raw_at + raw_len)
    if zlib.crc32(sec) != sec_crc:
        raise InvalidInput("MFD", f"CRC-32 of the secured block is 0x{zlib.crc32(sec):08x}, stored 0x{sec_crc:08x}")
    if zlib.crc32(raw) != raw_crc:
        raise InvalidInput("MFD", f"CRC-32 of the plain block is 0x{zlib.crc32(raw):08x}, stored 0x{raw_crc:08x}")
    return sec, raw


def _tlvs(block: bytes, raw: bool, what: str) -> dict:
    out, at = {}, 0
    while at + 4 <= len(block):
        ident, length = struct.unpack_from("<HH", block, at)
        if raw and not ident & RAW_MASK:
            raise InvalidInput(what, f"TLV id 0x{ident:04x} at offset {at} lacks the plain-block bit 0x8000")
        ident &= ~RAW_MASK
        if at + 4 + length > len(block):
            raise InvalidInput(what, f"TLV {ident} at offset {at} runs past the end of the block")
        if 1 <= ident <= len(NAMES):
            out[NAMES[ident - 1]] = block[at + 4:at + 4 + length]
        at += 4 + length
    return out


def read(data: bytes, aes_key: bytes | None = None) -> dict:
    """Every TLV by name (bytes). The secured block is decrypted with ``aes_key``; without it its TLVs are
    missing and ``_secured_len`` says how many encrypted bytes there are."""
    sec, raw = _blocks(data)
    values = _tlvs(raw, True, "plain block")
    if sec:
        if aes_key is None:
            values["_secured_len"] = len(sec)
        else:
            if len(sec) % 16:
                raise InvalidInput("MFD", f"secured block of {len(sec)} bytes is not whole AES blocks")
            plain = _cbc(aes_key, values.get("aes_iv", bytes(16)), sec, encrypt=False)
            try:
                secured = _tlvs(plain, False, "secured block")
            except InvalidInput:
                secured = {}
            if plain[:2] != struct.pack("<H", IDS["dac_key"]) or not secured:
                raise InvalidInput("--aes128_key", "does not decrypt the secured block (wrong key or IV: the "
                                                   "plaintext does not start with the DAC key's TLV)")
            values.update(secured)
    return values


def decode(data: bytes, options: dict | None = None) -> FactoryData:
    """The device an MFD holds (the CD is ``read(data)["cd"]``). ``options``: ``aes_key``."""
    values = read(data, (options or {}).get("aes_key"))
    device = FactoryData()
    for field, name in FIELDS.items():
        raw = values.get(name)
        if not raw:
            continue
        if name in INTEGERS:
            value = int.from_bytes(raw, "little")
        elif name in TEXT:
            value = raw.decode("utf-8", "replace")
        elif name == "manufactoring_date":
            value = date_text(raw)
        else:
            value = raw
        setattr(device, field, value)
    return device


def date_text(raw: bytes) -> str:
    """The date as YYYY-MM-DD from either encoding."""
    if len(raw) == 4:
        return f"{raw[0] << 8 | raw[1]:04d}-{raw[2]:02d}-{raw[3]:02d}"
    return raw.decode("ascii", "replace")


def looks_like(data: bytes) -> bool:
    """Both blocks' lengths fit and the plain block starts with the aes_iv TLV."""
    try:
        (sec_len,) = struct.unpack_from("<I", data, 0)
        if sec_len > SEC_MAX:
            return False
        (raw_len,) = struct.unpack_from("<I", data, 8 + sec_len)
        return raw_len <= PARTITION and data[12 + sec_len:16 + sec_len] == struct.pack("<HH", 0x8001, 16)
    except struct.error:
        return False
