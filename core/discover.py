"""Walk photo folders: recursive, symlink-loop safe, hidden and system folders skipped.

Photos are recognised by extension (camera RAW files included), and files with other or no
extension by their first bytes, so a JPEG saved as `IMG_0001` is found too.
"""
from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from typing import Iterator

log = logging.getLogger(__name__)

#: Camera RAW files, read through LibRaw (rawpy): the embedded JPEG preview where there is one.
RAW_EXTENSIONS = frozenset({
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf", ".orf", ".rw2",
    ".pef", ".srw", ".3fr", ".iiq", ".rwl", ".x3f",
})
#: What a camera writes beside a RAW file for the same shot.
CAMERA_JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg", ".heic", ".heif", ".hif"})
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib",
    ".tif", ".tiff", ".heic", ".heif", ".hif", ".avif",
}) | RAW_EXTENSIONS
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
                                                       b"hevc", b"hevx", b"mif1", b"msf1",
                                                       b"avif", b"avis", b"crx ")  # AVIF, Canon CR3
            or head[:4] in (b"IIU\x00", b"IIRO", b"IIRS", b"MMOR")                 # RW2, ORF
            or head.startswith(b"FUJIFILMCCD-RAW"))                               # RAF


def is_raw(path) -> bool:
    """True for a camera RAW file (by extension: most RAWs are TIFF inside, so bytes cannot tell)."""
    return os.path.splitext(os.fsdecode(path))[1].lower() in RAW_EXTENSIONS


def raw_jpeg_pair(a, b) -> bool:
    """True when `a` and `b` are a RAW file and the camera's JPEG (or HEIF) of the same shot:
    the same folder and the same name apart from the extension."""
    (da, na), (db, nb) = os.path.split(os.fsdecode(a)), os.path.split(os.fsdecode(b))
    (sa, ea), (sb, eb) = os.path.splitext(na), os.path.splitext(nb)
    if da != db or sa.lower() != sb.lower():
        return False
    ea, eb = ea.lower(), eb.lower()
    return (ea in RAW_EXTENSIONS and eb in CAMERA_JPEG_EXTENSIONS
            or eb in RAW_EXTENSIONS and ea in CAMERA_JPEG_EXTENSIONS)


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
