"""The attestation side of the drop-in tools (``esp32``, ``telink``): the CA a run signs with (a PAA that
signs one generated PAI per run, or a PAI), a supplied DAC, each checked before anything is written, and
the run's generated PAI. Messages use esp-matter-mfg-tool's words, which scripts match."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..crypto import attestation, dac_template, issuing, keys
from ..errors import InvalidInput
from .derive import P256_ORDER, Keyed


def refused(message: str) -> InvalidInput:
    """An error in the reference's words (scripts match them), printed as they are."""
    return InvalidInput("", message)


def plan(req, report, password: bytes | None = None) -> tuple:
    """(mode, CA key scalar, CA DER, PAI DER, supplied DAC (DER, scalar)) from a request with ``cert``,
    ``key``, ``paa``, ``pai``, ``dac_cert``, ``dac_key``, ``vendor_id`` and ``product_id``."""
    vid, pid = req.vendor_id, req.product_id
    mode = "paa" if req.paa else "pai" if req.pai else None
    ca_scalar = pai_der = ca_der = None
    fixed_dac = None
    if mode is not None:
        supplied_dac = bool(req.dac_cert or req.dac_key)
        if not req.cert or (not req.key and not supplied_dac):
            raise InvalidInput("-c/-k", "--paa/--pai need the CA certificate (-c) and key (-k)")
        ca_der = keys.load_certificate_der(req.cert, "-c")
        ca = attestation.load_cert(ca_der, "-c")
        if req.key:  # a scalar (no key objects at start-up) or a pkcs11: URI each worker opens again
            ca_scalar = keys.load_signing_ref(req.key, "-k", password)
            if not attestation.key_matches(ca, ca_scalar):
                raise refused(f"{mode.upper()} certificate and private key do not match ('{keys.display(req.key)}', "
                              f"'{req.cert}')")
        if mode == "pai":
            pai_der = ca_der
            pai = attestation.load_cert(pai_der, "PAI")
            errors, _ = attestation.profile_findings(pai, "pai")
            if errors:
                raise InvalidInput("-c", errors[0])
            pai_vid, pai_pid = attestation.matter_ids(pai, lenient=True)
            if pai_vid != vid or (pai_pid is not None and pai_pid != pid):
                raise refused(f"PAI certificate VID and PID do not match input VID and PID (0x{vid:04X}/"
                              f"0x{pid:04X})")
        else:
            paa = attestation.load_cert(ca_der, "PAA")
            errors, _ = attestation.profile_findings(paa, "paa")
            if errors:
                raise InvalidInput("-c", errors[0])
        if req.dac_cert or req.dac_key:
            if not (req.dac_cert and req.dac_key) or mode != "pai":
                raise InvalidInput("--dac-cert/--dac-key", "give both, with --pai -c <PAI>")
            dac_der = keys.load_certificate_der(req.dac_cert, "--dac-cert")
            scalar = keys.load_dac_scalar(req.dac_key, "--dac-key", password)
            check_supplied_dac(attestation.load_cert(dac_der, "--dac-cert"), pai, scalar, vid, pid, report)
            fixed_dac = (dac_der, scalar)
    elif req.dac_cert or req.dac_key:
        raise InvalidInput("--dac-cert/--dac-key", "need --pai -c <PAI>")
    return mode, ca_scalar, ca_der, pai_der, fixed_dac


def check_supplied_dac(dac, pai, scalar: int, vid: int, pid: int, report) -> None:
    """A --dac-cert/--dac-key pair, in the reference's order and words: the certificate is a DAC, it chains to
    the PAI, then (our checks) the key and the IDs."""
    errors, _ = attestation.profile_findings(dac, "dac")
    if errors:
        raise refused(f"DAC certificate is not valid ({errors[0]})")
    link_errors, _ = attestation.link_findings(dac, "dac", pai, "pai")
    if link_errors:
        raise refused(f"DAC certificate chain is not valid ({link_errors[0]})")
    attestation.check_chain(dac, pai, None, scalar, vid, pid).raise_or_warn(report.warn, False)


def pai_scalar(keyed) -> int:
    """The key of the run's generated PAI (--paa), derived from the run's key."""
    return int.from_bytes(keyed.derive("pai_key", 0, 40), "big") % (P256_ORDER - 1) + 1


def generate_pai(keyed, paa_ref: int | str, paa_der: bytes, cn: str, vid: int, pid: int,
                 valid_from: datetime.datetime, lifetime_days: int | None) -> bytes:
    """--paa: the run's PAI, ``cn``, signed by the PAA (a key scalar or a key in a token)."""
    paa_key = keys.signer(paa_ref)
    pai_key = ec.derive_private_key(pai_scalar(keyed), ec.SECP256R1())
    cert = issuing.issue_certificate("pai", cn, pai_key.public_key(), paa_key, x509.load_der_x509_certificate(paa_der),
                                     vid=vid, pid=pid, valid_from=valid_from, lifetime_days=lifetime_days)
    return issuing.der(cert)


def check_signing_window(pai_der: bytes, valid_from: datetime.datetime, lifetime_days: int | None,
                         options: str = "-vf/--lifetime") -> None:
    """The DACs a run issues must lie inside their PAI's validity."""
    pai = attestation.load_cert(pai_der, "PAI")
    _, not_after = attestation.validity(valid_from, lifetime_days)
    if valid_from < pai.not_before or not_after > pai.not_after:
        raise refused(f"PAI Certificate validity period is outside the specified parameters: the DACs would be "
                      f"valid {valid_from:%Y-%m-%d} to {not_after:%Y-%m-%d}, the PAI "
                      f"{pai.not_before:%Y-%m-%d} to {pai.not_after:%Y-%m-%d} (change {options})")


def dac_issuer(ca_ref: int | str, pai_der: bytes, vid: int, pid: int, cn: str, valid_from: datetime.datetime,
               lifetime_days: int | None) -> dac_template.DacTemplate:
    """What a worker issues its DACs with (made once per process): the PAI's key (in this process's own token
    session when it is in a token) and a DAC template."""
    key = keys.signer(ca_ref)
    not_before, not_after = attestation.validity(valid_from, lifetime_days)
    return dac_template.DacTemplate(pai_der, key, vid, pid, cn, not_before, not_after)


class RunWorker:
    """A drop-in worker's state, made once per process: the run's context, its key and, when the run issues
    DACs, the DAC template (common name ``cn``)."""

    def __init__(self, ctx, cn: str, lifetime_days: int | None):
        self.ctx = ctx
        self.req = ctx.req
        self.keyed = Keyed(ctx.key)
        self.template = None
        if ctx.mode is not None and ctx.fixed_dac is None:
            self.template = dac_issuer(ctx.ca_scalar, ctx.pai_der, ctx.req.vendor_id, ctx.req.product_id, cn,
                                       ctx.valid_from, lifetime_days)
