/* flourish run and flourish expect: one scenario simulated child by child over replications
 * (run), or its exact expected values (expect), written to one HDF5 file. The two share their
 * command line; the options about replications belong to run alone. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *help_run =
    "Usage: flourish run SCENARIO -o OUT.h5 [options]\n"
    "\n"
    "Simulates every child of the scenario's population step by step, R times, and writes\n"
    "stocks, flows, entries, exits, costs, QoL, spell and journey tallies per replication,\n"
    "with summaries (mean, sd, Monte Carlo standard error, quantiles), to OUT.h5.\n"
    "The file is written atomically: OUT.h5 appears only when complete.\n"
    "Under mpirun or srun the replications are shared between the ranks (same result).\n"
    "Several copies that do not form one MPI job (srun without a working --mpi, or a build\n"
    "without MPI) are refused with status 2, as each would do all the work; set\n"
    "FLOURISH_ALLOW_COPIES=1 for independent copies with their own outputs.\n"
    "SIGTERM or SIGINT stops the run once the replications in progress are finished, keeps\n"
    "them in the checkpoint (with --checkpoint) and exits with status 128 + the signal (143\n"
    "for SIGTERM, 130 for SIGINT); --resume continues. Slurm's requeue, preemption and\n"
    "scancel send SIGTERM.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         output HDF5 file (required)\n"
    "  -r, --replications N      number of replications (default 100)\n"
    "  -s, --seed S              master seed, 0 to 2^64-1 (default 1)\n"
    "  -t, --threads T           OpenMP threads (default: OMP_NUM_THREADS or all cores),\n"
    "                            shared between replications; with fewer replications\n"
    "                            than threads, their children are also split between\n"
    "                            threads (5,000 or more a thread); results are identical\n"
    "                            for any T\n"
    "      --no-flows            do not store the [R, T, S, S] flow counts\n"
    "      --checkpoint          keep finished replications in OUT.h5.ckpt while running\n"
    "      --resume              continue an interrupted --checkpoint run: replications in\n"
    "                            OUT.h5.ckpt are loaded, the rest simulated; the result is\n"
    "                            the file an uninterrupted run writes\n"
    "      --psa                 parameter uncertainty: transition rows with counts (from\n"
    "                            flourish calibrate) are drawn from their Dirichlet\n"
    "                            posteriors, afresh for each block of replications\n"
    "      --psa-inner K         replications per parameter draw (default 1); with K >= 2\n"
    "                            the output splits the variance into parameter and chance\n"
    "      --psa-prior A         Dirichlet prior added to every listed count (default 0.5)\n"
    "      --evppi KEY[,KEY...]  with --psa: the EVPPI of these uncertainty-section entries\n"
    "                            (their keys, as parameters/drawn names them), by regression\n"
    "                            on their drawn values; needs 4 blocks per fitted term\n"
    "      --set PATH=VALUE      change one scenario value without editing the file, e.g.\n"
    "                            --set arms.community_city.interventions.community.escalation=0.8\n"
    "                            (PATH as errors print it; repeatable; checked like the file;\n"
    "                            a list is written [a, b]; recorded in the output's\n"
    "                            scenario_overrides attribute)\n"
    "      --pass P              the inner loop: auto (default: AVX-512 where the processor\n"
    "                            has it, else AVX2, else portable), avx512, avx2 or scalar\n"
    "                            (portable); the results are identical, only the speed differs\n"
    "  -q, --quiet               no progress (otherwise a bar with the rate and the time\n"
    "                            left on a terminal; elsewhere, as in a batch job's log, a\n"
    "                            line every 10 s or FLOURISH_PROGRESS_INTERVAL seconds)\n"
    "  -h, --help                this help\n";

static const char *help_expect =
    "Usage: flourish expect SCENARIO -o OUT.h5 [--set PATH=VALUE ...]\n"
    "\n"
    "Computes the exact expected stocks, flows, entries, exits, costs and QoL of the scenario\n"
    "by propagating probability mass over (locality x age x time-in-state x state) cells, and\n"
    "writes them to OUT.h5 (same layout as run, without the replication dimension).\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   output HDF5 file (required)\n"
    "      --set PATH=VALUE  change one scenario value, as for run (repeatable)\n"
    "  -h, --help          this help\n";

/* What a run or expect command line asks for. */
typedef struct run_args {
  const char *cmd; /* "run" or "expect" */
  int expect;
  const char *scenario, *out;
  fl_run_options opt;
  cli_sets set;
  int quiet, checkpoint;
} run_args;

