"""The nRF Connect factory data generator: inputs -> validated model -> JSON (+ HEX/BIN, onboarding).

Argument-compatible with the nRF Connect SDK's ``generate_nrfconnect_chip_factory_data.py``; for the
same valid inputs it writes the same JSON bytes.  Differences (all documented in the README):
validation before anything is written, atomic outputs, spec-correct colours, the size check counts
the terminator byte, ``--offset 0`` works, certificates and CDs are made in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets

from ..codes import onboarding
from ..codes.qrimage import qr_png
from ..crypto import attestation, keys, spake2p
from ..documents import loads
from ..errors import InvalidInput, OperationFailed
from ..fileio import WriteSet, read_bytes
from ..formats import bouffalolab, nrfconnect, telink, ti
from ..model import LEGACY_PRODUCT_COLORS, PRODUCT_COLORS, PRODUCT_FINISHES, FactoryData
from ..requests import NrfRequest

SCHEMA_RESOURCE = "nrfconnect_factory_data.schema"
DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
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
    return read_bytes(path, "--schema")


def shipped_schema_text() -> bytes:
    with open(os.path.join(DATA_DIR, SCHEMA_RESOURCE), "rb") as f:  # importlib.resources costs 20 ms to import
        return f.read()


def validate_with_schema(doc: dict, schema_text: bytes, schema_path: str, report) -> None:
    """Validate ``doc`` against a JSON Schema file (jsonschema only when the model does not cover it)."""
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
        raise OperationFailed("--schema needs the 'jsonschema' package (pip install jsonschema)") from None
    try:
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    except jsonschema.exceptions.SchemaError as e:
        raise InvalidInput("--schema", f"'{schema_path}' is not a valid JSON Schema: {e.message}") from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        raise InvalidInput(f"schema {os.path.basename(schema_path)}", f"{where}: {error.message}")


def build_model(req: NrfRequest, report, dac_key_raw: bytes, dac_cert: bytes, pai_cert: bytes) -> FactoryData:
    """The validated model from generator arguments."""
    if req.passcode is None and req.spake2_verifier is None:
        raise InvalidInput("--passcode", "give --passcode (to compute the SPAKE2+ verifier) or --spake2_verifier")
    if req.passcode is not None:
        spake2p.check_passcode(req.passcode, "--passcode")
    spake2p.check_salt(req.spake2_salt, "--spake2_salt")
    spake2p.check_iterations(req.spake2_it, "--spake2_it")

    user = None
    if req.user is not None:
        user = parse_user_json(req.user)

    fd = FactoryData(
        sn=req.sn or None,
        vendor_id=req.vendor_id,
        product_id=req.product_id,
        vendor_name=req.vendor_name or None,
        product_name=req.product_name or None,
        product_label=req.product_label or None,
        product_url=req.product_url or None,
        part_number=req.part_number or None,
        date=req.date or None,
        hw_ver=req.hw_ver,
        hw_ver_str=req.hw_ver_str or None,
        sw_ver_str=req.sw_ver_str or None,
        dac_cert=dac_cert,
        dac_key=dac_key_raw,
        pai_cert=pai_cert,
        passcode=req.passcode if req.include_passcode else None,
        spake2_it=req.spake2_it,
        spake2_salt=req.spake2_salt,
        discriminator=req.discriminator,
        user=user or None,
    )
    if req.rd_uid:
        fd.rd_uid = bytes.fromhex(req.rd_uid)
        fd.hex_text["rd_uid"] = req.rd_uid
    elif req.generate_rd_uid:
        fd.rd_uid = secrets.token_bytes(16)
        report.info("generated a random 16-byte rd_uid (rotating device ID unique ID); it is stored in the factory data")
        report.debug(f"rd_uid: {fd.rd_uid.hex()}")
    if req.enable_key:
        fd.enable_key = bytes.fromhex(req.enable_key)
        fd.hex_text["enable_key"] = req.enable_key
    if req.product_finish is not None:
        fd.product_finish = PRODUCT_FINISHES[req.product_finish]
    if req.product_color is not None:
        fd.primary_color = color_value(req.product_color, req.legacy_colors, report.warn)

    if req.spake2_verifier is not None:
        fd.spake2_verifier = req.spake2_verifier
        spake2p.check_verifier_format(fd.spake2_verifier, "--spake2_verifier")
        if req.passcode is not None and not spake2p.verifier_matches(
            fd.spake2_verifier, req.passcode, req.spake2_salt, req.spake2_it
        ):
            raise InvalidInput(
                "--spake2_verifier", "does not match --passcode, --spake2_salt and --spake2_it (omit it to compute it)"
            )
    else:
        fd.spake2_verifier = spake2p.generate_verifier(req.passcode, req.spake2_salt, req.spake2_it)

    # The passcode is checked against the verifier above; validate() need not recompute it.
    fd.validate(complete=True, warn=report.warn, check_verifier=False)
    return fd


def parse_user_json(text: str) -> dict:
    return loads(text, "--user", top="must be a JSON object such as '{\"name\": \"value\", \"count\": 1}'")


def plan_outputs(prefix: str, req: NrfRequest) -> list[str]:
    paths = [prefix + ".json"]
    if req.offset is not None:
        paths += [prefix + ".hex", prefix + ".bin"]
    if req.generate_onboarding:
        paths += [prefix + ".txt", prefix + ".png"]
    return paths


def generate(req: NrfRequest, report) -> WriteSet:
    """Run the generator; returns the committed write set."""
    prefix = output_prefix(req.output)
    _check_options(req)
    writes = WriteSet(overwrite=req.overwrite)
    for path in plan_outputs(prefix, req):
        writes.add(path, b"")
    writes.check()  # fail early, before any work, on existing outputs
    writes = WriteSet(overwrite=req.overwrite)

    schema_text = load_schema_text(req.schema) if req.schema else None

    if req.chip_cert_path:
        report.debug("--chip_cert_path is accepted for compatibility; certificates are made in-process")
    dac_cert, dac_key_obj, pai_cert, paa_der, cd_der = _credentials(req, report, prefix, writes)
    dac_key_raw = dac_key_obj.to_bytes(32, "big")

    fd = build_model(req, report, dac_key_raw, dac_cert, pai_cert)
    attestation.check_factory_credentials(fd, dac_key_obj, report, strict=req.strict,
                                          paa_path=None if req.gen_certs else req.paa_cert, paa_der=paa_der)
    for msg in fd.test_material_warnings():
        report.warn(msg)
    if fd.enable_key is None:
        report.warn("no enable_key: applications that read it (e.g. the lock sample) fail with error 160 (0xA0)")

    doc = fd.to_doc()
    json_text = fd.to_json()
    if schema_text is not None:
        validate_with_schema(doc, schema_text, req.schema, report)
    writes.add(prefix + ".json", json_text.encode("ascii"), secret=True)
    _add_images(req, fd, doc, prefix, writes, _stored_cd(req, cd_der, fd, report))
    writes.commit(make_dirs=True)
    for path in writes.paths():
        report.debug(f"wrote {path}")
    return writes


def _check_options(req: NrfRequest) -> None:
    if (req.offset is None) != (req.size is None):
        raise InvalidInput("--offset/--size", "give both (partition address and size) or neither")
    if req.offset is not None and req.offset < 0:
        raise InvalidInput("--offset", f"{req.offset} is negative")
    if req.size is not None and req.size <= 0:
        raise InvalidInput("--size", f"{req.size} must be positive")
    if req.offset is not None and req.offset + req.size > 1 << 32:
        raise InvalidInput("--offset/--size", f"0x{req.offset:x} + 0x{req.size:x} ends past 4 GiB, beyond the "
                                              f"32-bit addresses of flash and Intel HEX")
    if req.generate_onboarding and req.passcode is None:
        raise InvalidInput("--generate_onboarding", "needs --passcode (the QR and manual codes carry it)")


def _credentials(req: NrfRequest, report, prefix: str, writes: WriteSet) -> tuple:
    """(DAC DER, DAC key scalar, PAI DER, PAA DER or None): generated (--gen_certs, adding their files to
    ``writes``) or read from the given files."""
    paa_der = cd_der = None
    if req.gen_certs or req.gen_cd:
        # issuing needs cryptography's X.509 stack (60 ms to import): only this path loads it
        from ..provisioning import generated_credentials

        creds = generated_credentials(req, report, output_dir(prefix))
        for path, data, secret in creds.files:
            writes.add(path, data, secret)
        dac_cert, dac_key_obj, pai_cert = creds.dac_cert, creds.dac_key, creds.pai_cert
        paa_der = creds.paa_cert if req.gen_certs else None
        cd_der = getattr(creds, "cd", None)
        if not req.gen_certs:
            dac_cert = pai_cert = None
    else:
        dac_key_obj = None
        dac_cert = pai_cert = None
    if not req.gen_certs:
        missing = [n for n, v in (("--dac_cert", req.dac_cert), ("--dac_key", req.dac_key), ("--pai_cert", req.pai_cert)) if not v]
        if missing:
            raise InvalidInput(", ".join(missing), "required (or use --gen_certs to generate test certificates)")
        dac_cert = keys.load_certificate_der(req.dac_cert, "--dac_cert")
        pai_cert = keys.load_certificate_der(req.pai_cert, "--pai_cert")
        dac_key_obj = keys.load_dac_scalar(req.dac_key, "--dac_key", req.dac_key_password)
    if not isinstance(dac_key_obj, int):
        dac_key_obj = dac_key_obj.private_numbers().private_value
    return dac_cert, dac_key_obj, pai_cert, paa_der, cd_der


CD_FORMATS = ("telink", "bouffalolab")  # the layouts that store a CD


def _stored_cd(req: NrfRequest, generated: bytes | None, fd: FactoryData, report) -> bytes | None:
    """The CD a telink or bouffalolab image stores: --cd, else the one --gen_cd made (checked against the
    device)."""
    if req.cd and req.format not in CD_FORMATS:
        raise InvalidInput("--cd", f"only the {' and '.join(CD_FORMATS)} layouts store a CD (give --format)")
    if req.format == "bouffalolab" and req.offset is not None and not (req.cd or generated):
        raise InvalidInput("--cd", "required with --format bouffalolab (the device refuses an MFD without a CD; or "
                                   "--gen_cd)")
    if not req.cd:
        return generated
    from ..crypto import cd  # the CMS reader; only an image that stores a --cd needs it

    return cd.load_for(req.cd, "--cd", fd.vendor_id, fd.product_id, report.warn)


def _fits(image: bytes, size: int) -> None:
    if len(image) > size:
        raise InvalidInput("--size", f"factory data needs {len(image)} bytes but the partition holds {size}")


def _add_images(req: NrfRequest, fd: FactoryData, doc: dict, prefix: str, writes: WriteSet,
                cd_der: bytes | None) -> None:
    """The partition (HEX and BIN) with --offset/--size, the onboarding codes and QR image when asked."""
    if req.offset is not None:
        if req.format == "telink":
            image = telink.encode(fd, {"cd": cd_der, "size": req.size})
        elif req.format == "ti":
            if req.offset not in ti.BASES.values():
                raise InvalidInput("--offset", f"0x{req.offset:x}: TI devices link their factory data at "
                                               f"{' or '.join(f'0x{b:X} ({n})' for n, b in ti.BASES.items())}")
            image = ti.encode(fd, {"passcode": req.passcode, "base": req.offset})
            _fits(image, req.size)
            writes.add(prefix + ".hex", ti.to_hex(image, req.offset), secret=True)
            writes.add(prefix + ".bin", image, secret=True)
        elif req.format == "bouffalolab":
            image = bouffalolab.encode(fd, {"passcode": req.passcode, "cd": cd_der})
            _fits(image, req.size)
        else:
            cbor = nrfconnect.encode_cbor(doc, user_hex_as_bytes=req.user_hex_as_bytes)
            nrfconnect.check_size(cbor, req.size)
            image = nrfconnect.image_bytes(cbor)
        if req.format != "ti":
            writes.add(prefix + ".hex", nrfconnect.to_intel_hex(image, req.offset), secret=True)
            writes.add(prefix + ".bin", image, secret=True)

    if req.generate_onboarding:
        payload = onboarding.SetupPayload(fd.vendor_id, fd.product_id, fd.discriminator, req.passcode)
        qr = onboarding.qr_code(payload)
        manual = onboarding.manual_code(payload)
        writes.add(prefix + ".txt", onboarding.onboarding_text(manual, qr).encode("ascii"), secret=True)
        writes.add(prefix + ".png", qr_png(qr), secret=True)
