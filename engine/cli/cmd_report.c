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
    "Usage: flourish report OUT.h5 -o REPORT.html   (OUT.h5 from run, expect or sweep)\n"
    "\n"
    "Writes one self-contained HTML file (figures embedded, no network needed to view it)\n"
    "from a run or expect output: children at each level over time per arm with 50% and 90%\n"
    "bands; flows into and out of each level per year; where the savings land by budget\n"
    "holder; the cumulative net cost and break-even; the cost-QALY plane and the\n"
    "acceptability curve. Each figure has a plain-English caption and the table behind it.\n"
    "For a sweep output: the sensitivity of each result to each parameter (tornado), a\n"
    "two-way table of a grid's first two parameters (heatmap) and every point's net cost.\n"
    "The file is written atomically.\n"
    "\n"
    "Needs Python 3 with numpy, h5py and matplotlib (Debian: python3-h5py\n"
    "python3-matplotlib). FLOURISH_PYTHON names another interpreter; FLOURISH_REPORT_SCRIPT\n"
    "another copy of report.py.\n";

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
  fprintf(stderr, "%s report: cannot start %s: %s; install Debian's python3-h5py and "
          "python3-matplotlib or set FLOURISH_PYTHON\n", cli_prog, python, strerror(errno));
  return 1;
}
