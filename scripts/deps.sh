# shellcheck shell=bash
# Sourced by scripts/test and scripts/demo: installs the Debian packages
# memscope needs to build and test, only those that are missing.

MS_PACKAGES=(cmake make gcc g++ pkg-config liburcu-dev libzstd-dev
    libunwind-dev libcmocka-dev libdw-dev libelf-dev python3 procps
    protobuf-c-compiler libprotobuf-c-dev zlib1g-dev
    libmicrohttpd-dev libcurl4-openssl-dev)
# Packages wanted for a command, installed only when the command is
# missing (a Node.js from elsewhere brings its own npm): COMMAND:PACKAGE.
# npm fetches the HTML report's libraries at build time (web/build.sh).
MS_COMMAND_PACKAGES=(npm:npm)
# scripts/test also builds with clang (warnings, ASan+UBSan), traces real
# programs of several runtimes (Rust: ripgrep, fd; Node.js; Java),
# compares figures with heaptrack's, and reads `memscope export --format
# pprof` with `go tool pprof` (golang-go); builds the man pages with
# scdoc (47 KB installed, libc only; pandoc is a 165 MB Haskell binary)
# and checks them against --help; drives `memscope top` in a terminal
# (tmux); scrapes `memscope consumer --metrics` with the real Prometheus
# (prometheus; tests/integration/fleet); builds the .deb and installs it
# (dpkg-dev: dpkg-shlibdeps computes its dependencies; file: CPack finds
# the ELF files with it)
MS_TEST_PACKAGES=(clang libclang-rt-14-dev ripgrep fd-find nodejs
    default-jdk-headless heaptrack golang-go scdoc dpkg-dev file tmux
    prometheus)
# scripts/bench runs memscope beside its peers (heaptrack; LTTng-UST's
# libc wrapper with a user-space-only session daemon, its trace counted
# with babeltrace2) on real programs (perl, python3, rg -j2, zstd -T2);
# /usr/bin/time gives each program's peak RSS
MS_BENCH_PACKAGES=(heaptrack lttng-tools liblttng-ust1 babeltrace2 perl
    python3 ripgrep zstd time)
# scripts/test loads the HTML report in Chromium (tests/browser) when it
# can be installed; without it those tests are skipped, and say so
MS_BROWSER_PACKAGES=(chromium)

# ms_install_deps [extra packages...]
ms_install_deps() {
    local missing=() p
    for p in "${MS_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$p")
    done
    for p in "${MS_COMMAND_PACKAGES[@]}"; do
        command -v "${p%%:*}" >/dev/null || missing+=("${p#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts: missing packages (${missing[*]}); run as root or install them" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ms_build DIR [cmake args...]: configure and build into DIR.
ms_build() {
    local dir=$1
    shift
    mkdir -p "$dir"
    if ! { cmake -S "$MS_ROOT" -B "$dir" -DMS_WERROR=ON "$@" &&
        cmake --build "$dir" -j"$(nproc)"; } >"$dir/build.log" 2>&1; then
        grep -E -B2 -A8 'error|Error' "$dir/build.log" | head -80 >&2
        echo "build in $dir failed (full log: $dir/build.log)" >&2
        return 1
    fi
}
