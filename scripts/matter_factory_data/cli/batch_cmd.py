"""``matter-factory-data batch``: factory data for many devices, in parallel, resumable."""

from __future__ import annotations

from ..model import PRODUCT_COLORS, PRODUCT_FINISHES
from ..production import batch
from ..requests import BatchRequest
from .common import ArgumentParser, Reporter, any_int, hex_text, request_from, add_pkcs11_module

DESCRIPTION = """\
Produce factory data for a production line: one directory per device (named after its serial number)
with factory_data.json, the image (factory_data.hex + .bin for nRF Connect), onboarding.txt,
onboarding.png, DAC_cert.der and DAC_key.der, and <out>/<vid>_<pid>/manifest.csv for label printing
and the line's database. Every device gets its own passcode, discriminator, salt, verifier, rotating
device ID unique ID and DAC (signed by your PAI); or take any of them from --csv rows.

A batch killed at any point finishes when run again with the same arguments; a finished batch is not
changed by a re-run; a different batch into the same directory is refused unless --overwrite.
"""

EPILOG = """\
examples:
  %(prog)s --count 1000 --vendor_id 0xFFF1 --product_id 0x8000 --vendor_name Acme --product_name Lamp \\
      --date 2024-05-01 --hw_ver 1 --hw_ver_str 1.0 --pai_cert PAI-Cert.der --pai_key PAI-Key.der \\
      --paa_cert PAA-Cert.der --cd CD.der --out batches

  # per-device values from a CSV (columns: serial, passcode, discriminator, spake2_salt, rd_uid,
  # dac_cert, dac_key, user.<name>; any subset)
  %(prog)s --csv devices.csv ... --out batches

  # a reproducible test batch (every key derived from the seed; test vendor IDs only)
  %(prog)s --count 20 --seed ci-42 ... --out test-batch

manifest columns: serial,vendor_id,product_id,discriminator,passcode,manual_code,qr_code,spake2_it,
spake2_salt,rd_uid,dac_serial,dac_sha256,path (--no_secrets_in_manifest leaves passcode, manual_code
and qr_code empty: all three reveal the passcode).
"""


INTERRUPTED = "interrupted; the devices finished so far are kept: run the same command again to finish the batch"

def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    src = p.add_argument_group("devices")
    src.add_argument("--count", type=any_int, help="number of devices")
    src.add_argument("--csv", help="one row per device, fixing any of its values (see above)")
    src.add_argument("--skip_bad_rows", action="store_true", help="leave out bad CSV rows instead of stopping")
    src.add_argument("--serial_pattern", default=batch.DEFAULT_SERIAL_PATTERN,
                     help="serial number pattern with {vid}, {pid} and the device number {n} "
                          "(default %(default)s)")
    src.add_argument("--serial_start", type=any_int, default=1, help="first device number (default 1)")
    src.add_argument("--dac_dir", help="pre-provisioned DACs: NAME-Cert.der + NAME-Key.der pairs, used in name order")
    ident = p.add_argument_group("identity (common to every device)")
    ident.add_argument("--vendor_id", type=any_int, required=True, help="vendor ID")
    ident.add_argument("--product_id", type=any_int, required=True, help="product ID")
    ident.add_argument("--vendor_name", required=True, help="vendor name")
    ident.add_argument("--product_name", required=True, help="product name")
    ident.add_argument("--date", required=True, help="manufacturing date YYYY-MM-DD (DACs start on it)")
    ident.add_argument("--hw_ver", type=any_int, default=0, help="hardware version (default 0)")
    ident.add_argument("--hw_ver_str", default="1.0", help="hardware version string (default 1.0)")
    ident.add_argument("--sw_ver_str", help="software version string")
    ident.add_argument("--spake2_it", type=any_int, default=1000, help="SPAKE2+ iterations (default 1000)")
    ident.add_argument("--salt_len", type=any_int, default=32, help="SPAKE2+ salt length in bytes (default 32)")
    ident.add_argument("--enable_key", type=hex_text, help="test event trigger enable key (hex, 16 bytes)")
    ident.add_argument("--no_rd_uid", action="store_true", help="store no rotating device ID unique ID")
    ident.add_argument("--include_passcode", action="store_true", help="also store the passcode in the factory data")
    ident.add_argument("--product_finish", choices=list(PRODUCT_FINISHES), help="product finish")
    ident.add_argument("--product_color", choices=list(PRODUCT_COLORS), help="primary colour")
    ident.add_argument("--unique_discriminators", action="store_true",
                       help="fail instead of sharing discriminators when there are more than 4096 devices")
    cred = p.add_argument_group("attestation")
    cred.add_argument("--pai_cert", required=True, help="PAI certificate that signs the DACs")
    cred.add_argument("--pai_key", required=True, help="PAI private key")
    cred.add_argument("--pai_key_password", help="password of an encrypted PAI key")
    cred.add_argument("--paa_cert", help="PAA certificate: the PAI must chain to it")
    cred.add_argument("--cd", help="Certification Declaration: checked against VID/PID and copied to the batch")
    cred.add_argument("--valid_from", help="DAC notBefore, 'YYYY-MM-DD [HH:MM:SS]' UTC (default: the manufacturing "
                                           "date 00:00:00 UTC); it must lie within the PAI's validity, or the "
                                           "batch is refused")
    cred.add_argument("--lifetime", type=any_int, help="DAC validity in days (default: until the PAI expires, "
                                                        "or no expiry under a PAI that never does)")
    out = p.add_argument_group("output")
    out.add_argument("--format", choices=["nrfconnect", "nxp", "esp32", "telink", "ti", "bouffalolab"],
                     default="nrfconnect", help="image format (default nrfconnect)")
    out.add_argument("--aes128_key", metavar="HEX",
                     help="bouffalolab: the devices' eFuse AES-128 key (32 hex digits); each DAC key goes into the "
                          "MFD's encrypted block (the key is never written)")
    out.add_argument("--offset", type=any_int,
                     help="partition address for .hex (default: nrfconnect 0xfb000, telink 0xff000 (the board's "
                          "factory_partition), ti 0xfe800)")
    out.add_argument("--size", type=any_int, default=0x1000, help="partition size (default 0x1000)")
    out.add_argument("--out", required=True, help="output directory (the batch goes to OUT/<vid>_<pid>)")
    out.add_argument("--no_png", action="store_true", help="no onboarding.png (faster)")
    out.add_argument("--no_secrets_in_manifest", action="store_true",
                     help="leave passcode, manual_code and qr_code empty in the manifest")
    run = p.add_argument_group("running")
    run.add_argument("--jobs", type=any_int, help="worker processes (default: every core)")
    run.add_argument("--seed", help="derive every value from this seed: byte-identical test batches")
    run.add_argument("--force", action="store_true", help="allow --seed with a production vendor ID")
    run.add_argument("--overwrite", action="store_true", help="replace a different batch in the same directory")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    add_pkcs11_module(p)
    return p


def main(argv: list[str], prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    report = Reporter(prog=prog, quiet=False)
    summary = batch.run(request_from(BatchRequest, args), report)
    if not args.quiet:
        secs = summary["seconds"]
        rate = summary["new"] / secs if secs else 0
        if summary["new"] == 0:
            print(f"{summary['devices']} devices already complete in {summary['batch_dir']}; nothing to do")
        else:
            print(f"{summary['new']} devices made in {secs:.1f} s ({rate:.0f} devices/s); "
                  f"{summary['devices']} in {summary['batch_dir']}; manifest: {summary['manifest']}")
    return 0
