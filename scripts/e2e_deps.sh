#!/usr/bin/env bash
# Installs what the browser tests (tests/e2e/test_maplibre.py, test_viewer.py, test_stac_browser.py) need, when
# missing: headless Chromium (apt, as root or through sudo), MapLibre GL JS (npm, into .local/e2e/node_modules)
# and STAC Browser (built from its npm package into .local/e2e/stac-browser).
set -euo pipefail
MAPLIBRE_VERSION="${MAPLIBRE_VERSION:-5.24.1}"
STAC_BROWSER_VERSION="${STAC_BROWSER_VERSION:-4.0.1}"
DEST="${1:-.local/e2e}"
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "e2e_deps: need root or sudo to install chromium" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "e2e_deps: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if [ ! -f "$DEST/node_modules/maplibre-gl/dist/maplibre-gl.js" ]; then
  command -v npm >/dev/null || { echo "e2e_deps: npm is needed to install maplibre-gl" >&2; exit 1; }
  echo "e2e_deps: installing maplibre-gl@$MAPLIBRE_VERSION into $DEST"
  mkdir -p "$DEST"
  npm install --prefix "$DEST" --no-audit --no-fund --silent "maplibre-gl@$MAPLIBRE_VERSION"
fi
if [ "$(cat "$DEST/stac-browser/VERSION" 2>/dev/null)" != "$STAC_BROWSER_VERSION" ]; then
  command -v npm >/dev/null || { echo "e2e_deps: npm is needed to build STAC Browser" >&2; exit 1; }
  echo "e2e_deps: building STAC Browser $STAC_BROWSER_VERSION into $DEST/stac-browser (npm ships sources only)"
  mkdir -p "$DEST"
  DEST="$(cd "$DEST" && pwd)" STAC_BROWSER_VERSION="$STAC_BROWSER_VERSION" bash "$(dirname "$0")/stac_browser_build.sh"
fi
