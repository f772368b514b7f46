#!/usr/bin/env bash
# The job scripts of scripts/hpc/ under a real Slurm: a one-node cluster (Debian's slurm-wlm
# and munge, as scripts/setup-slurm.sh installs them) is started here, as root, with its own
# munge key, ports, state and logs in a temporary directory, and Slurm's default
# MpiDefault=none. Then:
#   - run.slurm and sweep.slurm, submitted from a directory that is not the repository and
#     with the site hooks (FLOURISH_SETUP, FLOURISH_MODULES) set, are requeued mid-run
#     (scontrol requeue); each log shows progress lines, the stop, the requeue and the resume,
#     and each output has the datasets of a single-process run;
#   - srun starting several copies without MPI is refused (status 2, one message);
#   - with MPI, run.slurm with 2 tasks (srun --mpi=pmix) is requeued mid-run and gives the
#     single-process datasets too.
# Without root or Slurm the test is skipped (status 77); FLOURISH_REQUIRE_SLURM=1 (CI) makes
# that a failure. Arguments: the flourish binary, the source directory, 1 if built with MPI.
set -euo pipefail
bin=$(readlink -f "$1") src=$(cd "$2" && pwd) mpi=${3:-0}

skip() {
  echo "slurm: skipped: $*"
  if [ "${FLOURISH_REQUIRE_SLURM:-0}" = 1 ]; then
    echo "slurm: FLOURISH_REQUIRE_SLURM=1: a skip is a failure (sudo bash scripts/setup-slurm.sh)"
    exit 1
  fi
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "starting munged, slurmctld and slurmd needs root"
for p in munged slurmctld slurmd sbatch srun scontrol squeue sinfo; do
  command -v "$p" >/dev/null 2>&1 || skip "$p is not installed (sudo bash scripts/setup-slurm.sh)"
done

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
start=$SECONDS
export SLURM_CONF=$dir/slurm.conf
pids=()
stop_cluster() {
  scancel --quiet --full "--user=$(id -un)" 2>/dev/null || true
  sleep 1
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap stop_cluster EXIT

# The cluster: this machine's real CPUs and memory (slurmd -C), the controller and the node
# on loopback, on two free ports.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/jobs"
head -c 1024 /dev/urandom >"$dir/munge.key"
chmod 400 "$dir/munge.key"
cat >"$SLURM_CONF" <<EOF
ClusterName=flourish-test
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
$(slurmd -C | head -n 1) NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
munged --foreground --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
  --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed" \
  >"$dir/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$dir/munge.socket" ] && break; sleep 0.1; done
slurmctld -D -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
pids+=($!)
node=
for _ in $(seq 60); do
  node=$(sinfo -h -o %t 2>/dev/null || true)
  [ "$node" = idle ] && break
  sleep 0.5
done
if [ "$node" != idle ]; then
  echo "slurm: the node did not become idle (state '$node'); the daemons' logs:"
  tail -n 20 "$dir"/log/*
  exit 1
fi
echo "slurm: one-node cluster up in $((SECONDS - start)) s: $(slurmd -C | head -n 1)"

# The job's state (JobState=...), and whether it has ended.
job_state() { scontrol show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
job_ended() {
  case $(job_state "$1") in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) ;;
    *) return 1 ;;
  esac
}
# Waits until job $1's log ($2) shows $3 or more of $4 done, then requeues the job and lets it
# start again soon: a requeued job otherwise waits two minutes for its begin time, which also
# keeps it from starting within the second its node revoked its credential (it would fail).
requeue_at() {
  local job=$1 log=$2 at=$3 what=$4 n=0
  for _ in $(seq 600); do
    n=$(grep -Eo "^flourish [a-z]+: [0-9]+/[0-9]+ $what" "$log" 2>/dev/null | tail -n 1 |
        sed -E 's/.*: ([0-9]+)\/.*/\1/' || true)
    [ "${n:-0}" -ge "$at" ] && break
    job_ended "$job" && break
    sleep 0.1
  done
  echo "slurm: requeueing job $job at ${n:-0} $what"
  scontrol requeue "$job"
  for _ in $(seq 300); do [ "$(job_state "$job")" = PENDING ] && break; sleep 0.1; done
  scontrol update "JobId=$job" StartTime=now+2
}
# Waits for job $1 to end (at most $2 seconds) and prints its log $3 (up to the run's summary).
wait_job() {

  for _ in $(seq $(($2 * 2))); do
    job_ended "$1" && break
    sleep 0.5
  done
  echo "---- log of job $1 ($(job_state "$1"), $(scontrol show job "$1" | grep -o 'Restarts=[0-9]*'))"
  sed '/ results (monte_carlo), step /{s/.*/(the summary of the output follows)/;q}' "$3"
  echo "----"
}
same() { h5diff "$1" "$2" /arms /arms && h5diff "$1" "$2" /comparisons /comparisons; }
same_sweep() { for g in /arms /comparisons /sensitivity /values; do h5diff "$1" "$2" $g $g; done; }
# What every requeued job's log must show: progress lines, the stop, the requeue, the resume.
check_log() { # LOG COMMAND WHAT TOTAL [WHAT-KEPT TOTAL-KEPT]
  local kept=${5:-$3} all=${6:-$4}
  check grep -Eq "^flourish $2: [0-9]+/$4 $3 \([0-9]+%\), .* elapsed, " "$1"
  check grep -q "^flourish $2: SIGTERM: stopping" "$1"
  check grep -q "^flourish $2: stopped on SIGTERM: the finished $kept are kept in " "$1"
  check grep -q "requeued (start 2): continuing from " "$1"
  check grep -Eq "^flourish $2: resuming from .*: [1-9][0-9]* of $all $kept stored" "$1"
  check grep -Eq "^flourish $2: $4/$4 $3 in " "$1"
}

# The references: single processes.
scenario=$src/scenarios/dundee.yaml esc=arms.community_city.interventions.community.escalation
"$bin" run "$scenario" -o "$dir/ref.h5" -r 160 -s 11 -t 1 -q
"$bin" sweep "$scenario" -o "$dir/sref.h5" --param "$esc=0.7:1:5" -r 20 -s 11 -t 1 -q

# The site hooks: FLOURISH_SETUP is sourced, and defines the `module` that FLOURISH_MODULES
# loads with (a stand-in for a site's environment modules).
cat >"$dir/site.sh" <<'EOF'
echo "site set-up sourced"
module() { echo "module $*"; }
EOF
# The binary under test: found by the scripts themselves when it is the repository's
# build/flourish, else named by FLOURISH.
flourish_env=()
[ "$bin" -ef "$src/build/flourish" ] || flourish_env=("FLOURISH=$bin")
submit() { # SCRIPT SBATCH-OPTION... -- SCRIPT-ARGUMENT...
  local script=$1 opts=()
  shift
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  (cd "$dir/jobs" && env "${flourish_env[@]}" FLOURISH_SETUP="$dir/site.sh" \
     FLOURISH_MODULES="hdf5 gsl" FLOURISH_PROGRESS_INTERVAL=0.5 PATH=/usr/bin:/bin \
     sbatch --parsable "${opts[@]}" "$src/scripts/hpc/$script" "$@")
}

# run.slurm and sweep.slurm side by side, one CPU each, each requeued mid-run.
run_job=$(submit run.slurm -c 1 -- "$scenario" out/run.h5 -r 160 -s 11)
sweep_job=$(submit sweep.slurm -c 1 -- "$scenario" out/sweep.h5 --param "$esc=0.7:1:5" -r 20 -s 11)
# Watched at the same time: one after the other, a busy machine lets the sweep finish before
# the run reaches its count, and the sweep is never stopped.
requeue_at "$run_job" "$dir/jobs/flourish-$run_job.log" 30 replications &
watch_run=$!
requeue_at "$sweep_job" "$dir/jobs/flourish-sweep-$sweep_job.log" 2 points &
watch_sweep=$!
wait "$watch_run" "$watch_sweep"
wait_job "$run_job" 120 "$dir/jobs/flourish-$run_job.log"
wait_job "$sweep_job" 120 "$dir/jobs/flourish-sweep-$sweep_job.log"
log=$dir/jobs/flourish-$run_job.log
check test "$(job_state "$run_job")" = COMPLETED
check_log "$log" run replications 160
check grep -q "^site set-up sourced$" "$log"
check grep -q "^module load hdf5 gsl$" "$log"
check grep -q "(arm baseline): children by level" "$log" # the summary at the end
check same "$dir/ref.h5" "$dir/jobs/out/run.h5"
check test ! -e "$dir/jobs/out/run.h5.ckpt"
log=$dir/jobs/flourish-sweep-$sweep_job.log
check test "$(job_state "$sweep_job")" = COMPLETED
check_log "$log" sweep points 5
check same_sweep "$dir/sref.h5" "$dir/jobs/out/sweep.h5"
check test ! -e "$dir/jobs/out/sweep.h5.ckpt"
check test -s "$dir/jobs/out/sweep.html"

# Two copies without MPI (srun's default here is --mpi=none): refused, one message, no file.
status=0
(cd "$dir/jobs" && srun -n 2 "$bin" run "$scenario" -o out/copies.h5 -r 4 -t 1) \
  >"$dir/copies.log" 2>&1 || status=$?
cat "$dir/copies.log"
check test "$status" -eq 2
check test "$(grep -c "2 copies were started (SLURM_STEP_NUM_TASKS=2)" "$dir/copies.log")" -eq 1
check test ! -e "$dir/jobs/out/copies.h5"

# With MPI: two tasks as one MPI job (run.slurm passes srun --mpi=pmix), requeued mid-run.
if [ "$mpi" = 1 ]; then
  mpi_job=$(submit run.slurm -n 2 -c 1 -- "$scenario" out/mpi.h5 -r 160 -s 11)
  requeue_at "$mpi_job" "$dir/jobs/flourish-$mpi_job.log" 20 replications
  wait_job "$mpi_job" 120 "$dir/jobs/flourish-$mpi_job.log"
  log=$dir/jobs/flourish-$mpi_job.log
  check test "$(job_state "$mpi_job")" = COMPLETED
  check grep -q "2 task(s) x 1 CPU(s), started by srun" "$log"
  check_log "$log" run replications 160
  check same "$dir/ref.h5" "$dir/jobs/out/mpi.h5"
fi

echo "slurm: $((SECONDS - start)) s in all"
if [ "$failed" -gt 0 ]; then
  echo "slurm: the daemons' logs, for the failures above:"
  tail -n 40 "$dir/log/slurmctld.log" "$dir/log/slurmd.log"
fi
finish slurm
