/* The flourish command-line tool: MPI start-up, and the table of commands that dispatches to
 * them and lists them in the help. The tool is the only place where errors become messages and
 * exit codes: 0 success, 1 runtime failure, 2 bad input or usage (and 128 + the signal for a
 * run or sweep stopped by one).
 *
 * Adding a command: a file cmd_NAME.c with its help text and int cmd_NAME(int argc, char **argv),
 * its declaration in cli.h, its source in the flourish executable (CMakeLists.txt) and a row in
 * the table below; docs/cli.md is then regenerated (scripts/gen-cli-doc.sh). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FLOURISH_MPI
#include <mpi.h>
#endif

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[1] is the name; returns the exit code */
  const char *args;                  /* the arguments after the name, as the help shows them */
  const char *summary;               /* one line of the help */
} command;

/* The commands, in the order of the help. */
static const command commands[] = {
    {"run", cmd_run, "SCENARIO -o OUT.h5", "simulate every child, R replications, write HDF5"},
    {"expect", cmd_expect, "SCENARIO -o OUT.h5",
     "exact expected values by matrix algebra, write HDF5"},
    {"validate", cmd_validate, "SCENARIO", "check a scenario and describe it in plain words"},
    {"summary", cmd_summary, "OUT.h5 [--csv | --xlsx FILE]",
     "per-year table of a run, or a sweep's points and sensitivities"},
    {"sweep", cmd_sweep, "SCENARIO -o SWEEP.h5 --param PATH=LO:HI[:N] ...",
     "the scenario over a grid or sample of parameter values"},
    {"report", cmd_report, "OUT.h5 -o REPORT.html",
     "one self-contained HTML report with figures and tables"},
    {"serve", cmd_serve, "SCENARIO [--port P]",
     "a local web app for what-if workshops: sliders, exact answers, Monte Carlo bands"},
    {"synth", cmd_synth, "SCENARIO -o EPISODES.csv --population POP.csv",
     "synthetic episode records and population from a scenario"},
    {"calibrate", cmd_calibrate,
     "EPISODES.csv --population POP.csv --template SCENARIO -o OUT.yaml",
     "a scenario calibrated from episode records"},
    {"fit", cmd_fit, "SCENARIO --observed OBS.csv --param PATH=LO:HI ... -o FITTED.yaml",
     "Bayesian calibration to published stock and flow series, with uncertainty"},
};

static const char *help_head =
    "Usage: flourish COMMAND [options]\n"
    "\n"
    "Monte Carlo microsimulation of children moving between levels of need (GIRFEC levels)\n"
    "or any discrete-time state-transition model described in a YAML scenario.\n"
    "\n"
    "Commands:\n";

static const char *help_tail =
    "\n"
    "Options: --help (also after a command), --version.\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad input or usage; 128 + the signal when\n"
    "run or sweep stopped on SIGTERM or SIGINT (143, 130), keeping its work for --resume.\n";

/* The help: a command's summary starts in column USAGE_WIDTH + 2, on a line of its own when
 * the name and arguments leave less than two spaces before it. */
enum { USAGE_WIDTH = 28 };

static void print_help(FILE *f) {
  fputs(help_head, f);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    const command *c = &commands[i];
    int used = (int)(strlen(c->name) + 1 + strlen(c->args));
    if (used + 2 <= USAGE_WIDTH)
      fprintf(f, "  %s %s%*s%s\n", c->name, c->args, USAGE_WIDTH - used, "", c->summary);
    else
      fprintf(f, "  %s %s\n  %*s%s\n", c->name, c->args, USAGE_WIDTH, "", c->summary);
  }
  fputs(help_tail, f);
}

static int dispatch(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (!cmd) {
    print_help(stderr);
    return 2;
  }
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    print_help(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("flourish %s (git %s)\n", FL_VERSION_STRING, FL_GIT_COMMIT);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc, argv);
  fprintf(stderr, "%s: unknown command '%s'\n\n", cli_prog, cmd);
  print_help(stderr);
  return 2;
}

/* Under an MPI launcher (mpirun, srun) the run is shared between ranks; started alone, the
 * program does not initialise MPI at all. */
int main(int argc, char **argv) {
#ifdef FLOURISH_MPI
  const int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
                       getenv("PMIX_RANK") || getenv("MPI_LOCALNRANKS");
  if (launched) {
    /* The run's threads call MPI one at a time (sim/pipeline.c). */
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &cli_mpi_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &cli_mpi_ranks);
  }
  int rc = dispatch(argc, argv);
  if (launched) MPI_Finalize();
  return rc;
#else
  return dispatch(argc, argv);
#endif
}
