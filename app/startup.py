"""What the window needs from the system, checked before Qt starts.

Qt's X11 platform plugin (`libqxcb.so`) links a dozen xcb-util libraries that a desktop often
has but a fresh server or minimal install does not; without them Qt aborts with a message that
names one of them. This module finds every missing one at once (`ldd` on the plugin, the way a
person would) and names the packages that provide them, for apt and dnf. No Qt is imported here.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

# the libraries Qt's xcb plugin and the Qt libraries under it link (PySide6 6.6-6.11,
# `objdump -p libqxcb.so libQt6XcbQpa.so.6 libQt6Gui.so.6 | grep NEEDED`), with the package
# that provides each: (Debian/Ubuntu, Fedora/RHEL)
SYSTEM_PACKAGES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def xcb_plugin() -> Path | None:
    """PySide6's `platforms/libqxcb.so` (in a venv or a PyInstaller bundle), None if absent."""
    spec = importlib.util.find_spec("PySide6")
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if path.is_file():
            return path
    return None


def missing_libraries(plugin: Path, run=subprocess.run) -> list[str]:
    """The shared libraries `plugin` needs that the dynamic loader cannot find.

    `ldd` resolves them the way Qt's loader will (RUNPATH, LD_LIBRARY_PATH, the system
    paths); where there is no `ldd`, every library of SYSTEM_PACKAGES is tried with dlopen."""
    try:
        out = run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is not None and "=>" in out:
        return sorted(set(_NOT_FOUND.findall(out)))
    missing = []
    for name in SYSTEM_PACKAGES:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def install_message(missing: list[str]) -> str:
    """One message naming the missing libraries and the apt and dnf commands that install them."""
    apt = sorted({SYSTEM_PACKAGES[m][0] for m in missing if m in SYSTEM_PACKAGES})
    dnf = sorted({SYSTEM_PACKAGES[m][1] for m in missing if m in SYSTEM_PACKAGES})
    unknown = [m for m in missing if m not in SYSTEM_PACKAGES]
    lines = ["the window cannot open: Qt's X11 plugin needs system libraries that are missing: "
             + ", ".join(missing) + "."]
    if apt:
        lines += ["Install them, then start Lookalike again:",
                  f"  Debian/Ubuntu:  sudo apt install {' '.join(apt)}",
                  f"  Fedora/RHEL:    sudo dnf install {' '.join(dnf)}"]
    if unknown:
        lines.append("Find the package of " + ", ".join(unknown)
                     + " with `apt-file search NAME` or `dnf provides '*/NAME'`.")
    lines.append("The command line works without them: lookalike scan, groups, compare (lookalike --help).")
    return "\n".join(lines)


def display_problem(environ=None, platform: str | None = None, plugin=None, missing=None) -> str | None:
    """Why Qt would fail to open a window here, as a message for the user; None when it can.

    Only X11 (xcb) is checked: QT_QPA_PLATFORM unset or "xcb", on Linux, with a DISPLAY and
    not in a Wayland session."""
    env = os.environ if environ is None else environ
    if (platform or sys.platform) != "linux":
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen not in ("", "xcb"):
        return None                               # offscreen, wayland, ...: the user chose
    if chosen == "" and env.get("WAYLAND_DISPLAY") and (
            env.get("XDG_SESSION_TYPE") == "wayland" or not env.get("DISPLAY")):
        return None                               # Qt picks its Wayland plugin
    if not env.get("DISPLAY"):
        return ("the window cannot open: there is no display (DISPLAY is not set). Start it from a "
                "desktop session, or use the command line: lookalike scan, groups, compare "
                "(lookalike --help).")
    path = (plugin or xcb_plugin)()
    if path is None:
        return None
    gone = (missing or missing_libraries)(path)
    return install_message(gone) if gone else None


def tell_desktop(message: str, run=subprocess.Popen, which=None) -> bool:
    """Show the message in a desktop dialog when there is no terminal to read it (a start from
    the application menu): zenity, kdialog, notify-send or xmessage, whichever exists. These
    tools do not need Qt's xcb libraries. Returns True when one was started."""
    import shutil
    which = which or shutil.which
    for tool, args in (("zenity", ["--error", "--no-wrap", "--title=Lookalike", f"--text={message}"]),
                       ("kdialog", ["--title", "Lookalike", "--error", message]),
                       ("notify-send", ["--urgency=critical", "Lookalike cannot open its window", message]),
                       ("xmessage", ["-center", message])):
        exe = which(tool)
        if exe:
            try:
                run([exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return True
            except OSError:
                continue
    return False
