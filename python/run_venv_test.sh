#!/usr/bin/env bash
# The Python binding as a user installs it: `pip install --no-build-isolation` of a copy of
# python/ into a fresh virtual environment (with the system's site packages: Debian's setuptools
# and pytest, no package index), then its pytest scenarios against the installed package.
#   python/run_venv_test.sh SOURCE_DIR LIBOFFSYNC_SO
set -euo pipefail
src=$1
lib=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/python" "$work/src"
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install --quiet --no-build-isolation --no-index --no-deps "$work/src" > "$work/pip.log" 2>&1 ||
  { cat "$work/pip.log"; exit 1; }
rm -rf "$work/src/offsync"  # the tests must import the installed package, not the copy
cd "$work"
where=$("$work/venv/bin/python" -c "import offsync; print(offsync.__file__)")
case "$where" in "$work/venv/"*) ;; *) echo "offsync imported from $where, not the venv"; exit 1 ;; esac
OFFSYNC_LIBRARY="$lib" "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$work/src/tests"
