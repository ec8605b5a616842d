"""The nRF Connect factory data generator: inputs -> validated model -> JSON (+ HEX/BIN, onboarding).

Argument-compatible with the nRF Connect SDK's ``generate_nrfconnect_chip_factory_data.py``; for the
same valid inputs it writes the same JSON bytes.  Differences (all documented in the README):
validation before anything is written, atomic outputs, spec-correct colours, the size check counts
the terminator byte, ``--offset 0`` works, certificates and CDs are made in-process.
"""

from __future__ import annotations

import os
from typing import Any

from . import spake2p
from .errors import InvalidInput
from .fileio import WriteSet
from .model import (
    LEGACY_PRODUCT_COLORS,
    PRODUCT_COLORS,
    PRODUCT_FINISHES,
    FactoryData,
)

SCHEMA_RESOURCE = "nrfconnect_factory_data.schema"
# Schemas whose every constraint the model enforces (a test proves it), so no jsonschema run is needed.
KNOWN_SCHEMA_SHA256 = {
    # the nRF Connect SDK's nrfconnect_factory_data.schema (NCS 2.6 .. master)
    "99974bd9f44b5079d072c855a4d6198e3201e7d0c53b23a0b8d7ce1f22cb4866",
}


def output_prefix(output: str, option: str = "-o/--output") -> str:
    """The path every output file starts with; a prefix that names a directory is refused (its files would be
    hidden ``.json``, ``.hex``, ... files)."""
    prefix = output[: -len(".json")] if output.endswith(".json") else output
    if not os.path.basename(prefix) or os.path.basename(prefix) in (".", "..") or os.path.isdir(prefix):
        raise InvalidInput(option, f"{output!r} names a directory, not a file prefix: give one such as "
                                   f"{os.path.join(output or 'out', 'factory_data')!r}")
    return prefix


def output_dir(prefix: str) -> str:
    """Where generated certificates go: the directory of the prefix, ``.`` when it has none."""
    return os.path.dirname(prefix) or "."


def color_value(name: str, legacy: bool, warn) -> int:
    if legacy:
        if name not in LEGACY_PRODUCT_COLORS:
            raise InvalidInput("--product_color", f"{name!r} is not a colour of the reference tool (it spells copper 'cooper')")
        return LEGACY_PRODUCT_COLORS[name]
    if name == "cooper":
        warn("--product_color cooper is a deprecated misspelling of 'copper'; writing copper (18)")
        name = "copper"
    if name not in PRODUCT_COLORS:
        raise InvalidInput("--product_color", f"{name!r} is not a Matter colour")
    return PRODUCT_COLORS[name]


def load_schema_text(path: str) -> bytes:
    from .fileio import read_bytes

    return read_bytes(path, "--schema")


def shipped_schema_text() -> bytes:
    from importlib import resources

    return resources.files("matter_factory_data.data").joinpath(SCHEMA_RESOURCE).read_bytes()


def validate_with_schema(doc: dict, schema_text: bytes, schema_path: str, report) -> None:
    """Validate ``doc`` against a JSON Schema file (jsonschema only when the model does not cover it)."""
    import hashlib
    import json

    digest = hashlib.sha256(schema_text).hexdigest()
    if digest in KNOWN_SCHEMA_SHA256 or schema_text == shipped_schema_text():
        report.debug(f"schema {schema_path}: covered by the model's validation")
        return
    try:
        schema = json.loads(schema_text)
    except ValueError as e:
        raise InvalidInput("--schema", f"'{schema_path}' is not JSON: {e}") from None
    try:
        import jsonschema
    except ImportError:
        from .errors import OperationFailed

        raise OperationFailed("--schema needs the 'jsonschema' package (pip install jsonschema)") from None
    try:
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    except jsonschema.exceptions.SchemaError as e:
        raise InvalidInput("--schema", f"'{schema_path}' is not a valid JSON Schema: {e.message}") from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        raise InvalidInput(f"schema {os.path.basename(schema_path)}", f"{where}: {error.message}")


