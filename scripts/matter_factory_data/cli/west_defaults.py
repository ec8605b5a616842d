"""Defaults a west build directory gives the subcommands (used by ``west factory-data``)."""

from __future__ import annotations

import os


def _has(argv: list[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in argv for n in names)


def _positionals(argv: list[str], value_options: tuple) -> list[str]:
    """Arguments that are not options or option values."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a.startswith("-"):
            name = a.split("=", 1)[0]
            skip = "=" not in a and (name in value_options or name.replace("-", "_") in value_options)
        else:
            out.append(a)
    return out


INSPECT_VALUES = ("--offset", "--format", "--aes128_key")
LAYOUT_VALUES = ("--flash_size", "--flash_base", "--page_size", "--config", "--data", "--external_flash_size",
                 "--print_partition")


def with_build_defaults(sub: str, argv: list[str], build_dir: str | None) -> list[str]:
    """``argv`` plus the build directory's files where the user gave none."""
    if not build_dir or any(a in ("-h", "--help") for a in argv):
        return argv
    zephyr = os.path.join(build_dir, "zephyr")
    dotconfig = os.path.join(zephyr, ".config")
    if sub == "json":
        extra = []
        if not _has(argv, "--from_config", "--from-config") and os.path.isfile(dotconfig):
            extra += ["--from_config", dotconfig]
        if not _has(argv, "-o", "--output"):
            extra += ["-o", os.path.join(zephyr, "factory_data")]
        return extra + argv
    if sub == "inspect" and not _positionals(argv, INSPECT_VALUES):
        return [os.path.join(zephyr, "factory_data.hex")] + argv
    if sub == "layout" and argv[:1] == ["check"]:
        rest = argv[1:]
        extra = []
        if not _positionals(rest, LAYOUT_VALUES):
            for candidate in (os.path.join(build_dir, "partitions.yml"), "pm_static.yml"):
                if os.path.isfile(candidate):
                    extra.append(candidate)
                    break
        if not _has(rest, "--config") and os.path.isfile(dotconfig):
            extra += ["--config", dotconfig]
        return ["check"] + extra + rest
    return argv
