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
    "      --set PATH=VALUE      change one scenario value without editing the file, e.g.\n"
    "                            --set arms.community_city.interventions.community.escalation=0.8\n"
    "                            (PATH as errors print it; repeatable; checked like the file;\n"
    "                            recorded in the output's scenario_overrides attribute)\n"
    "      --pass P              the inner loop: auto (default: AVX-512 where the processor\n"
    "                            has it, else AVX2, else portable), avx512, avx2 or scalar\n"
    "                            (portable); the results are identical, only the speed differs\n"
    "  -q, --quiet               no progress bar\n"
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

/* Output is written with termination signals held back, so an interrupt during the write
 * cannot leave the temporary file behind; the target path only ever holds a complete file. */
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

static int run_or_expect(int argc, char **argv, int expect, const char *cmdline) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},   {"replications", required_argument, NULL, 'r'},
      {"seed", required_argument, NULL, 's'},     {"threads", required_argument, NULL, 't'},
      {"no-flows", no_argument, NULL, 'F'},       {"quiet", no_argument, NULL, 'q'},
      {"checkpoint", no_argument, NULL, 'C'},     {"resume", no_argument, NULL, 'R'},
      {"psa", no_argument, NULL, 'P'},            {"psa-inner", required_argument, NULL, 'I'},
      {"psa-prior", required_argument, NULL, 'A'}, {"set", required_argument, NULL, 'S'},
      {"pass", required_argument, NULL, 'V'},     {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  cli_sets set = {.n = 0};
  const char *cmd = expect ? "expect" : "run", *out = NULL;
  fl_run_options opt;
  fl_model *m = NULL;
  fl_results *res = NULL;
  fl_error err = {0};
  cli_progress prog_state = {time(NULL), 0, "replications"};
  int quiet = 0, checkpoint = 0, c, rc;
  char *ckpt_path = NULL;
  uint64_t v;
  fl_run_options_init(&opt);
  if (cli_wants_help(argc, argv)) {
    fputs(expect ? help_expect : help_run, stdout);
    return 0;
  }
  optind = 2;
  while ((c = getopt_long(argc, argv, expect ? "o:" : "o:r:s:t:q", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'S':
      if ((rc = cli_sets_add(cmd, &set, optarg)) != 0) return rc;
      break;
    case 'r':
    case 's':
    case 't':
      if ((rc = cli_replication_option(cmd, c, optarg, !expect, &opt)) != 0) return rc;
      break;
    case 'F':
      if (expect) return cli_usage_error(cmd, "%s", "unknown option --no-flows");
      opt.keep_flows = 0;
      break;
    case 'q': quiet = 1; break;
    case 'P':
    case 'I':
    case 'A':
      if (expect) return cli_usage_error(cmd, "%s", "--psa options belong to run");
      opt.psa = 1;
      if (c == 'I') {
        if (!cli_parse_u64(optarg, 1, 1000000, &v))
          return cli_usage_error(cmd, "--psa-inner: expected a whole number from 1, found '%s'",
                                 optarg);
        opt.psa_inner = (size_t)v;
      } else if (c == 'A') {
        char *end;
        opt.psa_prior = strtod(optarg, &end);
        if (*end || !(opt.psa_prior >= 0) || opt.psa_prior > 1e6)
          return cli_usage_error(cmd, "--psa-prior: expected a number 0 or more, found '%s'",
                                 optarg);
      }
      break;
    case 'V':
      if (expect) return cli_usage_error(cmd, "%s", "--pass is an option of run");
      if ((rc = cli_pass_option(cmd, optarg, &opt.pass)) != 0) return rc;
      break;
    case 'C':
    case 'R':
      if (expect) return cli_usage_error(cmd, "%s", "--checkpoint and --resume are options of run");
      if (c == 'R') opt.resume = 1;
      checkpoint = 1;
      break;
    default: return cli_usage_error(cmd, "%s", "invalid option");
    }
  }
  if (optind != argc - 1)
    return cli_usage_error(cmd, "%s",
                           optind >= argc ? "missing the SCENARIO argument"
                                          : "expected exactly one SCENARIO argument");
  if (!out) return cli_usage_error(cmd, "%s", "missing -o OUT.h5");
  if ((rc = cli_check_output(cmd, out)) != 0) return rc;
  if (cli_load_model(argv[optind], &set, &m, &err) != FL_OK) return cli_report(&err);
  if (checkpoint) {
    /* Finished replications are kept beside the output until the output is written. */
    if (!(ckpt_path = cli_checkpoint_path(out))) {
      fl_model_free(m);
      return 1;
    }
    opt.checkpoint = ckpt_path;
  }
  if (!quiet && cli_mpi_rank == 0 && isatty(STDERR_FILENO)) {
    opt.progress = cli_show_progress;
    opt.progress_ctx = &prog_state;
  }
  fl_status st = expect ? fl_expect(m, &res, &err) : fl_run(m, &opt, &res, &err);
  if (st == FL_OK && cli_mpi_rank == 0) {
    fl_provenance pv = {cmdline, FL_GIT_COMMIT};
    st = write_output(res, m, &pv, out, &err);
    if (st == FL_OK && ckpt_path) unlink(ckpt_path); /* the output now holds everything */
  }
  free(ckpt_path);
  fl_results_free(res);
  fl_model_free(m);
  if (st != FL_OK) return cli_report(&err);
  return 0;
}

static int run_or_expect_joined(int argc, char **argv, int expect) {
  char *cmdline = cli_join_args(argc, argv); /* before getopt_long permutes argv */
  int rc = run_or_expect(argc, argv, expect, cmdline ? cmdline : "");
  free(cmdline);
  return rc;
}

int cmd_run(int argc, char **argv) { return run_or_expect_joined(argc, argv, 0); }

int cmd_expect(int argc, char **argv) { return run_or_expect_joined(argc, argv, 1); }
