#!/usr/bin/env sh
# Add Lookalike to the desktop's application menu, for this user, from the unpacked bundle:
#   ./install-desktop.sh            (run it from anywhere; it finds the bundle next to itself)
#   ./install-desktop.sh --remove
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
APP_ID=io.github.lookalike.Lookalike
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
if [ "${1:-}" = "--remove" ]; then
  rm -f "$DATA/applications/$APP_ID.desktop" "$DATA/metainfo/$APP_ID.metainfo.xml"
  find "$DATA/icons/hicolor" -name "$APP_ID.*" -delete 2>/dev/null || true
  echo "removed the menu entry"
  exit 0
fi
mkdir -p "$DATA/applications" "$DATA/metainfo"
sed "s|^Exec=lookalike-gui|Exec=\"$HERE/lookalike-gui\"|" "$HERE/share/applications/$APP_ID.desktop" \
  > "$DATA/applications/$APP_ID.desktop"
cp "$HERE/share/metainfo/$APP_ID.metainfo.xml" "$DATA/metainfo/"
cp -r "$HERE/share/icons" "$DATA/"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -qtf "$DATA/icons/hicolor" 2>/dev/null || true
echo "added Lookalike to the application menu ($DATA/applications/$APP_ID.desktop)"
echo "for the command line:  ln -s \"$HERE/lookalike\" ~/.local/bin/lookalike"
