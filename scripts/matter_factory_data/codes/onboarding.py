"""Onboarding payloads: QR code (``MT:`` + Base38) and manual pairing code (Verhoeff).

Bit layout of the 88-bit QR payload, LSB first: version 3, VID 16, PID 16, flow 2,
rendezvous 8, discriminator 12, passcode 27, padding 4; optional TLV bytes follow.
"""

from __future__ import annotations

from ..crypto.spake2p import INVALID_PASSCODES, MAX_PASSCODE
from ..errors import InvalidInput
from ..model import check_field
from . import tlv

QR_PREFIX = "MT:"
BASE38_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-."
_BASE38_INDEX = {c: i for i, c in enumerate(BASE38_ALPHABET)}
_CHUNK_CHARS = {3: 5, 2: 4, 1: 2}
_CHARS_BYTES = {5: 3, 4: 2, 2: 1}

FLOWS = {"standard": 0, "user-intent": 1, "custom": 2}
FLOW_NAMES = {v: k for k, v in FLOWS.items()}
RENDEZVOUS = {"soft-ap": 1, "ble": 2, "on-network": 4, "wifi-paf": 8, "nfc": 16, "thread": 32}
RENDEZVOUS_DEFINED = 0x3F
MAX_VID = 0xFFF4
PAYLOAD_BITS = 88


# ---------------------------------------------------------------- Base38


def base38_encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data), 3):
        chunk = data[i : i + 3]
        value = int.from_bytes(chunk, "little")
        for _ in range(_CHUNK_CHARS[len(chunk)]):
            value, digit = divmod(value, 38)
            out.append(BASE38_ALPHABET[digit])
    return "".join(out)


def base38_decode(text: str, what: str = "QR code") -> bytes:
    out = bytearray()
    pos = 0
    while pos < len(text):
        n = min(5, len(text) - pos)
        if n not in _CHARS_BYTES:
            raise InvalidInput(what, f"invalid Base38 length {len(text)} (a final group of {n} characters)")
        group = text[pos : pos + n]
        value = 0
        for ch in reversed(group):
            digit = _BASE38_INDEX.get(ch)
            if digit is None:
                raise InvalidInput(what, f"character {ch!r} is not in the Base38 alphabet")
            value = value * 38 + digit
        size = _CHARS_BYTES[n]
        if value >= 1 << (8 * size):
            raise InvalidInput(what, f"Base38 group {group!r} does not fit in {size} byte(s)")
        out += value.to_bytes(size, "little")
        pos += n
    return bytes(out)


# ---------------------------------------------------------------- Verhoeff

_D = [[int(c) for c in row] for row in (
    "0123456789", "1234067895", "2340178956", "3401289567", "4012395678",
    "5987604321", "6598710432", "7659821043", "8765932104", "9876543210",
)]
_P1 = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]
_P = [list(range(10))]
for _ in range(7):
    _P.append([_P1[x] for x in _P[-1]])
_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff_check_digit(digits: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(digits), start=1):
        c = _D[c][_P[i % 8][int(ch)]]
    return str(_INV[c])


def verhoeff_valid(code: str) -> bool:
    return len(code) >= 2 and code.isdigit() and verhoeff_check_digit(code[:-1]) == code[-1]


# ---------------------------------------------------------------- payload


class SetupPayload:
    """The fields of an onboarding payload. ``short_discriminator`` is True when parsed from a manual code
    (which carries only the upper 4 bits of the discriminator)."""

    __slots__ = ("vendor_id", "product_id", "discriminator", "passcode", "flow", "rendezvous", "version",
                 "short_discriminator", "tlv", "extra")

    def __init__(self, vendor_id: int, product_id: int, discriminator: int, passcode: int, flow: int = 0,
                 rendezvous: int | None = 2, version: int = 0, short_discriminator: bool = False, tlv: bytes = b"",
                 extra: dict | None = None):
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.discriminator = discriminator
        self.passcode = passcode
        self.flow = flow
        self.rendezvous = rendezvous
        self.version = version
        self.short_discriminator = short_discriminator
        self.tlv = tlv
        self.extra = extra if extra is not None else {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SetupPayload):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self) -> str:
        return "SetupPayload(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"

    def to_dict(self) -> dict:
        d = {
            "version": self.version,
            "vendor_id": self.vendor_id,
            "product_id": self.product_id,
            "flow": FLOW_NAMES.get(self.flow, self.flow),
            "rendezvous": rendezvous_names(self.rendezvous) if self.rendezvous is not None else None,
            "discriminator": self.discriminator,
            "discriminator_kind": "short (upper 4 bits)" if self.short_discriminator else "long",
            "passcode": self.passcode,
        }
        if self.tlv:
            d["tlv"] = self.tlv.hex()
        d.update(self.extra)
        return d


