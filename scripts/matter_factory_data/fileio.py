"""The one place that writes files: atomically, with secret files created 0600.

Every output of a run is staged first and renamed into place only after all of
them were produced, so a failed run creates or truncates nothing.
"""

from __future__ import annotations

import os

from .errors import OperationFailed

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


MAX_INPUT = 64 << 20  # no input of this tool comes near it (a 100,000-row batch CSV is about 10 MB)


def read_bytes(path: str, what: str, limit: int = MAX_INPUT) -> bytes:
    """Read a whole input file; a failure is a user error naming the input. A file larger than ``limit`` is
    refused after reading at most ``limit + 1`` bytes (``/dev/zero`` and the like included)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
            if len(data) > limit:
                raise OperationFailed(f"{what}: '{path}' is larger than {limit // (1 << 20)} MiB, more than any "
                                      f"input of this tool")
            return data
    except IsADirectoryError:
        raise OperationFailed(f"{what}: cannot read '{path}': is a directory") from None
    except OSError as e:
        raise OperationFailed(f"{what}: cannot read '{path}': {e.strerror or e}") from None


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """A new file next to the destination, readable by the owner only until it is complete."""
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:
            continue
    raise OSError(f"cannot create a temporary file in {directory}")


def _default_mode(secret: bool) -> int:
    if secret:
        return SECRET_MODE
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str, data: bytes, secret: bool = False) -> None:
    """Write one file atomically (temporary file in the same directory + rename)."""
    WriteSet(overwrite=True).add(path, data, secret).commit()


class WriteSet:
    """A group of outputs written all-or-nothing.

    ``add`` only records; ``check`` verifies the destinations (existing files
    without overwrite, missing directories); ``commit`` stages every file as a
    temporary file next to its destination, then renames them all.
    """

    def __init__(self, overwrite: bool = False):
        self.overwrite = overwrite
        self.files: list[tuple[str, bytes, bool]] = []

    def add(self, path: str, data: bytes, secret: bool = False) -> "WriteSet":
        self.files.append((path, bytes(data), secret))
        return self

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.files]

    def check(self) -> None:
        for path, _, _ in self.files:
            if os.path.isdir(path):
                raise OperationFailed(f"output '{path}' is a directory")
            if os.path.lexists(path) and not self.overwrite:
                raise OperationFailed(f"output '{path}' already exists (use --overwrite to replace it)")

    def commit(self, make_dirs: bool = False) -> None:
        """Write every file or none: a failure removes the staged files and any directory this call made."""
        self.check()
        staged: list[tuple[str, str]] = []
        made: list[str] = []
        try:
            for path, data, secret in self.files:
                directory = os.path.dirname(path) or "."
                if make_dirs:
                    made += make_directories(directory)
                elif not os.path.isdir(directory):
                    raise OperationFailed(f"output '{path}': directory '{directory}' does not exist")
                fd, tmp = _create_temp(directory, os.path.basename(path))
                staged.append((tmp, path))
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, _default_mode(secret))
            for tmp, path in staged:
                os.replace(tmp, path)
        except OSError as e:
            _undo(staged, made)
            raise OperationFailed(f"cannot write '{e.filename or path}': {e.strerror or e}") from None
        except BaseException:
            _undo(staged, made)
            raise


def make_directories(directory: str) -> list[str]:
    """``os.makedirs``, returning the directories it made (deepest last) so a failed run can remove them."""
    missing: list[str] = []
    d = os.path.abspath(directory)
    while not os.path.isdir(d):
        if os.path.lexists(d):
            raise OperationFailed(f"output directory '{directory}': '{d}' exists and is not a directory")
        missing.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    made: list[str] = []
    try:
        for d in reversed(missing):
            os.mkdir(d)
            made.append(d)
    except OSError as e:
        remove_directories(made)
        raise OperationFailed(f"output directory '{directory}': cannot create '{e.filename or d}': "
                              f"{e.strerror or e}") from None
    return made


def remove_directories(made: list[str]) -> None:
    """Remove directories a failed run made (deepest first), where they are still empty."""
    for d in reversed(made):
        try:
            os.rmdir(d)
        except OSError:
            pass


def _undo(staged: list[tuple[str, str]], made: list[str]) -> None:
    for tmp, _ in staged:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    remove_directories(made)
