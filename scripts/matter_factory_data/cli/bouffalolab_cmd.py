"""``matter-factory-data bouffalolab``: Bouffalo Lab's ``generate_factory_data.py`` command line, its input
bugs fixed."""

from __future__ import annotations

import argparse
import base64
import sys

from ..pipelines.bouffalolab import generate
from ..requests import BouffaloRequest
from .common import ArgumentParser, Reporter, base64_bytes, request_from

DESCRIPTION = """\
Bouffalo Lab (BL602, BL616, BL702, BL702L) factory data: the MFD image (a secured TLV block, AES-128-CBC
with --key, holding the DAC key; a plain TLV block; each with a CRC-32), the onboarding text and QR image,
in --output as out_<vid>_<pid>_<discriminator>_mfd.bin, _onboard.txt and _onboard.png.

Differences from generate_factory_data.py: --discriminator and a valid --passcode are used (the reference
ignores the first and refuses every valid passcode); --spake2p_salt is Base64 once (the reference decodes
it twice); the manufacturing date is the 4 bytes the device reads (--date_encoding string writes the
reference's 10-character text, which the device cannot read); an integer 0 takes one byte, not none; no
chip-cert (--chip_cert is accepted and unused); --iv fixes the AES IV; --output is created if missing.
"""

EPILOG = """\
example:
  %(prog)s --output out --vendor_id FFF1 --product_id 8000 --sn SN0001 --discriminator 3840 \\
      --passcode 20202021 --spake2p_it 1000 --manufactoring_date 2024-05-01 \\
      --dac_cert DAC.pem --dac_key DAC_key.pem --pai_cert PAI.pem --cd CD.der --key 000102030405060708090A0B0C0D0E0F
then flash: the board's *.flash.py --mfd out/out_fff1_8000_3840_mfd.bin [--key <the same key>]
(MFD partition: BL602/BL616 0x3FE000, BL702/BL702L 0x1FE000, 4 KiB)
"""


def _hex_int(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a hex number") from None


def _hex_bytes(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hex digits") from None


def report_error(message: str, code: int) -> int:
    """Errors in the reference's log format (``[ERROR] ...``); the exit status stays the project's."""
    print(f"[ERROR] {message}", file=sys.stderr)
    return code


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG, dual_spelling=False)
    p.add_argument("--dac_cert", help="DAC certificate (PEM or DER)")
    p.add_argument("--dac_key", help="DAC private key (PEM or DER)")
    p.add_argument("--dac_pid", type=_hex_int, help="product ID of the DAC, hex (checked against the PAI)")
    p.add_argument("--passcode", type=int, help="setup passcode (default: random)")
    p.add_argument("--pai_cert", help="PAI certificate (PEM or DER)")
    p.add_argument("--cd", help="Certification Declaration (DER); when the file does not exist one is generated there")
    p.add_argument("--sn", default="Test SN", help="serial number (default 'Test SN')")
    p.add_argument("--discriminator", type=int, help="discriminator 0..4095 (default: random)")
    p.add_argument("--unique_id", type=base64_bytes, help="rotating device ID unique ID, Base64 of 16 bytes (default: random)")
    p.add_argument("--spake2p_it", type=int, help="SPAKE2+ iterations 1000..100000 (default: random)")
    p.add_argument("--spake2p_salt", type=base64_bytes, help="SPAKE2+ salt, Base64 of 16..32 bytes (default: random)")
    p.add_argument("--vendor_id", type=_hex_int, default=0x130D, help="vendor ID, hex (default 130D)")
    p.add_argument("--vendor_name", default="Bouffalo Lab", help="vendor name")
    p.add_argument("--product_id", type=_hex_int, default=0x1001, help="product ID, hex (default 1001)")
    p.add_argument("--product_name", default="Test Product", help="product name")
    p.add_argument("--product_part_no", help="part number")
    p.add_argument("--product_url", help="product URL")
    p.add_argument("--product_label", help="product label")
    p.add_argument("--manufactoring_date", help="manufacturing date YYYY-MM-DD")
    p.add_argument("--hardware_version", type=int, help="hardware version")
    p.add_argument("--hardware_version_string", help="hardware version string")
    p.add_argument("--rendezvous", type=int, default=6, help="QR code rendezvous bitmask (default 6)")
    p.add_argument("--output", required=True, help="output directory")
    p.add_argument("--key", type=_hex_bytes, help="AES-128 key, 32 hex digits: encrypt the DAC key")
    p.add_argument("--iv", type=_hex_bytes, help="AES IV, 32 hex digits (default: 12 random bytes + 4 zero bytes)")
    p.add_argument("--date_encoding", choices=["binary", "string"], default="binary",
                   help="manufacturing date as 4 bytes the device reads (default) or the reference's text")
    p.add_argument("--cd_cert", help="certificate of the key that signs a generated CD")
    p.add_argument("--cd_key", help="key that signs a generated CD")
    p.add_argument("--paa_cert", help="PAA certificate: the DAC chain is checked against it")
    p.add_argument("--paa_key", help="accepted and unused")
    p.add_argument("--pai_key", help="PAI key: issues a test DAC under --pai_cert when no DAC is given")
    p.add_argument("--chip_cert", help="accepted and unused (no chip-cert is needed)")
    return p


def main(argv: list[str], prog: str) -> int:
    req = request_from(BouffaloRequest, build_parser(prog).parse_args(argv))
    report = Reporter(prog=prog)
    r = generate(req, report)
    lines = ["", "Output as below: ", f"Passcode: {r['passcode']}", f"Discriminator ID: {r['discriminator']}",
             f"Rotating Unique ID: {r['uid'].hex()}",
             f"Rotating Unique ID base64 code: {base64.b64encode(r['uid']).decode()}",
             f"SPAKE2+ iteration: {r['it']}", f"SPAKE2+ slat: {r['salt'].hex()}",
             f"SPAKE2+ slat base code: {base64.b64encode(r['salt']).decode()}", f"Manual code: {r['manual']}",
             f"QR code: {r['qr']}", "", f"MFD partition file: {r['paths']['mfd.bin']}",
             f"QR code PNG file: {r['paths']['onboard.png']}"]
    sys.stderr.write("".join(f"[INFO] {line}\n" for line in lines))
    return 0
