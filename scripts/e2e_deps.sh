#!/usr/bin/env bash
# Installs what the browser test (tests/e2e/test_maplibre*.py) needs, when missing:
# headless Chromium (apt, as root or through sudo) and MapLibre GL JS (npm, into .local/e2e/node_modules).
set -euo pipefail
MAPLIBRE_VERSION="${MAPLIBRE_VERSION:-5.24.1}"
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
