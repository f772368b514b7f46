#!/usr/bin/env bash
# Checkpoint and resume: a run stopped abruptly (by the FLOURISH_CRASH_AFTER_REPS testing aid,
# and by a real kill -9) and continued with --resume writes the same datasets as an
# uninterrupted run, never leaves a partial file at the output path, and removes its
# checkpoint when done (a run killed while writing its file leaves a temporary file, which the
# next run writing there removes: tests/test_cli.c); a checkpoint from a different run is
# refused with status 2.
# Arguments: the flourish binary, the source directory.
set -euo pipefail
bin=$1 src=$2 python=${3:-python3}
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

# A damaged checkpoint is an error, never data: 200 bytes flipped in its records, a mark that
# is neither 0 nor 1, a header overwritten, or the file cut short; nothing is written, and the
# message says what is wrong.
FLOURISH_CRASH_AFTER_REPS=6 "$bin" run "$scenario" -o "$dir/d.h5" -r 12 -s 3 -q \
  --checkpoint || true
cp "$dir/d.h5.ckpt" "$dir/good.ckpt"
damaged() { # PYTHON-EXPRESSION-ON-BYTES EXPECTED-WORDS
  cp "$dir/good.ckpt" "$dir/d.h5.ckpt"
  "$python" -c "
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
$1
open(sys.argv[1], 'wb').write(bytes(b))" "$dir/d.h5.ckpt"
  local status=0
  "$bin" run "$scenario" -o "$dir/d.h5" -r 12 -s 3 -q --resume 2>"$dir/err" || status=$?
  check test "$status" -eq 2
  check grep -q "$2" "$dir/err"
  check test "$(wc -l < "$dir/err")" -eq 1
  check test ! -e "$dir/d.h5"
}
# (The header is 40 bytes, then a mark a replication, then the records.)
damaged "import random; random.seed(1)
for i in random.sample(range(52, 52 + 6 * (len(b) - 52) // 12), 200): b[i] ^= 0xFF" \
  "fails its checksum"
damaged "b[40 + 3] = 7" "the mark of record 3"
damaged "b[8] ^= 1" "header fails its checksum"
damaged "del b[len(b) // 2:]" "cut short"
# A record of another run moved into this checkpoint fails its checksum too.
FLOURISH_CRASH_AFTER_REPS=6 "$bin" run "$scenario" -o "$dir/e.h5" -r 12 -s 5 -q \
  --checkpoint || true
damaged "o = open('$dir/e.h5.ckpt', 'rb').read(); b[52:] = o[52:]" "fails its checksum"
rm -f "$dir/d.h5.ckpt" "$dir/e.h5.ckpt"

# --resume without a checkpoint starts afresh and says so; a run without --resume that finds
# an earlier run's checkpoint replaces it and says so.
"$bin" run "$scenario" -o "$dir/f.h5" -r 12 -s 3 -q --resume 2>"$dir/err"
check grep -q "starting afresh" "$dir/err"
check same "$dir/ref.h5" "$dir/f.h5"
FLOURISH_CRASH_AFTER_REPS=4 "$bin" run "$scenario" -o "$dir/g.h5" -r 12 -s 3 -q \
  --checkpoint || true
"$bin" run "$scenario" -o "$dir/g.h5" -r 12 -s 3 -q --checkpoint 2>"$dir/err"
check grep -q "replaced the checkpoint" "$dir/err"
check same "$dir/ref.h5" "$dir/g.h5"
check test ! -e "$dir/g.h5.ckpt"
# Resuming says how much it found.
FLOURISH_CRASH_AFTER_REPS=4 "$bin" run "$scenario" -o "$dir/h.h5" -r 12 -s 3 -q \
  --checkpoint || true
"$bin" run "$scenario" -o "$dir/h.h5" -r 12 -s 3 -q --resume 2>"$dir/err"
check grep -q "resuming from .*h.h5.ckpt: [0-9]* of 12 replications stored" "$dir/err"
check same "$dir/ref.h5" "$dir/h.h5"

finish resume
