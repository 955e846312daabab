"""How the suite writes a file it produces (a facts file, results.json, remediation.ps1).

The bytes go to a new temporary file beside the final path (created exclusively, so a link
planted at that name is never followed), which then replaces the path with ``os.replace``: a
symbolic link found at the path is itself replaced, its target left untouched, and a reader never
sees half a file. A file that holds evidence is *private*: readable and writable by the user only
(0600) whatever the umask; any other is created as ``open()`` creates it (0666 less the umask).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_MODE = 0o600
_ATTEMPTS = 16


def _create_beside(path: Path) -> tuple[int, Path]:
    """An open descriptor on a new file in *path*'s folder, and that file's path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temporary name beside {path.name}")


def write_output(path: str | Path, data: bytes, *, private: bool = False) -> None:
    """Write *data* as the file *path* (its folder created if missing); *private*: mode 0600."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_beside(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            if private and hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), PRIVATE_MODE)
            handle.write(data)
        if private and not hasattr(os, "fchmod"):  # pragma: no cover - Windows
            os.chmod(tmp, PRIVATE_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_output(path: str | Path, text: str, *, private: bool = False) -> None:
    """*text* as UTF-8 (see :func:`write_output`)."""
    write_output(path, text.encode("utf-8"), private=private)
