"""Atomic file output: write a temporary file in the target folder, then rename it over the target.

Used by every writer (energy reports, spike files, native / NIR / networkx network files), so
that an error or Ctrl-C never leaves a half-written file or a stray temporary one.
"""

import os
import tempfile


def atomic_write(path, write):
    """Call ``write(tmp_path)``, then rename the temporary file to ``path``.

    The temporary file lives in the target folder (so the rename is atomic), gets the
    permissions a new file would (``mkstemp`` creates 0600), and is removed on any error.
    A folder that cannot be written to raises ``OSError`` naming ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> atomic_write_text(os.path.join(d, "a.txt"), "hello")
    >>> os.listdir(d), open(os.path.join(d, "a.txt")).read()
    (['a.txt'], 'hello')
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot write {path!r}: {exc.strerror}") from exc
    os.close(fd)
    try:
        write(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""

    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)
