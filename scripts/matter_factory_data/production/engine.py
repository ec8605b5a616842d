"""The one production engine: chunks of devices, worker processes, ordered results, progress, the run
lock, the run state and the append-only record files a resumable run keeps.

It knows nothing about formats or output trees: ``batch`` and the ``esp32`` drop-in give it a worker set-up
(``init(ctx)``), a chunk worker (``work(chunk) -> result``) and a ``consume(result)`` that records results
in order. Workers are the standard library's ``concurrent.futures.ProcessPoolExecutor`` (forked where the
platform can fork, so a worker starts with everything already imported); with one job everything runs in
this process and nothing POSIX-only is called.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import itertools
import json
import marshal
import os
import pickle
import select
import signal
import sys
import time
import traceback

from ..errors import OperationFailed
from ..fileio import write_atomic

try:  # the run lock: flock(2) on POSIX, msvcrt's byte lock on Windows
    import fcntl
except ImportError:  # pragma: no cover - exercised on Windows only
    fcntl = None
    import msvcrt

WORKER_DIED = "a worker process died (killed, or out of memory); run the same command again to finish the run"


def chunk_bounds(start: int, stop: int, jobs: int, most: int = 16):
    """(first, end) of each chunk of devices start..stop-1: at most ``most`` devices (about 15 ms of work),
    fewer as the end nears, so the workers run out of work within a device or two of each other."""
    while start < stop:
        size = max(1, min(most, (stop - start) // (jobs * 4)))
        yield start, start + size
        start += size


_setup_error: BaseException | None = None  # in a worker: what its set-up raised, raised again by each chunk


_current = None  # in a worker (or in this process while it runs the chunks itself): what init(ctx) returned


def worker():
    """This process's worker object: what the run's ``init(ctx)`` returned (e.g. a class holding the run's
    context and what every device needs, made once per process)."""
    return _current


@contextlib.contextmanager
def working(init, ctx):
    """Be a worker in this process for the length of the block (one job, or a probe made in memory)."""
    global _current
    saved, _current = _current, init(ctx)
    try:
        yield _current
    finally:
        _current = saved


def _start_worker(init, ctx) -> None:
    """A worker's set-up. Ctrl-C reaches the whole process group and only the parent answers it; an error
    is kept for the worker's first chunk to raise (the pool would only log it and call the pool broken)."""
    global _setup_error, _current
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _current = init(ctx)
    except BaseException as e:  # noqa: BLE001 (handed to the parent with the first chunk)
        _setup_error = e


def _call(work, chunk):
    """A chunk in a worker; its exception goes back to the parent as it is, or as text if it cannot."""
    try:
        if _setup_error is not None:
            raise _setup_error
        return work(chunk)
    except BaseException as e:  # noqa: BLE001
        try:
            pickle.loads(pickle.dumps(e))
        except Exception:  # noqa: BLE001
            raise OperationFailed(f"worker: {type(e).__name__}: {e}") from None
        raise


# Called before workers start: process-wide resources that a worker must make for itself (a PKCS#11 library
# must be initialised anew in a forked child, and a child must not finalise what its parent opened).
BEFORE_WORKERS: list = []


def run_ordered(init, ctx, work, chunks, jobs: int, consume) -> None:
    """``work(chunk)`` for every chunk, in ``jobs`` worker processes (each set up once with ``init(ctx)``),
    results handed to ``consume`` in chunk order whatever the timing.

    Each worker calls ``init(ctx)`` once and keeps what it returns for ``worker()``. With one job (or one
    chunk) everything runs in this process, which is a worker only while it does.
    Otherwise: forked workers fed through pipes where the platform can fork (``_fork_pool``), the standard
    library's ``ProcessPoolExecutor`` elsewhere or when ``MATTER_FACTORY_DATA_POOL=stdlib`` (``_stdlib_pool``).
    Either way a worker's exception is raised here when its chunk's turn comes, everything before it is
    handed over first, and a dead worker or Ctrl-C (which the workers ignore) stops them all."""
    source = iter(chunks)
    first = list(itertools.islice(source, 2))
    if jobs == 1 or len(first) < 2:
        with working(init, ctx):
            for chunk in itertools.chain(first, source):
                consume(work(chunk))
        return
    sys.stdout.flush()
    sys.stderr.flush()
    for release in BEFORE_WORKERS:  # what must not be shared with the workers (a token session, say)
        release()
    pool = _stdlib_pool if pool_kind() == "stdlib" else _fork_pool
    pool(init, ctx, work, itertools.chain(first, source), jobs, consume)


def pool_kind() -> str:
    """``fork`` (the pipe pool) where the platform can fork, unless ``MATTER_FACTORY_DATA_POOL=stdlib``."""
    if os.environ.get("MATTER_FACTORY_DATA_POOL") == "stdlib" or not hasattr(os, "fork"):
        return "stdlib"
    return "fork"