def parse_rendezvous(text: str) -> int:
    """``ble,soft-ap,on-network`` (names, or a number) to the discovery bitmask."""
    text = text.strip()
    try:
        value = int(text, 0)
    except ValueError:
        value = 0
        for name in filter(None, (t.strip().lower().replace("_", "-") for t in text.split(","))):
            if name not in RENDEZVOUS:
                raise InvalidInput("--rendezvous", f"unknown capability {name!r} (allowed: {', '.join(RENDEZVOUS)})") from None
            value |= RENDEZVOUS[name]
    if not 0 < value <= RENDEZVOUS_DEFINED or value & ~RENDEZVOUS_DEFINED:
        raise InvalidInput("--rendezvous", f"{text!r} is not a valid set of discovery capabilities")
    return value


def rendezvous_names(value: int) -> list[str]:
    return [name for name, bit in RENDEZVOUS.items() if value & bit] + (
        [f"0x{value & ~RENDEZVOUS_DEFINED:02x}"] if value & ~RENDEZVOUS_DEFINED else []
    )


def check_payload(p: SetupPayload, qr: bool = True) -> None:
    """Producer-side validation (``isValidQRCodePayload`` / ``CheckPayloadCommonConstraints``)."""
    if p.version != 0:
        raise InvalidInput("version", f"must be 0, got {p.version}")
    if not 0 <= p.vendor_id <= 0xFFFF or (p.vendor_id != 0 and p.vendor_id > MAX_VID):
        raise InvalidInput("vendor_id", f"0x{p.vendor_id:X} is not a valid vendor ID (allowed 0x0001..0xFFF4)")
    if not 0 <= p.product_id <= 0xFFFF:
        raise InvalidInput("product_id", f"{p.product_id} does not fit 16 bits")
    if p.vendor_id != 0 and p.product_id == 0:
        raise InvalidInput("product_id", "must not be 0 when a vendor ID is given")
    if p.flow not in FLOW_NAMES:
        raise InvalidInput("flow", f"{p.flow} is not a commissioning flow (0 standard, 1 user-intent, 2 custom)")
    if qr:
        if p.rendezvous is None or p.rendezvous == 0 or p.rendezvous & ~RENDEZVOUS_DEFINED:
            raise InvalidInput("rendezvous", f"{p.rendezvous} is not a valid set of discovery capabilities")
    check_field("discriminator", p.discriminator)
    if not 1 <= p.passcode <= MAX_PASSCODE:
        raise InvalidInput("passcode", f"{p.passcode} is out of range (allowed 1..{MAX_PASSCODE})")
    if p.passcode in INVALID_PASSCODES:
        raise InvalidInput("passcode", f"{p.passcode:08d} is not allowed by the Matter specification")


def qr_code(p: SetupPayload) -> str:
    check_payload(p, qr=True)
    v = (
        p.version
        | p.vendor_id << 3
        | p.product_id << 19
        | p.flow << 35
        | p.rendezvous << 37
        | p.discriminator << 45
        | p.passcode << 57
    )
    return QR_PREFIX + base38_encode(v.to_bytes(11, "little") + p.tlv)


def manual_code(p: SetupPayload, force_short: bool = False) -> str:
    check_payload(p, qr=False)
    long_code = p.flow != 0 and not force_short
    sd = (p.discriminator >> 8) & 0xF
    d1 = (int(long_code) << 2) | (sd >> 2)
    d2 = ((sd & 3) << 14) | (p.passcode & 0x3FFF)
    d3 = p.passcode >> 14
    digits = f"{d1}{d2:05d}{d3:04d}"
    if long_code:
        digits += f"{p.vendor_id:05d}{p.product_id:05d}"
    return digits + verhoeff_check_digit(digits)


def onboarding_text(manual: str, qr: str) -> str:
    """The reference ``<prefix>.txt`` content (no trailing newline)."""
    return f"Manualcode : {manual}\nQRCode : {qr}"


# ---------------------------------------------------------------- parsers


