#!/usr/bin/env bash
# Checkpoint and resume: a run stopped abruptly (by the FLOURISH_CRASH_AFTER_REPS testing aid,
# and by a real kill -9) and continued with --resume writes the same datasets as an
# uninterrupted run, never leaves a partial file at the output path, and removes its
# checkpoint when done (a run killed while writing its file leaves a temporary file, which the
# next run writing there removes: tests/test_cli.c); a checkpoint from a different run is
# refused with status 2.
# Arguments: the flourish binary, the source directory.
set -euo pipefail
bin=$1 src=$2
scenario=$src/scenarios/dundee.yaml
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
same() { h5diff "$1" "$2" /arms /arms && h5diff "$1" "$2" /comparisons /comparisons; }

"$bin" run "$scenario" -o "$dir/ref.h5" -r 12 -s 3 -q

# Stopped after 5 replications were stored.
status=0
FLOURISH_CRASH_AFTER_REPS=5 "$bin" run "$scenario" -o "$dir/a.h5" -r 12 -s 3 -q -t 2 \
  --checkpoint || status=$?
check test "$status" -eq 137
check test ! -e "$dir/a.h5"
check test -s "$dir/a.h5.ckpt"
"$bin" run "$scenario" -o "$dir/a.h5" -r 12 -s 3 -q -t 1 --resume
check same "$dir/ref.h5" "$dir/a.h5"
check test ! -e "$dir/a.h5.ckpt"

# A real kill -9 at an arbitrary moment.
"$bin" run "$scenario" -o "$dir/b.h5" -r 12 -s 3 -q -t 1 --checkpoint &
pid=$!
sleep 0.3
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ -e "$dir/b.h5.ckpt" ]; then
  "$bin" run "$scenario" -o "$dir/b.h5" -r 12 -s 3 -q --resume
else # the run had not yet created its checkpoint, or had already finished
  [ -e "$dir/b.h5" ] || "$bin" run "$scenario" -o "$dir/b.h5" -r 12 -s 3 -q
fi
check same "$dir/ref.h5" "$dir/b.h5"
check test -z "$(ls "$dir" | grep '\.tmp\.' || true)"

# A checkpoint from another run (different seed) is refused; nothing is written.
status=0
FLOURISH_CRASH_AFTER_REPS=2 "$bin" run "$scenario" -o "$dir/c.h5" -r 12 -s 3 -q \
  --checkpoint || true
"$bin" run "$scenario" -o "$dir/c.h5" -r 12 -s 4 -q --resume 2>"$dir/err" || status=$?
check test "$status" -eq 2
check grep -q "different run" "$dir/err"
check test ! -e "$dir/c.h5"

finish resume
