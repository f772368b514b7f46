/* flourish report: one self-contained HTML report of an output file. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *help_report =
    "Usage: flourish report OUT.h5 -o REPORT.html   (from run, expect, sweep or fit)\n"
    "\n"
    "Writes one self-contained HTML file (figures embedded as SVG, no network needed to view\n"
    "or print it) from a run or expect output. It opens with each arm's headline: what it\n"
    "invests, its net saving by year 5 and at the horizon with 90% intervals, the budget\n"
    "holders where the savings land, break-even, the probability of a saving and the cost per\n"
    "QALY with its meaning. Then: children at each level and each arm's paired difference\n"
    "from the baseline; flows into and out of each level; each level's change against the\n"
    "baseline split into the parts due to changed inflow and changed outflow; length of stay;\n"
    "re-entries and skip-level escalations; change by locality; where the savings land;\n"
    "break-even; the cost-QALY plane and the acceptability curve; and, under --psa in\n"
    "blocks, the share of the spread due to parameter uncertainty. Every figure has alt text,\n"
    "a caption that says whether parameter uncertainty is included, and the table behind it.\n"
    "Dates come from the scenario's time.start, amounts from its costs.currency, names from\n"
    "its label keys. For a sweep output: the sensitivity of each result to each parameter\n"
    "(tornado), a two-way table of a grid's first two parameters (heatmap), where the savings\n"
    "land at each point and every point's net cost. For a fit's report (fit --report):\n"
    "each observed series against the fitted one with its 90% bands, and each parameter's\n"
    "posterior with its diagnostics. The file is written atomically.\n"
    "\n"
    "Needs Python 3 with numpy, h5py, matplotlib and PyYAML (Debian: python3-h5py\n"
    "python3-matplotlib python3-yaml). FLOURISH_PYTHON names another interpreter;\n"
    "FLOURISH_REPORT_SCRIPT another copy of report.py.\n";

/* The report is drawn by scripts/report.py (matplotlib has no C counterpart worth the
 * dependency): this command finds the interpreter and the script and hands over. The
 * installed copy (PREFIX/share/flourish/report.py) wins over the source tree's. */
static void discard(void *ctx, const char *text) {
  (void)ctx;
  (void)text;
}

int cmd_report(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  if (cli_wants_help(argc, argv)) {
    fputs(help_report, stdout);
    return 0;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
      if (++i == argc) return cli_usage_error("report", "%s", "-o needs a file name");
      out = argv[i];
    } else if (!strncmp(argv[i], "--output=", 9)) {
      out = argv[i] + 9;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return cli_usage_error("report", "unknown option %s", argv[i]);
    } else if (in) {
      return cli_usage_error("report", "%s", "expected one OUT.h5 argument");
    } else {
      in = argv[i];
    }
  }
  if (!in) return cli_usage_error("report", "%s", "missing the OUT.h5 argument");
  if (!out) return cli_usage_error("report", "%s", "missing -o REPORT.html");
  const fl_path_role paths[] = {{in, "OUT.h5", FL_PATH_INPUT}, {out, "-o", FL_PATH_OUTPUT}};
  int rc = cli_check_paths(paths, 2);
  if (rc) return rc;

  /* The file is read with the checks `flourish summary` makes first: a damaged or foreign file
   * is refused here, in one line, before the script starts. */
  fl_error err = {0};
  if (fl_summary_print(in, 0, discard, NULL, &err) != FL_OK) return cli_report(&err);

  const char *python = getenv("FLOURISH_PYTHON");
  if (!python || !*python) python = FL_PYTHON;
  const char *script = getenv("FLOURISH_REPORT_SCRIPT");
  char installed[4096];
  if (!script || !*script) {
    script = FL_REPORT_SCRIPT;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      exe[n] = '\0';
      int w = snprintf(installed, sizeof installed, "%s/../share/flourish/report.py", dirname(exe));
      if (w > 0 && (size_t)w < sizeof installed && access(installed, R_OK) == 0) script = installed;
    }
  }
  if (access(script, R_OK) != 0) {
    fprintf(stderr, "%s report: cannot read the report script %s: %s\n", cli_prog, script,
            strerror(errno));
    return 1;
  }
  /* --output=FILE and -- keep names that begin with '-' from reading as options. */
  char *output_arg = malloc(strlen(out) + 10);
  if (!output_arg) return 1;
  sprintf(output_arg, "--output=%s", out);
  char *args[] = {(char *)python, (char *)script, output_arg, (char *)"--", (char *)in, NULL};
  fflush(NULL);
  execvp(python, args);
  free(output_arg);
  fprintf(stderr,
          "%s report: cannot start %s: %s; install Debian's python3-h5py, "
          "python3-matplotlib and python3-yaml or set FLOURISH_PYTHON\n",
          cli_prog, python, strerror(errno));
  return 1;
}
