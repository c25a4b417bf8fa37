#!/usr/bin/env bash
# Installs the Debian 12 packages offsync needs, and only those that are missing.
# Sourced by scripts/demo and scripts/test; safe to run again.
set -euo pipefail

OFFSYNC_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libsqlite3-dev libsqlitecpp-dev sqlite3
  nlohmann-json3-dev libcurl4-openssl-dev curl libssl-dev
  libboost-dev libcli11-dev doctest-dev librapidcheck-dev
  clang libclang-rt-14-dev  # libFuzzer targets (tests/fuzz)
  systemd  # systemd-socket-activate, for the socket activation test
  python3 python3-oauthlib  # a third-party OAuth client in the OAuth test
  python3-pytest python3-venv python3-setuptools python3-pip  # the Python binding and its tests
  gnuplot-nox  # bench/run-all plots
  prometheus  # promtool checks the /metrics text
  libpqxx-dev postgresql  # the PostgreSQL server store and its tests' throwaway cluster
)

offsync_install_deps() {
  local missing=()
  local p
  for p in "${OFFSYNC_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "offsync: installing missing packages: ${missing[*]}" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Configures (once) and builds the given CMake preset incrementally: every target, or the targets
# named after the preset.
offsync_build() {
  local preset="$1"
  shift
  # ccache hits across clones and worktrees of the same sources (paths hashed relative to here).
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  local dir="build/$preset"
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake --preset "$preset"
  fi
  if [ $# -gt 0 ]; then
    cmake --build --preset "$preset" -j "${OFFSYNC_JOBS:-2}" --target "$@"
  else
    cmake --build --preset "$preset" -j "${OFFSYNC_JOBS:-2}"
  fi
}
