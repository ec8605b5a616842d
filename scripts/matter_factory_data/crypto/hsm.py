"""Signing keys inside a PKCS#11 token (an HSM, a smart card, SoftHSM2), named by RFC 7512 URIs.

    pkcs11:token=LABEL;object=LABEL[;id=%01][;type=private][?pin-value=PIN | ?pin-source=file:PATH]

(``;pin-value=`` in the path, as many tools write it, is accepted too). The module is ``module-path`` in the
URI, else ``--pkcs11_module`` (which sets ``PKCS11_MODULE_PATH``), else ``PKCS11_MODULE_PATH``; the PIN is
the URI's, else ``PKCS11_PIN``. A PIN never appears in a message: every error names the URI without it.

``open_key`` gives a ``TokenKey``: a ``cryptography`` EC private key whose ``sign`` runs in the token
(CKM_ECDSA over a SHA-256 digest computed here, the raw ``r||s`` DER-encoded), so the X.509 builder, the DAC
template and the CD signer use it unchanged. Its private value never leaves the token. One session per
process: before workers start, ``release`` closes this process's sessions and finalises the module, and each
worker initialises it and opens its own session.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
import time
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..errors import InvalidInput, OperationFailed

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: logins are not serialised, only retried
    fcntl = None

SCHEME = "pkcs11:"
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")  # the DER OID of prime256v1, as CKA_EC_PARAMS holds it


def _register() -> None:
    from ..production import engine

    if release not in engine.BEFORE_WORKERS:
        engine.BEFORE_WORKERS.append(release)


def is_uri(text) -> bool:
    return isinstance(text, str) and text[:len(SCHEME)].lower() == SCHEME


class Uri(NamedTuple):
    token: str | None
    object: str | None
    id: bytes | None
    module: str | None
    pin: str | None  # from pin-value or pin-source
    safe: str  # the URI as given, without its PIN


def parse(text: str) -> Uri:
    """An RFC 7512 URI (path attributes ``;``-separated, query attributes after ``?``, ``&``-separated,
    values percent-encoded). The PIN is read here (``pin-source=file:`` from its file)."""
    if not is_uri(text):
        raise InvalidInput("key", "is not a pkcs11: URI")
    body = text[len(SCHEME):]
    path, _, query = body.partition("?")
    attrs: dict[str, bytes] = {}
    safe_parts = []
    for sep, part_list in ((";", path.split(";")), ("&", query.split("&") if query else [])):
        kept = []
        for part in part_list:
            if not part:
                continue
            name, eq, value = part.partition("=")
            if not eq:
                raise InvalidInput(_redact(text), f"attribute {name!r} has no value (name=value)")
            attrs[name.lower()] = unquote_to_bytes(value)
            if name.lower() != "pin-value":
                kept.append(part)
        safe_parts.append(sep.join(kept))
    safe = SCHEME + safe_parts[0] + (("?" + safe_parts[1]) if safe_parts[1] else "")
    pin = attrs.get("pin-value")
    if pin is None and "pin-source" in attrs:
        source = attrs["pin-source"].decode("utf-8", "replace")
        path_ = source[len("file:"):] if source.startswith("file:") else source
        try:
            with open(path_, "rb") as f:
                pin = f.read().rstrip(b"\r\n")
        except OSError as e:
            raise OperationFailed(f"{safe}: cannot read the PIN file {path_!r}: {e.strerror}") from None
    text_of = lambda key: attrs[key].decode("utf-8", "replace") if key in attrs else None  # noqa: E731
    if not (text_of("token") or text_of("serial")) or not (text_of("object") or "id" in attrs):
        raise InvalidInput(safe, "must name a token (token=LABEL) and a key (object=LABEL or id=...)")
    return Uri(token=text_of("token"), object=text_of("object"), id=attrs.get("id"),
               module=text_of("module-path"), pin=pin.decode("utf-8", "replace") if isinstance(pin, bytes) else pin,
               safe=safe)


def _redact(text: str) -> str:
    """The URI text without a pin-value (for messages about a URI that does not parse)."""
    out = []
    for chunk in text.replace("?", ";?").split(";"):
        if chunk.lstrip("?&").lower().startswith("pin-value="):
            continue
        out.append(chunk)
    return ";".join(out).replace(";?", "?")


def display(text: str) -> str:
    """What messages may show of a key option's value: a path as it is, a URI without its PIN."""
    if not is_uri(text):
        return text
    try:
        return parse(text).safe
    except (InvalidInput, OperationFailed):
        return _redact(text)


