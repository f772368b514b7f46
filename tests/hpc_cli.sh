#!/usr/bin/env bash
# What batch jobs rely on, without a batch system (tests/slurm.sh runs the job scripts under a
# real Slurm): several copies started by a launcher that are not one MPI job are refused, as
# the launchers' variables say (set by hand here); SIGTERM and SIGINT stop a run or a sweep
# with status 128 + the signal, its finished work kept in the checkpoint and continued by
# --resume to the same datasets, and nothing written without a checkpoint; progress on a
# stderr that is not a terminal is plain lines; the two job scripts share their common part.
# Arguments: the flourish binary, the source directory, 1 if built with MPI.
set -euo pipefail
bin=$1 src=$2 mpi=${3:-0}
scenario=$src/scenarios/dundee.yaml
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
same() { h5diff "$1" "$2" /arms /arms && h5diff "$1" "$2" /comparisons /comparisons; }
same_sweep() { for g in /arms /comparisons /sensitivity /values; do h5diff "$1" "$2" $g $g; done; }
esc=arms.community_city.interventions.community.escalation
# The processes started in the background below must see SIGINT: a shell without job control
# starts them with SIGINT ignored (and flourish leaves an ignored signal ignored).
set -m

# Copies: the first copy explains, the others refuse in silence; no file is written.
status=0
SLURM_STEP_NUM_TASKS=3 SLURM_PROCID=0 "$bin" run "$scenario" -o "$dir/c.h5" -r 2 -t 1 2>"$dir/err" ||
  status=$?
check test "$status" -eq 2
check grep -q "3 copies were started (SLURM_STEP_NUM_TASKS=3)" "$dir/err"
check grep -q "srun -n 1 -c N" "$dir/err"
check grep -q "FLOURISH_ALLOW_COPIES=1" "$dir/err"
check test "$(wc -l <"$dir/err")" -eq 1
if [ "$mpi" = 1 ]; then check grep -q "srun --mpi=pmix" "$dir/err"
else check grep -q "built without MPI" "$dir/err"; fi
check test ! -e "$dir/c.h5"
status=0
SLURM_STEP_NUM_TASKS=3 SLURM_PROCID=2 "$bin" sweep "$scenario" -o "$dir/c.h5" -r 2 -t 1 \
  --param "$esc=0.8:1:2" 2>"$dir/err" || status=$?
check test "$status" -eq 2
check test ! -s "$dir/err"
check test ! -e "$dir/c.h5"
if [ "$mpi" = 0 ]; then # (with MPI this variable would start MPI itself)
  status=0
  OMPI_COMM_WORLD_SIZE=2 "$bin" run "$scenario" -o "$dir/c.h5" -r 2 -t 1 2>"$dir/err" || status=$?
  check test "$status" -eq 2
  check grep -q "OMPI_COMM_WORLD_SIZE=2" "$dir/err"
fi
# Intended copies, one task of a step, and a command run by the batch script itself (which
# sees SLURM_NTASKS of the whole job, but is one copy) all run.
check env SLURM_STEP_NUM_TASKS=3 FLOURISH_ALLOW_COPIES=1 "$bin" run "$scenario" -o "$dir/c.h5" -r 2 -t 1 -q
check env SLURM_STEP_NUM_TASKS=1 SLURM_NTASKS=4 "$bin" run "$scenario" -o "$dir/c.h5" -r 2 -t 1 -q
check env SLURM_NTASKS=4 "$bin" run "$scenario" -o "$dir/c.h5" -r 2 -t 1 -q
# expect shares no work between copies and is not checked.
check env SLURM_STEP_NUM_TASKS=3 "$bin" expect "$scenario" -o "$dir/c.h5"

# (One thread, except where threads are the point: the tests share the machine.)
# Progress on a stderr that is not a terminal: a plain line per interval (0: every
# replication here) with the count, the rate and the time left, and a last line; a bad
# interval is named and the default used.
FLOURISH_PROGRESS_INTERVAL=0 "$bin" run "$scenario" -o "$dir/p.h5" -r 6 -t 1 2>"$dir/err"
check grep -Eq "^flourish run: 3/6 replications \(50%\), [0-9.]+/s, [0-9]+ s elapsed, about [0-9]+ s left$" "$dir/err"
check grep -Eq "^flourish run: 6/6 replications in [0-9]+ s$" "$dir/err"
check test "$(grep -c "replications" "$dir/err")" -eq 6
check test -z "$(tr -d -c '\r' <"$dir/err")" # no bar
FLOURISH_PROGRESS_INTERVAL=x "$bin" run "$scenario" -o "$dir/p.h5" -r 2 -t 1 2>"$dir/err"
check grep -q "FLOURISH_PROGRESS_INTERVAL: expected seconds from 0 to 86400, found 'x': using 10" \
  "$dir/err"
