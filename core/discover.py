"""Walk photo folders: recursive, symlink-loop safe, hidden and system folders skipped.

Photos are recognised by extension, and files with other or no extension by their first
bytes, so a JPEG saved as `IMG_0001` is found too.
"""
from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from typing import Iterator

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib",
    ".tif", ".tiff", ".heic", ".heif", ".hif",
})
# Extensions that are certainly not photos: never sniffed.
NOT_PHOTO_EXTENSIONS = frozenset({
    ".txt", ".json", ".xml", ".xmp", ".pdf", ".mp4", ".mov", ".avi", ".mkv", ".mp3", ".wav",
    ".zip", ".gz", ".py", ".html", ".css", ".js", ".db", ".sqlite", ".ini", ".log", ".csv",
    ".aae", ".thm", ".lrv", ".md", ".doc", ".docx", ".xls", ".xlsx", ".exe", ".dll", ".so",
})
SYSTEM_DIRS = frozenset({
    "@eaDir", "$RECYCLE.BIN", "System Volume Information", "lost+found", "__MACOSX",
    "#recycle", "@Recycle", "Thumbs", "node_modules",
})


@dataclass(frozen=True)
class FileEntry:
    path: str        # absolute; may hold surrogate escapes for non-UTF-8 names
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class WalkProblem:
    path: str
    reason: str


def sniff_image(head: bytes) -> bool:
    """True when the first bytes look like a format we can decode."""
    return (head.startswith(b"\xff\xd8\xff")                         # JPEG
            or head.startswith(b"\x89PNG\r\n\x1a\n")                  # PNG
            or head[:4] == b"RIFF" and head[8:12] == b"WEBP"          # WebP
            or head[:6] in (b"GIF87a", b"GIF89a")                     # GIF
            or head[:2] == b"BM"                                      # BMP
            or head[:4] in (b"II*\x00", b"MM\x00*")                   # TIFF
            or head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"heim", b"heis",
                                                       b"hevc", b"hevx", b"mif1", b"msf1"))


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def walk(roots, include_hidden: bool = False, exclude=()) -> Iterator[FileEntry | WalkProblem]:
    """Yield a FileEntry per photo under `roots` and a WalkProblem per unreadable place.

    Symlinked folders are followed once (loops and repeats are skipped); symlinked files are
    skipped, since trashing a link frees nothing. `exclude` holds absolute folders to skip.
    """
    seen_dirs: set[tuple[int, int]] = set()
    exclude = {os.path.abspath(e) for e in exclude}
    stack = [os.path.abspath(os.fsdecode(r)) for r in reversed(list(roots))]
    while stack:
        top = stack.pop()
        try:
            st = os.stat(top)
        except OSError as exc:
            yield WalkProblem(top, f"cannot open folder: {exc.strerror or exc}")
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield WalkProblem(top, "not a folder")
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            with os.scandir(top) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield WalkProblem(top, f"cannot list folder: {exc.strerror or exc}")
            continue
        subdirs = []
        for e in entries:
            name = e.name
            if not include_hidden and is_hidden(name):
                continue
            try:
                is_link = e.is_symlink()
                if e.is_dir(follow_symlinks=True):
                    if name not in SYSTEM_DIRS and e.path not in exclude:
                        subdirs.append(e.path)
                    continue
                if is_link or not e.is_file(follow_symlinks=False):
                    continue
                ext = os.path.splitext(name)[1].lower()
                if ext in NOT_PHOTO_EXTENSIONS:
                    continue
                st = e.stat(follow_symlinks=False)
                if ext not in IMAGE_EXTENSIONS:
                    if st.st_size < 12 or not _sniff_file(e.path):
                        continue
                yield FileEntry(e.path, st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                continue  # vanished while we looked: nothing to report
            except OSError as exc:
                yield WalkProblem(e.path, f"cannot read file information: {exc.strerror or exc}")
        stack.extend(reversed(subdirs))


def _sniff_file(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return sniff_image(fh.read(16))
    except OSError:
        return False