def parse_qr(code: str) -> SetupPayload:
    what = "QR code"
    text = code.strip()
    for segment in text.split("%"):
        if segment.upper().startswith(QR_PREFIX) and len(segment) > len(QR_PREFIX):
            text = segment
            break
    else:
        raise InvalidInput(what, f"{code!r} does not start with {QR_PREFIX!r}")
    body = text[len(QR_PREFIX):].upper()
    if "*" in body:
        raise InvalidInput(what, "concatenated payloads ('*') hold several devices; parse them one by one")
    raw = base38_decode(body, what)
    if len(raw) < PAYLOAD_BITS // 8:
        raise InvalidInput(what, f"payload is {len(raw)} bytes, needs at least {PAYLOAD_BITS // 8}")
    v = int.from_bytes(raw[:11], "little")

    def bits(offset: int, width: int) -> int:
        return (v >> offset) & ((1 << width) - 1)

    if bits(84, 4) != 0:
        raise InvalidInput(what, "padding bits are not zero")
    p = SetupPayload(
        version=bits(0, 3),
        vendor_id=bits(3, 16),
        product_id=bits(19, 16),
        flow=bits(35, 2),
        rendezvous=bits(37, 8),
        discriminator=bits(45, 12),
        passcode=bits(57, 27),
        tlv=raw[11:],
    )
    if p.version != 0:
        raise InvalidInput(what, f"version {p.version} is not supported (must be 0)")
    if p.flow == 3:
        raise InvalidInput(what, "commissioning flow 3 is reserved")
    if p.tlv:
        p.extra["optional_data"] = _decode_optional_tlv(p.tlv)
    _check_parsed(p, what)
    return p


def _decode_optional_tlv(data: bytes) -> dict:
    tag, value = tlv.decode(data, "QR code optional data")
    if tag is not None or not isinstance(value, tlv.Structure):
        raise InvalidInput("QR code optional data", "must be one anonymous TLV structure")
    names = {0: "serial_number", 1: "pbkdf_iterations", 2: "pbkdf_salt", 3: "number_of_devices", 4: "commissioning_timeout"}
    out = {}
    for t, val in value.items:
        key = names.get(t, f"vendor_0x{t:02x}" if isinstance(t, int) and t >= 0x80 else str(t))
        out[key] = val.hex() if isinstance(val, bytes) else val
    return out


def _check_parsed(p: SetupPayload, what: str) -> None:
    if p.passcode == 0:
        raise InvalidInput(what, "passcode is 0")
    if p.passcode > MAX_PASSCODE or p.passcode in INVALID_PASSCODES:
        raise InvalidInput(what, f"passcode {p.passcode:08d} is not a valid setup passcode")


def parse_manual(code: str) -> SetupPayload:
    what = "manual code"
    digits = code.strip().replace("-", "").replace(" ", "")
    if len(digits) < 2 or not digits.isdigit():
        raise InvalidInput(what, f"{code!r} must be 11 or 21 decimal digits")
    if not verhoeff_valid(digits):
        raise InvalidInput(what, f"check digit of {digits} is wrong (expected {verhoeff_check_digit(digits[:-1])})")
    d1 = int(digits[0])
    if d1 > 7:
        raise InvalidInput(what, f"first digit {d1} denotes an unsupported version")
    long_code = bool(d1 & 4)
    expected = 21 if long_code else 11
    if len(digits) != expected:
        raise InvalidInput(what, f"{len(digits)} digits, but its first digit announces a {expected}-digit code")
    chunk2 = int(digits[1:6])
    chunk3 = int(digits[6:10])
    if chunk2 > 0xFFFF:
        raise InvalidInput(what, "digits 2-6 exceed 16 bits")
    passcode = (chunk2 & 0x3FFF) | (chunk3 << 14)
    short_disc = ((d1 & 3) << 2) | (chunk2 >> 14)
    vid = pid = 0
    if long_code:
        vid, pid = int(digits[10:15]), int(digits[15:20])
        if vid > 0xFFFF or pid > 0xFFFF:
            raise InvalidInput(what, "vendor or product ID exceeds 16 bits")
    p = SetupPayload(
        vendor_id=vid,
        product_id=pid,
        discriminator=short_disc,
        passcode=passcode,
        flow=2 if long_code else 0,
        rendezvous=None,
        short_discriminator=True,
    )
    _check_parsed(p, what)
    return p


def parse_any(code: str) -> SetupPayload:
    text = code.strip()
    if QR_PREFIX in text.upper():
        return parse_qr(text)
    return parse_manual(text)
