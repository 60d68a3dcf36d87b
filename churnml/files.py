"""Atomic writes: every file or directory churnml writes appears whole, or not at all.

:func:`atomic_path` is the one mechanism: write to a hidden temporary path
beside the target, then rename it into place (``os.replace`` for a file; for
a directory, the old one is moved aside first). An exception mid-write
leaves the previous version as it was and no temporary file; a process
killed mid-write leaves its temporary file, which the next write of the same
target removes (the name carries the writer's pid; only a dead writer's
files go), and a directory moved aside and not yet replaced is put back.
Written files get the permissions the process's umask gives new files
(``tempfile`` alone would make them private to the owner).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "process_alive", "sweep"]


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def _temp_prefix(target: Path) -> str:
    """What every temporary path of ``target`` starts with; the writer's pid, a dash and tempfile's random part follow."""
    return f".{target.name}.tmp-"


def sweep(target: str | Path) -> list[Path]:
    """Remove what killed writers of ``target`` left beside it; put back a directory moved aside but not replaced.

    Returns the paths removed (the next write calls it; call it to clean up without writing).
    """
    target = Path(target)
    old = target.with_name(f".{target.name}.old")
    if old.is_dir() and not target.exists():  # killed between moving the old directory aside and renaming the new one in
        old.rename(target)
    removed = []
    prefix = _temp_prefix(target)
    for leftover in target.parent.glob(f"{prefix}*"):
        pid = leftover.name.removeprefix(prefix).split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (what a writer's pid left in a name or a tag is checked with)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextmanager
def atomic_path(target: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target``.

    Parameters
    ----------
    target : path
        The file (or, with ``directory=True``, the directory) to write.
    directory : bool
        The temporary path is a new empty directory, and replaces an
        existing directory at ``target``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with atomic_path(root / "list.txt") as tmp:
    ...     _ = tmp.write_text("c1")
    >>> sorted(p.name for p in root.iterdir()), (root / "list.txt").read_text()
    (['list.txt'], 'c1')
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep(target)
    prefix = f"{_temp_prefix(target)}{os.getpid()}-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        tmp.chmod((0o777 if directory else 0o666) & ~_umask())
        yield tmp
        if directory:
            old = target.with_name(f".{target.name}.old")
            if target.exists():
                target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
