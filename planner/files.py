"""Output files: regular files are replaced atomically (a reader never sees half a file, and a failed
write leaves the old one intact); devices, pipes and file descriptors are written in place."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_output(path: str | Path, content: str | bytes) -> None:
    """Atomically for a regular file; in place for a stream (replacing /dev/null or a pipe would break it),
    appending, so `-o /dev/stdout >> log` keeps the log."""
    if is_stream(path):
        with open(path, "ab") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
    else:
        write_atomic(path, content)


def is_stream(path: str | Path) -> bool:
    """A device, pipe or socket, or anything named through /dev or /proc (/dev/stdout, /proc/self/fd/1),
    which may stand for a file the shell opened: renaming over it would lose the shell's copy."""
    if Path(os.path.abspath(path)).parts[1:2] in (("dev",), ("proc",)):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def write_atomic(path: str | Path, content: str | bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the target."""
    target = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode(target))  # mkstemp makes the file private (0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_mode(target: Path) -> int:
    """The permissions a plain open() would leave: the old file's, else 0o666 less the umask."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
