#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/browser/setup.sh SRC OUT: playwright-core, as package-lock.json
# pins it, into OUT/node_modules (the browser tests' fixture). It drives
# Debian's Chromium (/usr/bin/chromium) and downloads no browser of its
# own (--ignore-scripts). Offline or without npm the tests skip: exit 0.
set -uo pipefail
src=$1
out=$2
mkdir -p "$out"
cp "$src/package.json" "$src/package-lock.json" "$out/"
if [ -d "$out/node_modules/playwright-core" ] &&
    cmp -s "$src/package-lock.json" "$out/node_modules/.package-lock.json.src"; then
    exit 0
fi
if ! (cd "$out" && timeout 300 npm ci --ignore-scripts --prefer-offline \
    --no-audit --no-fund --fetch-retries=1 --loglevel=error); then
    echo "browser tests: npm ci failed; they will be skipped" >&2
    exit 0
fi
cp "$src/package-lock.json" "$out/node_modules/.package-lock.json.src"