# ---------------------------------------------------------------- the module and sessions

_LIBS: dict = {}  # module path -> pkcs11.lib (initialised in this process)
_SESSIONS: dict = {}  # (module, token) -> (session, SHA-256 of the PIN it logged in with)


def release() -> None:
    """Close this process's sessions and finalise its modules, before worker processes start: each worker
    initialises the module again and opens its own session (a forked child must not reuse or finalise the
    parent's). The next use here opens them again."""
    for opened, _ in _SESSIONS.values():
        try:
            opened.close()
        except Exception:  # noqa: BLE001 (closing what may already be gone)
            pass
    _SESSIONS.clear()
    for lib in _LIBS.values():
        try:
            lib.finalize()
        except Exception:  # noqa: BLE001
            pass


def _binding():
    try:
        import pkcs11  # python-pkcs11: only keys in a token need it
    except ImportError:
        raise OperationFailed("keys in a PKCS#11 token need the 'python-pkcs11' package "
                              "(pip install 'matter-factory-data[hsm]' or pip install python-pkcs11)") from None
    return pkcs11


def module_path(uri: Uri) -> str:
    path = uri.module or os.environ.get("PKCS11_MODULE_PATH")
    if not path:
        raise OperationFailed(f"{uri.safe}: no PKCS#11 module: give --pkcs11_module PATH or set PKCS11_MODULE_PATH "
                              f"(SoftHSM2 on Debian: /usr/lib/softhsm/libsofthsm2.so)")
    return path


def _lib(path: str, uri: Uri):
    pkcs11 = _binding()
    held = _LIBS.get(path)
    if held is not None:
        if not held.initialized:
            held.initialize()
        return held
    if not os.path.exists(path):
        raise OperationFailed(f"{uri.safe}: the PKCS#11 module {path!r} does not exist")
    try:
        lib = pkcs11.lib(path)
    except (RuntimeError, OSError, pkcs11.exceptions.PKCS11Error) as e:
        raise OperationFailed(f"{uri.safe}: {path!r} is not a PKCS#11 module ({_reason(e)})") from None
    _LIBS[path] = lib
    return lib


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def session(uri: Uri):
    """This process's logged-in session with the URI's token (opened once, then reused)."""
    path = module_path(uri)
    pin = uri.pin if uri.pin is not None else os.environ.get("PKCS11_PIN")
    key = (path, uri.token)
    pin_hash = hashlib.sha256((pin or "").encode()).digest()
    held = _SESSIONS.get(key)
    if held is not None:
        if pin is not None and held[1] != pin_hash:  # a token has one user PIN: this process logged in with it
            raise InvalidInput(uri.safe, "wrong PIN (CKR_PIN_INCORRECT)")
        return held[0]
    if pin is None:
        raise InvalidInput(uri.safe, "no PIN: add ?pin-value=… or ?pin-source=file:… to the URI, or set PKCS11_PIN")
    with _opening_lock(path, uri.token):  # the module reads the token's files when it starts, too
        opened = _login(_lib(path, uri), uri, path, pin)
    _SESSIONS[key] = (opened, pin_hash)
    return opened


TRANSIENT = ("GeneralError", "DeviceError", "FunctionFailed", "TokenNotRecognised", "NoSuchToken",
             "UserPinNotInitialized")


