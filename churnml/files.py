"""Atomic writes: every file or directory churnml writes appears whole, or not at all.

:func:`atomic_path` is the one mechanism: write to a hidden temporary path
beside the target, then rename it into place (``os.replace`` for a file; for
a directory, the old one is moved aside first). A crash or an exception
mid-write leaves the previous version as it was and no temporary file.
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

__all__ = ["atomic_path"]


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


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
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
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
