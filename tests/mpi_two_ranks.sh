#!/usr/bin/env bash
# Two (and three) MPI ranks give the same datasets, bit for bit, as one process (blocks of 64
# replications are dealt to the ranks in turn and streamed to rank 0, which writes the file),
# for run and for sweep. Uses the shared-memory transport only, so it runs without
# a network. Arguments: the flourish binary, mpiexec, the source directory.
set -euo pipefail
bin=$1 mpiexec=$2 src=$3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# Open MPI does not free its plug-ins' memory at MPI_Finalize, and unloads them, so a leak
# checker sees hundreds of leaks in unknown modules; under AddressSanitizer this test checks
# memory errors but not leaks (the other tests check Flourish's own leaks).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# (semi_markov with 130 replications: three blocks, the last of 2, over the ranks.)
for case in "scenarios/dundee.yaml 5 2" "scenarios/examples/semi_markov.yaml 130 2" \
            "scenarios/examples/semi_markov.yaml 130 3"; do
  read -r scenario reps ranks <<<"$case"
  "$bin" run "$src/$scenario" -o "$dir/one.h5" -r "$reps" -s 11 -q
  "$mpiexec" --oversubscribe --mca btl self,vader -np "$ranks" \
    "$bin" run "$src/$scenario" -o "$dir/two.h5" -r "$reps" -s 11 -q
  h5diff "$dir/one.h5" "$dir/two.h5" /arms /arms
  if h5ls "$dir/one.h5/comparisons" >/dev/null 2>&1; then
    h5diff "$dir/one.h5" "$dir/two.h5" /comparisons /comparisons
  fi
  echo "$scenario: 1 rank and $ranks ranks identical ($reps replications)"
done
# A two-rank run stopped after some replications continues with one process, bit for bit.
status=0
FLOURISH_CRASH_AFTER_REPS=70 "$mpiexec" --oversubscribe --mca btl self,vader -np 2 \
  "$bin" run "$src/scenarios/examples/semi_markov.yaml" -o "$dir/c.h5" -r 200 -s 11 -q \
  --checkpoint >/dev/null 2>&1 || status=$?
[ "$status" -ne 0 ] && [ -s "$dir/c.h5.ckpt" ] && [ ! -e "$dir/c.h5" ]
"$bin" run "$src/scenarios/examples/semi_markov.yaml" -o "$dir/c.h5" -r 200 -s 11 -q --resume
"$bin" run "$src/scenarios/examples/semi_markov.yaml" -o "$dir/d.h5" -r 200 -s 11 -q
h5diff "$dir/c.h5" "$dir/d.h5" /arms /arms
echo "2 ranks stopped, resumed with 1: identical"
# A sweep over two ranks writes the file one process writes.
esc=arms.community_city.interventions.community.escalation
"$bin" sweep "$src/scenarios/dundee.yaml" -o "$dir/s1.h5" --param "$esc=0.8:1:2" -r 4 -q
"$mpiexec" --oversubscribe --mca btl self,vader -np 2 \
  "$bin" sweep "$src/scenarios/dundee.yaml" -o "$dir/s2.h5" --param "$esc=0.8:1:2" -r 4 -q
for g in /arms /comparisons /sensitivity /values; do h5diff "$dir/s1.h5" "$dir/s2.h5" $g $g; done
echo "sweep: 1 rank and 2 ranks identical"
# A two-rank sweep stopped after its first point (rank 0 keeps the checkpoint), resumed with two
# ranks, and again with one from a fresh stop, writes the same file.
for resume_ranks in 2 1; do
  rm -f "$dir/s3.h5.ckpt"
  status=0
  FLOURISH_CRASH_AFTER_POINTS=1 "$mpiexec" --oversubscribe --mca btl self,vader -np 2 \
    "$bin" sweep "$src/scenarios/dundee.yaml" -o "$dir/s3.h5" --param "$esc=0.8:1:2" -r 4 -q \
    --checkpoint >/dev/null 2>&1 || status=$?
  [ "$status" -ne 0 ] && [ -s "$dir/s3.h5.ckpt" ] && [ ! -e "$dir/s3.h5" ]
  "$mpiexec" --oversubscribe --mca btl self,vader -np "$resume_ranks" \
    "$bin" sweep "$src/scenarios/dundee.yaml" -o "$dir/s3.h5" --param "$esc=0.8:1:2" -r 4 -q \
    --resume
  for g in /arms /comparisons /sensitivity /values; do h5diff "$dir/s1.h5" "$dir/s3.h5" $g $g; done
  [ ! -e "$dir/s3.h5.ckpt" ]
  rm "$dir/s3.h5"
  echo "sweep: 2 ranks stopped, resumed with $resume_ranks: identical"
done
echo "mpi: 7 passed, 0 failed"
