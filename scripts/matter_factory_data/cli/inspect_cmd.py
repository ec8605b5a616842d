"""``matter-factory-data inspect``: decode and validate a factory data image."""

from __future__ import annotations

import json

from ..inspection import inspect_file, render_text, to_json
from .. import formats
from .common import ArgumentParser, any_int

DESCRIPTION = """\
Decode a factory data image (.json, .cbor, .bin or .hex) back into its fields, validate it with the
device parser's rules and the Matter rules (verifier against passcode, DAC key against certificate,
DAC signed by PAI, VID/PID), and print a report. Exit 0 only when the device would accept it.
"""

EPILOG = """\
examples:
  %(prog)s build/zephyr/factory_data.hex
  %(prog)s merged.hex --offset 0xfb000 --json
"""


def main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("file", help="factory data image: .json, .cbor, .bin or .hex")
    p.add_argument("--offset", type=any_int, help="address of the partition (in a merged .hex) or byte offset (.bin)")
    p.add_argument("--format", choices=list(formats.names()),
                   help="image format (detected when omitted)")
    p.add_argument("--aes128_key", "--aes256_key", dest="aes128_key",
                   help="AES key of an encrypted NXP image (hex, 16 or 32 bytes)")
    p.add_argument("--keys", help="NVS keys partition of an encrypted ESP32 partition")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--show_secrets", action="store_true", help="include the DAC key and passcode in the report")
    args = p.parse_args(argv)
    ins = inspect_file(args.file, args.offset, args.format, args.aes128_key, args.keys)
    if args.json:
        print(json.dumps(to_json(ins, args.show_secrets), indent=2))
    else:
        print(render_text(ins, args.show_secrets))
    return 0 if ins.ok else 2
