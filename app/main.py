"""Entry point of the desktop app: `lookalike gui`, `lookalike-gui` or `python -m lookalike.app.main`."""
from __future__ import annotations

import argparse
import logging
import os
import sys

APP_ID = "io.github.lookalike.Lookalike"


def build_parser():
    p = argparse.ArgumentParser(prog="lookalike-gui", description="Find duplicate and similar photos.")
    p.add_argument("--library", metavar="PATH", help="library folder (default: the settings', else the user data dir)")
    p.add_argument("--model", metavar="DIR", help="model bundle folder (default: the settings', else the library's)")
    p.add_argument("--theme", choices=["system", "dark", "light"], help="colour theme for this run")
    p.add_argument("-v", "--verbose", action="store_true")
    # for the docs' screenshots: save the window to PNG once the groups are shown, then quit
    p.add_argument("--screenshot", metavar="PNG", help=argparse.SUPPRESS)
    p.add_argument("--screenshot-compare", metavar="PNG", help=argparse.SUPPRESS)
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help=argparse.SUPPRESS)   # with the heat map
    p.add_argument("--size", default="1320x820", help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        # Qt aborts the process when its platform plugin cannot load; say why first, in full
        from .startup import display_problem, tell_desktop
        problem = display_problem()
        if problem:
            print(f"lookalike: {problem}", file=sys.stderr)
            if not (sys.stderr and sys.stderr.isatty()):       # started from the menu: no terminal
                tell_desktop(problem)
            return 1
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(["lookalike"])

    from .settings import Settings
    from .theme import apply_theme
    from .window import MainWindow

    app.setApplicationName("Lookalike")
    app.setOrganizationName("Lookalike")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(_app_icon())
    settings = Settings.load()
    apply_theme(app, args.theme or settings.theme)
    win = MainWindow(settings, library_dir=args.library, model_dir=args.model)
    if args.screenshot or args.screenshot_compare:
        w, h = (int(v) for v in args.size.split("x"))
        win.resize(w, h)
        _schedule_screenshots(app, win, args.screenshot, args.screenshot_compare, args.compare)
    win.show()
    code = app.exec()
    return int(code)


def _app_icon():
    """The app icon (PNGs in lookalike.resources/icons, named after APP_ID; empty if missing)."""
    from importlib import resources

    from PySide6.QtGui import QIcon
    icon = QIcon()
    icons = resources.files("lookalike.resources") / "icons"
    for n in (16, 24, 32, 48, 64, 128, 256, 512):
        f = icons / f"{APP_ID}-{n}.png"
        if f.is_file():
            icon.addFile(str(f))
    return icon


def _schedule_screenshots(app, win, groups_png, compare_png, compare_pair=None):
    from PySide6.QtCore import QTimer

    state = {"done": False}

    def shoot(path):
        win.repaint()
        app.processEvents()
        win.grab().toImage().save(path, "PNG", 0)      # 0: smallest file
        if os.path.getsize(path) > 280_000:            # keep the docs' PNGs small: 256 colours, dithered
            from PIL import Image
            with Image.open(path) as im:
                rgb = im.convert("RGB")
                palette = rgb.quantize(256, method=Image.Quantize.MEDIANCUT)
                small = rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
            small.save(path, optimize=True)
        print(f"saved {path}", flush=True)

    def after_compare(*_a):
        if state["done"]:
            return
        state["done"] = True
        QTimer.singleShot(400, lambda: (shoot(compare_png), win.close()))

    def after_groups():
        if groups_png:
            win.mark_by_rule("highest_resolution")
            win.groups_view.selectRow(0)
            QTimer.singleShot(1500, lambda: (shoot(groups_png), next_step()))
        else:
            next_step()

    def after_differences():
        win.compare.heat_button.setChecked(True)
        after_compare()

    def next_step():
        if compare_png and compare_pair:
            win.compare.differences_ready.connect(after_differences)
            win.show_compare(*compare_pair)
            return
        # a resized copy shows more than an identical one: score below 100, metadata differences
        for r in range(win.groups_model.rowCount()):
            ms = win.groups_model.members(r)
            if len(ms) >= 2 and not ms[1].identical and ms[0].width != ms[1].width:
                win.groups_view.selectRow(r)
                break
        if compare_png and win.members_model.rowCount() >= 2:
            win.compare.result_ready.connect(after_compare)
            win.compare_selected()
        else:
            win.close()

    win.library_loaded.connect(lambda: QTimer.singleShot(100, after_groups))


def run():
    sys.exit(main())


if __name__ == "__main__":
    run()
