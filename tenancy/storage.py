"""File storage whose files appear whole or not at all.

Django's `FileSystemStorage` writes straight into the destination file; when the disk
fills (or the process dies) half-way, a truncated file stays under the name the caller
asked for. For evidence that is the worst outcome: a file with a real name and the wrong
bytes. Here every file is written to a hidden temporary file in the destination directory,
flushed to disk, then renamed into place (atomic within a file system); on any error the
temporary file is removed and the error propagates, so the caller's transaction rolls
back with nothing on disk.

Services turn the `OSError` into the API's answer with `tenancy.errors.storage_error`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from django.core.files.storage import FileSystemStorage

PARTIAL_PREFIX = ".partial-"


class _Complete:
    """A finished temporary file, handed to Django's own save (which renames it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def temporary_file_path(self) -> str:
        return self.path


class AtomicFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        directory = os.path.dirname(self.path(name))
        if self.directory_permissions_mode is not None:
            os.makedirs(directory, mode=self.directory_permissions_mode, exist_ok=True)
        else:
            os.makedirs(directory, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=directory, prefix=PARTIAL_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in content.chunks():
                    handle.write(chunk.encode() if isinstance(chunk, str) else chunk)
                handle.flush()
                os.fsync(handle.fileno())
            return super()._save(name, _Complete(partial))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)  # gone already when the rename succeeded
