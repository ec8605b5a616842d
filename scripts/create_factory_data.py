#!/usr/bin/env python3
"""TI's create_factory_data.py command line (same as ``matter-factory-data ti``); runs from a checkout without
installation."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from matter_factory_data.cli import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("ti_cmd", sys.argv[1:], os.path.basename(sys.argv[0])))
