#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# web/build.sh SRC OUT: the JavaScript libraries of the HTML report, from
# the npm registry, as package-lock.json pins them, into OUT:
#   OUT/vendor.js     their minified UMD/IIFE builds, in load order
#   OUT/vendor.css    their style sheets
#   OUT/LICENSES.txt  each package's name, version and licence text
# `memscope report --format html` inlines these (and OUT/report.{js,css},
# which CMake copies from SRC) into one self-contained file.
#
# Runs `npm ci --ignore-scripts --omit=dev` in OUT/npm (never in the source
# tree). Without npm or the registry it says so and exits 0, leaving no
# vendor.js: the rest of the build and the tests do not need it, and
# `--format html` then tells how to get it. MS_WEB_NPM_TIMEOUT (s, default
# 300) bounds npm.
set -uo pipefail
src=$1
out=$2
npmdir=$out/npm
# load order: each UMD file extends the global `d3` with what the next
# ones need; d3-flame-graph's UMD build takes d3 from that global
files=(
    d3-array/dist/d3-array.min.js
    d3-color/dist/d3-color.min.js
    d3-interpolate/dist/d3-interpolate.min.js
    d3-format/dist/d3-format.min.js
    d3-time/dist/d3-time.min.js
    d3-time-format/dist/d3-time-format.min.js
    d3-scale/dist/d3-scale.min.js
    d3-selection/dist/d3-selection.min.js
    d3-dispatch/dist/d3-dispatch.min.js
    d3-timer/dist/d3-timer.min.js
    d3-ease/dist/d3-ease.min.js
    d3-transition/dist/d3-transition.min.js
    d3-hierarchy/dist/d3-hierarchy.min.js
    d3-flame-graph/dist/d3-flamegraph.umd.min.js
    uplot/dist/uPlot.iife.min.js
)
css=(uplot/dist/uPlot.min.css)

fail() {
    echo "memscope web: $*; 'memscope report --format html' will not" \
        "work from this build until 'cmake --build BUILD --target web'" \
        "succeeds with npm and the npm registry reachable" >&2
    # the next build tries again: CMake's output is npm/package-lock.json
    rm -f "$out/vendor.js" "$out/vendor.css" "$out/LICENSES.txt" \
        "$npmdir/package-lock.json"
    exit 0
}

command -v npm >/dev/null || fail "npm is not installed"
mkdir -p "$npmdir" || fail "cannot create $npmdir"
cp "$src/package.json" "$src/package-lock.json" "$npmdir/" ||
    fail "cannot copy package.json"
echo "memscope web: npm ci in $npmdir"
if ! (cd "$npmdir" && timeout "${MS_WEB_NPM_TIMEOUT:-300}" npm ci \
    --ignore-scripts --omit=dev --prefer-offline --no-audit --no-fund \
    --fetch-retries=1 \
    --loglevel=error >npm.log 2>&1); then
    tail -5 "$npmdir/npm.log" >&2
    fail "npm ci failed (log: $npmdir/npm.log)"
fi

nm=$npmdir/node_modules
tmp=$out/vendor.js.tmp
: >"$tmp"
for f in "${files[@]}"; do
    [ -f "$nm/$f" ] || fail "$f is missing from the npm packages"
    # a file inlined into <script> must not close it
    grep -qi '</script' "$nm/$f" && fail "$f contains </script"
    { cat "$nm/$f"; printf '\n;\n'; } >>"$tmp"
done
: >"$out/vendor.css.tmp"
for f in "${css[@]}"; do
    { cat "$nm/$f"; printf '\n'; } >>"$out/vendor.css.tmp"
done
{
    echo "The HTML report of memscope contains these libraries, from the"
    echo "npm registry, under their own licences:"
    for d in "$nm"/*/; do
        p=$(basename "$d")
        v=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$d/package.json" | head -1)
        l=$(sed -n 's/^ *"license": *"\([^"]*\)".*/\1/p' "$d/package.json" | head -1)
        printf '\n==== %s %s (%s)\n\n' "$p" "$v" "$l"
        cat "$d"/LICEN[CS]E* 2>/dev/null || fail "$p has no licence file"
    done
} >"$out/LICENSES.txt.tmp"
mv "$tmp" "$out/vendor.js"
mv "$out/vendor.css.tmp" "$out/vendor.css"
mv "$out/LICENSES.txt.tmp" "$out/LICENSES.txt"
echo "memscope web: $(wc -c <"$out/vendor.js") bytes of scripts in $out"
