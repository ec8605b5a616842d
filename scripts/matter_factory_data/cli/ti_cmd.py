"""``matter-factory-data ti``: TI's ``create_factory_data.py`` command line (CC13x4/CC26x4 factory data HEX)."""

from __future__ import annotations

from ..pipelines.ti import generate
from ..requests import TiRequest
from .common import ArgumentParser, request_from

DESCRIPTION = """\
TI CC13x4/CC26x4 factory data: the Intel HEX of the FLASH_FACTORY_DATA region (0xFE800, 0x900 bytes),
byte for byte what TI's create_factory_data.py writes for the same JSON (its objcopy pass included: type
02/03 records, CRLF), without objcopy and without a temp.bin in the current directory.

The JSON is the SDK's factory_data_cc13xx_26xx.json shape: an "elements" array of the 17 values in the
device's order, each {"<key>": value, "len": n}. Differences from create_factory_data.py: every "len" is
checked against its value (a wrong one is an error, not a silently broken table); the order, the types,
the model's rules (discriminator, passcode, iterations, salt, verifier and key lengths, the date) and the
verifier against the passcode are checked; -schema is optional (when given the JSON must satisfy it too).
The output file is replaced, atomically, as the reference replaces it.
"""

EPILOG = """\
example (from a Matter SDK checkout):
  %(prog)s -factory_data factory_data.json -schema src/platform/ti/cc13xx_26xx/factory_data.schema \\
      -o factory_data.hex -device cc13x4_26x4
then merge it with the application: matter-factory-data merge -o merged.hex app.hex factory_data.hex
(or flash it with UniFlash / Code Composer Studio at its own address, 0xFE800)
"""


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG, dual_spelling=False)
    p.add_argument("-factory_data", "--factory_data_json_file", required=True, help="factory data JSON")
    p.add_argument("-schema", "--factory_data_schema", help="JSON Schema to check the JSON against (optional)")
    p.add_argument("-o", "--factory_data_hex_file", required=True, help="output Intel HEX")
    p.add_argument("-device", "--device_family", default="cc13x4_26x4", choices=["cc13x4_26x4", "cc13x2_26x2"],
                   help="cc13x4_26x4 (region at 0xFE800, default) or cc13x2_26x2 (0xAC000)")
    return p


def main(argv: list[str], prog: str) -> int:
    req = request_from(TiRequest, build_parser(prog).parse_args(argv))
    _, base, used = generate(req)
    print(f"wrote {req.factory_data_hex_file}: {used} bytes of factory data at 0x{base:X} (region 0x900)")
    return 0
