"""Whether the system can look a path up at all, for the paths a user writes: the files given to
`warmline validate` and `warmline simulate`, a scenario's `config:`, and the configuration's own
file and directory settings (templates, lexicons, models, retraining data).

`Path.exists()` and `Path.is_file()` answer False for a path that is not there, but raise for one
the system refuses to look up (a name longer than the file system allows, a directory on the way
that may not be entered): a mistake in a file must be a FILE:LINE:COL diagnostic, not a traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path

_NOT_THERE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EBADF})
"""What `Path.exists()` itself answers False for: a path that is not there (yet), or a link that
leads nowhere; the callers say which."""


def unusable_path(path: Path) -> str | None:
    """Why no file can ever be found at `path` as written, or None if it can be looked up (it
    may still not exist)."""
    try:
        path.stat()
    except ValueError:
        return "cannot be used: it holds a NUL character, which no file name may contain"
    except OSError as error:
        if error.errno in _NOT_THERE:
            return None
        if error.errno == errno.ENAMETOOLONG:
            return (
                "cannot be used: a name in it is longer than the file system allows (255 bytes "
                "on most); is a path what was written there?"
            )
        return f"cannot be looked up: {error.strerror or error}"
    return None
