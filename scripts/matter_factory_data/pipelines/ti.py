"""One TI factory data HEX from ``create_factory_data.py``'s JSON: the 17 elements checked (order, types, every
``len`` against its value, the model's rules, the verifier against the passcode) before anything is written."""

from __future__ import annotations

import json
import os

from .. import formats
from ..crypto import spake2p
from ..documents import loads
from ..errors import InvalidInput, OperationFailed
from ..fileio import WriteSet, read_bytes
from ..formats import ti
from ..model import check_date
from ..requests import TiRequest

ALIASES = {"rd_uid": "rd_uniqueid"}  # the SDK's schema calls it rd_uid, its sample JSON rd_uniqueid


def elements(doc, what: str) -> list[tuple[str, bytes, object]]:
    """(key, stored bytes, value) of each element, in the device's order; every ``len`` must be its value's."""
    items = doc.get("elements") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise InvalidInput(what, 'must be an object with an "elements" array')
    if len(items) != len(ti.ORDER):
        raise InvalidInput(f"{what}: elements", f"has {len(items)} entries; the device's table has {len(ti.ORDER)}: "
                                                f"{', '.join(ti.ORDER)}")
    out = []
    for i, (element, expected) in enumerate(zip(items, ti.ORDER)):
        where = f"{what}: elements[{i}]"
        if not isinstance(element, dict) or not element:
            raise InvalidInput(where, 'must be an object {"<key>": value, "len": n}')
        key = next(iter(element))
        if ALIASES.get(key, key) != expected:
            raise InvalidInput(where, f"is {key!r}; the device reads entry {i} as {expected!r} (the order is fixed: "
                                      f"{', '.join(ti.ORDER)})")
        length, value = element.get("len"), element[key]
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise InvalidInput(f"{where} {expected}", f"len must be a non-negative integer, got {length!r}")
        stored = _stored(expected, value, length, where)
        if len(stored) != length:
            raise InvalidInput(f"{where} {expected}", f"len is {length} but the value is {len(stored)} bytes (every "
                                                      f"later address would point into the wrong value)")
        out.append((expected, stored, value))
    return out


def _stored(key: str, value, length: int, where: str) -> bytes:
    if isinstance(value, str):
        text = value.strip(" ")
        if text.startswith("hex:"):
            try:
                return bytes.fromhex(text[4:])
            except ValueError:
                raise InvalidInput(f"{where} {key}", f"{text[:40]!r} is not hex:<an even number of hex digits>") from None
        if key in ti.INTEGERS:
            raise InvalidInput(f"{where} {key}", "must be a number")
        return text.encode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool):
        if key not in ti.INTEGERS:
            raise InvalidInput(f"{where} {key}", "must be text or hex:..., not a number")
        if key == "spake2_it" and length not in (2, 3, 4):
            raise InvalidInput(f"{where} {key}", f"len must be 2, 3 or 4 for an integer, got {length}")
        return ti.value_bytes(key, value, length)
    raise InvalidInput(f"{where} {key}", f"must be text, hex:... or a number, not {type(value).__name__}")


def check_values(items: list, what: str) -> None:
    """The model's rules for each stored value, and the verifier against the passcode and salt."""
    values = {}
    for key, stored, value in items:
        if key in ti.INTEGERS:
            values[key] = int.from_bytes(stored, "little")
        elif key in ti.TEXT:
            values[key] = stored.decode("utf-8", "replace")
        else:
            values[key] = stored
    problems = formats.stored_value_problems(ti, values)
    if problems:
        raise InvalidInput(what, problems[0])
    check_date(values["manufacturing_date"], f"{what}: manufacturing_date")
    if len(values["dac_priv_key"]) != 32:
        raise InvalidInput(f"{what}: dac_priv_key", f"must be the 32-byte private scalar, got {len(values['dac_priv_key'])}")
    if spake2p.generate_verifier(values["passcode"], values["spake2_salt"], values["spake2_it"]) != values["spake2_verifier"]:
        raise InvalidInput(f"{what}: spake2_verifier", "is not the verifier of passcode, spake2_salt and spake2_it "
                                                       "(commissioning would fail at PASE)")


def validate_with_schema(doc, schema_path: str) -> None:
    """As create_factory_data.py: the JSON against the given schema, with the draft the schema names."""
    try:
        import jsonschema
    except ImportError:
        raise OperationFailed("-schema needs the 'jsonschema' package (pip install jsonschema)") from None
    try:
        schema = json.loads(read_bytes(schema_path, "-schema"))
    except ValueError as e:
        raise InvalidInput("-schema", f"'{schema_path}' is not JSON: {e}") from None
    try:
        cls = jsonschema.validators.validator_for(schema)
        error = jsonschema.exceptions.best_match(cls(schema).iter_errors(doc))
    except jsonschema.exceptions.SchemaError as e:
        raise InvalidInput("-schema", f"'{schema_path}' is not a valid JSON Schema: {e.message}") from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        raise InvalidInput(f"schema {os.path.basename(schema_path)}", f"{where}: {error.message}")


def generate(req: TiRequest) -> tuple[bytes, int, int]:
    """Check everything, then write the HEX; returns (HEX, base, bytes used)."""
    base = ti.base_of(req.device_family)
    what = os.path.basename(req.factory_data_json_file)
    doc = loads(read_bytes(req.factory_data_json_file, "-factory_data"), req.factory_data_json_file)
    if req.factory_data_schema:
        validate_with_schema(doc, req.factory_data_schema)
    items = elements(doc, what)
    check_values(items, what)
    image = ti.region(base, [(key, stored) for key, stored, _ in items])
    hex_text = ti.to_hex(image, base)
    WriteSet(overwrite=True).add(req.factory_data_hex_file, hex_text, secret=True).commit(make_dirs=True)
    return hex_text, base, len(image)
