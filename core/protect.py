"""Protected folders: nothing in them is trashed or moved.

A folder is compared by where it really is, not by how its path is spelled: a protected
folder named through a symlink, a file reached through a symlinked root, or the same folder
spelled with other letter cases on a case-insensitive disk are all recognised (real paths,
then the identity (device, inode) of each real ancestor folder).
"""
from __future__ import annotations

import os


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class Protection:
    def __init__(self, folders=()):
        self.folders = [os.path.abspath(os.fspath(f)) for f in folders]
        self._real = [os.path.normcase(os.path.realpath(f)) for f in self.folders]
        self._keys = set()
        for f in self.folders:
            try:
                st = os.stat(f)
            except OSError:
                continue              # an offline protected folder still protects by its name
            self._keys.add((st.st_dev, st.st_ino))
        self._dirs: dict[str, bool] = {}

    def __bool__(self):
        return bool(self.folders)

    def covers(self, path) -> bool:
        """True when the file (or folder) `path` lies in a protected folder."""
        if not self.folders:
            return False
        path = os.path.abspath(os.fspath(path))
        if any(_within(path, f) for f in self.folders):
            return True
        if os.path.isdir(path):
            return self._folder_covered(path)
        d = os.path.dirname(path)
        hit = self._dirs.get(d)
        if hit is None:
            hit = self._dirs[d] = self._folder_covered(d)
        return hit

    def _folder_covered(self, d: str) -> bool:
        real = os.path.realpath(d)
        if any(_within(os.path.normcase(real), r) for r in self._real):
            return True
        p = real
        while self._keys:
            try:
                st = os.stat(p)
                if (st.st_dev, st.st_ino) in self._keys:
                    return True
            except OSError:
                pass
            parent = os.path.dirname(p)
            if parent == p:
                break
            p = parent
        return False
