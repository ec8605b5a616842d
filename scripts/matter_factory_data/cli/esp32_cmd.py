"""``matter-factory-data esp32``: esp-matter-mfg-tool's command line (a command line from Espressif's
guides works after swapping the program name)."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

from ..production.mfg_tool import run
from ..model import PRODUCT_COLORS, PRODUCT_FINISHES
from ..requests import Esp32Request
from .common import ArgumentParser, Reporter, any_int, base64_bytes, request_from, add_pkcs11_module

DESCRIPTION = """\
ESP32 factory NVS partitions with esp-matter-mfg-tool's options, output tree and file names
(<outdir>/<vid>_<pid>/<uuid>/<uuid>-partition.bin, -onb_codes.csv, -qrcode.png, internal/,
staging/, summary-<timestamp>.csv), with its defects fixed: the passcode range is enforced,
--discriminator 0 is honoured, discriminators and passcodes do not collide within a run, encrypted CA
keys work with --pwd, --valid-from takes a date, NVS encryption keys come from secrets or --nvs-key,
and no PAI key is left in the output tree. esp_secure_cert partitions (--dac-in-secure-cert, with the
commissionable data and rotating device ID unique ID too when all three flags are given) are written
without the helper tool's temporary directory in the current one.

Devices are made in parallel (--jobs, default every core). A run killed at any point and started again with
the same command and --outdir finishes the interrupted run (same devices, nothing half-written); once a run
is complete, the same command starts a new run beside it, as esp-matter-mfg-tool does.
"""

EPILOG = """\
examples (Espressif's production guide):
  %(prog)s -v 0xFFF1 -p 0x8000 --pai -k PAI_key.pem -c PAI_cert.pem -cd CD.der -n 5 --outdir out
  then: esptool.py -p /dev/ttyUSB0 write_flash 0x10000 out/fff1_8000/<uuid>/<uuid>-partition.bin
  %(prog)s -v 0xFFF1 -p 0x8000 --pai -k PAI_key.pem -c PAI_cert.pem -cd CD.der -n 5 --outdir out \
      --dac-in-secure-cert --commissionable-data-in-secure-cert --rd-id-uid-in-secure-cert
  then also: esptool.py write_flash 0xd000 out/fff1_8000/<uuid>/<uuid>_esp_secure_cert.bin
"""


INTERRUPTED = "interrupted; the devices finished so far are kept: run the same command again to finish the run"

class EfuseKeyId(argparse.Action):
    """--efuse-key-id: -1..5, refused in the reference's words."""

    def __call__(self, parser, namespace, value, option_string=None):
        if not -1 <= value <= 5:
            parser.error(f"Invalid value for '--efuse-key-id': {value} is not in the range -1<=x<=5")
        setattr(namespace, self.dest, value)


def log(level: str, message: str) -> None:
    """A line in esp-matter-mfg-tool's log format, which scripts read ("Generated output files at: ...")."""
    now = datetime.datetime.now()
    print(f"[{now:%Y-%m-%d %H:%M:%S},{now.microsecond // 1000:03d}] [{level:>7}] - {message}", file=sys.stderr,
          flush=True)


def report_error(message: str, code: int) -> int:
    """Errors as the reference prints them (``[  ERROR] - ...``, one line). The exit status stays the
    project's (2 invalid input, 1 a failed operation); the reference exits 1 for both."""
    log("ERROR", message)
    return code


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG, dual_spelling=False)
    g = p.add_argument_group("general")
    g.add_argument("-n", "--count", type=any_int, default=1, help="number of devices (default 1)")
    g.add_argument("--target", default="esp32", help="chip target (kept for compatibility)")
    g.add_argument("-s", "--size", type=any_int, default=0x6000, help="NVS partition size (default 0x6000)")
    g.add_argument("-e", "--encrypt", action="store_true", help="encrypt the NVS partition (writes a keys partition)")
    g.add_argument("--nvs-key", help="NVS encryption keys: a keys partition file or 128 hex digits (default: fresh)")
    g.add_argument("--log-level", choices=["debug", "info", "error"], default="info", help="log level")
    g.add_argument("--outdir", default=os.path.join(os.getcwd(), "out"), help="output root (default ./out)")
    g.add_argument("--no-bin", action="store_true", help="CSVs, certificates and codes, no NVS image")
    g.add_argument("--no-secure-cert-bin", action="store_true", help="never write an esp_secure_cert partition")
    g.add_argument("--jobs", type=any_int, help="worker processes (default: every core)")
    c = p.add_argument_group("commissioning")
    c.add_argument("--passcode", type=any_int, help="fixed passcode (forces -n 1)")
    c.add_argument("--discriminator", type=any_int, help="fixed discriminator, 0..4095 (forces -n 1)")
    c.add_argument("-cf", "--commissioning-flow", type=any_int, default=0, help="0 standard, 1 user-intent, 2 custom")
    c.add_argument("-dm", "--discovery-mode", type=any_int, default=2, help="discovery bitmask (default 2, BLE)")
    c.add_argument("--enable-dynamic-passcode", action="store_true", help="no verifier, no onboarding codes")
    c.add_argument("--salt", type=base64_bytes, help="SPAKE2+ salt, Base64 (with --verifier and --passcode)")
    c.add_argument("--verifier", type=base64_bytes, help="SPAKE2+ verifier, Base64 (checked)")
    c.add_argument("--iteration-count", type=any_int, default=10000, help="PBKDF2 iterations (default 10000)")
    c.add_argument("--commissionable-data-in-secure-cert", action="store_true",
                   help="discriminator, iterations, salt and verifier in esp_secure_cert, not NVS (needs all three "
                        "--*-in-secure-cert flags)")
    a = p.add_argument_group("attestation")
    a.add_argument("--dac-in-secure-cert", action="store_true",
                   help="DAC, its key and the PAI in <uuid>_esp_secure_cert.bin instead of NVS")
    a.add_argument("-lt", "--lifetime", type=any_int, default=36500, help="certificate lifetime in days (default 36500)")
    a.add_argument("-vf", "--valid-from", help="notBefore: YYYY-MM-DD [HH:MM:SS] (default now)")
    a.add_argument("-cn", "--cn-prefix", default="ESP32", help="CN prefix of a generated PAI (--paa)")
    a.add_argument("-c", "--cert", help="CA certificate: the PAA (--paa) or PAI (--pai)")
    a.add_argument("-k", "--key", help="CA private key")
    a.add_argument("-cd", "--cert-dclrn", help="Certification Declaration (DER), stored as cert-dclrn")
    a.add_argument("--dac-cert", help="an existing DAC (with --dac-key and --pai; forces -n 1)")
    a.add_argument("--dac-key", help="its private key")
    a.add_argument("-ds", "--ds-peripheral", action="store_true",
                   help="the DAC key is for the ECDSA DS peripheral (esp_secure_cert; needs --efuse-key-id and a "
                        "DS --target)")
    a.add_argument("--efuse-key-id", type=any_int, default=-1, action=EfuseKeyId,
                   help="eFuse key block of the DS key, 0..5 (-1: none)")
    a.add_argument("--port", help="accepted for one device and not used: eFuses are burnt with espefuse.py, "
                                  "not by this tool")
    a.add_argument("--pwd", "--password", dest="pwd", help="password of an encrypted -k or --dac-key")
    mode = a.add_mutually_exclusive_group()
    mode.add_argument("--paa", action="store_true", help="-c/-k are a PAA: a PAI is generated, then the DACs")
    mode.add_argument("--pai", action="store_true", help="-c/-k are a PAI that signs the DACs")
    d = p.add_argument_group("device instance")
    d.add_argument("-v", "--vendor-id", type=any_int, required=True, help="vendor ID")
    d.add_argument("--vendor-name", help="vendor name")
    d.add_argument("-p", "--product-id", type=any_int, required=True, help="product ID")
    d.add_argument("--product-name", help="product name")
    d.add_argument("--hw-ver", type=any_int, help="hardware version")
    d.add_argument("--hw-ver-str", help="hardware version string")
    d.add_argument("--mfg-date", help="manufacturing date YYYY-MM-DD")
    d.add_argument("--serial-num", help="serial number (forces -n 1)")
    d.add_argument("--enable-rotating-device-id", action="store_true", help="store a rotating device ID unique ID")
    d.add_argument("--rd-id-uid", help="that unique ID, 32 hex digits (forces -n 1)")
    d.add_argument("--rd-id-uid-in-secure-cert", action="store_true",
                   help="the rotating device ID unique ID in esp_secure_cert (needs all three --*-in-secure-cert)")
    d.add_argument("--product-finish", choices=list(PRODUCT_FINISHES), help="product finish")
    d.add_argument("--product-color", choices=list(PRODUCT_COLORS), help="primary colour")
    d.add_argument("--part-number", help="part number")
    d.add_argument("--product-label", help="product label")
    d.add_argument("--product-url", help="product URL")
    d.add_argument("--mqtt-host", help="ESP RainMaker MQTT host (namespace rmaker_creds)")
    d.add_argument("--csv", help="extra NVS keys: schema (key,type,encoding; name,namespace,)")
    d.add_argument("--mcsv", help="extra NVS keys: one row of values per device")
    l = p.add_argument_group("lists")
    l.add_argument("--calendar-types", nargs="+", help="supported calendar types")
    l.add_argument("--locales", nargs="+", help="supported locales")
    l.add_argument("--fixed-labels", nargs="+", help="<endpoint hex>/<label>/<value> ...")
    l.add_argument("--supported-modes", nargs="+", help="<mode>/<label>/<endpoint>[/<value>\\<mfg>, ...] ...")
    add_pkcs11_module(p)
    return p


def main(argv: list[str], prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    report = Reporter(prog=prog, quiet=args.log_level == "error")
    start = time.monotonic()
    result = run(request_from(Esp32Request, args), report)
    seconds = time.monotonic() - start
    if args.log_level != "error":
        for directory in result["device_dirs"]:
            log("INFO", f"Generated output files at: {directory}")
        log("INFO", f"Generated summary CSV: {result['summary']}")
        log("INFO", f"Generated CSV of Common Name and DAC: {result['cn_dacs']}")
        resumed = f" ({result['devices'] - result['new']} made before an interruption)" if result["new"] < result["devices"] else ""
        print(f"generated {result['devices']} device(s){resumed} in {seconds:.1f} s "
              f"({result['new'] / max(seconds, 1e-9):.0f} devices/s); summary CSV: {result['summary']}")
    return 0
