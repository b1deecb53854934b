#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian package of a build tree, as a user gets it (issue 15):
# `cpack -G DEB` into a scratch directory; the package's dependencies
# computed from the binaries and its files all there; then installed,
# `memscope record -- /bin/true` run from the installed paths, and
# removed.
#
# usage: deb_test.sh BUILD_DIR
#
# Installed with `dpkg -i` only when that cannot clobber anything: run as
# root, no memscope package installed, and none of the package's files
# already on the system; then `dpkg -r` and `dpkg --purge` must leave no
# file or directory of it behind. Otherwise (or MS_TEST_DEB=extract) the
# package is unpacked with `dpkg -x` into a scratch root and run there.
set -u
build=$(cd "$1" && pwd)
fails=0
tmp=$(mktemp -d /tmp/ms-deb-XXXXXX)
installed=
cleanup() {
    # A failure half-way must not leave the package on the system.
    [ -n "$installed" ] && dpkg --purge memscope >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
die() {
    echo "FAIL: $*"
    exit 1
}

# dpkg_locked CMD...: runs a dpkg command, waiting up to a minute for a
# dpkg lock held by someone else (apt on the same machine).
dpkg_locked() {
    local i out rc
    for i in $(seq 60); do
        out=$("$@" 2>&1)
        rc=$?
        if [ $rc -ne 0 ] && grep -q "lock" <<<"$out" && [ "$i" -lt 60 ]; then
            sleep 1
            continue
        fi
        printf '%s\n' "$out"
        return $rc
    done
}

out=$(cd "$build" && cpack -G DEB -B "$tmp/out" 2>&1) ||
    die "cpack failed: $out"
deb=$(ls "$tmp"/out/memscope_*.deb 2>/dev/null)
[ -f "$deb" ] || die "no .deb: $out"

# Dependencies come from dpkg-shlibdeps (the libraries the binaries link)
# and package.cmake (those loaded with dlopen when first needed).
# libmicrohttpd and libcurl are loaded for --metrics and --push only.
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libzstd1 liburcu8 libunwind8 libdw1 libelf1 libstdc++6; do
    grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
recommends=$(dpkg-deb -f "$deb" Recommends)
for lib in libmicrohttpd12 libcurl4; do
    grep -q "\b$lib\b" <<<"$recommends" ||
        fail "Recommends lacks $lib: $recommends"
done

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' |
    grep -v '^$' | grep -vx '/' >"$tmp/paths"
for want in /usr/bin/memscope '/usr/lib/.*libmemscope\.so\.0' \
    /usr/include/memscope.h '/usr/lib/.*pkgconfig/memscope\.pc' \
    '/usr/lib/.*cmake/memscope/memscope-config\.cmake' \
    /usr/share/man/man1/memscope.1.gz \
    /usr/share/man/man1/memscope-record.1.gz \
    /usr/share/bash-completion/completions/memscope; do
    grep -qx "$want" "$tmp/paths" || fail "$want not in the package"
done

mode=extract
if [ "${MS_TEST_DEB:-}" != extract ] && [ "$(id -u)" -eq 0 ] &&
    ! dpkg-query -W -f='${Status}\n' memscope 2>/dev/null |
    grep -q installed; then
    mode=dpkg
    # A file of the package already there (an unpackaged install in
    # /usr) would be overwritten by dpkg -i and removed by dpkg -r.
    while read -r p; do
        if [ -e "$p" ] && [ ! -d "$p" ]; then
            echo "note: $p exists: not installing with dpkg -i"
            mode=extract
            break
        fi
    done <"$tmp/paths"
fi

if [ $mode = dpkg ]; then
    # What exists now stays; everything else of the package must go.
    while read -r p; do
        [ -e "$p" ] || [ -L "$p" ] || echo "$p"
    done <"$tmp/paths" >"$tmp/new"
    installed=1
    out=$(dpkg_locked dpkg -i "$deb") || die "dpkg -i failed: $out"
    root=
else
    dpkg -x "$deb" "$tmp/root" || die "dpkg -x failed"
    root=$tmp/root
fi

cli=$root/usr/bin/memscope
out=$("$cli" record --out "$tmp/arc" --sampling full -- /bin/true 2>&1) ||
    fail "memscope record -- /bin/true failed: $out"
json=$("$cli" stats "$tmp/arc" --json 2>&1) ||
    fail "memscope stats failed: $json"
grep -q '"processes": *1\b' <<<"$json" ||
    fail "the archive has not one process: $json"
# memscope run found the installed agent (realpath: the versioned file).
# shellcheck disable=SC2016 # $LD_PRELOAD is the child shell's
grep -q "$root/usr/lib/.*libmemscope\.so" <<<"$(MEMSCOPE_SESSION=none \
    "$cli" run -- /bin/sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)" ||
    fail "memscope run does not preload the installed agent"
pc=$(dirname "$(grep -m1 'pkgconfig/memscope\.pc$' "$tmp/paths")")
v=$(PKG_CONFIG_LIBDIR=$root$pc pkg-config --modversion memscope 2>&1)
[ "$v" = "$(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')" ] ||
    fail "pkg-config --modversion memscope: $v"

if [ $mode = dpkg ]; then
    out=$(dpkg_locked dpkg -r memscope) || fail "dpkg -r failed: $out"
    out=$(dpkg_locked dpkg --purge memscope) || fail "dpkg --purge failed: $out"
    installed=
    if dpkg-query -W -f='${Status}\n' memscope 2>/dev/null |
        grep -q installed; then
        fail "memscope still installed after dpkg --purge"
    fi
    while read -r p; do
        if [ -e "$p" ] || [ -L "$p" ]; then
            fail "$p left after dpkg --purge"
        fi
    done <"$tmp/new"
fi

if [ $fails -ne 0 ]; then
    echo "deb ($mode): $fails failed"
    exit 1
fi
echo "PASS: $(basename "$deb") ($mode): Depends: $depends; record, stats," \
    "run and pkg-config from the installed paths$([ $mode = dpkg ] &&
        echo "; removed and purged, nothing left")"
