"""The export folder: made inside the export directory and nowhere else, and an OS error met
there told in words a writer can act on."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from storyterm.core.export.naming import folder_name
from storyterm.core.views import Session
from storyterm.errors import ExportError

#: Where the export folder is set, for every front end (the CLI adds its --out: ExportError's
#: `another_folder`).
ANOTHER_FOLDER = "export_dir in config.toml, or STORYTERM_EXPORT_DIR"


def prepare_folder(out_dir: Path, session: Session) -> Path:
    """Create `<out_dir>/<slug>-<id>` and prove it lies inside `out_dir` (no link escapes)."""
    root = out_dir.expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
        root = root.resolve(strict=True)
    except OSError as exc:
        raise export_error(root, exc, []) from exc
    if not root.is_dir():
        raise ExportError(
            f"The export folder {root} is a file, not a folder. Choose another export folder "
            f"({ANOTHER_FOLDER}).",
            another_folder=True,
        )
    folder = root / folder_name(session)
    # The folder must be exactly root/name: a link there (even one pointing back inside) is
    # refused, so a planted link can never redirect an export.
    if folder.is_symlink():
        raise ExportError(
            f"{folder} is a link (to {os.readlink(folder)}), not a folder of its own; storyterm "
            f"only writes inside {root}. Remove the link and export again."
        )
    try:
        folder.mkdir(exist_ok=True)
        resolved = folder.resolve(strict=True)
    except OSError as exc:
        raise export_error(folder, exc, []) from exc
    if resolved != folder or not resolved.is_relative_to(root):
        raise ExportError(
            f"{folder} leads to {resolved}, outside the export folder {root}; storyterm only "
            "writes inside it. Remove whatever redirects it and export again."
        )
    if not resolved.is_dir():
        raise ExportError(
            f"{folder} is a file, not a folder, so the story cannot be exported there. Move "
            f"that file away, or choose another export folder ({ANOTHER_FOLDER}).",
            another_folder=True,
        )
    return resolved


def folder_problem(out_dir: Path) -> str | None:
    """Why stories cannot be exported into `out_dir` (None: nothing seen against it), found
    without writing anything: a file where a folder of the path should be, or a folder
    storyterm may not write into (the nearest one that exists, since the rest is made)."""
    root = Path(os.path.abspath(out_dir.expanduser()))
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return (
            f"{existing} is a file, not a folder, so the story cannot be exported to {root}. "
            "Choose another folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        return (
            f"storyterm may not write to {existing} (permission denied), so the story cannot be "
            f"exported to {root}. Choose another folder."
        )
    return None


def export_error(folder: Path, exc: OSError, committed: list[str] | int) -> ExportError:
    """`exc`, met while exporting to `folder`, as what happened, what the folder holds now
    (`committed`: whether any file was already replaced) and what the writer can do."""
    where = f"{folder}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = f"The disk is full: the story could not be exported to {where}."
        fix = "Free some space, or choose another export folder"
    elif exc.errno == errno.EROFS:
        what = f"{where} is on a read-only disk, so the story could not be exported there."
        fix = "Choose another export folder"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        what = f"storyterm may not write to {where} (permission denied)."
        fix = "Give yourself write access to it, or choose another export folder"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        bad = _first_file_on(Path(exc.filename)) if exc.filename else None
        what = (
            f"{bad or where} is a file, not a folder, so the story cannot be exported to {where}."
        )
        fix = "Move that file away, or choose another export folder"
    elif exc.errno == errno.ENAMETOOLONG:
        what = f"The path {where} is too long for this system."
        fix = "Choose a shorter export folder"
    else:
        what = f"The story could not be exported to {where}: {exc.strerror or exc}."
        fix = "Check the folder, or choose another export folder"
    if committed:
        done = "Every file there is either the earlier or the new version; none is half-written."
    else:
        done = "Nothing there was changed."
    return ExportError(f"{what} {done} {fix} ({ANOTHER_FOLDER}).", another_folder=True)


def _first_file_on(path: Path) -> Path | None:
    """The file standing where a folder of `path` should be (/etc/passwd for /etc/passwd/x)."""
    for candidate in reversed([path, *path.parents]):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None
