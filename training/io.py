"""Writing files so that a process killed at any moment leaves the old file or
the new one, never half of one: write to a temporary name beside the target,
flush and fsync, then rename over it (``os.replace`` is atomic on POSIX)."""

from __future__ import annotations

import contextlib
import json
import os
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
    import errno  # noqa: PLC0415

    why = {errno.ENOSPC: "no space left on the device", errno.EACCES: "permission denied",
           errno.EPERM: "permission denied", errno.EROFS: "the file system is read-only",
           errno.EDQUOT: "disk quota exceeded", errno.ENOTDIR: "a parent of the path is a file, not a directory",
           errno.EEXIST: "a parent of the path is a file, not a directory"}.get(exc.errno, exc.strerror or str(exc))
    err = OutputError(f"cannot write {path}: {why}; choose another output location or free space")
    err.errno = exc.errno
    return err


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
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _explain(path, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class RunLockedError(RuntimeError):
    """Another live process is using the run directory."""


class RunLock:
    """An exclusive ``flock`` on ``DIR/.lock``: a second process given the same
    run directory refuses instead of interleaving writes. The kernel drops the
    lock when the holder dies, so a killed run never leaves a stale lock."""

    def __init__(self, directory):
        self.path = Path(directory) / ".lock"
        self._fh = None

    def acquire(self):
        import fcntl  # noqa: PLC0415

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held for the life of the run
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
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self):
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
