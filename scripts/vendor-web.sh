#!/usr/bin/env bash
# Copies the browser libraries the web UI uses from node_modules (installed by
# `npm ci` from package.json) into web/vendor/, so the server serves them
# itself and the browser never reaches outside. The copies are also committed
# (their licences allow it): the UI works without running npm. Run after
# changing a library's version in package.json, then commit web/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
src=node_modules/chart.js
if [ ! -f "$src/dist/chart.umd.min.js" ]; then
    echo "vendor-web: $src is missing; run npm ci first" >&2
    exit 1
fi
mkdir -p web/vendor
version=$(node -p "require('./$src/package.json').version")
# without the source map comment: the map is not served
sed '/^\/\/# sourceMappingURL=/d' "$src/dist/chart.umd.min.js" > web/vendor/chart.umd.min.js
cp "$src/LICENSE.md" web/vendor/chart.js.LICENSE.md
echo "$version" > web/vendor/chart.js.VERSION
echo "vendored chart.js $version into web/vendor/"
