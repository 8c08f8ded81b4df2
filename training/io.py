"""Writing files so that a process killed at any moment leaves the old file or
the new one, never half of one: write to a temporary name beside the target,
flush and fsync, then rename over it (``os.replace`` is atomic on POSIX).

A directory (a saved model) is built under a temporary name and swapped into
place with one ``renameat2(RENAME_EXCHANGE)`` on Linux, so the old directory
or the new one is there at every moment; elsewhere the old one is renamed
aside first (a kill between the two renames leaves ``.NAME.old-PID`` and no
``NAME``). A killed writer leaves its temporary (``.NAME.*.tmp``) behind; the
next process to lock the run directory removes it (:class:`RunLock`).

Whatever fails while writing (disk full, permission denied, read-only file
system), the caller gets an :class:`OutputError` naming the path and the
reason, raised before anything is renamed over the old file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _normal_mode(path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create private (0600/0700) files; give the result the
    permissions an ordinary write would have."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


class OutputError(OSError):
    """An output could not be written; the message says where and why."""


def _explain(path, exc: OSError) -> OutputError:
    why = {errno.ENOSPC: "no space left on the device", errno.EACCES: "permission denied",
           errno.EPERM: "permission denied", errno.EROFS: "the file system is read-only",
           errno.EDQUOT: "disk quota exceeded", errno.ENOTDIR: "a parent of the path is a file, not a directory",
           errno.EEXIST: "a parent of the path is a file, not a directory"}.get(exc.errno, exc.strerror or str(exc))
    err = OutputError(f"cannot write {path}: {why}; choose another output location or free space")
    err.errno = exc.errno
    return err


# Libraries that write files report a full disk in their own words:
# safetensors ("I/O error: No space left on device (os error 28)"), torch.save
# ("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534", measured on a
# full tmpfs, or "PytorchStreamWriter failed writing file ...").
_OS_ERROR_CODE = re.compile(r"os error (\d+)")
_TORCH_WRITE = ("PytorchStreamWriter", "unexpected pos")


def output_error(path, exc: BaseException) -> OutputError | None:
    """``exc`` as an OutputError about writing ``path``, or None when it is
    not a failure to write (a bug, a bad input)."""
    if isinstance(exc, OutputError):
        return exc
    if isinstance(exc, OSError):
        return _explain(path, exc) if exc.errno is not None else None
    text = str(exc)
    code = _OS_ERROR_CODE.search(text)
    if code and type(exc).__name__ == "SafetensorError":
        return _explain(path, OSError(int(code.group(1)), os.strerror(int(code.group(1)))))
    if isinstance(exc, RuntimeError) and any(m in text for m in _TORCH_WRITE) and "Reader" not in text:
        err = OutputError(f"cannot write {path}: the write failed ({text.splitlines()[0][:200]}); "
                          "check that the device has free space, or choose another output location")
        err.errno = errno.EIO
        return err
    return None


@contextlib.contextmanager
def writing_into(directory):
    """Failures to write inside ``directory`` (a run directory: the Trainer's
    checkpoints, the log) become an :class:`OutputError`; an OSError about a
    file elsewhere (an input that cannot be read) passes through unchanged."""
    directory = Path(directory)
    try:
        yield
    except Exception as exc:
        name = getattr(exc, "filename", None)
        if isinstance(exc, OSError) and name is not None and not _inside(Path(name), directory):
            raise
        if isinstance(exc, OSError) and exc.errno not in _WRITE_ERRNOS:
            raise
        err = output_error(Path(name) if name else directory, exc)
        if err is None:
            raise
        raise err from exc


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.EIO}


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except (ValueError, OSError):
        return False
    return True


def atomic_write_bytes(path, data: bytes) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            _normal_mode(tmp)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise _explain(path, exc) from None
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary directory; on success it replaces ``path`` whole."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _explain(path, exc) from None
    try:
        yield tmp
        _normal_mode(tmp, directory=True)
        for child in tmp.rglob("*"):
            _normal_mode(child, directory=child.is_dir())
        if path.exists() and _exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)  # now the old directory
            return
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        err = output_error(path, exc) if isinstance(exc, Exception) else None
        if err is None:
            raise
        raise err from None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the system or file system cannot."""
    import ctypes  # noqa: PLC0415
    import sys  # noqa: PLC0415

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


_TEMPORARY = re.compile(r"^\..+\.(tmp|old-\d+)$")


def remove_stale_temporaries(directory) -> list[Path]:
    """Remove what killed writers left in ``directory`` (and its
    subdirectories, but not the Trainer's checkpoints): the temporaries of
    atomic writes and directories renamed aside. Only call it while holding
    the directory's :class:`RunLock`, so no live writer owns them."""
    removed = []
    directory = Path(directory)
    for root, dirs, files in os.walk(directory):
        if Path(root) == directory and "checkpoints" in dirs:
            dirs.remove("checkpoints")
        for name in list(dirs):
            if _TEMPORARY.match(name):
                shutil.rmtree(Path(root) / name, ignore_errors=True)
                dirs.remove(name)
                removed.append(Path(root) / name)
        for name in files:
            if _TEMPORARY.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(Path(root) / name)
                    removed.append(Path(root) / name)
    return removed


class AppendFile:
    """A text file that lines are appended to and flushed one by one (a
    streaming output); failures to write become :class:`OutputError`."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise _explain(self.path, exc) from None

    def write(self, line: str) -> None:
        try:
            self._fh.write(line)
            self._fh.flush()
        except OSError as exc:
            raise _explain(self.path, exc) from None

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError as exc:
            raise _explain(self.path, exc) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            with contextlib.suppress(OSError):
                self._fh.close()


class RunLockedError(RuntimeError):
    """Another live process is using the run directory."""


class RunLock:
    """An exclusive ``flock`` on ``DIR/.lock``: a second process given the same
    run directory refuses instead of interleaving writes. The kernel drops the
    lock when the holder dies, so a killed run never leaves a stale lock; the
    new holder removes the temporaries a killed one left."""

    def __init__(self, directory):
        self.path = Path(directory) / ".lock"
        self._fh = None

    def acquire(self):
        import fcntl  # noqa: PLC0415

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")  # noqa: SIM115 - held for the life of the run
        except OSError as exc:
            raise _explain(self.path.parent, exc) from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RunLockedError(
                f"run directory {self.path.parent} is in use by {holder}; wait for it to finish "
                "or choose another output.dir"
            ) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}\n")
            fh.flush()
        except OSError as exc:
            fh.close()
            raise _explain(self.path, exc) from None
        self._fh = fh
        remove_stale_temporaries(self.path.parent)
        return self

    def release(self):
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