def build_model(args: Any, report, dac_key_raw: bytes, dac_cert: bytes, pai_cert: bytes) -> FactoryData:
    """The validated model from generator arguments."""
    if args.passcode is None and args.spake2_verifier is None:
        raise InvalidInput("--passcode", "give --passcode (to compute the SPAKE2+ verifier) or --spake2_verifier")
    if args.passcode is not None:
        spake2p.check_passcode(args.passcode, "--passcode")
    spake2p.check_salt(args.spake2_salt, "--spake2_salt")
    spake2p.check_iterations(args.spake2_it, "--spake2_it")

    user = None
    if args.user is not None:
        user = parse_user_json(args.user)

    fd = FactoryData(
        sn=args.sn or None,
        vendor_id=args.vendor_id,
        product_id=args.product_id,
        vendor_name=args.vendor_name or None,
        product_name=args.product_name or None,
        product_label=args.product_label or None,
        product_url=args.product_url or None,
        part_number=args.part_number or None,
        date=args.date or None,
        hw_ver=args.hw_ver,
        hw_ver_str=args.hw_ver_str or None,
        sw_ver_str=getattr(args, "sw_ver_str", None) or None,
        dac_cert=dac_cert,
        dac_key=dac_key_raw,
        pai_cert=pai_cert,
        passcode=args.passcode if args.include_passcode else None,
        spake2_it=args.spake2_it,
        spake2_salt=args.spake2_salt,
        discriminator=args.discriminator,
        user=user or None,
    )
    if args.rd_uid:
        fd.rd_uid = bytes.fromhex(args.rd_uid)
        fd.hex_text["rd_uid"] = args.rd_uid
    elif args.generate_rd_uid:
        import secrets

        fd.rd_uid = secrets.token_bytes(16)
        report.info("generated a random 16-byte rd_uid (rotating device ID unique ID); it is stored in the factory data")
        report.debug(f"rd_uid: {fd.rd_uid.hex()}")
    if args.enable_key:
        fd.enable_key = bytes.fromhex(args.enable_key)
        fd.hex_text["enable_key"] = args.enable_key
    if args.product_finish is not None:
        fd.product_finish = PRODUCT_FINISHES[args.product_finish]
    if args.product_color is not None:
        fd.primary_color = color_value(args.product_color, args.legacy_colors, report.warn)

    if args.spake2_verifier is not None:
        fd.spake2_verifier = args.spake2_verifier
        spake2p.check_verifier_format(fd.spake2_verifier, "--spake2_verifier")
        if args.passcode is not None and not spake2p.verifier_matches(
            fd.spake2_verifier, args.passcode, args.spake2_salt, args.spake2_it
        ):
            raise InvalidInput(
                "--spake2_verifier", "does not match --passcode, --spake2_salt and --spake2_it (omit it to compute it)"
            )
    else:
        fd.spake2_verifier = spake2p.generate_verifier(args.passcode, args.spake2_salt, args.spake2_it)

    # The passcode is checked against the verifier above; validate() need not recompute it.
    fd.validate(complete=True, warn=report.warn, check_verifier=False)
    return fd


def parse_user_json(text: str) -> dict:
    from .documents import loads

    return loads(text, "--user", top="must be a JSON object such as '{\"name\": \"value\", \"count\": 1}'")


def plan_outputs(prefix: str, args: Any) -> list[str]:
    paths = [prefix + ".json"]
    if args.offset is not None:
        paths += [prefix + ".hex", prefix + ".bin"]
    if args.generate_onboarding:
        paths += [prefix + ".txt", prefix + ".png"]
    return paths


