"""``matter-factory-data telink``: Telink's ``mfg_tool.py`` command line (a command line from Telink's guide
works after swapping the program name; the helper-program paths are accepted and not needed)."""

from __future__ import annotations

import time

from ..production.telink_tool import run
from ..requests import TelinkRequest
from .common import ArgumentParser, Reporter, any_int, base64_bytes, request_from, add_pkcs11_module
from .esp32_cmd import log, report_error  # noqa: F401 (errors as mfg_tool.py prints them: the same log format)

DESCRIPTION = """\
Telink factory data (TLSR9518/9528, TL7218, TL3218, TLSR9118 on Zephyr): the CBOR partition as
factory_data.bin and factory_data.hex, byte for byte what Telink's mfg_tool.py writes for the same
values, with its output tree (<output>/<vid>_<pid>/<sn>/: factory_data.bin, factory_data.hex,
pin_disc.csv, onb_codes.csv, qrcode.png, summary.json, internal/; <output>/device_sn.csv).

No helper programs: the SPAKE2+ verifier, the onboarding codes and the certificates are made here
(--spake2-path, --chip-tool-path and --chip-cert-path are accepted and unused). Differences from
mfg_tool.py: --salt fixes the SPAKE2+ salt (reproducible images); --paa/--pai are optional (without
them the images hold no DAC); --discriminator 0 is honoured; the passcode range and the iteration
range 1000..100000 are enforced; --mfg-date must be YYYY-MM-DD (the only form the device reads);
-cd must be a Certification Declaration; a generated serial number fits the device (32 hex digits);
an image larger than --size is a clean error.

Devices are made in parallel (--jobs, default every core). A run killed at any point and started again
with the same command finishes the interrupted run (same devices, nothing half-written).
"""

EPILOG = """\
examples:
  # one device with the Matter SDK's test DAC (reproducible with --salt), for a tlsr9518adk80d (2 MB)
  %(prog)s -v 0xFFF1 -p 0x8000 --serial-num 0123456789ABCDEF --passcode 20202021 --discriminator 0xF00 \\
      --pai -c PAI_cert.pem -k PAI_key.pem --dac-cert DAC_cert.pem --dac-key DAC_key.pem \\
      -cd CD.der --offset 0xFF000 --size 0x1000 --salt U1BBS0UyUCBLZXkgU2FsdA==
  # 100 devices, DACs issued by your PAI
  %(prog)s -n 100 -v 0xFFF1 -p 0x8000 --serial-num 1000 --pai -c PAI_cert.pem -k PAI_key.pem \\
      -cd CD.der --offset 0xFF000 --size 0x1000 --output out
  then flash out/fff1_8000/<sn>/factory_data.bin at 0xFF000 (the board's factory_partition)
"""

