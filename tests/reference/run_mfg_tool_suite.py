"""Run esp-matter-mfg-tool's own integration suite, one case at a time, and print one JSON line per case.

Run with the interpreter of the venv holding the esp-matter-mfg-tool wheel (its ``tests`` package and its
``sources`` package come from there), from a working directory holding ``test_data/`` and with an
``esp-matter-mfg-tool`` on PATH (the reference, or a shim that runs ``matter-factory-data esp32``)::

    python run_mfg_tool_suite.py SUITE_DIR [CASE ...]

SUITE_DIR holds a ``tests`` package: the wheel's, plus ``tests/deps/nvs_parser.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback


def main(argv: list[str]) -> int:
    sys.path.insert(0, argv[0])
    from tests.test_integration import TestEspMatterMfgToolIntegration
    from tests.utils import load_test_data

    suite = TestEspMatterMfgToolIntegration()
    TestEspMatterMfgToolIntegration.setup_class()
    configs = load_test_data(suite.test_data_dir)
    wanted = {int(a) for a in argv[1:]} or set(range(1, len(configs) + 1))
    for number, config in enumerate(configs, 1):
        if number not in wanted:
            continue
        try:
            suite.run_single_test(number, config)
            result = {"case": number, "ok": True}
        except BaseException as e:  # noqa: BLE001 (a case's failure, reported)
            result = {"case": number, "ok": False, "error": f"{type(e).__name__}: {e}"[:600],
                      "where": traceback.format_exc().splitlines()[-3:]}
        finally:
            if suite.output_dir.exists():
                shutil.rmtree(suite.output_dir, ignore_errors=True)
            shutil.rmtree("out", ignore_errors=True)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