def generate(args: Any, report) -> WriteSet:
    """Run the generator; returns the committed write set."""
    from . import keys
    from .formats import nrfconnect

    prefix = output_prefix(args.output)
    if (args.offset is None) != (args.size is None):
        raise InvalidInput("--offset/--size", "give both (partition address and size) or neither")
    if args.offset is not None and args.offset < 0:
        raise InvalidInput("--offset", f"{args.offset} is negative")
    if args.size is not None and args.size <= 0:
        raise InvalidInput("--size", f"{args.size} must be positive")
    if args.offset is not None and args.offset + args.size > 1 << 32:
        raise InvalidInput("--offset/--size", f"0x{args.offset:x} + 0x{args.size:x} ends past 4 GiB, beyond the "
                                              f"32-bit addresses of flash and Intel HEX")
    if args.generate_onboarding and args.passcode is None:
        raise InvalidInput("--generate_onboarding", "needs --passcode (the QR and manual codes carry it)")

    writes = WriteSet(overwrite=args.overwrite)
    for path in plan_outputs(prefix, args):
        writes.add(path, b"")
    writes.check()  # fail early, before any work, on existing outputs
    writes = WriteSet(overwrite=args.overwrite)

    schema_text = load_schema_text(args.schema) if args.schema else None

    if args.chip_cert_path:
        report.debug("--chip_cert_path is accepted for compatibility; certificates are made in-process")
    if args.gen_certs or args.gen_cd:
        from . import provisioning

        creds = provisioning.generated_credentials(args, report, output_dir(prefix))
        for path, data, secret in creds.files:
            writes.add(path, data, secret)
        dac_cert, dac_key_obj, pai_cert = creds.dac_cert, creds.dac_key, creds.pai_cert
        if not args.gen_certs:
            dac_cert = pai_cert = None
    else:
        dac_key_obj = None
        dac_cert = pai_cert = None
    if not args.gen_certs:
        missing = [n for n, v in (("--dac_cert", args.dac_cert), ("--dac_key", args.dac_key), ("--pai_cert", args.pai_cert)) if not v]
        if missing:
            raise InvalidInput(", ".join(missing), "required (or use --gen_certs to generate test certificates)")
        dac_cert = keys.load_certificate_der(args.dac_cert, "--dac_cert")
        pai_cert = keys.load_certificate_der(args.pai_cert, "--pai_cert")
        dac_key_obj = keys.load_dac_scalar(args.dac_key, "--dac_key", args.dac_key_password)
    if not isinstance(dac_key_obj, int):
        dac_key_obj = dac_key_obj.private_numbers().private_value
    dac_key_raw = dac_key_obj.to_bytes(32, "big")

    fd = build_model(args, report, dac_key_raw, dac_cert, pai_cert)
    from . import attestation

    attestation.check_factory_credentials(
        fd, dac_key_obj, report, strict=getattr(args, "strict", False),
        paa_path=None if args.gen_certs else getattr(args, "paa_cert", None),
        paa_der=creds.paa_cert if args.gen_certs else None,
    )
    for msg in fd.test_material_warnings():
        report.warn(msg)
    if fd.enable_key is None:
        report.warn("no enable_key: applications that read it (e.g. the lock sample) fail with error 160 (0xA0)")

    doc = fd.to_doc()
    json_text = fd.to_json()
    if schema_text is not None:
        validate_with_schema(doc, schema_text, args.schema, report)
    writes.add(prefix + ".json", json_text.encode("ascii"), secret=True)

    if args.offset is not None:
        cbor = nrfconnect.encode_cbor(doc, user_hex_as_bytes=getattr(args, "user_hex_as_bytes", False))
        nrfconnect.check_size(cbor, args.size)
        image = nrfconnect.image_bytes(cbor)
        writes.add(prefix + ".hex", nrfconnect.to_intel_hex(image, args.offset), secret=True)
        writes.add(prefix + ".bin", image, secret=True)

    if args.generate_onboarding:
        from . import onboarding

        payload = onboarding.SetupPayload(fd.vendor_id, fd.product_id, fd.discriminator, args.passcode)
        qr = onboarding.qr_code(payload)
        manual = onboarding.manual_code(payload)
        writes.add(prefix + ".txt", onboarding.onboarding_text(manual, qr).encode("ascii"), secret=True)
        from .qrimage import qr_png

        writes.add(prefix + ".png", qr_png(qr), secret=True)

    writes.commit(make_dirs=True)
    for path in writes.paths():
        report.debug(f"wrote {path}")
    return writes