def _stdlib_pool(init, ctx, work, tasks, jobs: int, consume) -> None:
    """The portable pool: ``concurrent.futures.ProcessPoolExecutor``, at most four chunks per worker in
    flight (memory does not grow with the number of chunks)."""
    # only here: concurrent.futures and multiprocessing import logging, sockets and pickle machinery that the
    # fork pool's runs do not need
    import concurrent.futures
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                                  initargs=(init, ctx))
    pending: collections.deque = collections.deque()
    refused = False
    try:
        for chunk in tasks:
            try:
                pending.append(pool.submit(_call, work, chunk))
            except BrokenProcessPool:  # a worker died: hand over what was done before it, then stop
                refused = True
                break
            while len(pending) >= 4 * jobs:
                consume(_result(pending.popleft(), BrokenProcessPool))
        while pending:
            consume(_result(pending.popleft(), BrokenProcessPool))
        if refused:
            raise OperationFailed(WORKER_DIED)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(future, broken):
    try:
        return future.result()
    except broken:
        raise OperationFailed(WORKER_DIED) from None


def _fork_pool(init, ctx, work, tasks, jobs: int, consume) -> None:
    """The POSIX pool: ``jobs`` forked workers fed through pipes, two chunks queued per worker so a worker
    never waits for this process, results handed over in chunk order (those that arrive early wait here).
    A worker's exception is raised when its chunk's turn comes; a worker that dies, or Ctrl-C (which the
    workers ignore), stops them all. Measured against ``ProcessPoolExecutor`` on the batch benchmark it
    saves 10-15 % at 1,000 devices (``docs/architecture.md``); both give the same results (tests)."""
    pool = _ForkPool(enumerate(tasks))
    try:
        pool.start(init, ctx, work, jobs)
        pool.run(consume)
    except BaseException:
        pool.kill()
        raise
    finally:
        pool.close()


