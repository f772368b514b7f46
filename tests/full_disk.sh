#!/usr/bin/env bash
# Clean failure when the output cannot be written: with a file-size limit (ulimit -f, as any
# user) and, as root where mounting is allowed, on a full 2 MB tmpfs, every command that writes
# (run, expect, sweep, synth, calibrate and its reports, report) exits with status 1 and one
# line, leaves nothing at its output path and no temporary file beside it. A run under a memory
# limit too small for its buffers fails the same way.
# Arguments: the flourish binary, the source directory.
set -uo pipefail
bin=$1 src=$2
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
s=$src/scenarios/dundee.yaml
"$bin" synth "$s" -o "$dir/ep.csv" --population "$dir/pop.csv" --seed 2
"$bin" run "$s" -o "$dir/in.h5" -r 4 -q

# fails_cleanly DIR OUT LIMIT_KB COMMAND...: status 1, one line, nothing at DIR/OUT or beside it.
fails_cleanly() {
  local d=$1 out=$2 limit=$3 status=0
  shift 3
  (
    [ "$limit" != - ] && ulimit -f "$limit"
    trap '' XFSZ
    exec "$@"
  ) >/dev/null 2>"$dir/err" || status=$?
  local left
  left=$(find "$d" -maxdepth 1 -name "$(basename "$out")*" | wc -l)
  if [ "$status" -eq 1 ] && [ "$(wc -l < "$dir/err")" -eq 1 ] && [ "$left" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: status $status, $left left, $(cat "$dir/err"): $*"
  fi
}

cases() { # cases DIR LIMIT: every writing command into DIR
  local d=$1 l=$2
  fails_cleanly "$d" run.h5 "$l" "$bin" run "$s" -o "$d/run.h5" -r 20 -q
  fails_cleanly "$d" expect.h5 "$l" "$bin" expect "$s" -o "$d/expect.h5"
  fails_cleanly "$d" sweep.h5 "$l" "$bin" sweep "$s" -o "$d/sweep.h5" -r 10 -q \
    --param arms.community_city.interventions.community.escalation=0.8:0.9:2
  fails_cleanly "$d" ep.csv "$l" "$bin" synth "$s" -o "$d/ep.csv" --population "$d/pop.csv"
  fails_cleanly "$d" cal.yaml "$l" "$bin" calibrate "$dir/ep.csv" --population "$dir/pop.csv" \
    --template "$s" -o "$d/cal.yaml" --report "$d/cal.csv"
  fails_cleanly "$d" r.h5 "$l" "$bin" calibrate "$dir/ep.csv" --population "$dir/pop.csv" \
    --template "$s" -o "$d/c2.yaml" --report-h5 "$d/r.h5"
  rm -f "$d/c2.yaml"
  fails_cleanly "$d" report.html "$l" "$bin" report "$dir/in.h5" -o "$d/report.html"
}

mkdir "$dir/limited"
cases "$dir/limited" 8
# A limit that lets most of a run's file through (three quarters of it) before the write fails.
"$bin" run "$s" -o "$dir/whole.h5" -r 20 -q
whole_kb=$(( $(stat -c %s "$dir/whole.h5") / 1024 ))
fails_cleanly "$dir/limited" big.h5 $((whole_kb * 3 / 4)) "$bin" run "$s" -o "$dir/limited/big.h5" -r 20 -q

# A full file system, where one can be mounted.
if [ "$(id -u)" -eq 0 ] && mkdir "$dir/tmpfs" && mount -t tmpfs -o size=2m tmpfs "$dir/tmpfs" 2>/dev/null; then
  # Nearly full: 8 KB left.
  dd if=/dev/zero of="$dir/tmpfs/filler" bs=1k count=2040 2>/dev/null
  cases "$dir/tmpfs" -
  umount "$dir/tmpfs"
else
  echo "(no tmpfs: the full-disk cases ran with the file-size limit only)"
fi

# Too little memory for a run's buffers (what a run holds does not grow with its replications,
# so the limit is small): status 1, one line, no file. Not in a sanitizer build, whose runtime
# reserves its own memory at start-up and fails there, before flourish runs.
if ldd "$bin" 2>/dev/null | grep -q 'libasan\|libtsan'; then
  echo "(a sanitizer build: the memory-limit case is left to the other builds)"
else
  status=0
  (ulimit -v 60000; exec "$bin" run "$s" -o "$dir/mem.h5" -r 4 -q) >/dev/null 2>"$dir/err" ||
    status=$?
  check test "$status" -eq 1
  check test "$(wc -l < "$dir/err")" -eq 1
  check test ! -e "$dir/mem.h5"
fi
finish full_disk