def _login(lib, uri: Uri, path: str, pin: str):
    """Find the token and log in. A token's files may be rewritten by another process's login at that moment
    (SoftHSM2 rewrites its token file on every login), so a failure that may be transient is tried again."""
    pkcs11 = _binding()
    exc = pkcs11.exceptions
    for attempt in range(8):
        try:
            return _login_once(lib, uri, path, pin)
        except (exc.PKCS11Error, InvalidInput, OperationFailed) as e:
            transient = type(e).__name__ in TRANSIENT or (isinstance(e, (InvalidInput, OperationFailed))
                                                         and getattr(e, "transient", False))
            if not transient or attempt == 7:
                if isinstance(e, exc.PKCS11Error):
                    raise OperationFailed(f"{uri.safe}: the token refused the session ({type(e).__name__})") from None
                raise
            time.sleep(0.02 * (attempt + 1))
            lib.reinitialize()


def _login_once(lib, uri: Uri, path: str, pin: str):
    pkcs11 = _binding()
    exc = pkcs11.exceptions
    try:
        token = lib.get_token(token_label=uri.token)
    except exc.NoSuchToken:
        error = InvalidInput(uri.safe, f"no token labelled {uri.token!r} in {path}")
        error.transient = True  # a token file being rewritten reads as no token: tried again first
        raise error from None
    except exc.MultipleTokensReturned:
        raise InvalidInput(uri.safe, f"several tokens are labelled {uri.token!r}") from None
    try:
        return token.open(user_pin=pin, rw=True)
    except exc.PinIncorrect:
        raise InvalidInput(uri.safe, "wrong PIN (CKR_PIN_INCORRECT)") from None
    except exc.PinLocked:
        raise InvalidInput(uri.safe, "the user PIN is locked (CKR_PIN_LOCKED): unlock it with the SO PIN") from None
    except exc.PinLenRange:
        raise InvalidInput(uri.safe, "the PIN has a length the token does not accept (CKR_PIN_LEN_RANGE)") from None


@contextlib.contextmanager
def _opening_lock(module: str, token: str):
    """One login at a time to a token among this machine's processes (a run's workers start together)."""
    name = hashlib.sha256(f"{module}\0{token}".encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), f"matter-factory-data-pkcs11-{name}.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # no shared temporary directory: retries alone
        yield
        return
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


# ---------------------------------------------------------------- keys

class TokenKey(ec.EllipticCurvePrivateKey):
    """A P-256 private key inside a token: ``sign`` runs there; the private value cannot be read."""

    def __init__(self, handle, point: bytes, uri: Uri):
        self._handle = handle
        self.public_point = point  # 65 bytes, 04 || X || Y
        self.uri = uri
        self._public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)

    @property
    def curve(self):
        return ec.SECP256R1()

    @property
    def key_size(self) -> int:
        return 256

    def public_key(self):
        return self._public

    def sign(self, data, signature_algorithm) -> bytes:
        algorithm = signature_algorithm.algorithm
        if not isinstance(signature_algorithm, ec.ECDSA) or not isinstance(algorithm, hashes.SHA256):
            raise OperationFailed(f"{self.uri.safe}: only ECDSA with SHA-256 is signed in the token")
        digest = hashlib.sha256(data).digest()
        pkcs11 = _binding()
        try:
            raw = self._handle.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
        except pkcs11.exceptions.PKCS11Error as e:
            raise OperationFailed(f"{self.uri.safe}: the token did not sign ({type(e).__name__})") from None
        return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))

    def private_numbers(self):
        raise OperationFailed(f"{self.uri.safe}: the private key stays in the token (not extractable)")

    def private_bytes(self, *args, **kwargs):
        raise OperationFailed(f"{self.uri.safe}: the private key stays in the token (not extractable)")

    def private_bytes_raw(self):  # pragma: no cover - not an EC API, kept for completeness
        raise OperationFailed(f"{self.uri.safe}: the private key stays in the token (not extractable)")

    def exchange(self, algorithm, peer_public_key):
        raise OperationFailed(f"{self.uri.safe}: this key signs only")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __eq__(self, other) -> bool:
        return isinstance(other, TokenKey) and other.public_point == self.public_point

    def __hash__(self) -> int:
        return hash(self.public_point)