check grep -q "^flourish run: 2/2 replications in" "$dir/err"
"$bin" run "$scenario" -o "$dir/p.h5" -r 2 -t 1 -q 2>"$dir/err"
check test ! -s "$dir/err"

# Starts `flourish ARGS...` in the background with progress after every unit, logging to
# $dir/log, waits until the log shows AT units done, then sends SIGNAL and waits: sets status.
stop_at() {
  local sig=$1 at=$2 what=$3 pid
  shift 3
  # Emptied here, before the fork: a log left by the previous call would otherwise be read
  # before the child truncates it, and the signal would reach the forked shell before it
  # starts flourish (running the shell's EXIT trap, which removes $dir).
  : >"$dir/log"
  FLOURISH_PROGRESS_INTERVAL=0 "$bin" "$@" 2>"$dir/log" &
  pid=$!
  for _ in $(seq 600); do
    grep -Eq "^flourish [a-z]+: ([$at-9]|[1-9][0-9]+)/[0-9]+ $what" "$dir/log" && break
    sleep 0.05
  done
  kill "-$sig" "$pid"
  status=0
  wait "$pid" || status=$?
}

"$bin" run "$scenario" -o "$dir/ref.h5" -r 40 -s 5 -t 1 -q
# SIGTERM with a checkpoint: exit 143, the finished replications kept, no output; --resume
# gives the uninterrupted run's datasets and says how much it found.
stop_at TERM 3 replications run "$scenario" -o "$dir/a.h5" -r 40 -s 5 -t 2 --checkpoint
check test "$status" -eq 143
check grep -q "^flourish run: SIGTERM: stopping once the replications in progress are finished$" \
  "$dir/log"
check grep -q "stopped on SIGTERM: the finished replications are kept in $dir/a.h5.ckpt; to continue, run the same command with --resume" "$dir/log"
check test ! -e "$dir/a.h5"
check test -s "$dir/a.h5.ckpt"
"$bin" run "$scenario" -o "$dir/a.h5" -r 40 -s 5 -t 1 --resume 2>"$dir/err"
check grep -Eq "resuming from $dir/a.h5.ckpt: ([3-9]|[1-3][0-9]) of 40 replications stored" "$dir/err"
check same "$dir/ref.h5" "$dir/a.h5"
check test ! -e "$dir/a.h5.ckpt"
# SIGINT likewise (130); without a checkpoint nothing is written, not even a temporary file.
stop_at INT 2 replications run "$scenario" -o "$dir/b.h5" -r 40 -s 5 -t 1
check test "$status" -eq 130
check grep -q "SIGINT: stopping once the replications in progress are finished (Ctrl-C again stops at once)" "$dir/log"
check grep -q "stopped on SIGINT before it finished; nothing was written" "$dir/log"
check test -z "$(compgen -G "$dir/b.h5*" || true)"

# A sweep stopped by SIGTERM during its third point keeps two, and resumes to the same file.
"$bin" sweep "$scenario" -o "$dir/sref.h5" --param "$esc=0.7:1:5" -r 8 -t 1 -q
stop_at TERM 2 points sweep "$scenario" -o "$dir/s.h5" --param "$esc=0.7:1:5" -r 8 -t 1 --checkpoint
check test "$status" -eq 143
check grep -q "SIGTERM: stopping now; the point in progress runs again on resuming" "$dir/log"
check grep -q "stopped on SIGTERM: the finished points are kept in $dir/s.h5.ckpt" "$dir/log"
check test ! -e "$dir/s.h5"
"$bin" sweep "$scenario" -o "$dir/s.h5" --param "$esc=0.7:1:5" -r 8 -t 1 --resume 2>"$dir/err"
check grep -Eq "resuming from $dir/s.h5.ckpt: [2-4] of 5 points stored" "$dir/err"
check same_sweep "$dir/sref.h5" "$dir/s.h5"

# The job scripts: valid shell, and their shared part the same in both.
shared() { sed -n '/^# ---- the part shared/,/^# ---- end of the shared part/p' "$1"; }
for s in run sweep; do check bash -n "$src/scripts/hpc/$s.slurm"; done
check test "$(shared "$src/scripts/hpc/run.slurm" | wc -l)" -gt 40
check cmp <(shared "$src/scripts/hpc/run.slurm") <(shared "$src/scripts/hpc/sweep.slurm")

finish hpc_cli