/* --psa, --psa-inner K or --psa-prior A (c is 'P', 'I' or 'A'): each turns parameter
 * uncertainty on. Returns 0, or 2 after the message. */
static int psa_option(const char *cmd, int c, const char *arg, fl_run_options *opt) {
  uint64_t v;
  opt->psa = 1;
  if (c == 'I') {
    if (!cli_parse_u64(arg, 1, 1000000, &v))
      return cli_usage_error(cmd, "--psa-inner: expected a whole number from 1, found '%s'", arg);
    opt->psa_inner = (size_t)v;
  } else if (c == 'A') {
    char *end;
    opt->psa_prior = strtod(arg, &end);
    if (*end || !(opt->psa_prior >= 0) || opt->psa_prior > 1e6)
      return cli_usage_error(cmd, "--psa-prior: expected a number 0 or more, found '%s'", arg);
  }
  return 0;
}

/* One option as getopt_long returns it (c, with its argument arg) into a; expect refuses the
 * options of run. Returns 0, or 2 after the message. */
static int run_option(run_args *a, int c, const char *arg) {
  const char *cmd = a->cmd;
  switch (c) {
  case 'o': a->out = arg; return 0;
  case 'S': return cli_sets_add(cmd, &a->set, arg);
  case 'r':
  case 's':
  case 't': return cli_replication_option(cmd, c, arg, !a->expect, &a->opt);
  case 'F':
    if (a->expect) return cli_usage_error(cmd, "%s", "unknown option --no-flows");
    a->opt.keep_flows = 0;
    return 0;
  case 'q': a->quiet = 1; return 0;
  case 'E':
    if (a->expect) return cli_usage_error(cmd, "%s", "--evppi belongs to run");
    a->opt.evppi = arg;
    a->opt.psa = 1;
    return 0;
  case 'P':
  case 'I':
  case 'A':
    if (a->expect) return cli_usage_error(cmd, "%s", "--psa options belong to run");
    return psa_option(cmd, c, arg, &a->opt);
  case 'V':
    if (a->expect) return cli_usage_error(cmd, "%s", "--pass is an option of run");
    return cli_pass_option(cmd, arg, &a->opt.pass);
  case 'C':
  case 'R':
    if (a->expect)
      return cli_usage_error(cmd, "%s", "--checkpoint and --resume are options of run");
    if (c == 'R') a->opt.resume = 1;
    a->checkpoint = 1;
    return 0;
  default: return cli_usage_error(cmd, "%s", "invalid option");
  }
}

/* The options and the one SCENARIO argument into a, and the output checked writable. Returns
 * 0, or 2 after the message. */
static int parse_run_args(int argc, char **argv, run_args *a) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},   {"replications", required_argument, NULL, 'r'},
      {"seed", required_argument, NULL, 's'},     {"threads", required_argument, NULL, 't'},
      {"no-flows", no_argument, NULL, 'F'},       {"quiet", no_argument, NULL, 'q'},
      {"checkpoint", no_argument, NULL, 'C'},     {"resume", no_argument, NULL, 'R'},
      {"psa", no_argument, NULL, 'P'},            {"psa-inner", required_argument, NULL, 'I'},
      {"psa-prior", required_argument, NULL, 'A'}, {"set", required_argument, NULL, 'S'},
      {"pass", required_argument, NULL, 'V'},     {"help", no_argument, NULL, 'h'},
      {"evppi", required_argument, NULL, 'E'},
      {NULL, 0, NULL, 0}};
  int c, rc;
  optind = 2;
  while ((c = getopt_long(argc, argv, a->expect ? "o:" : "o:r:s:t:q", opts, NULL)) != -1)
    if ((rc = run_option(a, c, optarg)) != 0) return rc;
  if (optind != argc - 1)
    return cli_usage_error(a->cmd, "%s",
                           optind >= argc ? "missing the SCENARIO argument"
                                          : "expected exactly one SCENARIO argument");
  if (!a->out) return cli_usage_error(a->cmd, "%s", "missing -o OUT.h5");
  a->scenario = argv[optind];
  return 0;
}