def _lookup(uri: Uri, object_class):
    pkcs11 = _binding()
    attrs = {}
    if uri.object is not None:
        attrs[pkcs11.Attribute.LABEL] = uri.object
    if uri.id is not None:
        attrs[pkcs11.Attribute.ID] = uri.id
    return list(session(uri).get_objects({pkcs11.Attribute.CLASS: object_class, **attrs}))


def open_key(text: str, what: str = "key") -> TokenKey:
    """The P-256 private key a URI names, checked (type and curve), with its public point."""
    uri = parse(text)
    pkcs11 = _binding()
    found = _lookup(uri, pkcs11.ObjectClass.PRIVATE_KEY)
    name = f"labelled {uri.object!r}" if uri.object is not None else f"with id {uri.id.hex()}"
    if not found:
        raise InvalidInput(uri.safe, f"no private key {name} in token {uri.token!r}")
    if len(found) > 1:
        raise InvalidInput(uri.safe, f"{len(found)} private keys are {name}: add id=… to the URI")
    key = found[0]
    key_type = key[pkcs11.Attribute.KEY_TYPE]
    if key_type != pkcs11.KeyType.EC:
        raise InvalidInput(uri.safe, f"is a {getattr(key_type, 'name', key_type)} key; Matter needs an EC P-256 key")
    params = bytes(key[pkcs11.Attribute.EC_PARAMS])
    if params != P256_PARAMS:
        raise InvalidInput(uri.safe, f"is an EC key on another curve (parameters {params.hex()}); Matter needs P-256")
    return TokenKey(key, _public_point(uri, key), uri)


def _public_point(uri: Uri, private) -> bytes:
    """The key pair's public point: from its public-key object (same id, else same label)."""
    pkcs11 = _binding()
    candidates = []
    try:
        key_id = bytes(private[pkcs11.Attribute.ID])
    except (pkcs11.exceptions.PKCS11Error, KeyError):
        key_id = None
    if key_id:
        candidates = _lookup(uri._replace(object=None, id=key_id), pkcs11.ObjectClass.PUBLIC_KEY)
    if not candidates and uri.object is not None:
        candidates = _lookup(uri._replace(id=None), pkcs11.ObjectClass.PUBLIC_KEY)
    if not candidates:
        raise InvalidInput(uri.safe, "has no public-key object beside it (the certificate needs its public key)")
    point = bytes(candidates[0][pkcs11.Attribute.EC_POINT])
    if len(point) == 67 and point[0] == 0x04 and point[1] == 65:  # DER OCTET STRING around the point
        point = point[2:]
    if len(point) != 65 or point[0] != 0x04:
        raise InvalidInput(uri.safe, "its public key is not an uncompressed P-256 point")
    return point


def generate_key(text: str) -> TokenKey:
    """A new P-256 key pair inside the token (private: sensitive, not extractable, a token object), labelled
    as the URI's object; refused when the label is taken."""
    uri = parse(text)
    if uri.object is None:
        raise InvalidInput(uri.safe, "needs object=LABEL to name the new key")
    pkcs11 = _binding()
    if _lookup(uri._replace(id=None), pkcs11.ObjectClass.PRIVATE_KEY):
        raise InvalidInput(uri.safe, f"token {uri.token!r} already holds a private key labelled {uri.object!r}")
    from pkcs11.util.ec import encode_named_curve_parameters

    key_id = uri.id or secrets.token_bytes(8)
    a = pkcs11.Attribute
    try:
        parameters = session(uri).create_domain_parameters(
            pkcs11.KeyType.EC, {a.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
        public, private = parameters.generate_keypair(
            store=True, label=uri.object, id=key_id,
            public_template={a.VERIFY: True, a.TOKEN: True},
            private_template={a.SIGN: True, a.SENSITIVE: True, a.EXTRACTABLE: False, a.TOKEN: True,
                              a.PRIVATE: True})
    except pkcs11.exceptions.PKCS11Error as e:
        raise OperationFailed(f"{uri.safe}: the token did not generate the key ({type(e).__name__})") from None
    return open_key(text)


_register()
