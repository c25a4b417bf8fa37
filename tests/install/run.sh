#!/usr/bin/env bash
# Installs the build into a scratch prefix, builds tests/install/app against it with
# find_package(offsync) (static and shared) and with pkg-config, starts the installed `offsync
# serve`, and has each build of the app sync a record to it.
#   tests/install/run.sh BUILD_DIR SOURCE_DIR [EXTRA_FLAGS]
# EXTRA_FLAGS (e.g. -fsanitize=address,undefined) are what the installed build was compiled with,
# which the app needs too to link it.
set -euo pipefail
build=$1
src=$2
extra=${3:-}
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in include/offsync/client.h include/offsync/transport.h bin/offsync; do
  [ -e "$prefix/$f" ] || { echo "install: $f is missing"; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name liboffsync.a | head -n 1)")
[ -e "$libdir/liboffsync.so" ] || { echo "install: liboffsync.so is missing"; exit 1; }
[ -e "$libdir/cmake/offsync/offsyncConfig.cmake" ] || { echo "install: offsyncConfig.cmake is missing"; exit 1; }
[ -e "$libdir/pkgconfig/offsync.pc" ] || { echo "install: offsync.pc is missing"; exit 1; }
# Only the public headers: nothing of the source tree.
if [ -n "$(find "$prefix/include" -type f ! -path "*/include/offsync/*")" ]; then
  echo "install: headers outside include/offsync"; exit 1
fi

cmake -S "$src/tests/install/app" -B "$work/app-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
  > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/app-build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --exists offsync
# A C program through pkg-config: the shared library and the C ABI.
# shellcheck disable=SC2046
# shellcheck disable=SC2086
cc -std=c11 $extra "$src/tests/install/app/app_c.c" -o "$work/app-pkg-config" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs offsync) \
  || { echo "pkg-config build failed"; exit 1; }
# The shared library exports the C ABI and nothing else.
others=$(nm -D --defined-only "$libdir/liboffsync.so" | awk '{print $3}' | grep -v '^offsync_' || true)
[ -z "$others" ] || { echo "liboffsync.so exports more than the C ABI:"; echo "$others" | head; exit 1; }

"$prefix/bin/offsync" serve --db "$work/server.db" --listen 127.0.0.1:0 > "$work/serve.out" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.out" || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { echo "the installed offsync serve did not start"; cat "$work/serve.out"; exit 1; }

"$work/app-build/app" "$url" "$work/c1.db" find-package-static
LD_LIBRARY_PATH="$libdir" "$work/app-build/app_shared" "$url" "$work/c2.db" find-package-shared
LD_LIBRARY_PATH="$libdir" "$work/app-pkg-config" "$url" "$work/c3.db" pkg-config
applied=$("$prefix/bin/offsync" admin stats --db "$work/server.db" --json | grep -o '"mutations_applied": *[0-9]*' | grep -o '[0-9]*$')
[ "$applied" = 3 ] || { echo "the server applied $applied mutations, expected 3"; exit 1; }
echo "the installed offsync built three apps and each synced"
