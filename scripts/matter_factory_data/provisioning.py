"""Deriving what the user did not give: test credentials (PAA/PAI/DAC), the CD, SDK test material."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from .crypto import attestation, issuing
from .crypto import cd as cdmod
from .crypto.keys import display, load_certificate_der, load_p256_key
from .errors import InvalidInput
from .model import check_date
from .requests import NrfRequest, NxpCertsRequest

SDK_TEST_PAA = "credentials/test/attestation/Chip-Test-PAA-NoVID"
SDK_TEST_CD_SIGNER = "credentials/test/certification-declaration/Chip-Test-CD-Signing"


def find_matter_sdk(stem: str = SDK_TEST_PAA) -> str | None:
    """A Matter SDK checkout holding ``stem``-Cert.pem: ``CHIP_ROOT``, or the Zephyr ``connectedhomeip`` module."""
    candidates = []
    if os.environ.get("CHIP_ROOT"):
        candidates.append(os.environ["CHIP_ROOT"])
    if os.environ.get("ZEPHYR_CONNECTEDHOMEIP_MODULE_DIR"):
        candidates.append(os.environ["ZEPHYR_CONNECTEDHOMEIP_MODULE_DIR"])
    if os.environ.get("ZEPHYR_BASE"):
        candidates.append(os.path.join(os.path.dirname(os.environ["ZEPHYR_BASE"]), "modules", "lib", "matter"))
    for root in candidates:
        if os.path.isfile(os.path.join(root, stem + "-Cert.pem")):
            return root
    return None


@dataclass
class Credentials:
    dac_cert: bytes
    dac_key: Any
    pai_cert: bytes
    pai_key: Any = None
    paa_cert: bytes | None = None
    paa_key: Any = None
    cd: bytes | None = None
    files: list = field(default_factory=list)  # (path, bytes, secret)


def load_ca(cert_path: str, key_path: str, what: str, password: str | None = None):
    cert_der = load_certificate_der(cert_path, f"--{what}_cert")
    attestation.load_cert(cert_der, f"--{what}_cert")  # readable, with a precise error if not
    cert = x509.load_der_x509_certificate(cert_der)
    key = load_p256_key(key_path, f"--{what}_key", password)
    if not attestation.key_matches(cert, key):
        raise InvalidInput(f"--{what}_key", f"'{display(key_path)}' does not match the certificate '{cert_path}'")
    return cert, key


def _resolve_signer(option: str, cert_path: str | None, key_path: str | None, sdk_stem: str, sdk_note: str,
                    fresh_cn: str, fresh_start, fresh_name: str, fresh_warning: str, report, outdir: str, files: list):
    """The one fallback rule for the PAA and the CD signer: the given files; else the Matter SDK's public
    test material when a checkout is found; else a freshly generated self-signed test CA, written out."""
    if bool(cert_path) != bool(key_path):
        raise InvalidInput(f"--{option}_cert/--{option}_key", "give both or neither")
    if cert_path:
        return load_ca(cert_path, key_path, option)
    sdk = find_matter_sdk(sdk_stem)
    if sdk:
        report.info(f"{sdk_note} ({os.path.join(sdk, sdk_stem)}-Cert.pem)")
        return load_ca(os.path.join(sdk, sdk_stem + "-Cert.pem"), os.path.join(sdk, sdk_stem + "-Key.pem"), option)
    key = issuing.generate_p256_key()
    cert = issuing.issue_certificate("paa", fresh_cn, key.public_key(), key, valid_from=fresh_start)
    _add_pair(files, outdir, fresh_name, cert, key)
    report.warn(fresh_warning.format(path=os.path.join(outdir, f"{fresh_name}_cert.der")))
    return cert, key


def resolve_paa(cert_path: str | None, key_path: str | None, report, not_before, outdir: str, files: list):
    """The PAA that signs generated PAIs (the fallback rule of ``_resolve_signer``)."""
    return _resolve_signer(
        "paa", cert_path, key_path, SDK_TEST_PAA,
        "signing the PAI with the Matter SDK's test PAA", "Matter Test PAA", not_before, "PAA",
        "no --paa_cert/--paa_key and no Matter SDK checkout (CHIP_ROOT): generated a test PAA ({path}); "
        "commissioners must trust it as a PAA root", report, outdir, files)


def _add_pair(files: list, outdir: str, name: str, cert, key) -> None:
    files.append((os.path.join(outdir, f"{name}_cert.der"), issuing.der(cert), False))
    files.append((os.path.join(outdir, f"{name}_cert.pem"), issuing.pem(cert), False))
    files.append((os.path.join(outdir, f"{name}_key.der"), issuing.key_der(key), True))
    files.append((os.path.join(outdir, f"{name}_key.pem"), issuing.key_pem(key), True))


def generated_credentials(req: NrfRequest, report, outdir: str) -> Credentials:
    """``--gen_certs`` / ``--gen_cd`` of the generator, in-process."""
    if req.vendor_id is None or req.product_id is None:
        raise InvalidInput("--vendor_id/--product_id", "required to generate certificates")
    if not req.date:
        raise InvalidInput("--date", "required")
    check_date(req.date, "--date")
    start = attestation.date_start(req.date)
    files: list = []
    creds = Credentials(dac_cert=b"", dac_key=None, pai_cert=b"", files=files)
    if req.gen_certs:
        name = f"{req.vendor_name or ''}_{req.product_name or ''}".strip("_") or "Matter Device"
        paa_cert, paa_key = resolve_paa(req.paa_cert, req.paa_key, report, start, outdir, files)
        attestation.check_issuer(attestation.load_cert(issuing.der(paa_cert), "--paa_cert"), "paa",
                                 req.date, warn=report.warn)
        pai_key = issuing.generate_p256_key()
        pai = issuing.issue_certificate(
            "pai", name[:64], pai_key.public_key(), paa_key, paa_cert, vid=req.vendor_id,
            valid_from=max(start, paa_cert.not_valid_before_utc), manufacturing_date=req.date,
        )
        dac_key = issuing.generate_p256_key()
        dac = issuing.issue_certificate(
            "dac", name[:64], dac_key.public_key(), pai_key, pai, vid=req.vendor_id, pid=req.product_id,
            valid_from=max(start, pai.not_valid_before_utc), manufacturing_date=req.date,
        )
        _add_pair(files, outdir, "PAI", pai, pai_key)
        _add_pair(files, outdir, "DAC", dac, dac_key)
        creds.dac_cert, creds.dac_key, creds.pai_cert = issuing.der(dac), dac_key, issuing.der(pai)
        creds.pai_key, creds.paa_cert, creds.paa_key = pai_key, issuing.der(paa_cert), paa_key
        report.info(f"generated PAI and DAC certificates in {outdir}")
    if req.gen_cd:
        signer_cert, signer_key = resolve_cd_signer(req.cd_signing_cert, req.cd_signing_key, report, outdir, files)
        content = cdmod.CDContent(
            vendor_id=req.vendor_id,
            product_ids=[req.product_id],
            device_type_id=req.device_type or 0,
            certificate_id="FFFFFFFFFFFFFFFFFFF",
            security_level=0,
            security_information=0,
            version_number=0xFFFF,
            certification_type=req.cd_type,
        )
        creds.cd = cdmod.sign(content, signer_cert, signer_key)
        files.append((os.path.join(outdir, "CD.der"), creds.cd, False))
        report.info(f"generated {os.path.join(outdir, 'CD.der')}")
    return creds


def resolve_cd_signer(cert_path: str | None, key_path: str | None, report, outdir: str, files: list):
    """The key that signs generated CDs (the fallback rule of ``_resolve_signer``)."""
    return _resolve_signer(
        "cd_signing", cert_path, key_path,
        SDK_TEST_CD_SIGNER, "signing the CD with the Matter SDK's test CD signing key",
        "Matter Test CD Signing Authority", datetime.datetime(2021, 6, 28, tzinfo=datetime.timezone.utc),
        "CD_signing", "no --cd_signing_cert/--cd_signing_key and no Matter SDK checkout: signed the CD with a "
        "freshly generated test key ({path}); commissioners will not trust this CD signer", report, outdir, files)


def cert_and_key_files(prefix: str, cert, key, password: bytes | None = None) -> list:
    """(path, bytes, secret) for PREFIX-Cert.{der,pem} and PREFIX-Key.{der,pem}; only the certificate files for a
    key that stays in a token."""
    files = [(prefix + "-Cert.der", issuing.der(cert), False), (prefix + "-Cert.pem", issuing.pem(cert), False)]
    if getattr(key, "public_point", None) is None:  # a key in a token is not written anywhere
        files += [(prefix + "-Key.der", issuing.key_der(key, password), True),
                  (prefix + "-Key.pem", issuing.key_pem(key, password), True)]
    return files


@dataclass
class TestCredentials:
    """A fresh PAA -> PAI -> DAC chain and a CD signed by a fresh key: for tests and examples only (no
    commissioner trusts them)."""

    paa_cert: bytes
    pai_cert: bytes
    dac_cert: bytes
    dac_key: bytes  # the 32-byte private scalar, as factory data stores it
    cd: bytes


def test_credentials(vendor_id: int, product_id: int, name: str = "Matter Test Device") -> TestCredentials:
    """Test credentials for one product, made in-process (``demo`` and ``--gen_certs`` write theirs to disk)."""
    paa_key, pai_key, dac_key, cd_key = (issuing.generate_p256_key() for _ in range(4))
    paa = issuing.issue_certificate("paa", "Matter Test PAA", paa_key.public_key(), paa_key)
    pai = issuing.issue_certificate("pai", f"{name} PAI"[:64], pai_key.public_key(), paa_key, paa, vid=vendor_id)
    dac = issuing.issue_certificate("dac", f"{name} DAC"[:64], dac_key.public_key(), pai_key, pai, vid=vendor_id,
                                        pid=product_id)
    cd_signer = issuing.issue_certificate("paa", "Matter Test CD Signing Authority", cd_key.public_key(), cd_key)
    content = cdmod.CDContent(vendor_id=vendor_id, product_ids=[product_id], device_type_id=0,
                              certificate_id="FFFFFFFFFFFFFFFFFFF", security_level=0, security_information=0,
                              version_number=0xFFFF, certification_type=0)
    return TestCredentials(paa_cert=issuing.der(paa), pai_cert=issuing.der(pai), dac_cert=issuing.der(dac),
                           dac_key=dac_key.private_numbers().private_value.to_bytes(32, "big"),
                           cd=cdmod.sign(content, cd_signer, cd_key))


def nxp_certificate_files(req: NxpCertsRequest, report) -> list:
    """(path, bytes, secret) of a test certificate set with the names NXP's generate_certs.py uses:
    Chip-PAA-NXP-* (unless a PAA is given), Chip-PAI-NXP-<VID>-<PID>-*, Chip-DAC-NXP-<VID>-<PID>-*, and
    Chip-Test-CD-<VID>-<PID>.der with ``gen_cd``."""
    lifetime = req.lifetime
    valid_from = attestation.parse_valid_from(req.valid_from)
    cn = f"{req.vendor_name} {req.product_name}"
    tag = f"{req.vendor_id:X}-{req.product_id:X}"
    files: list = []
    if req.paa_cert and req.paa_key:
        paa_cert, paa_key = load_ca(req.paa_cert, req.paa_key, "paa")
        attestation.check_issuer(attestation.load_cert(issuing.der(paa_cert), "--paa_cert"), "paa",
                                 warn=report.warn)
    else:
        paa_key = issuing.generate_p256_key()
        paa_cert = issuing.issue_certificate("paa", cn, paa_key.public_key(), paa_key, valid_from=valid_from,
                                                 lifetime_days=lifetime)
        files += cert_and_key_files(os.path.join(req.output, "Chip-PAA-NXP"), paa_cert, paa_key)
    pai_key = issuing.generate_p256_key()
    pai = issuing.issue_certificate("pai", cn, pai_key.public_key(), paa_key, paa_cert, vid=req.vendor_id,
                                        valid_from=max(valid_from, paa_cert.not_valid_before_utc), lifetime_days=lifetime)
    dac_key = issuing.generate_p256_key()
    dac = issuing.issue_certificate("dac", cn, dac_key.public_key(), pai_key, pai, vid=req.vendor_id,
                                        pid=req.product_id, valid_from=max(valid_from, pai.not_valid_before_utc),
                                        lifetime_days=lifetime)
    files += cert_and_key_files(os.path.join(req.output, f"Chip-PAI-NXP-{tag}"), pai, pai_key)
    files += cert_and_key_files(os.path.join(req.output, f"Chip-DAC-NXP-{tag}"), dac, dac_key)
    if req.gen_cd:
        signer_cert, signer_key = resolve_cd_signer(
            req.cd_signing_cert, req.cd_signing_key, report, req.output, files)
        content = cdmod.CDContent(vendor_id=req.vendor_id, product_ids=[req.product_id], device_type_id=req.device_type,
                               certificate_id="ZIG20142ZB330003-24", version_number=0x9876,
                               certification_type=req.cd_type)
        files.append((os.path.join(req.output, f"Chip-Test-CD-{tag}.der"), cdmod.sign(content, signer_cert, signer_key), False))
    return files
