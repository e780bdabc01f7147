"""Before Qt starts: a clear message for a missing display or missing xcb libraries, and install
hints that match how Lookalike was installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from lookalike.app import install, startup

LDD_WITHOUT_ICCCM = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f9c)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f9c)
\tlibxcb-icccm.so.4 => not found
"""


class Done:
    def __init__(self, stdout):
        self.stdout = stdout


def test_every_missing_xcb_library_is_named_with_its_apt_and_dnf_package(tmp_path):
    missing = startup.missing_libraries(tmp_path / "libqxcb.so", run=lambda *a, **k: Done(LDD_WITHOUT_ICCCM))
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    msg = startup.display_problem({"DISPLAY": ":0"}, platform="linux", plugin=lambda: tmp_path,
                                  missing=lambda p: missing)
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in msg
    assert "sudo dnf install xcb-util-keysyms xcb-util-wm" in msg


def test_an_unknown_missing_library_is_named_with_how_to_find_its_package():
    msg = startup.install_message(["libxcb-new.so.7"])
    assert "libxcb-new.so.7" in msg and "apt-file search" in msg and "sudo apt install" not in msg


def test_the_check_runs_only_where_qt_would_use_xcb(tmp_path):
    def boom(_path):
        raise AssertionError("checked the xcb plugin")
    plugin = lambda: tmp_path  # noqa: E731
    for env in ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"},
                {"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"},
                {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"},
                {"WAYLAND_DISPLAY": "wayland-0"}):
        assert startup.display_problem(env, platform="linux", plugin=plugin, missing=boom) is None, env
    assert startup.display_problem({"DISPLAY": ":0"}, platform="darwin", plugin=plugin, missing=boom) is None
    assert startup.display_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, platform="linux",
                                   plugin=plugin, missing=lambda p: []) is None
    assert "no display" in startup.display_problem({}, platform="linux", plugin=plugin, missing=boom)


@pytest.mark.skipif(shutil.which("objdump") is None or startup.xcb_plugin() is None,
                    reason="needs objdump and PySide6's xcb plugin")
def test_the_package_table_covers_every_system_library_the_xcb_plugin_links():
    plugin = startup.xcb_plugin()
    lib = plugin.parents[2] / "lib"
    needed = set()
    for f in [plugin, *lib.glob("libQt6XcbQpa.so.*"), *lib.glob("libQt6Gui.so.*")]:
        out = subprocess.run(["objdump", "-p", str(f)], capture_output=True, text=True).stdout
        needed |= {line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED")}
    base = {"libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6", "libz.so.1"}
    system = {n for n in needed if not n.startswith("libQt6") and n not in base}
    assert system and system <= set(startup.SYSTEM_PACKAGES), system - set(startup.SYSTEM_PACKAGES)


def _gui(env, patch=""):
    code = (f"import lookalike.app.startup as s\n{patch}\n"
            "from lookalike.app.cli import main\nraise SystemExit(main(['gui']))")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(extra)
    return env


def test_lookalike_gui_without_a_library_qt_needs_says_what_to_install_and_exits_1():
    r = _gui(_env(DISPLAY=":97"), "s.missing_libraries = lambda plugin: ['libxcb-cursor.so.0']")
    assert r.returncode == 1, r.stderr
    assert "libxcb-cursor.so.0" in r.stderr and "sudo apt install libxcb-cursor0" in r.stderr
    assert "sudo dnf install xcb-util-cursor" in r.stderr
    assert "Could not load the Qt platform plugin" not in r.stderr        # Qt never started


def test_lookalike_gui_without_a_display_says_so_instead_of_a_qt_abort():
    r = _gui(_env())
    assert r.returncode == 1 and "there is no display" in r.stderr, r.stderr


def _origin(folder, editable):
    return lambda: (folder, editable)


def test_train_hint_names_the_checkout_the_app_was_installed_from():
    cmd = install.train_install_command(_origin("/home/u/src/lookalike", True), executable="/v/bin/python")
    assert cmd == "/v/bin/python -m pip install -e '/home/u/src/lookalike[train]'"
    cmd = install.train_install_command(_origin("/home/u/src/lookalike", False), executable="/v/bin/python")
    assert cmd == "/v/bin/python -m pip install '/home/u/src/lookalike[train]'"
    assert "'.[train]'" in install.train_install_command(_origin(None, False))
    assert "lookalike[train]" not in install.train_hint(frozen=False, origin=_origin(None, False))


def test_the_bundle_says_retraining_needs_the_pip_install():
    hint = install.train_hint(frozen=True)
    assert "pip install '.[train]'" in hint and "no PyTorch" in hint


def test_the_installed_origin_is_read_from_pips_record():
    """This test run's own install (editable from the checkout, see the README) is recognised."""
    from importlib import metadata
    text = next((t for t in (d.read_text("direct_url.json") for d in metadata.distributions(name="lookalike"))
                 if t), None)
    if not text:
        pytest.skip("lookalike was not installed by pip from a folder")
    folder, editable = install._origin()
    assert folder and os.path.isdir(folder)
    assert editable == bool(json.loads(text)["dir_info"].get("editable"))


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt install xvfb)")
def test_under_xvfb_the_window_opens_on_x11_at_1024x640_and_saves_a_screenshot(tmp_path, tiny_bundle, make_photo):
    from lookalike.app.cli import main as cli
    if startup.xcb_plugin() and startup.missing_libraries(startup.xcb_plugin()):
        pytest.skip(startup.install_message(startup.missing_libraries(startup.xcb_plugin())))
    album = tmp_path / "Pictures"
    album.mkdir()
    make_photo(31, (640, 480)).save(album / "a.jpg", quality=92)
    make_photo(31, (640, 480)).resize((320, 240)).save(album / "a_small.jpg")
    assert cli(["-q", "--model", tiny_bundle, "scan", str(album)]) == 0
    png = tmp_path / "shot.png"
    r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "lookalike.app.main",
                        "--model", tiny_bundle, "--size", "1024x640", "--screenshot", str(png)],
                       env=_env(), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    from PIL import Image
    with Image.open(png) as im:
        assert im.size == (1024, 640)
        assert len(im.convert("RGB").getcolors(1 << 20) or []) > 50     # a painted window, not a blank


def test_without_a_terminal_the_message_goes_to_a_desktop_dialog():
    started = []
    found = {"notify-send": "/usr/bin/notify-send"}
    assert startup.tell_desktop("needs libxcb-cursor0", run=lambda cmd, **k: started.append(cmd),
                                which=found.get)
    assert started == [["/usr/bin/notify-send", "--urgency=critical", "Lookalike cannot open its window",
                        "needs libxcb-cursor0"]]
    assert not startup.tell_desktop("x", run=lambda cmd, **k: started.append(cmd), which=lambda t: None)
