#!/usr/bin/env bash
# Builds the Debian package from BUILD_DIR with CPack (reusing the built binaries), extracts it into
# a scratch root and checks it: the expected files, the control fields (Depends from shlibdeps, the
# config as a conffile), the installed `spectrad --version`, `spectrad --check-config` on the
# shipped config, `spectra --help`, the Python package importing, and the man pages rendering
# without warnings and naming every option of the programs' --help.
# Usage: deploy/check-package.sh [BUILD_DIR [OUT_DIR]]   (OUT_DIR keeps the .deb; make deb)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
work=$(mktemp -d /tmp/spectrad-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
out=${2:-$work/out}
mkdir -p "$out"
fail() { echo "check-package: $*" >&2; exit 1; }

for tool in cpack dpkg-deb dpkg-shlibdeps groff man; do
  command -v "$tool" >/dev/null || fail "$tool not installed (deploy/install-deps.sh test)"
done

echo "== cpack -G DEB"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
rm -rf "$out/_CPack_Packages"
deb=$(ls "$out"/spectrad_*.deb)
echo "$deb"
dpkg-deb --info "$deb" | tee "$work/info"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$work/conffiles"
grep -qx /etc/spectrad/spectrad.conf "$work/conffiles" || fail "spectrad.conf is not a conffile"
for dep in libzmq5 libuv1 libmicrohttpd12 libopenblas; do
  grep -E '^ Depends:' "$work/info" | grep -q "$dep" || fail "Depends lacks $dep"
done

root=$work/root
dpkg-deb -x "$deb" "$root"
expected=(
  usr/bin/spectrad usr/bin/spectra usr/lib/libspectra.so.0 usr/include/spectra.h
  usr/lib/systemd/system/spectrad.service etc/spectrad/spectrad.conf
  usr/share/man/man8/spectrad.8 usr/share/man/man1/spectra.1
  usr/share/doc/spectrad/operations.md usr/share/doc/spectrad/protocol.md
  usr/lib/python3/dist-packages/spectra/__init__.py
)
for f in "${expected[@]}"; do
  [ -e "$root/$f" ] || fail "missing /$f"
done
echo "files: ${#expected[@]} expected paths present"

export LD_LIBRARY_PATH=$root/usr/lib   # libspectra.so.0 of the scratch root, not of the build
version=$("$root/usr/bin/spectrad" --version)
echo "installed: $version"
[[ $version == "spectrad $(dpkg-deb -f "$deb" Version) "* ]] || fail "spectrad --version: $version"
"$root/usr/bin/spectrad" --check-config "$root/etc/spectrad/spectrad.conf"
"$root/usr/bin/spectra" --help >"$work/spectra-help" || fail "spectra --help failed"
grep -q '^usage: spectra' "$work/spectra-help" || fail "spectra --help: no usage line"
ldd "$root/usr/bin/spectra" | grep -q "$root/usr/lib/libspectra.so.0" ||
  fail "the installed spectra does not load the installed libspectra"
if /usr/bin/python3 -c 'import zmq, msgpack, numpy' 2>/dev/null; then
  PYTHONPATH=$root/usr/lib/python3/dist-packages /usr/bin/python3 -c \
    'import spectra, sys; sys.exit(0 if spectra.__file__.startswith(sys.argv[1]) else 1)' "$root" ||
    fail "the installed Python package does not import"
  echo "python: import spectra OK"
fi

# Man pages: no groff or man warnings, and every option of --help documented.
for page in usr/share/man/man8/spectrad.8 usr/share/man/man1/spectra.1; do
  groff -man -Tutf8 -ww -z "$root/$page" 2>"$work/groff.err"
  [ ! -s "$work/groff.err" ] || { cat "$work/groff.err"; fail "groff warnings in $page"; }
  LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$root/$page" >"$work/page.txt" 2>"$work/man.err"
  [ ! -s "$work/man.err" ] || { cat "$work/man.err"; fail "man warnings in $page"; }
  [ -s "$work/page.txt" ] || fail "$page renders empty"
done
options_in() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
# No hyphenation (an option split over two lines would not be found); U+2010 back to '-'.
render() { LC_ALL=C.UTF-8 MANWIDTH=200 MANROFFOPT=-rHY=0 man -E UTF-8 -l "$1" 2>/dev/null |
           sed 's/\xe2\x80\x90/-/g'; }
render "$root/usr/share/man/man8/spectrad.8" >"$work/spectrad.txt"
render "$root/usr/share/man/man1/spectra.1" >"$work/spectra.txt"
missing=0
for opt in $("$root/usr/bin/spectrad" --help | options_in); do
  grep -q -- "$opt" "$work/spectrad.txt" || { echo "spectrad(8) lacks $opt" >&2; missing=1; }
done
commands=$(sed -n '/^Commands:/,/^$/p' "$work/spectra-help" | awk 'NR > 1 && NF { print $1 }')
for cmd in $commands; do
  grep -qE "^ +$cmd( |$)" "$work/spectra.txt" || { echo "spectra(1) lacks command $cmd" >&2; missing=1; }
  for opt in $("$root/usr/bin/spectra" "$cmd" --help 2>&1 | options_in); do
    grep -q -- "$opt" "$work/spectra.txt" || { echo "spectra(1) lacks $cmd $opt" >&2; missing=1; }
  done
done
for opt in $(options_in <"$work/spectra-help"); do
  grep -q -- "$opt" "$work/spectra.txt" || { echo "spectra(1) lacks $opt" >&2; missing=1; }
done
[ "$missing" -eq 0 ] || fail "man pages out of step with --help"
echo "man: both pages render without warnings and document every option of --help"
echo "check-package: OK ($(basename "$deb"), $(du -k "$deb" | cut -f1) KiB)"
