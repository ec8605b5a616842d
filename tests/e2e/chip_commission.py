"""Commissioner B: the Matter SDK's own C++ controller (home-assistant-chip-core) commissions the device
listening on 127.0.0.1:5540, then reads VendorID/ProductID and sends OnOff.On over CASE.

    python chip_commission.py <storage dir> <PAA trust store dir> <passcode>

Run inside the harness's network namespace (operational discovery needs multicast on a real interface).
Prints one JSON line: {"ok": true, vendorId, productId} or {"ok": false, "stage", "error"}.
"""

import asyncio
import json
import os
import sys


async def main(storage: str, paa_dir: str, passcode: int) -> dict:
    result = {"ok": False, "stage": "setup"}
    import chip.CertificateAuthority
    import chip.ChipStack
    import chip.clusters as Clusters
    import chip.native

    chip.native.Init()
    stack = chip.ChipStack.ChipStack(persistentStoragePath=os.path.join(storage, "repl.json"),
                                     enableServerInteractions=False)
    ctl = None
    try:
        cam = chip.CertificateAuthority.CertificateAuthorityManager(stack, stack.GetStorageManager())
        ca = cam.NewCertificateAuthority()
        admin = ca.NewFabricAdmin(vendorId=0xFFF1, fabricId=1)
        ctl = admin.NewController(paaTrustStorePath=paa_dir)
        result["stage"] = "commission"
        node_id = 0x1234
        await ctl.CommissionIP("127.0.0.1", passcode, node_id)
        result["stage"] = "operate"
        basic = Clusters.BasicInformation.Attributes
        data = await ctl.ReadAttribute(node_id, [(0, basic.VendorID), (0, basic.ProductID)])
        info = data[0][Clusters.BasicInformation]
        await ctl.SendCommand(node_id, 1, Clusters.OnOff.Commands.On())
        result.update(ok=True, stage="done", vendorId=int(info[basic.VendorID]), productId=int(info[basic.ProductID]))
    except Exception as e:  # noqa: BLE001 - reported to the harness as the result line
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        if ctl is not None:
            ctl.Shutdown()
        stack.Shutdown()
    return result


if __name__ == "__main__":
    out = asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)
