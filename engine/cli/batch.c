/* What running under a launcher or a batch system needs (cli.h): refusing several copies of a
 * command that do not form one MPI job, and stopping cleanly on SIGTERM or SIGINT, which is
 * how Slurm asks a job to end when it requeues, preempts or cancels it. The library installs
 * no signal handler; the handler here sets a flag that the library asks about between
 * replications (fl_run_options.stop). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The launchers' variables that say how many copies of the program they started: an MPI
 * launcher's world size first (Open MPI's mpirun; PMI, as MPICH, Intel MPI and srun
 * --mpi=pmi2 set it), then the tasks of a Slurm job step (srun, whatever its --mpi). Under
 * mpirun across nodes, the ranks on other nodes run inside an srun step of one task a node,
 * so the MPI size must come first. The batch script of a job sees SLURM_NTASKS but no step
 * size: a command it runs directly is one copy. */
static const char *const copy_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                        "SLURM_STEP_NUM_TASKS"};
/* The same launchers' variables for this copy's number, so that one copy explains. */
static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"};

/* A launcher's count or rank in variable name: a whole number, or -1 when unset or not one. */
static long env_number(const char *name) {
  const char *v = getenv(name);
  char *end;
  if (!v || !*v) return -1;
  const long n = strtol(v, &end, 10);
  return *end || n < 0 ? -1 : n;
}

int cli_check_copies(const char *cmd) {
  const char *var = NULL;
  long copies = 1;
  for (size_t i = 0; i < sizeof copy_vars / sizeof copy_vars[0] && !var; i++)
    if ((copies = env_number(copy_vars[i])) >= 0) var = copy_vars[i];
  if (!var || copies <= cli_mpi_ranks) return 0;
  const char *allow = getenv("FLOURISH_ALLOW_COPIES");
  if (allow && !strcmp(allow, "1")) return 0;
  long rank = -1;
  for (size_t i = 0; i < sizeof rank_vars / sizeof rank_vars[0] && rank < 0; i++)
    rank = env_number(rank_vars[i]);
  if (rank > 0) return 2; /* the first copy explains, the others just refuse */
  fprintf(stderr, "%s %s: %ld copies were started (%s=%ld) but ", cli_prog, cmd, copies, var,
          copies);
#ifdef FLOURISH_MPI
  fprintf(stderr, "they are not one MPI job (this copy sees %d rank%s), so each would do all "
          "the work and write the same files. Start them as one MPI job (srun --mpi=pmix, or "
          "mpirun in the allocation), or one task with several CPUs (srun -n 1 -c N)",
          cli_mpi_ranks, cli_mpi_ranks == 1 ? "" : "s");
#else
  fprintf(stderr, "this flourish is built without MPI, so each would do all the work and "
          "write the same files. Start one task with several CPUs (srun -n 1 -c N), or build "
          "with MPI (cmake -DFLOURISH_MPI=ON)");
#endif
  fprintf(stderr, "; for independent copies with their own outputs, set "
          "FLOURISH_ALLOW_COPIES=1.\n");
  return 2;
}

/* The signal that asked this process to stop (0: none yet), set by the handler and read by any
 * thread: a lock-free atomic is the one kind of object both may share. */
static atomic_int stop_signal;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag must be lock-free to be set in a handler");
/* What the handler writes (with write(2), which a handler may call), by signal. */
static char stop_text[2][200];
static size_t stop_len[2];

static void on_stop_signal(int sig) {
  int none = 0;
  if (!atomic_compare_exchange_strong(&stop_signal, &none, sig)) {
    /* A second Ctrl-C stops at once (the checkpoint holds what was made durable). Slurm and
     * srun may each send SIGTERM: a repeated SIGTERM changes nothing. */
    if (sig == SIGINT) {
      signal(SIGINT, SIG_DFL);
      raise(SIGINT);
    }
    return;
  }
  const int i = sig == SIGINT;
  if (cli_mpi_rank == 0 && write(STDERR_FILENO, stop_text[i], stop_len[i]) < 0) return;
}

/* Installs the handler for sig, unless the signal is ignored (a command started in the
 * background by a shell ignores SIGINT, and should go on doing so). */
static void catch_signal(int sig) {
  struct sigaction sa, old;
  if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN) return;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* file writes and reads go on undisturbed */
  sigaction(sig, &sa, NULL);
}

void cli_catch_stop_signals(const char *cmd, const char *how) {
  const char *nl = isatty(STDERR_FILENO) ? "\n" : ""; /* off the progress bar's line */
  snprintf(stop_text[0], sizeof stop_text[0], "%s%s %s: SIGTERM: %s\n", nl, cli_prog, cmd, how);
  snprintf(stop_text[1], sizeof stop_text[1], "%s%s %s: SIGINT: %s (Ctrl-C again stops at "
           "once)\n", nl, cli_prog, cmd, how);
  stop_len[0] = strlen(stop_text[0]);
  stop_len[1] = strlen(stop_text[1]);
  catch_signal(SIGTERM);
  catch_signal(SIGINT);
}

int cli_stop_asked(void *ctx) {
  (void)ctx;
  return atomic_load_explicit(&stop_signal, memory_order_relaxed) != 0;
}

int cli_stopped(const char *cmd, const char *checkpoint, const char *what) {
  const int sig = atomic_load(&stop_signal);
  const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a request";
  if (cli_mpi_rank == 0) {
    if (checkpoint)
      fprintf(stderr, "%s %s: stopped on %s: the finished %s are kept in %s; to continue, run "
              "the same command with --resume\n", cli_prog, cmd, name, what, checkpoint);
    else
      fprintf(stderr, "%s %s: stopped on %s before it finished; nothing was written "
              "(--checkpoint keeps finished %s for --resume)\n", cli_prog, cmd, name, what);
  }
  return sig > 0 ? 128 + sig : 1;
}
