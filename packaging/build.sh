#!/usr/bin/env bash
# Build the one-folder Linux bundle: dist/lookalike/{lookalike,lookalike-gui,_internal/,share/}
#
#   bash packaging/build.sh                 # venv in build/bundle-venv (reused next time)
#   LOOKALIKE_BUILD_VENV=/some/venv bash packaging/build.sh
#
# The project is installed into the venv as a regular (non-editable) package: PyInstaller cannot
# follow setuptools' editable finder.  PyTorch and the trainer are not installed and not bundled.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${LOOKALIKE_BUILD_VENV:-$ROOT/build/bundle-venv}"
DIST="${LOOKALIKE_DIST:-$ROOT/dist}"
PYTHON="${PYTHON:-python3}"
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
. "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip
# `--force-reinstall --no-deps` on the project: the bundle gets this checkout, not a stale copy
python -m pip install --quiet "pyinstaller>=6.10"
python -m pip install --quiet .
python -m pip install --quiet --force-reinstall --no-deps .
if python -c "import torch" 2>/dev/null; then
  echo "note: torch is installed in $VENV; the spec excludes it from the bundle" >&2
fi

pyinstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$ROOT/build/pyinstaller" packaging/lookalike.spec

# desktop integration files next to the executables, and the installer for them
B="$DIST/lookalike"
APP_ID=io.github.lookalike.Lookalike
install -Dm644 packaging/linux/$APP_ID.desktop "$B/share/applications/$APP_ID.desktop"
install -Dm644 packaging/linux/$APP_ID.metainfo.xml "$B/share/metainfo/$APP_ID.metainfo.xml"
install -Dm644 resources/icons/$APP_ID.svg "$B/share/icons/hicolor/scalable/apps/$APP_ID.svg"
for png in resources/icons/$APP_ID-*.png; do
  n="${png##*-}"; n="${n%.png}"
  install -Dm644 "$png" "$B/share/icons/hicolor/${n}x${n}/apps/$APP_ID.png"
done
install -m755 packaging/linux/install-desktop.sh "$B/install-desktop.sh"
install -m644 packaging/linux/README-bundle.txt "$B/README.txt"

"$B/lookalike" --version
size=$(du -sh "$B" | cut -f1)
echo "bundle: $B  size: $size ($(du -sb "$B" | cut -f1) bytes)  built in $(( $(date +%s) - start )) s"
if command -v tar >/dev/null && [ "${LOOKALIKE_TARBALL:-0}" = 1 ]; then
  ver=$("$B/lookalike" --version | awk '{print $2}')
  tar -C "$DIST" -czf "$DIST/lookalike-$ver-linux-$(uname -m).tar.gz" lookalike
  echo "tarball: $(du -sh "$DIST/lookalike-$ver-linux-$(uname -m).tar.gz" | cut -f1)"
fi