/* An expectation's output is written with termination signals held back, so an interrupt
 * during the write cannot leave the temporary file behind; the target path only ever holds a
 * complete file. */
static fl_status write_output(const fl_results *res, const fl_model *m, const fl_provenance *pv,
                              const char *out, fl_error *err) {
  sigset_t block, old;
  fl_status st;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  sigprocmask(SIG_BLOCK, &block, &old);
  st = fl_results_write(res, m, pv, out, err);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return st;
}

/* Loads the model, simulates or computes it, and writes the output (rank 0 only), recording
 * cmdline in it. Returns the exit code. */
static int run_and_write(run_args *a, const char *cmdline) {
  fl_model *m = NULL;
  fl_results *res = NULL;
  fl_error err = {0};
  cli_progress progress;
  /* Finished replications are kept beside the output until the output is written. */
  char *ckpt_path = a->checkpoint ? cli_checkpoint_path(a->out) : NULL;
  if (a->checkpoint && !ckpt_path) return 1;
  const fl_path_role paths[] = {{a->scenario, "SCENARIO", FL_PATH_INPUT},
                                {a->out, "-o", FL_PATH_OUTPUT},
                                {ckpt_path, "--checkpoint", FL_PATH_OUTPUT}};
  int rc = cli_check_paths(paths, ckpt_path ? 3 : 2);
  if (rc != 0 || cli_load_model(a->scenario, &a->set, &m, &err) != FL_OK) {
    free(ckpt_path);
    return rc ? rc : cli_report(&err);
  }
  a->opt.checkpoint = ckpt_path;
  a->opt.notice = cli_notice;
  a->opt.notice_ctx = (void *)a->cmd;
  cli_progress_init(&progress, a->cmd, "replications", a->quiet);
  a->opt.progress = cli_show_progress;
  a->opt.summary_progress = cli_show_summary_progress;
  a->opt.progress_ctx = &progress;
  a->opt.stop = cli_stop_asked;
  fl_provenance pv = {cmdline, FL_GIT_COMMIT};
  fl_status st;
  if (a->expect) {
    st = fl_expect(m, &res, &err);
    if (st == FL_OK && cli_mpi_rank == 0) st = write_output(res, m, &pv, a->out, &err);
  } else {
    /* The replications stream to the file as they finish. */
    st = fl_run_write(m, &a->opt, &pv, a->out, &err);
    if (st == FL_OK && ckpt_path && cli_mpi_rank == 0) unlink(ckpt_path); /* all in the output */
  }
  cli_progress_end(&progress);
  if (st == FL_OK) cli_wrote(&progress, a->out);
  if (st == FL_ESTOPPED) rc = cli_stopped(a->cmd, ckpt_path, "replications");
  else rc = st == FL_OK ? 0 : cli_report(&err);
  free(ckpt_path);
  fl_results_free(res);
  fl_model_free(m);
  return rc;
}

static int run_or_expect(int argc, char **argv, int expect) {
  run_args a = {.cmd = expect ? "expect" : "run", .expect = expect};
  if (cli_wants_help(argc, argv)) {
    fputs(expect ? help_expect : help_run, stdout);
    return 0;
  }
  fl_run_options_init(&a.opt);
  char *cmdline = cli_join_args(argc, argv); /* before getopt_long permutes argv */
  int rc = parse_run_args(argc, argv, &a);
  if (rc == 0 && !expect && (rc = cli_check_copies(a.cmd)) == 0)
    cli_catch_stop_signals(a.cmd, "stopping once the replications in progress are finished");
  if (rc == 0) rc = run_and_write(&a, cmdline ? cmdline : "");
  free(cmdline);
  return rc;
}

int cmd_run(int argc, char **argv) { return run_or_expect(argc, argv, 0); }

int cmd_expect(int argc, char **argv) { return run_or_expect(argc, argv, 1); }
