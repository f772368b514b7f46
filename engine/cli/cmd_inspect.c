/* flourish validate and flourish summary, which look at a scenario or an output without
 * running anything: a scenario checked and described in plain words (or the reference of every
 * key or dataset), and the tables of an output file. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char *help_validate =
    "Usage: flourish validate SCENARIO [--set PATH=VALUE ...]\n"
    "       flourish validate --keys [--markdown]\n"
    "       flourish validate --outputs [--markdown]\n"
    "\n"
    "Checks a scenario file (syntax, keys, values, names, row sums) and prints what it means\n"
    "in plain words. Errors are printed as file:line:col: key: message, exit status 2.\n"
    "--set changes one value first, as for run. With --keys, prints the reference of every\n"
    "scenario key instead; with --outputs, that of every dataset an output file holds.\n";

int cmd_validate(int argc, char **argv) {
  int keys = 0, outputs = 0, markdown = 0;
  const char *path = NULL;
  fl_model *m = NULL;
  fl_error err = {0};
  cli_sets set = {.n = 0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_validate, stdout);
    return 0;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--keys")) keys = 1;
    else if (!strcmp(argv[i], "--outputs")) outputs = 1;
    else if (!strcmp(argv[i], "--markdown")) markdown = 1;
    else if (!strcmp(argv[i], "--set") || !strncmp(argv[i], "--set=", 6)) {
      const char *a = argv[i][5] == '=' ? argv[i] + 6 : i + 1 < argc ? argv[++i] : NULL;
      int rc;
      if (!a) return cli_usage_error("validate", "%s", "--set needs PATH=VALUE");
      if ((rc = cli_sets_add("validate", &set, a)) != 0) return rc;
    } else if (argv[i][0] == '-' && argv[i][1])
      return cli_usage_error("validate", "unknown option %s", argv[i]);
    else if (path) return cli_usage_error("validate", "%s", "expected one SCENARIO argument");
    else path = argv[i];
  }
  if (outputs) {
    fl_outputs_print(markdown, cli_write_stdout, NULL);
    return 0;
  }
  if (keys) {
    fl_schema_print(markdown, cli_write_stdout, NULL);
    return 0;
  }
  if (!path) return cli_usage_error("validate", "%s", "missing the SCENARIO argument");
  const fl_path_role in = {path, "SCENARIO", FL_PATH_INPUT};
  int rc = cli_check_paths(&in, 1);
  if (rc) return rc;
  if (cli_load_model(path, &set, &m, &err) != FL_OK) return cli_report(&err);
  fl_model_describe(m, cli_write_stdout, NULL);
  printf("%s: valid\n", path);
  fl_model_free(m);
  return 0;
}

static const char *help_summary =
    "Usage: flourish summary OUT.h5 [--csv | --xlsx FILE.xlsx]\n"
    "\n"
    "Prints, for each arm and year, the children at each level (mean and 90% interval over\n"
    "replications), the cost of the year and quality-adjusted child-years, and the total cost\n"
    "over the horizon by budget holder. Then each arm against the baseline, by year: the\n"
    "difference in cost by budget holder and net, the cumulative net cost, QALYs and the\n"
    "probability of a net saving so far; the break-even month (median and 90% interval, a\n"
    "replication that never breaks even counting as later than any that does), the totals\n"
    "over the horizon, the ICER, and the net monetary benefit and probability of being\n"
    "cost-effective at each willingness to pay. Last, the cost-effectiveness frontier of all\n"
    "arms (each on it, dominated, extendedly dominated or the same as another, with the\n"
    "frontier's ICERs) and, from run --psa, the expected value of perfect information at\n"
    "each willingness to pay (text only). Names are the scenario's display labels,\n"
    "amounts are in its currency (costs.currency) and the first line says whether the\n"
    "intervals include parameter uncertainty (run --psa).\n"
    "With --csv, one row per arm, year and measure: arm,year,measure,unit,discounted,mean,\n"
    "median,q05,q95 (year empty for a measure over the whole horizon; a break-even never\n"
    "reached is inf). With --xlsx, the same numbers as a workbook for a committee, one sheet\n"
    "per arm: years down, measures across, each header giving its unit and whether it is\n"
    "discounted, amounts in the currency's format; written atomically.\n"
    "\n"
    "For a sweep's output (flourish sweep): each point's parameter values with each\n"
    "comparison's net cost and QALYs gained (mean and Monte Carlo standard error), then the\n"
    "sensitivity of those results to each parameter with its Monte Carlo error (and, for\n"
    "sampled designs, the error from the finite points). With --csv, one long table\n"
    "(section, point, parameters, arm, result, value, mcse, se_points).\n"
    "\n"
    "For a fit's report (flourish fit --report): each parameter's posterior mean, sd, 5%,\n"
    "50% and 95% quantiles, split R-hat and bulk ESS (with --csv, the fit's --summary-csv).\n";

int cmd_summary(int argc, char **argv) {
  int csv = 0;
  const char *path = NULL, *xlsx = NULL;
  fl_error err = {0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_summary, stdout);
    return 0;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--csv")) csv = 1;
    else if (!strcmp(argv[i], "--xlsx") || !strncmp(argv[i], "--xlsx=", 7)) {
      xlsx = argv[i][6] == '=' ? argv[i] + 7 : i + 1 < argc ? argv[++i] : NULL;
      if (!xlsx || !*xlsx) return cli_usage_error("summary", "%s", "--xlsx needs a file name");
    } else if (argv[i][0] == '-' && argv[i][1])
      return cli_usage_error("summary", "unknown option %s", argv[i]);
    else if (path) return cli_usage_error("summary", "%s", "expected one OUT.h5 argument");
    else path = argv[i];
  }
  if (!path) return cli_usage_error("summary", "%s", "missing the OUT.h5 argument");
  if (csv && xlsx) return cli_usage_error("summary", "%s", "give --csv or --xlsx, not both");
  const fl_path_role paths[] = {{path, "OUT.h5", FL_PATH_INPUT}, {xlsx, "--xlsx", FL_PATH_OUTPUT}};
  int rc = cli_check_paths(paths, xlsx ? 2 : 1);
  if (rc) return rc;
  if (xlsx) {
    if (fl_summary_xlsx(path, xlsx, &err) != FL_OK) return cli_report(&err);
    return 0;
  }
  if (fl_summary_print(path, csv, cli_write_stdout, NULL, &err) != FL_OK) return cli_report(&err);
  return 0;
}