class _ForkPool:
    def __init__(self, tasks):
        self.tasks = tasks
        self.pids: list[int] = []
        self.to_worker: list[int] = []
        self.from_worker: list[int] = []
        self.spare: collections.deque = collections.deque()  # chunks a stopped worker could not take
        self.waiting: dict = {}  # results that arrived before their turn: chunk -> (ok, result or (error, tb))
        self.turn = 0

    def start(self, init, ctx, work, jobs: int) -> None:
        for _ in range(jobs):
            task_r, task_w = os.pipe()
            result_r, result_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker
                for fd in (task_w, result_r, *self.to_worker, *self.from_worker):
                    os.close(fd)
                _worker_main(init, ctx, work, task_r, result_w)
            os.close(task_r)
            os.close(result_w)
            self.pids.append(pid)
            self.to_worker.append(task_w)
            self.from_worker.append(result_r)
        self.in_flight = [collections.deque() for _ in range(jobs)]  # chunks sent to each worker, unanswered
        self.done = [False] * jobs  # told there is nothing more, or stopped
        self.buffers = [bytearray() for _ in range(jobs)]
        for k in range(jobs):
            self.feed(k)
            self.feed(k)

    def feed(self, k: int) -> None:
        """Send worker ``k`` its next chunk (None: finish what you have and exit)."""
        if self.done[k]:
            return
        item = self.spare.popleft() if self.spare else next(self.tasks, None)
        try:
            _send(self.to_worker[k], item)
        except BrokenPipeError:  # it stopped (its error or death is read next)
            if item is not None:
                self.spare.append(item)
            self.done[k] = True
            return
        if item is None:
            self.done[k] = True
        else:
            self.in_flight[k].append(item[0])

    def run(self, consume) -> None:
        running = set(range(len(self.pids)))
        while running:
            ready, _, _ = select.select([self.from_worker[k] for k in running], [], [])
            for fd in ready:
                k = self.from_worker.index(fd)
                if not self.read(k):
                    running.discard(k)
            while self.turn in self.waiting:
                ok, value = self.waiting.pop(self.turn)
                if not ok:
                    error, remote = value
                    raise error from (_RemoteError(remote) if remote else None)
                consume(value)
                self.turn += 1
        if self.waiting or self.spare or next(self.tasks, None) is not None:
            raise OperationFailed(f"the workers stopped before chunk {self.turn} was done")

    def read(self, k: int) -> bool:
        """Take what worker ``k`` sent; False once it has exited."""
        data = os.read(self.from_worker[k], 1 << 16)
        if not data:  # the worker exited; if it still had chunks, it died: reported at their turn
            if self.in_flight[k]:
                self.waiting[self.in_flight[k][0]] = (False, (OperationFailed(WORKER_DIED), None))
            return False
        buf = self.buffers[k]
        buf += data
        while len(buf) >= 4 and len(buf) >= 4 + _message_size(buf[:4]):
            n = _message_size(buf[:4])
            c, ok, value = _loads(buf[:4], bytes(buf[4 : 4 + n]))
            del buf[: 4 + n]
            if c < 0:  # the worker's set-up failed
                raise value[0] from _RemoteError(value[1])
            self.waiting[c] = (ok, value)
            self.in_flight[k].popleft()
            if ok:
                self.feed(k)
            else:  # it has stopped; the error is raised when this chunk's turn comes
                self.in_flight[k].clear()
                self.done[k] = True
        return True

    def kill(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        for fd in (*self.to_worker, *self.from_worker):
            os.close(fd)
        for pid in self.pids:
            os.waitpid(pid, 0)


class _RemoteError(Exception):
    """The traceback of an exception raised in a batch worker."""

def _worker_main(init, ctx, work, tasks: int, results: int) -> None:
    """A forked worker: set up, then do each chunk it is sent and send back (chunk number, ok, result);
    never returns (the parent's cleanup handlers must not run here)."""
    global _current
    code = 0
    c = -1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent handles it
        try:
            _current = init(ctx)
            reader = open(tasks, "rb")
            while True:
                head = reader.read(4)
                if len(head) < 4:
                    break
                task = _loads(head, reader.read(_message_size(head)))
                if task is None:
                    break
                c, chunk = task
                _send(results, (c, True, work(chunk)))
        except BrokenPipeError:
            code = 1
        except BaseException as e:  # noqa: BLE001 (handed to the parent)
            code = 1
            try:
                pickle.loads(pickle.dumps(e))
            except Exception:  # noqa: BLE001
                e = OperationFailed(f"worker: {type(e).__name__}: {e}")
            _send(results, (c, False, (e, traceback.format_exc())))
    except BaseException:  # noqa: BLE001 (nothing more can be reported)
        code = 1
    finally:
        os._exit(code)

_PICKLED = 1 << 31  # in a message's length word: the message needed pickle (a worker's exception)

def _send(fd: int, message) -> None:
    """One message down a pipe: its length (4 bytes) and its marshal bytes (chunks and results are plain
    lists, tuples, dicts, strings, numbers and bytes), or pickle bytes for anything else."""
    try:
        data, flag = marshal.dumps(message), 0
    except ValueError:
        data, flag = pickle.dumps(message, pickle.HIGHEST_PROTOCOL), _PICKLED
    view = memoryview((len(data) | flag).to_bytes(4, "little") + data)
    while view:
        view = view[os.write(fd, view):]

def _message_size(head: bytes) -> int:
    return int.from_bytes(head, "little") & ~_PICKLED

def _loads(head: bytes, data: bytes):
    if int.from_bytes(head, "little") & _PICKLED:
        return pickle.loads(data)
    return marshal.loads(data)


class Progress:
    """A bar with rate and ETA on a terminal (tqdm), plain periodic lines otherwise, nothing when quiet."""

    def __init__(self, total: int, done: int, quiet: bool, label: str = "batch", signing: str | None = None):
        self.total, self.done, self.quiet, self.label = total, done, quiet, label
        self.signing = signing  # where each device's signature is made (a token): its rate is shown too
        self.start = time.monotonic()
        self.first = done
        self.last_line = self.start
        self.bar = None
        if not quiet and sys.stderr.isatty():
            try:
                from tqdm import tqdm  # optional: a bar where it is installed
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=done, unit="dev", file=sys.stderr, dynamic_ncols=True,
                                desc=f"signing in {signing}" if signing else None)

    def update(self, n: int) -> None:
        self.done += n
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last_line >= 5 or self.done == self.total:
            rate = (self.done - self.first) / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0
            signing = f", {rate:.0f} DAC signatures/s in {self.signing}" if self.signing else ""
            print(f"{self.label}: {self.done}/{self.total} devices, {rate:.0f} devices/s{signing}, ETA {eta:.0f} s",
                  file=sys.stderr, flush=True)
            self.last_line = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def produce(init, ctx, work, *, done: int, count: int, jobs: int, record_path: str, sync_root: str,
            progress: Progress, chunk_of=lambda lo, hi: list(range(lo, hi))) -> int:
    """Make devices ``done`` .. ``count - 1``: ``work`` writes a chunk's devices and returns one record line
    per device; the lines are appended to ``record_path`` in device order, each group only after the files
    of its devices were synced to disk, so the record never names a device that a power cut could lose.
    Returns the number of devices made."""
    made = 0
    pending: list[str] = []
    record = open(record_path, "a", encoding="utf-8")

    def flush() -> None:
        if pending:
            sync_filesystem(sync_root)  # the devices' files are durable before the record names them
            record.write("".join(pending))
            record.flush()
            os.fsync(record.fileno())
            pending.clear()

    def consume(lines: list[str]) -> None:
        nonlocal made
        pending.extend(lines)
        made += len(lines)
        progress.update(len(lines))
        if len(pending) >= SYNC_GROUP:
            flush()

    chunks = (chunk_of(lo, hi) for lo, hi in chunk_bounds(done, count, jobs))
    try:
        run_ordered(init, ctx, work, chunks, jobs, consume)
        flush()
    finally:
        record.close()
        progress.close()
    return made


