"""Factory data sets for the end-to-end tests: made with our CLI, and corrupted copies of a good set
(spec/e2e.md's negative matrix), shared by both commissioners' tests."""

import datetime
import subprocess
import sys

from matter_factory_data.crypto import attestation, cd as cdmod, issuing, spake2p

from . import harness


def cli(*args):
    r = subprocess.run([sys.executable, "-m", "matter_factory_data", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def read(path):
    with open(path, "rb") as f:
        return f.read()


def onboarding_passcode(txt_path) -> int:
    passcode = harness.onboarding_passcode(txt_path)
    assert passcode is not None, f"no QR code in {txt_path}"
    return passcode


def run_batch(demo, out, fmt, count, cd=None):
    cli("batch", "--count", str(count), "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--vendor_name", "E2E",
        "--product_name", "E2E Light", "--date", datetime.date.today().isoformat(),
        "--pai_cert", str(demo / "PAI_cert.der"), "--pai_key", str(demo / "PAI_key.der"),
        "--paa_cert", str(demo / "PAA_cert.der"), "--cd", str(cd or demo / "CD.der"), "--format", fmt,
        "--out", str(out), "--no_png", "--quiet")
    batch_dir = out / "fff1_8000"
    rows = [line.rstrip("\n").split(",") for line in open(batch_dir / "manifest.csv")]
    header, rows = rows[0], rows[1:]
    assert len(rows) == count
    return batch_dir, [dict(zip(header, row)) for row in rows]


IMAGE = {"nrfconnect": "factory_data.hex", "nxp": "factory_data.bin", "esp32": "partition.bin",
         "telink": "factory_data.hex", "ti": "factory_data.hex", "bouffalolab": "factory_data.bin"}


def _cert(der):
    from cryptography import x509

    return x509.load_der_x509_certificate(der)


def _reissue(der, kind, issuer_der, signer_key):
    """The same certificate (subject, key, VID/PID) issued again by ``signer_key``."""
    cert = _cert(der)
    from cryptography.x509.oid import NameOID

    vid, pid = attestation.matter_ids(attestation.load_cert(der, "certificate"))
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return issuing.der(issuing.issue_certificate(kind, cn, cert.public_key(), signer_key,
                                                         issuer_cert=_cert(issuer_der), vid=vid, pid=pid,
                                                         valid_from=cert.not_valid_before_utc,
                                                         check=False))  # a broken chain on purpose


def load_key(path):
    from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key

    data = read(path)
    return (load_pem_private_key if data.lstrip().startswith(b"-----") else load_der_private_key)(data, None)


def load_certificate(path):
    data = read(path)
    if data.lstrip().startswith(b"-----"):
        from cryptography import x509

        return x509.load_pem_x509_certificate(data)
    return _cert(data)


def resigned_cd(cd_der, cd_cert_path, cd_key_path, **changes):
    """The CD's content (with ``changes``) signed again by the given signer."""
    content = cdmod.parse(cd_der).content._replace(**changes)
    return cdmod.sign(content, load_certificate(cd_cert_path), load_key(cd_key_path))


def dac_violating_profile(dac_der, pai_der, pai_key):
    """The DAC with basicConstraints CA:TRUE and keyCertSign, correctly signed by the PAI."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    dac, pai = _cert(dac_der), _cert(pai_der)
    builder = (x509.CertificateBuilder().serial_number(dac.serial_number).subject_name(dac.subject)
               .issuer_name(pai.subject).public_key(dac.public_key())
               .not_valid_before(dac.not_valid_before_utc).not_valid_after(dac.not_valid_after_utc)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(dac.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier(attestation.skid_of(attestation.load_cert(pai_der, "PAI")),
                                                          None, None), critical=False))
    return issuing.der(builder.sign(pai_key, hashes.SHA256()))


def _broken_signature(cd_der):
    # the SignerInfo's signature is the last element: flip a bit in the last byte of its s value
    return cd_der[:-1] + bytes([cd_der[-1] ^ 0x01])


def corrupt(name, values, demo, cd_cert, cd_key):
    """(values, commissioning kwargs) of the corrupted set ``name``; ``cd_cert``/``cd_key`` sign re-made CDs
    (the signer the commissioner trusts)."""
    v = dict(values)
    kw = {}
    other = 24681357  # a valid passcode other than the factory one
    if name == "verifier_for_other_passcode":
        v["verifier"] = spake2p.generate_verifier(other, v["salt"], v["iterations"])
    elif name == "salt_not_the_verifiers":
        v["salt"] = bytes(b ^ 0x5A for b in v["salt"])
    elif name == "iterations_not_the_verifiers":
        v["iterations"] = v["iterations"] + 1
    elif name == "dac_key_not_the_dacs":
        v["dac_key"] = issuing.generate_p256_key().private_numbers().private_value.to_bytes(32, "big")
    elif name == "untrusted_paa":
        paa_key = issuing.generate_p256_key()
        kw["paa"] = issuing.der(issuing.issue_certificate("paa", "Other PAA", paa_key.public_key(), paa_key))
    elif name == "pai_not_signed_by_paa":
        v["pai"] = _reissue(v["pai"], "pai", read(demo / "PAA_cert.der"), issuing.generate_p256_key())
    elif name == "dac_not_signed_by_pai":
        v["dac"] = _reissue(v["dac"], "dac", v["pai"], issuing.generate_p256_key())
    elif name == "device_pid_not_the_dacs":
        kw["device_product_id"] = v["product_id"] + 1
    elif name == "device_vid_not_the_dacs":
        kw["device_vendor_id"] = 0xFFF2
    elif name == "cd_lacks_the_pid":
        v["cd"] = resigned_cd(v["cd"], cd_cert, cd_key, product_ids=[v["product_id"] + 1])
    elif name == "cd_vendor_id_wrong":
        v["cd"] = resigned_cd(v["cd"], cd_cert, cd_key, vendor_id=0xFFF2)
    elif name == "cd_signature_broken":
        v["cd"] = _broken_signature(v["cd"])
    elif name == "cd_signer_unknown":
        # signed by the demo's own CD signer, which the commissioner is not told about
        v["cd"] = resigned_cd(v["cd"], demo / "CD_signing_cert.der", demo / "CD_signing_key.der")
        kw["cd_signer"] = None
    elif name == "dac_violates_profile":
        v["dac"] = dac_violating_profile(v["dac"], v["pai"], load_key(demo / "PAI_key.der"))
    else:
        raise ValueError(name)
    return v, kw
