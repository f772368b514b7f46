#!/usr/bin/env bash
# The output-path policy, for every command that writes: an output that is the same file as an
# input or another output (by name, by hard link or through a symbolic link), that stands as a
# FIFO, a symbolic link, a device or a directory, or whose directory is missing, is refused with
# exit status 2 and one line naming the path and the option, and whatever stands at the path is
# left as it was; an input that is not a regular file is refused the same way. Run as root, the
# script runs itself again as an ordinary user (nobody), where it also checks that a read-only
# file of someone else is not replaced.
# Arguments: the flourish binary, the source directory.
set -uo pipefail
bin=$1 src=$2
self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
chmod 0777 "$dir"
cp "$src/scenarios/examples/semi_markov.yaml" "$dir/s.yaml"
cd "$dir" || exit 1

# The fingerprint of what stands at a path: its type and, for a regular file, its bytes.
print() {
  if [ -L "$1" ]; then echo "link $(readlink "$1")"
  elif [ -p "$1" ]; then echo fifo
  elif [ -c "$1" ]; then echo "char $(stat -c %t:%T "$1")"
  elif [ -d "$1" ]; then echo dir
  elif [ -f "$1" ]; then echo "file $(md5sum < "$1")"
  else echo none; fi
}

# refused WHAT OPTION PATH -- COMMAND...: exit 2, one line naming PATH and OPTION, PATH unchanged,
# no temporary file left beside it.
refused() {
  local what=$1 option=$2 path=$3
  shift 4
  local before after status=0
  before=$(print "$path")
  "$@" >"$dir/out.txt" 2>"$dir/err.txt" </dev/null || status=$?
  after=$(print "$path")
  local lines
  lines=$(wc -l < "$dir/err.txt")
  if [ "$status" -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$path" "$dir/err.txt" &&
     grep -qF -- "$option" "$dir/err.txt" && [ "$before" = "$after" ] &&
     ! ls "$path".tmp.* >/dev/null 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED ($what): status $status, $lines lines, $before -> $after: $*"
    cat "$dir/err.txt"
  fi
}

"$bin" synth s.yaml -o ep.csv --population pop.csv -q 2>/dev/null ||
  "$bin" synth s.yaml -o ep.csv --population pop.csv
"$bin" run s.yaml -o run.h5 -r 2 -q
mkfifo fifo.h5
ln -s s.yaml link.h5
ln s.yaml hard.yaml
mkdir adir
if [ "$(id -u)" -eq 0 ]; then mknod nul c 1 3; else ln -s /dev/null nul; fi

R=(-r 2 -q)
for out in s.yaml hard.yaml; do
  refused "run over its scenario" -o "$out" -- "$bin" run s.yaml -o "$out" "${R[@]}"
  refused "expect over its scenario" -o "$out" -- "$bin" expect s.yaml -o "$out"
  refused "sweep over its scenario" -o "$out" -- "$bin" sweep s.yaml -o "$out" \
    --param discount.costs=0:0.05:2 "${R[@]}"
done
for out in fifo.h5 link.h5 nul adir nodir/x.h5; do
  option=-o
  refused "run to $out" "$option" "$out" -- "$bin" run s.yaml -o "$out" "${R[@]}"
  refused "expect to $out" "$option" "$out" -- "$bin" expect s.yaml -o "$out"
  refused "sweep to $out" "$option" "$out" -- "$bin" sweep s.yaml -o "$out" \
    --param discount.costs=0:0.05:2 "${R[@]}"
  refused "report to $out" "$option" "$out" -- "$bin" report run.h5 -o "$out"
  refused "synth to $out" "$option" "$out" -- "$bin" synth s.yaml -o "$out" --population p2.csv
  refused "calibrate to $out" "$option" "$out" -- "$bin" calibrate ep.csv --population pop.csv \
    --template s.yaml -o "$out"
done
refused "report over its input" -o run.h5 -- "$bin" report run.h5 -o run.h5
refused "calibrate over its records" -o ep.csv -- "$bin" calibrate ep.csv --population pop.csv \
  --template s.yaml -o ep.csv
refused "calibrate over its population" -o pop.csv -- "$bin" calibrate ep.csv \
  --population pop.csv --template s.yaml -o pop.csv
refused "calibrate over its template" -o s.yaml -- "$bin" calibrate ep.csv --population pop.csv \
  --template s.yaml -o s.yaml
refused "calibrate report over the records" --report ep.csv -- "$bin" calibrate ep.csv \
  --population pop.csv --template s.yaml -o c.yaml --report ep.csv
refused "calibrate report as its output" --report c.yaml -- "$bin" calibrate ep.csv \
  --population pop.csv --template s.yaml -o c.yaml --report c.yaml
refused "calibrate HDF5 report as its report" --report-h5 r.csv -- "$bin" calibrate ep.csv \
  --population pop.csv --template s.yaml -o c.yaml --report r.csv --report-h5 r.csv
refused "synth to one file twice" --population e2.csv -- "$bin" synth s.yaml -o e2.csv \
  --population e2.csv
refused "synth over its scenario" --population s.yaml -- "$bin" synth s.yaml -o e3.csv \
  --population s.yaml
ln -s s.yaml run2.h5.ckpt
refused "run's checkpoint through a link" --checkpoint run2.h5.ckpt -- \
  "$bin" run s.yaml -o run2.h5 -r 2 -q --checkpoint
rm -f run2.h5.ckpt
# Inputs that are not regular files.
refused "run from a FIFO" SCENARIO fifo.h5 -- "$bin" run fifo.h5 -o x.h5 "${R[@]}"
refused "validate a device" SCENARIO nul -- "$bin" validate nul
refused "summary of a FIFO" OUT.h5 fifo.h5 -- "$bin" summary fifo.h5
refused "calibrate from a FIFO" EPISODES fifo.h5 -- "$bin" calibrate fifo.h5 \
  --population pop.csv --template s.yaml -o c.yaml
refused "calibrate from a directory" --population adir -- "$bin" calibrate ep.csv \
  --population adir --template s.yaml -o c.yaml
if [ "$(id -u)" -ne 0 ] && [ -n "${FLOURISH_READONLY_FILE:-}" ]; then
  refused "over someone else's read-only file" -o "$FLOURISH_READONLY_FILE" -- \
    "$bin" run s.yaml -o "$FLOURISH_READONLY_FILE" "${R[@]}"
fi
# What is allowed: replacing a regular file of one's own, and a new name.
check "$bin" run s.yaml -o run.h5 "${R[@]}"
check "$bin" report run.h5 -o run.html
check test -f run.h5 -a -f run.html

if [ "$(id -u)" -eq 0 ] && [ -z "${FLOURISH_AS_USER:-}" ] && command -v setpriv >/dev/null; then
  # The same as an ordinary user, in a directory of its own; root's read-only file beside.
  udir=$(mktemp -d)
  chmod 0777 "$udir"
  echo "root's" > "$udir/roots.h5"
  chmod 0444 "$udir/roots.h5"
  user=$(FLOURISH_AS_USER=1 FLOURISH_READONLY_FILE="$udir/roots.h5" TMPDIR="$udir" HOME="$udir" \
    setpriv --reuid=65534 --regid=65534 --clear-groups bash "$self" "$bin" "$src" 2>&1)
  status=$?
  echo "$user" | sed 's/^/  as nobody: /'
  if [ "$status" -eq 0 ] || echo "$user" | grep -q "Permission denied"; then
    # (a build nobody cannot execute skips the second half)
    check test "$status" -eq 0 -o -n "$(echo "$user" | grep "Permission denied")"
  else
    failed=$((failed + 1))
  fi
  check test "$(cat "$udir/roots.h5")" = "root's"
  rm -rf "$udir"
fi
finish paths_cli
