"""``matter-factory-data onboarding``: QR and manual pairing codes, or decode one."""

from __future__ import annotations

import json

from ..codes import onboarding
from ..codes.qrimage import qr_png
from ..errors import InvalidInput
from ..fileio import WriteSet
from .common import ArgumentParser, any_int

DESCRIPTION = """\
Print the onboarding codes of a device in the reference .txt format:
  Manualcode : <digits>
  QRCode : MT:<...>
or, with --parse, decode a QR payload or a manual pairing code back into its fields.
"""

EPILOG = """\
examples:
  %(prog)s --vendor_id 0xFFF1 --product_id 0x8000 --discriminator 3840 --passcode 20202021
  %(prog)s --vendor_id 0xFFF1 --product_id 0x8000 --discriminator 3840 --passcode 20202021 \\
      --flow user-intent --rendezvous ble,on-network --png qr.png
  %(prog)s --parse MT:Y.K9042C00KA0648G00
  %(prog)s --parse 34970112332 --json
"""


def main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--vendor_id", type=any_int, help="vendor ID")
    p.add_argument("--product_id", type=any_int, help="product ID")
    p.add_argument("--discriminator", type=any_int, help="12-bit discriminator (0..4095)")
    p.add_argument("--passcode", type=any_int, help="setup passcode (1..99999998, not a trivial one)")
    p.add_argument("--flow", choices=list(onboarding.FLOWS), default="standard",
                   help="commissioning flow (default standard; others make a 21-digit manual code)")
    p.add_argument("--rendezvous", default="ble",
                   help="discovery capabilities, comma separated: " + ", ".join(onboarding.RENDEZVOUS) + " (default ble)")
    p.add_argument("--png", help="also write the QR code as a PNG image to this file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --png file")
    p.add_argument("--parse", metavar="CODE", help="decode a QR payload (MT:...) or a manual pairing code")
    p.add_argument("--json", action="store_true", help="with --parse: print the fields as JSON")
    args = p.parse_args(argv)

    if args.parse is not None:
        payload = onboarding.parse_any(args.parse)
        fields = payload.to_dict()
        if args.json:
            print(json.dumps(fields, indent=2))
        else:
            for k, v in fields.items():
                if isinstance(v, list):
                    v = ",".join(v)
                print(f"{k:<19}: {v}")
        return 0
    missing = [n for n in ("vendor_id", "product_id", "discriminator", "passcode") if getattr(args, n) is None]
    if missing:
        raise InvalidInput(", ".join("--" + m for m in missing), "required (or use --parse CODE)")
    payload = onboarding.SetupPayload(
        vendor_id=args.vendor_id, product_id=args.product_id, discriminator=args.discriminator,
        passcode=args.passcode, flow=onboarding.FLOWS[args.flow], rendezvous=onboarding.parse_rendezvous(args.rendezvous),
    )
    qr = onboarding.qr_code(payload)
    manual = onboarding.manual_code(payload)
    if args.png:
        WriteSet(overwrite=args.overwrite).add(args.png, qr_png(qr), secret=True).commit()
    print(onboarding.onboarding_text(manual, qr))
    return 0