SYNC_GROUP = 256  # devices per sync of the filesystem and append to the record


def job_count(asked: int | None, remaining: int) -> int:
    """Workers for ``remaining`` devices: as asked (all CPUs by default), never more than there are devices."""
    return max(1, min(asked or os.cpu_count() or 1, remaining))


class RunLock:
    """One run per output directory: an exclusive lock on a file in it (``flock`` on POSIX, ``msvcrt``'s byte
    lock on Windows), which holds the owner's PID while the run lasts and is removed when it ends. The
    operating system drops the lock when its process ends, kill -9 included, so it is never left stuck (a
    file left by a killed run is simply locked again)."""

    def __init__(self, directory: str, name: str, what: str):
        self.path = os.path.join(directory, name)
        while True:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(self.fd):
                owner = _read_owner(self.fd)
                os.close(self.fd)
                self.fd = -1
                by = f" by process {owner}" if owner.isdigit() else ""
                raise OperationFailed(f"{directory} is in use{by}: another {what} is writing into it; wait for it "
                                      f"to finish (the same command then resumes or confirms the {what})")
            try:  # the lock is ours only if the file is still the one at the path (not removed by its last owner)
                if os.path.samestat(os.stat(self.path), os.fstat(self.fd)):
                    break
            except FileNotFoundError:
                pass
            os.close(self.fd)
        if fcntl is not None:
            os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self.fd >= 0:
            if fcntl is not None:
                try:
                    os.unlink(self.path)  # while still locked: a waiting run then retries on a new file
                except OSError:
                    pass
            os.close(self.fd)  # closing drops the lock
            self.fd = -1
            if fcntl is None:
                try:
                    os.unlink(self.path)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _read_owner(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return ""


def sync_filesystem(path: str) -> None:
    """Make every write to the filesystem holding ``path`` durable: syncfs(2) where the C library has it
    (only that filesystem), else sync(2) (POSIX), else nothing more than each file's own flush."""
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    if hasattr(os, "sync"):
        os.sync()


_SYNCFS: list = []


def _syncfs():
    if not _SYNCFS:
        try:
            import ctypes  # only where a run syncs: loading the C library is not free

            _SYNCFS.append(ctypes.CDLL(None, use_errno=True).syncfs)
        except (OSError, AttributeError, TypeError):
            _SYNCFS.append(None)
    return _SYNCFS[0]


def read_state(path: str) -> dict | None:
    """A run's state file (JSON), or None when there is none."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise OperationFailed(f"cannot read the run state {path}: {e}") from None


def write_state(path: str, state: dict) -> None:
    """The run state: written atomically, 0600 (it may hold the run's key until the run is complete)."""
    write_atomic(path, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode(), secret=True)


def complete_lines(path: str) -> int:
    """The complete lines of an append-only record file; a torn last line (power loss mid-append) is cut
    off."""
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    return data[:keep].count(b"\n")


def write_new(directory: str, name: str, data: bytes, secret: bool) -> None:
    """Create ``directory/name`` (it must not exist) holding ``data``, 0600 when ``secret``."""
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o600 if secret else 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def fresh_staging(path: str) -> str:
    """A run's private staging directory, emptied of what an interrupted run left there (0700)."""
    if os.path.isdir(path):
        remove_tree(path)
    os.mkdir(path, 0o700)
    return path


def remove_tree(path: str, ignore_errors: bool = False) -> None:
    """``shutil.rmtree`` for the small trees a run leaves (shutil's import pulls in bz2 and lzma)."""
    try:
        for root, dirs, files in os.walk(path, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                full = os.path.join(root, name)
                os.unlink(full) if os.path.islink(full) else os.rmdir(full)
        os.rmdir(path)
    except OSError:
        if not ignore_errors:
            raise


def csv_text(rows: list[list[str]], end: str = "\n") -> str:
    """CSV as Python's csv module writes it (minimal quoting). Rows with no comma, quote or line break in any
    field, and no row that is a single empty field (the module quotes that one), are joined directly: that
    is what the module writes for them, at a fraction of the cost."""
    lines = []
    for row in rows:
        line = ",".join(row)
        if line.count(",") != len(row) - 1 or '"' in line or "\r" in line or "\n" in line or row == [""]:
            buf = io.StringIO()
            csv.writer(buf, lineterminator=end).writerows(rows)
            return buf.getvalue()
        lines.append(line + end)
    return "".join(lines)