INTERRUPTED = "interrupted; the devices finished so far are kept: run the same command again to finish the run"


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG, dual_spelling=False)
    g = p.add_argument_group("General options")
    g.add_argument("-n", "--count", type=any_int, default=1, help="number of devices (default 1)")
    g.add_argument("--output", default="out", help="output directory (default out)")
    g.add_argument("--spake2-path", help="accepted and unused (the verifier is computed here)")
    g.add_argument("--chip-tool-path", help="accepted and unused (the codes are computed here)")
    g.add_argument("--chip-cert-path", help="accepted and unused (certificates are issued here)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    g.add_argument("--in-tree", action="store_true", help="one device's files straight into --output")
    g.add_argument("--enable-key", help="test event trigger enable key: 32 hex digits (not for production)")
    g.add_argument("--jobs", type=any_int, help="worker processes (default: every core)")
    g.add_argument("--quiet", action="store_true", help="no progress or per-device lines")
    c = p.add_argument_group("Commissioning options")
    c.add_argument("--passcode", type=any_int, help="setup passcode (default: a different random one per device)")
    c.add_argument("--spake2-it", type=any_int, default=1000, help="SPAKE2+ iterations, 1000..100000 (default 1000)")
    c.add_argument("--discriminator", type=any_int,
                   help="discriminator, 0..4095 (default: a different random one per device)")
    c.add_argument("--salt", type=base64_bytes,
                   help="SPAKE2+ salt, Base64, 16..32 bytes (default: 32 random bytes per device)")
    c.add_argument("-cf", "--commissioning-flow", type=any_int, default=0, choices=[0, 1, 2],
                   help="0 standard (default), 1 user-intent, 2 custom")
    c.add_argument("-dm", "--discovery-mode", type=any_int, default=1, choices=[0, 1, 2],
                   help="0 Wi-Fi soft AP, 1 BLE (default), 2 on-network")
    d = p.add_argument_group("Device instance information options")
    d.add_argument("-v", "--vendor-id", type=any_int, required=True, help="vendor ID")
    d.add_argument("--vendor-name", help="vendor name (1..32 bytes)")
    d.add_argument("-p", "--product-id", type=any_int, required=True, help="product ID")
    d.add_argument("--product-name", help="product name (1..32 bytes)")
    d.add_argument("--hw-ver", type=any_int, help="hardware version")
    d.add_argument("--hw-ver-str", help="hardware version string (1..64 bytes)")
    d.add_argument("--mfg-date", help="manufacturing date, YYYY-MM-DD")
    d.add_argument("--serial-num", help="first serial number, hex (stored lower case without leading zeros; "
                                        "default random)")
    d.add_argument("--enable-rotating-device-id", action="store_true", help="store a rotating device ID unique ID")
    d.add_argument("--rd-id-uid", help="that unique ID, 16..32 hex digits, stored as text (default: 16 random "
                                       "bytes per device)")
    a = p.add_argument_group("Device attestation credential options")
    a.add_argument("-c", "--cert", help="CA certificate (PEM or DER): the PAA (--paa) or PAI (--pai)")
    a.add_argument("-k", "--key", help="CA private key (PEM or DER)")
    a.add_argument("-cd", "--cert-dclrn", required=True, help="Certification Declaration (DER), stored as cert_dclrn")
    a.add_argument("--dac-cert", help="an existing DAC (with --dac-key and --pai)")
    a.add_argument("--dac-key", help="its private key")
    a.add_argument("-cn", "--cn-prefix", default="Telink", help="common name prefix of issued certificates")
    a.add_argument("-lt", "--lifetime", type=any_int, default=4294967295,
                   help="certificate lifetime in days (default 4294967295: no expiry)")
    a.add_argument("-vf", "--valid-from", help="notBefore, YYYY-MM-DD [HH:MM:SS] (default: when the run starts)")
    mode = a.add_mutually_exclusive_group()
    mode.add_argument("--paa", action="store_true", help="-c/-k are a PAA: one PAI is issued for the run")
    mode.add_argument("--pai", action="store_true", help="-c/-k are a PAI that signs the DACs")
    b = p.add_argument_group("Few more Basic clusters options")
    b.add_argument("--product-label", help="product label (1..64 bytes)")
    b.add_argument("--product-url", help="product URL (1..256 bytes)")
    b.add_argument("--part_number", help="part number (1..32 bytes)")
    pg = p.add_argument_group("Partition generator options")
    pg.add_argument("--offset", type=any_int, required=True, help="partition address (the factory_partition's)")
    pg.add_argument("--size", type=any_int, required=True, help="partition size; the image must fit")
    add_pkcs11_module(p)
    return p


def main(argv: list[str], prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    report = Reporter(prog=prog, quiet=args.quiet)
    start = time.monotonic()
    result = run(request_from(TelinkRequest, args), report)
    seconds = time.monotonic() - start
    if not args.quiet:
        for device in result["devices"]:
            log("INFO", f"Generating for {device['sn']}")
            log("INFO", f"Generated QR code: '{device['qr']}'")
            log("INFO", f"Generated manual code: '{device['manual']}'")
            log("INFO", f"Generating partition image: offset: 0x{args.offset:X} size: 0x{args.size:X}")
        resumed = f" ({len(result['devices']) - result['new']} made before an interruption)" \
            if result["new"] < len(result["devices"]) else ""
        print(f"generated {len(result['devices'])} device(s){resumed} in {seconds:.1f} s into {result['output']}")
    return 0
