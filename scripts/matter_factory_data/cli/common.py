"""Shared CLI plumbing: one-line errors, both option spellings, number parsing, reporting."""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import re
import sys

from ..errors import EXIT_INVALID, InvalidInput


class Reporter:
    """Warnings and information on stderr; secrets never go through here unless verbose.

    While ``Reporter.held`` is a list (the command line sets it for the length of a command), warnings and
    information wait there: a command that succeeds prints them at its end, one that fails prints only its
    one error line."""

    held: list[str] | None = None

    def __init__(self, verbose: bool = False, quiet: bool = False, prog: str = "matter-factory-data"):
        self.verbose = verbose
        self.quiet = quiet
        self.prog = prog
        self.warnings: list[str] = []

    @staticmethod
    def _say(line: str) -> None:
        if Reporter.held is not None:
            Reporter.held.append(line)
        else:
            print(line, file=sys.stderr)

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)
        if not self.quiet:
            self._say(f"warning: {msg}")

    def info(self, msg: str) -> None:
        if not self.quiet:
            self._say(msg)

    def debug(self, msg: str) -> None:
        if self.verbose:
            print(f"debug: {msg}", file=sys.stderr)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) and the underscore spelling shown in help."""

    def __init__(self, *args, dual_spelling: bool = True, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        self.dual_spelling = dual_spelling
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        message = re.sub(r"(--\w+)/--[\w-]+", r"\1", message)
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_INVALID)

    def add_argument(self, *names, **kwargs):  # type: ignore[override]
        if getattr(self, "dual_spelling", False):
            names = _with_dash_aliases(names)
        return super().add_argument(*names, **kwargs)

    def add_argument_group(self, *args, **kwargs):
        group = super().add_argument_group(*args, **kwargs)
        if getattr(self, "dual_spelling", False):
            original = group.add_argument

            def add(*names, **kw):
                return original(*_with_dash_aliases(names), **kw)

            group.add_argument = add  # type: ignore[method-assign]
        return group


def _with_dash_aliases(names: tuple) -> tuple:
    out = list(names)
    for n in names:
        if n.startswith("--") and "_" in n[2:]:
            alias = "--" + n[2:].replace("_", "-")
            if alias not in out:
                out.append(alias)
    return tuple(out)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Hide the ``--dash-spelling`` twin of every ``--underscore_option`` in help."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:  # as argparse does, without importing shutil (argparse makes a formatter per option)
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)

    def _format_action_invocation(self, action):
        strings = action.option_strings
        if strings:
            shown = [s for s in strings if not (s.startswith("--") and "-" in s[2:] and "--" + s[2:].replace("-", "_") in strings)]
            saved = action.option_strings
            action.option_strings = shown
            try:
                return super()._format_action_invocation(action)
            finally:
                action.option_strings = saved
        return super()._format_action_invocation(action)

    def _format_usage(self, usage, actions, groups, prefix):
        return super()._format_usage(usage, actions, groups, prefix)


def _terminal_columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal on stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def any_int(text: str) -> int:
    """``int(text, 0)``: decimal, 0x hex, 0o octal, 0b binary (as the reference tools parse numbers)."""
    try:
        if not text.isascii():  # int() also reads other scripts' digits (e.g. full-width)
            raise ValueError(text)
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (decimal, or 0x/0o/0b prefixed)") from None


def base64_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not valid Base64") from None


def hex_text(text: str) -> str:
    body = text[4:] if text.startswith("hex:") else text
    try:
        bytes.fromhex(body)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a hex string") from None
    if len(body) % 2 or any(c.isspace() for c in body):
        raise argparse.ArgumentTypeError(f"{text!r} is not a hex string (an even number of hex digits)")
    return body


def group_epilog(epilog: str, prog: str) -> str:
    """A command group's examples (``%(prog)s paa ...``) for one subcommand's --help: they name the
    subcommands, so their prefix is the group (``matter-factory-data certs``), not the subcommand's prog."""
    return epilog % {"prog": prog.rsplit(" ", 1)[0]}


CLI_ONLY = frozenset({"verbose", "from_config", "log_level", "pkcs11_module"})  # options about the command line itself


def request_from(cls, namespace):
    """The typed request a command's parsed options stand for (every option is one field of it)."""
    names = set(cls._fields)
    extra = set(vars(namespace)) - names - CLI_ONLY
    if extra:  # a parser option the request does not carry: a programming error, caught by the tests
        raise TypeError(f"{cls.__name__} has no field for {sorted(extra)}")
    return cls(**{name: value for name, value in vars(namespace).items() if name in names})


PKCS11_HELP = ("PKCS#11 module for keys given as pkcs11:token=…;object=… URIs (default: $PKCS11_MODULE_PATH; "
               "SoftHSM2: /usr/lib/softhsm/libsofthsm2.so); the PIN comes from the URI or $PKCS11_PIN")


def add_pkcs11_module(parser) -> None:
    """``--pkcs11_module``: listed by every command that signs; ``take_pkcs11_module`` applies it."""
    parser.add_argument("--pkcs11_module", "--pkcs11-module", metavar="PATH", help=PKCS11_HELP)


def take_pkcs11_module(argv: list[str]) -> list[str]:
    """Apply ``--pkcs11_module PATH`` (any spelling, anywhere) as ``PKCS11_MODULE_PATH`` for this process and its
    workers; returns the other arguments."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in ("--pkcs11_module", "--pkcs11-module"):
            if not eq:
                if i + 1 >= len(argv):
                    raise InvalidInput(name, "needs a path (the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so)")
                value = argv[i + 1]
                i += 1
            os.environ["PKCS11_MODULE_PATH"] = value
        else:
            out.append(arg)
        i += 1
    return out
