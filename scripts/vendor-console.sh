#!/usr/bin/env bash
# Reproduce the console's vendored browser libraries (src/hexlake/console/static/vendor) from the npm
# registry, pinned. Only the dist files the console loads and each package's licence are kept, so a
# Python user never needs Node: this script is for maintainers bumping a version (`make vendor`).
set -euo pipefail

DEST="${1:-src/hexlake/console/static/vendor}"
# package@version  then the files to keep (paths inside the package; directories are copied whole)
SPECS=(
    "leaflet@1.9.4 dist/leaflet.js dist/leaflet.css dist/images LICENSE"
    "uplot@1.6.32 dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE"
    "topojson-client@3.1.0 dist/topojson-client.min.js LICENSE"
    "world-atlas@2.0.2 countries-110m.json LICENSE"
    "swagger-ui-dist@5.36.0 swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE"
    "redoc@2.5.1 bundles/redoc.standalone.js LICENSE"
)

command -v npm >/dev/null || { echo "vendor: npm is needed to refresh the vendored files" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$DEST"
mkdir -p "$DEST"
for spec in "${SPECS[@]}"; do
    read -r pkg files <<<"$spec"
    name="${pkg%@*}"
    tgz="$(cd "$work" && npm pack "$pkg" --silent | tail -1)"
    mkdir -p "$work/$name" "$DEST/$name"
    tar xzf "$work/$tgz" -C "$work/$name"
    for f in $files; do
        cp -R "$work/$name/package/$f" "$DEST/$name/"
    done
    echo "$pkg" >"$DEST/$name/VERSION"
done
# ReDoc's sidebar footer loads a logo from its vendor's CDN: point it at the packaged favicon instead, so
# /redoc makes no external request (the only change made to a vendored file).
sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#/console/static/vendor/swagger-ui-dist/favicon-32x32.png#' \
    "$DEST/redoc/redoc.standalone.js"
grep -q "cdn.redoc.ly" "$DEST/redoc/redoc.standalone.js" && { echo "vendor: redoc still names its CDN" >&2; exit 1; }
echo "vendor: $(du -sh "$DEST" | cut -f1) in $DEST"
