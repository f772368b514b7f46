/* The flourish command-line tool: MPI start-up and dispatch to the commands (cmd_*.c). The
 * tool is the only place where errors become messages and exit codes: 0 success, 1 runtime
 * failure, 2 bad input or usage. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FLOURISH_MPI
#include <mpi.h>
#endif

static const char *help_main =
    "Usage: flourish COMMAND [options]\n"
    "\n"
    "Monte Carlo microsimulation of children moving between levels of need (GIRFEC levels)\n"
    "or any discrete-time state-transition model described in a YAML scenario.\n"
    "\n"
    "Commands:\n"
    "  run SCENARIO -o OUT.h5      simulate every child, R replications, write HDF5\n"
    "  expect SCENARIO -o OUT.h5   exact expected values by matrix algebra, write HDF5\n"
    "  validate SCENARIO           check a scenario and describe it in plain words\n"
    "  summary OUT.h5 [--csv]      per-year table of a run, or a sweep's points and sensitivities\n"
    "  sweep SCENARIO -o SWEEP.h5 --param PATH=LO:HI[:N] ...\n"
    "                              the scenario over a grid or sample of parameter values\n"
    "  report OUT.h5 -o REPORT.html\n"
    "                              one self-contained HTML report with figures and tables\n"
    "  synth SCENARIO -o EPISODES.csv --population POP.csv\n"
    "                              synthetic episode records and population from a scenario\n"
    "  calibrate EPISODES.csv --population POP.csv --template SCENARIO -o OUT.yaml\n"
    "                              a scenario calibrated from episode records\n"
    "\n"
    "Options: --help (also after a command), --version.\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad input or usage.\n";

static int dispatch(int argc, char **argv);

/* Under an MPI launcher (mpirun, srun) the run is shared between ranks; started alone, the
 * program does not initialise MPI at all. */
int main(int argc, char **argv) {
#ifdef FLOURISH_MPI
  const int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
                       getenv("PMIX_RANK") || getenv("MPI_LOCALNRANKS");
  if (launched) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &cli_mpi_rank);
  }
  int rc = dispatch(argc, argv);
  if (launched) MPI_Finalize();
  return rc;
#else
  return dispatch(argc, argv);
#endif
}

static int dispatch(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (!cmd) {
    fputs(help_main, stderr);
    return 2;
  }
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(help_main, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("flourish %s (git %s)\n", FL_VERSION_STRING, FL_GIT_COMMIT);
    return 0;
  }
  if (!strcmp(cmd, "run")) return cmd_run(argc, argv);
  if (!strcmp(cmd, "expect")) return cmd_expect(argc, argv);
  if (!strcmp(cmd, "validate")) return cmd_validate(argc, argv);
  if (!strcmp(cmd, "summary")) return cmd_summary(argc, argv);
  if (!strcmp(cmd, "report")) return cmd_report(argc, argv);
  if (!strcmp(cmd, "sweep")) return cmd_sweep(argc, argv);
  if (!strcmp(cmd, "synth")) return cmd_synth(argc, argv);
  if (!strcmp(cmd, "calibrate")) return cmd_calibrate(argc, argv);
  fprintf(stderr, "%s: unknown command '%s'\n\n%s", cli_prog, cmd, help_main);
  return 2;
}
