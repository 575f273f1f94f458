#!/usr/bin/env bash
# Builds STAC Browser $STAC_BROWSER_VERSION from its npm package into $DEST/stac-browser (called by e2e_deps.sh).
# The package has no prebuilt dist/ and no lockfile (ours is beside this script), so:
# - ol-stac is pinned to 1.2.0: `^1.1.0` now resolves to a release that needs a newer OpenLayers than the
#   `~10.6.0` STAC Browser pins (the build fails on parseTileMatrixSet / fromProjectionDefinition);
# - the runtime config script is switched on (it is commented out in public/index.html), so whoever serves the
#   files sets `catalogUrl` in config.js without rebuilding (docs/options.md); history mode, served from `/`.
set -euo pipefail
: "${DEST:?}" "${STAC_BROWSER_VERSION:?}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "@radiantearth/stac-browser@$STAC_BROWSER_VERSION" >/dev/null
tar xzf radiantearth-stac-browser-*.tgz
cd package
marker='<!-- <script defer="defer" src="/config.js"></script> -->'
grep -qF "$marker" public/index.html || { echo "stac_browser_build: no config.js marker in index.html" >&2; exit 1; }
sed -i "s|$marker|<script defer=\"defer\" src=\"<%= BASE_URL %>config.js\"></script>|" public/index.html
npm pkg set dependencies.ol-stac=1.2.0
# the whole dependency tree as resolved on 2026-11-21 (made with `npm install --package-lock-only` after the pin
# above), so that a new release of any of its ~1,150 packages cannot break the build
lock="$here/stac-browser-$STAC_BROWSER_VERSION.package-lock.json"
if [ -f "$lock" ]; then
  cp "$lock" package-lock.json
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
SB_historyMode=history SB_pathPrefix=/ npm run build:minimal >build.log 2>&1 || { tail -40 build.log >&2; exit 1; }
rm -rf "$DEST/stac-browser"
cp -r dist "$DEST/stac-browser"
echo "$STAC_BROWSER_VERSION" >"$DEST/stac-browser/VERSION"
