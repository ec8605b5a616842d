"""Parse onboarding codes with the Matter SDK's C++ parser (home-assistant-chip-core).

Reads JSON lines {"qr": ..., "manual": ...} on stdin and writes one JSON line of parsed attributes per input
to the file named by argv[1] (the SDK logs to stdout).
Runs in its own process: the SDK aborts in its atexit teardown, so this exits with os._exit.
"""

import json
import os
import sys


def main() -> None:
    import chip.native

    chip.native.Init()
    from chip.setup_payload import SetupPayload

    out = []
    for line in sys.stdin:
        item = json.loads(line)
        res = {}
        for kind in ("qr", "manual"):
            code = item.get(kind)
            if code is None:
                continue
            try:
                p = SetupPayload()
                if kind == "qr":
                    p.ParseQrCode(code)
                else:
                    p.ParseManualPairingCode(code)
                res[kind] = dict(p.attributes)
            except Exception as e:  # the SDK raises ChipStackError
                res[kind] = {"error": str(e)}
        out.append(json.dumps(res))
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(out) + "\n")
    os._exit(0)


if __name__ == "__main__":
    main()
