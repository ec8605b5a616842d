"""The factory data model: one validated type every door builds and every encoder consumes.

``FactoryData`` holds every nRF Connect factory data field.  Its rules are the union of
  * the reference JSON Schema (``data/nrfconnect_factory_data.schema``),
  * the device parser's limits (FactoryDataParser.c / FactoryDataProvider.cpp), and
  * the Matter specification (passcode, discriminator, SPAKE2+ parameters).
Model-only rules (a JSON Schema cannot express them) are listed in ``MODEL_ONLY_RULES``.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, Callable

from .crypto import spake2p
from .errors import InvalidInput

FACTORY_DATA_VERSION = 1
HEX_PREFIX = "hex:"

# The device parser's key table, in its matching order (FactoryDataParser.c), plus the
# upstream ``sw_ver_str``.  A key is matched when it is a prefix of a known key.
DEVICE_KEY_ORDER = (
    "version", "hw_ver", "spake2_it", "vendor_id", "product_id", "discriminator", "passcode", "sn", "date",
    "hw_ver_str", "rd_uid", "dac_cert", "dac_key", "pai_cert", "spake2_salt", "spake2_verifier", "vendor_name",
    "product_name", "part_number", "product_url", "product_label", "enable_key", "product_finish", "primary_color",
    "user", "sw_ver_str",
)

# The generator's JSON key order.
JSON_KEY_ORDER = (
    "version", "sn", "vendor_id", "product_id", "vendor_name", "product_name", "product_label", "product_url",
    "part_number", "date", "hw_ver", "hw_ver_str", "sw_ver_str", "dac_cert", "dac_key", "pai_cert", "passcode",
    "spake2_it", "spake2_salt", "spake2_verifier", "discriminator", "rd_uid", "enable_key", "product_finish",
    "primary_color", "user",
)

PRODUCT_FINISHES = {"other": 0, "matte": 1, "satin": 2, "polished": 3, "rugged": 4, "fabric": 5}
PRODUCT_COLORS = {
    "black": 0, "navy": 1, "green": 2, "teal": 3, "maroon": 4, "purple": 5, "olive": 6, "gray": 7, "blue": 8,
    "lime": 9, "aqua": 10, "red": 11, "fuchsia": 12, "yellow": 13, "white": 14, "nickel": 15, "chrome": 16,
    "brass": 17, "copper": 18, "silver": 19, "gold": 20,
}
# The reference generator's values (misspelled "cooper", brass shifted by one).
LEGACY_PRODUCT_COLORS = {**{k: v for k, v in PRODUCT_COLORS.items() if v <= 16},
                         "brass": 18, "cooper": 19, "silver": 19, "gold": 20}

WELL_KNOWN_PASSCODES = {20202021, 20202024}
TEST_ENABLE_KEYS = {bytes.fromhex("00112233445566778899aabbccddeeff"), bytes.fromhex("000102030405060708090a0b0c0d0e0f")}
SDK_DEFAULT_RD_UID = bytes.fromhex("00112233445566778899aabbccddeeff")
TEST_VENDOR_IDS = range(0xFFF1, 0xFFF5)
DEVICE_RD_UID_DEFAULT_MAX = 16


class Spec:
    """A field's kind ("uint", "text", "bytes", "date", "user"), whether it is required, and its bounds:
    the value range for uint, the length in bytes for text and bytes."""

    __slots__ = ("kind", "required", "lo", "hi")

    def __init__(self, kind: str, required: bool = False, lo: int | None = None, hi: int | None = None):
        self.kind = kind
        self.required = required
        self.lo = lo
        self.hi = hi


FIELD_SPECS: dict[str, Spec] = {
    "version": Spec("uint", True, 0, 65535),
    "sn": Spec("text", True, 1, 32),
    "vendor_id": Spec("uint", True, 0, 0xFFF4),
    "product_id": Spec("uint", True, 1, 65535),
    "vendor_name": Spec("text", True, 1, 32),
    "product_name": Spec("text", True, 1, 32),
    "product_label": Spec("text", False, 1, 64),
    "product_url": Spec("text", False, 1, 256),
    "part_number": Spec("text", False, 1, 32),
    "date": Spec("date", True),
    "hw_ver": Spec("uint", True, 0, 65535),
    "hw_ver_str": Spec("text", True, 1, 64),
    "sw_ver_str": Spec("text", False, 1, 64),
    "dac_cert": Spec("bytes", True, 1, 600),
    "dac_key": Spec("bytes", True, 32, 32),
    "pai_cert": Spec("bytes", True, 1, 600),
    "passcode": Spec("uint", False, 1, spake2p.MAX_PASSCODE),
    "spake2_it": Spec("uint", True, spake2p.MIN_ITERATIONS, spake2p.MAX_ITERATIONS),
    "spake2_salt": Spec("bytes", True, spake2p.MIN_SALT_LEN, spake2p.MAX_SALT_LEN),
    "spake2_verifier": Spec("bytes", True, spake2p.VERIFIER_LEN, spake2p.VERIFIER_LEN),
    "discriminator": Spec("uint", True, 0, 4095),
    "rd_uid": Spec("bytes", False, 16, 32),
    "enable_key": Spec("bytes", False, 16, 16),
    "product_finish": Spec("uint", False, 0, 5),
    "primary_color": Spec("uint", False, 0, 20),
    "user": Spec("user", False),
}

MODEL_ONLY_RULES = (
    "passcode is not one of the trivial passcodes of the Matter specification (11111111 ... 88888888, 12345678, 87654321)",
    "date is a real calendar date (e.g. 2023-02-30 is refused)",
    "spake2_verifier is exactly 97 bytes, holds a valid P-256 point, and matches passcode/salt/iterations when passcode is given",
    "text lengths are counted in UTF-8 bytes (the device buffers are byte-sized), not characters",
    "no top-level key is a proper prefix of a known key (the device parser would read it as that key)",
    "no duplicate keys, no floats, no negative integers, no booleans or null at the top level",
    "version must be 1 for a complete factory data set (the device's CONFIG_CHIP_FACTORY_DATA_VERSION)",
)

_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

Warn = Callable[[str], None]


def _no_warn(_msg: str) -> None:
    pass


def parse_hex(text: str, field_name: str) -> bytes:
    """Hex text (``hex:`` prefix optional) to bytes, with a precise error."""
    body = text[len(HEX_PREFIX):] if text.startswith(HEX_PREFIX) else text
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raw = None
    if raw is None or 2 * len(raw) != len(body):  # fromhex skips whitespace; hex text here has none
        if len(body) % 2:
            raise InvalidInput(field_name, f"hex string has an odd number of digits ({len(body)})")
        raise InvalidInput(field_name, "is not a hex string (digits 0-9, a-f only)")
    return raw


def check_date(value: str, field_name: str = "date") -> None:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise InvalidInput(field_name, f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        datetime.date(int(value[:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        raise InvalidInput(field_name, f"{value!r} is not a real calendar date") from None


def check_field(name: str, value: Any, option: str | None = None) -> None:
    """One field's rule from ``FIELD_SPECS`` (kind, range or length; the passcode's too), for a value that
    arrives on its own (a command-line option, a CSV cell, a decoded image); errors name ``option``."""
    try:
        _check_value(name, FIELD_SPECS[name], value, _no_warn)
        if name == "passcode":
            spake2p.check_passcode(value)
        elif name == "spake2_verifier":
            spake2p.check_verifier_format(value)
    except InvalidInput as e:
        if option is None:
            raise
        raise InvalidInput(option, e.rule) from None


def field_limit(name: str) -> tuple[int, int]:
    """(lowest, highest) value of a number field, or (shortest, longest) length of a text or bytes field."""
    spec = FIELD_SPECS[name]
    return spec.lo, spec.hi


def is_prefix_key(key: str) -> str | None:
    """The known key a proper-prefix key would be read as by the device, or None."""
    for known in DEVICE_KEY_ORDER:
        if known.startswith(key) and known != key:
            return known
    return None


class FactoryData:
    """Every nRF Connect factory data field (None when absent), plus:
    ``extra``: unknown top-level keys with their JSON values; ``order``: the key order of the source
    document (None: the generator's order); ``hex_text``: byte fields' hex text as the user typed it
    (the reference keeps its case in the JSON). Equality compares the fields and ``extra`` only.
    """

    __slots__ = tuple(FIELD_SPECS) + ("extra", "order", "hex_text")

    def __init__(self, **values: Any):
        for name in FIELD_SPECS:
            setattr(self, name, None)
        self.version = FACTORY_DATA_VERSION
        self.extra: dict = {}
        self.order: tuple | None = None
        self.hex_text: dict = {}
        for name, value in values.items():
            if name not in self.__slots__:
                raise TypeError(f"FactoryData has no field {name!r}")
            setattr(self, name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FactoryData):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in FIELD_SPECS) and self.extra == other.extra

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in FIELD_SPECS if getattr(self, n) is not None)
        return f"FactoryData({shown})"

    # ------------------------------------------------------------ access

    def get(self, name: str) -> Any:
        if name in FIELD_SPECS:
            return getattr(self, name)
        return self.extra.get(name)

    def present(self) -> list[str]:
        return [k for k in FIELD_SPECS if getattr(self, k) is not None]

    # ------------------------------------------------------------ validation

    def validate(self, complete: bool = True, warn: Warn = _no_warn, check_verifier: bool = True,
                 verifier_computed: bool = False) -> None:
        """Raise ``InvalidInput`` for the first violated rule; report softer findings through ``warn``.

        ``complete`` demands every required field (a full factory data set); without it only the
        fields present are checked (the partition builder accepts partial documents).
        ``verifier_computed``: the caller has just computed the verifier from a passcode, so its point is
        not decoded again (batches).
        """
        for name, spec in FIELD_SPECS.items():
            value = getattr(self, name)
            if value is None:
                if spec.required:
                    if complete:
                        raise InvalidInput(name, "is required")
                    warn(f"{name}: missing; the device needs it for a complete factory data set")
                continue
            _check_value(name, spec, value, warn)
        if self.version is not None and self.version != FACTORY_DATA_VERSION:
            msg = f"is {self.version}, the device expects {FACTORY_DATA_VERSION}"
            if complete:
                raise InvalidInput("version", msg)
            warn("version: " + msg)
        if self.passcode is not None:
            spake2p.check_passcode(self.passcode)
        if self.spake2_verifier is not None and not verifier_computed:
            spake2p.check_verifier_format(self.spake2_verifier)
            if (
                check_verifier
                and self.passcode is not None
                and self.spake2_salt is not None
                and self.spake2_it is not None
                and not spake2p.verifier_matches(self.spake2_verifier, self.passcode, self.spake2_salt, self.spake2_it)
            ):
                raise InvalidInput(
                    "spake2_verifier", "does not match passcode, spake2_salt and spake2_it (recompute it or fix the passcode)"
                )
        for key, value in self.extra.items():
            check_extra_key(key, value)
            warn(f"{key}: unknown key; the device skips it")
        if self.rd_uid is not None and len(self.rd_uid) > DEVICE_RD_UID_DEFAULT_MAX:
            warn(
                f"rd_uid: {len(self.rd_uid)} bytes; devices built with the default "
                f"CONFIG_CHIP_FACTORY_DATA_ROTATING_DEVICE_UID_MAX_LEN ({DEVICE_RD_UID_DEFAULT_MAX}) cannot read it"
            )

    def validate_fields(self, names) -> None:
        """``validate`` for the named fields only (their kinds, ranges and lengths, and the passcode rules):
        for documents that differ from an already validated one only in these fields (a batch's devices)."""
        for name in names:
            value = getattr(self, name)
            spec = FIELD_SPECS[name]
            if value is None:
                if spec.required:
                    raise InvalidInput(name, "is required")
                continue
            _check_value(name, spec, value, _no_warn)
            if name == "passcode":
                spake2p.check_passcode(value)

    def test_material_warnings(self) -> list[str]:
        """Findings that are fine for development and wrong for a product."""
        out = []
        if self.vendor_id in TEST_VENDOR_IDS:
            out.append(f"vendor_id 0x{self.vendor_id:04X} is a test vendor ID: commissioners reject it in production")
        if self.passcode in WELL_KNOWN_PASSCODES:
            out.append(f"passcode {self.passcode} is a well-known test passcode: never ship it")
        if self.enable_key is not None:
            if self.enable_key in TEST_ENABLE_KEYS:
                out.append(f"enable_key {self.enable_key.hex()} is a well-known test key: never ship it")
            elif not any(self.enable_key):
                out.append("enable_key is all zeros: test event triggers are disabled")
        if self.rd_uid == SDK_DEFAULT_RD_UID:
            out.append("rd_uid is the Matter SDK's default unique ID: every device must have its own")
        return out

    # ------------------------------------------------------------ JSON document

    def to_doc(self) -> dict:
        """The JSON-level document (ordered) as the nRF Connect generator writes it."""
        values: dict[str, Any] = {}
        for name, spec in FIELD_SPECS.items():
            value = getattr(self, name)
            if value is None or (isinstance(value, (str, bytes)) and len(value) == 0):
                continue
            if spec.kind == "bytes":
                text = self.hex_text.get(name)
                if text is None or parse_hex(text, name) != value:
                    text = value.hex()
                values[name] = HEX_PREFIX + text
            else:
                values[name] = value
        values.update(self.extra)
        order = self.order or JSON_KEY_ORDER
        doc = {k: values[k] for k in order if k in values}
        for k, v in values.items():  # anything the order does not name goes last
            doc.setdefault(k, v)
        return doc

    def to_json(self) -> str:
        """The reference's serialization: json.dumps defaults, one line, no trailing newline."""
        return json.dumps(self.to_doc())

    @classmethod
    def from_doc(cls, doc: dict, what: str = "") -> "FactoryData":
        """Build a model from a JSON-level document (types checked here, ranges in ``validate``)."""
        fd = cls()
        fd.version = None  # type: ignore[assignment]
        for key, value in doc.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{what}key {key!r}", "keys must be text strings")
            spec = FIELD_SPECS.get(key)
            if spec is None:
                check_extra_key(key, value)
                fd.extra[key] = value
                continue
            setattr(fd, key, _from_json_value(key, spec, value))
            if spec.kind == "bytes":
                fd.hex_text[key] = value[len(HEX_PREFIX):]
        fd.order = tuple(doc.keys())
        return fd


def check_extra_key(key: str, value: Any) -> None:
    known = is_prefix_key(key)
    if known is not None:
        raise InvalidInput(
            f"key {key!r}", f"is a prefix of the known key '{known}'; the device parser would read it as '{known}'"
        )
    check_json_value(key, value, top_level=True)


def check_json_value(path: str, value: Any, top_level: bool = False, depth: int = 0) -> None:
    """Values the CBOR encoder and the device can take: no floats; no negatives or bool/null at the top level."""
    if isinstance(value, float):
        raise InvalidInput(path, f"floating-point value {value!r} is not allowed (the device parser rejects floats)")
    if isinstance(value, bool) or value is None:
        if top_level:
            raise InvalidInput(path, f"{'null' if value is None else 'boolean'} is not allowed at the top level")
        return
    if isinstance(value, int):
        if top_level and value < 0:
            raise InvalidInput(path, f"negative integer {value} is not allowed (the device reads unsigned integers)")
        if not -(2**63) <= value < 2**64:
            raise InvalidInput(path, f"integer {value} does not fit 64 bits")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInput(f"{path}.{k!r}", "keys must be text strings")
            check_json_value(f"{path}.{k}", v, depth=depth + 1)
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_json_value(f"{path}[{i}]", v, depth=depth + 1)
        return
    if isinstance(value, str):
        if top_level and value.startswith(HEX_PREFIX):
            parse_hex(value, path)
        return
    raise InvalidInput(path, f"unsupported value type {type(value).__name__}")


def _from_json_value(key: str, spec: Spec, value: Any) -> Any:
    if spec.kind == "uint":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(key, f"must be an integer, got {_json_type(value)}")
        if value < 0:
            raise InvalidInput(key, f"negative integer {value} is not allowed (the device reads unsigned integers)")
        return value
    if spec.kind in ("text", "date"):
        if not isinstance(value, str):
            raise InvalidInput(key, f"must be a string, got {_json_type(value)}")
        return value
    if spec.kind == "bytes":
        if not isinstance(value, str) or not value.startswith(HEX_PREFIX):
            raise InvalidInput(key, f"must be a string of the form \"hex:<digits>\", got {_json_type(value)}")
        return parse_hex(value, key)
    if spec.kind == "user":
        if not isinstance(value, dict):
            raise InvalidInput(key, f"must be a JSON object (a map of names to strings or integers), got {_json_type(value)}")
        check_json_value(key, value)
        return value
    raise AssertionError(spec.kind)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return {int: "an integer", float: "a float", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def _check_value(name: str, spec: Spec, value: Any, warn: Warn) -> None:
    if spec.kind == "uint":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(name, f"must be an integer, got {_json_type(value)}")
        if not spec.lo <= value <= spec.hi:
            raise InvalidInput(name, f"{value} is out of range (allowed {_fmt_range(name, spec)})")
    elif spec.kind == "text":
        if not isinstance(value, str):
            raise InvalidInput(name, f"must be a string, got {_json_type(value)}")
        size = len(_text_bytes(value, name))
        if size < spec.lo:
            raise InvalidInput(name, "must not be empty")
        if size > spec.hi:
            raise InvalidInput(name, f"is {size} bytes long, the maximum is {spec.hi}")
    elif spec.kind == "date":
        check_date(value)
    elif spec.kind == "bytes":
        if not isinstance(value, (bytes, bytearray)):
            raise InvalidInput(name, f"must be bytes, got {type(value).__name__}")
        n = len(value)
        if spec.lo == spec.hi and n != spec.lo:
            raise InvalidInput(name, f"must be exactly {spec.lo} bytes, got {n}")
        if not spec.lo <= n <= spec.hi:
            raise InvalidInput(name, f"must be {spec.lo}..{spec.hi} bytes, got {n}")
    elif spec.kind == "user":
        if not isinstance(value, dict):
            raise InvalidInput(name, f"must be a JSON object, got {_json_type(value)}")
        check_json_value(name, value)
        for k, v in value.items():
            if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31):
                continue
            warn(f"user.{k}: the device's FindUserDataEntry reads only strings and int32 values; read it with GetUserData")


def _fmt_range(name: str, spec: Spec) -> str:
    if name in ("vendor_id",):
        return f"{spec.lo}..{spec.hi} (0x{spec.hi:04X})"
    return f"{spec.lo}..{spec.hi}"


def _text_bytes(value: str, name: str) -> bytes:
    if value.startswith(HEX_PREFIX):
        return parse_hex(value, name)
    return value.encode("utf-8")


