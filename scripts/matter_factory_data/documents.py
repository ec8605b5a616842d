"""Reading factory data documents (JSON) strictly: duplicate keys and non-finite numbers are errors."""

from __future__ import annotations

import json

from .errors import InvalidInput


def _pairs(what: str):
    def hook(items):
        out = {}
        for k, v in items:
            if k in out:
                raise InvalidInput(what, f"duplicate key {k!r} (the device would keep only the last value)")
            out[k] = v
        return out

    return hook


def _no_constant(what: str):
    def hook(name):
        raise InvalidInput(what, f"{name} is not a valid JSON number")

    return hook


MAX_DEPTH = 64  # factory data is flat; the --user object nests a little at most


def loads(text: str | bytes, what: str, top: str = "must be a JSON object at the top level") -> dict:
    """A JSON object, strictly: UTF-8, no duplicate keys, no NaN/Infinity, no lone surrogates (which no
    UTF-8 encoder can write), nesting at most ``MAX_DEPTH`` deep."""
    try:
        doc = json.loads(text, object_pairs_hook=_pairs(what), parse_constant=_no_constant(what))
    except InvalidInput:
        raise
    except UnicodeDecodeError:
        raise InvalidInput(what, "is not UTF-8 text") from None
    except RecursionError:
        raise InvalidInput(what, f"nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:
        raise InvalidInput(what, f"is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise InvalidInput(what, top)
    _check_values(doc, what, 0)
    return doc


def _check_values(value, what: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(what, f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, what)
            _check_values(v, what, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_values(v, what, depth + 1)
    elif isinstance(value, str):
        _check_text(value, what)


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(what, f"holds a lone surrogate escape ({text.encode('utf-8', 'backslashreplace')[:40]!r}), "
                                 f"which is not text") from None
