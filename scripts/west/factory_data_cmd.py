"""``west factory-data <subcommand> ...``: matter-factory-data inside a west workspace.

Every subcommand of ``matter-factory-data`` is available. Inside a build, the build directory's files are
the defaults: ``json`` reads ``<build>/zephyr/.config`` (``--from_config``) and writes
``<build>/zephyr/factory_data``; ``inspect`` reads ``<build>/zephyr/factory_data.hex``; ``layout check``
reads ``<build>/partitions.yml`` (or the application's ``pm_static.yml``) with ``--config <build>/zephyr/.config``.
"""

import argparse
import os
import sys

from west.commands import WestCommand

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from matter_factory_data.cli import COMMANDS, run  # noqa: E402
from matter_factory_data.cli.west_defaults import with_build_defaults  # noqa: E402

DESCRIPTION = __doc__ + "\nsubcommands: " + ", ".join(COMMANDS) + "\n"


class FactoryData(WestCommand):
    def __init__(self):
        super().__init__(
            "factory-data",
            "Matter factory data (matter-factory-data) for the current build",
            DESCRIPTION,
            accepts_unknown_args=True,
            requires_workspace=False,
        )

    def do_add_parser(self, parser_adder):
        parser = parser_adder.add_parser(self.name, help=self.help, description=self.description,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("-d", "--build-dir", default=None,
                            help="build directory (default: ./build when it exists)")
        parser.add_argument("subcommand", choices=sorted(COMMANDS), help="matter-factory-data subcommand")
        parser.add_argument("args", nargs=argparse.REMAINDER, help="the subcommand's arguments")
        return parser

    def do_run(self, args, unknown_args):
        build_dir = args.build_dir
        if build_dir is None and os.path.isdir("build"):
            build_dir = "build"
        argv = with_build_defaults(args.subcommand, list(args.args) + list(unknown_args), build_dir)
        self.dbg("matter-factory-data " + " ".join([args.subcommand] + argv))
        code = run(COMMANDS[args.subcommand][0], argv, f"west factory-data {args.subcommand}")
        if code:
            sys.exit(code)
