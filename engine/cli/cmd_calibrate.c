/* flourish synth and flourish calibrate, the two ends of calibration: synthetic episode
 * records made from a scenario (a known truth), and a scenario calibrated from episode records
 * (fl_synth and fl_calibrate do the work; this file reads the command lines). */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help_synth =
    "Usage: flourish synth SCENARIO -o EPISODES.csv --population POP.csv [options]\n"
    "\n"
    "Simulates the scenario's baseline once, child by child, and writes what services would\n"
    "have recorded: an episode per spell in a state above the lowest level (child_id, state,\n"
    "start_date, end_date blank while open at the end of the horizon, date_of_birth,\n"
    "locality), and the population by age and locality at the start of each year. The data\n"
    "are synthetic (a known truth for testing calibration); identifiers are made up.\n"
    "The scenario needs monthly steps.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         episodes CSV (required)\n"
    "      --population FILE     population CSV (required)\n"
    "  -s, --seed S              seed (default 1)\n"
    "      --start YYYY-MM       calendar month of the first step (default 2015-04)\n"
    "  -h, --help                this help\n";

int cmd_synth(int argc, char **argv) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'}, {"population", required_argument, NULL, 'p'},
      {"seed", required_argument, NULL, 's'},   {"start", required_argument, NULL, 'S'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  const char *out = NULL, *pop = NULL;
  uint64_t seed = 1, v;
  int year = 2015, month = 4, c, rc;
  fl_model *m = NULL;
  fl_error err = {0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_synth, stdout);
    return 0;
  }
  optind = 2;
  while ((c = getopt_long(argc, argv, "o:s:", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'p': pop = optarg; break;
    case 's':
      if (!cli_parse_u64(optarg, 0, UINT64_MAX, &v))
        return cli_usage_error("synth", "--seed: expected a whole number, found '%s'", optarg);
      seed = v;
      break;
    case 'S':
      if (sscanf(optarg, "%4d-%2d", &year, &month) != 2 || year < 1900 || year > 2200 ||
          month < 1 || month > 12)
        return cli_usage_error("synth", "--start: expected YYYY-MM, found '%s'", optarg);
      break;
    default: return cli_usage_error("synth", "%s", "invalid option");
    }
  }
  if (optind != argc - 1) return cli_usage_error("synth", "%s", "expected one SCENARIO argument");
  if (!out || !pop)
    return cli_usage_error("synth", "%s", "give -o EPISODES.csv and --population POP.csv");
  const fl_path_role paths[] = {{argv[optind], "SCENARIO", FL_PATH_INPUT},
                                {out, "-o", FL_PATH_OUTPUT},
                                {pop, "--population", FL_PATH_OUTPUT}};
  if ((rc = cli_check_paths(paths, 3)) != 0) return rc;
  if (cli_load_model(argv[optind], NULL, &m, &err) != FL_OK) return cli_report(&err);
  fl_status st = fl_synth(m, seed, year, month, out, pop, &err);
  fl_model_free(m);
  return st == FL_OK ? 0 : cli_report(&err);
}

static const char *help_calibrate =
    "Usage: flourish calibrate EPISODES.csv --population POP.csv --template SCENARIO\n"
    "                          -o OUT.yaml [options]\n"
    "\n"
    "Turns episode records into a calibrated scenario: each child's state on the first day of\n"
    "every month (overlaps: the highest level wins; gaps: the template's first state of its\n"
    "lowest level), monthly transition counts by age band, maximum-likelihood probabilities\n"
    "(rows with too few observations pooled with all ages), and stocks at the extract date.\n"
    "OUT.yaml is the template with its population and transitions replaced (with the counts\n"
    "behind every row). No child identifier is ever written. EPISODES.csv has the columns\n"
    "child_id, state, start_date, end_date (blank while open) and date_of_birth (blank where\n"
    "unknown), and optionally locality. What the records show to be wrong (see --strict) is\n"
    "counted in a warning on stderr and in the report, with the first lines affected.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         calibrated scenario (required)\n"
    "      --population FILE     children by age and locality on dates (required)\n"
    "      --template SCENARIO   levels, states, costs and arms to keep (required)\n"
    "      --report FILE         calibration report CSV: probabilities with exact 95%\n"
    "                            intervals, monthly stocks, moves per child, skip-level\n"
    "                            escalations, re-entries, time in each level\n"
    "      --report-h5 FILE      the report's counts, stocks and journeys as HDF5 (rounded\n"
    "                            as the CSV's with --suppress)\n"
    "      --from YYYY-MM-DD     start of the observation window (default: the first whole\n"
    "                            month after the first record starts)\n"
    "      --to YYYY-MM-DD       extract date (default: the last date in the records)\n"
    "      --date-format FMT     how the files write dates (default %Y-%m-%d): %Y (four\n"
    "                            digits), %m, %d between separators, and optionally a\n"
    "                            time %H:%M or %H:%M:%S, read and ignored: %d/%m/%Y,\n"
    "                            %m/%d/%Y, '%Y-%m-%d %H:%M:%S', %Y-%m-%dT%H:%M:%S,\n"
    "                            '%d/%m/%Y %H:%M'; --from and --to stay YYYY-MM-DD\n"
    "      --delimiter C         the files' field separator: , (default), ; (Excel where\n"
    "                            the decimal mark is a comma), tab or |\n"
    "      --age-bands A,B,...   age band edges in years (default: none)\n"
    "      --duration-bands M,N  time-in-state band edges in months (default: none); the\n"
    "                            records before the window show how long spells have run\n"
    "      --min-row N           pool rows with fewer child-months in a band (default 30)\n"
    "      --period-months N     also report every row by calendar periods of N months\n"
    "                            (trends; the scenario uses the whole window)\n"
    "      --precedence level|file  overlapping episodes: the highest level wins (default),\n"
    "                            or the episode later in the file\n"
    "      --suppress N          disclosure control: every count written (the scenario's\n"
    "                            transition counts and initial population, every report)\n"
    "                            is randomly rounded to a multiple of N, unbiased, and all\n"
    "                            that is derived (probabilities, intervals) comes from the\n"
    "                            rounded counts, so no count below N can be derived from the\n"
    "                            outputs (default 0: none)\n"
    "      --check               back-cast: run the calibrated model over the window from\n"
    "                            the stocks observed at its start (expectation mode) and\n"
    "                            report observed against expected children by state and\n"
    "                            month (needs --report)\n"
    "      --covers LEVELS       the levels the records cover, comma-separated (default:\n"
    "                            every level above the lowest), for national returns\n"
    "                            that hold only looked-after children or child\n"
    "                            protection: the other levels' rows keep the template's,\n"
    "                            their escalations into covered levels scaled to the moves\n"
    "                            the records show from children without a record\n"
    "      --strict              data-quality warnings are errors (exit 2): an open episode\n"
    "                            followed by a later one, overlapping episodes, episodes\n"
    "                            before birth, children without or with two dates of\n"
    "                            birth, children never below the maximum age in the window\n"
    "  -h, --help                this help\n";

/* Parses "5,12,16" into ascending band edges. */
static int parse_bands(const char *s, double *edges, size_t *n) {
  char *end;
  *n = 0;
  while (*s) {
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || v > 200 || (*n && v <= edges[*n - 1]) || *n == 64) return 0;
    edges[(*n)++] = v;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return 0;
  }
  return *n > 0;
}

int cmd_calibrate(int argc, char **argv) {
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"population", required_argument, NULL, 'p'},
                                       {"template", required_argument, NULL, 't'},
                                       {"report", required_argument, NULL, 'r'},
                                       {"from", required_argument, NULL, 'f'},
                                       {"to", required_argument, NULL, 'T'},
                                       {"age-bands", required_argument, NULL, 'a'},
                                       {"min-row", required_argument, NULL, 'm'},
                                       {"suppress", required_argument, NULL, 'S'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"check", no_argument, NULL, 'c'},
                                       {"duration-bands", required_argument, NULL, 'd'},
                                       {"precedence", required_argument, NULL, 'e'},
                                       {"report-h5", required_argument, NULL, 'H'},
                                       {"period-months", required_argument, NULL, 'P'},
                                       {"strict", no_argument, NULL, 'X'},
                                       {"date-format", required_argument, NULL, 'D'},
                                       {"delimiter", required_argument, NULL, 'L'},
                                       {"covers", required_argument, NULL, 'C'},
                                       {NULL, 0, NULL, 0}};
  fl_calibrate_options opt = {.min_row = 30};
  const char *tmpl = NULL;
  double bands[64], dbands[64];
  uint64_t v;
  int c, rc;
  fl_scenario *sc = NULL;
  fl_model *m = NULL;
  fl_error err = {0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_calibrate, stdout);
    return 0;
  }
  optind = 2;
  while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
    switch (c) {
    case 'o': opt.output = optarg; break;
    case 'p': opt.population = optarg; break;
    case 't': tmpl = optarg; break;
    case 'r': opt.report = optarg; break;
    case 'H': opt.report_h5 = optarg; break;
    case 'P':
      if (!cli_parse_u64(optarg, 1, 1200, &v))
        return cli_usage_error("calibrate",
                               "--period-months: expected a whole number of "
                               "months from 1, found '%s'",
                               optarg);
      opt.period_months = (long)v;
      break;
    case 'c': opt.check = 1; break;
    case 'X': opt.strict = 1; break;
    case 'C': opt.covers = optarg; break;
    case 'e':
      if (strcmp(optarg, "level") && strcmp(optarg, "file"))
        return cli_usage_error("calibrate", "--precedence: expected level or file, found '%s'",
                               optarg);
      opt.precedence_file = !strcmp(optarg, "file");
      break;
    case 'd':
      if (!parse_bands(optarg, dbands, &opt.n_dur_bands) || dbands[opt.n_dur_bands - 1] > 600)
        return cli_usage_error("calibrate",
                               "--duration-bands: expected ascending months in a "
                               "state such as 6,12,24 (up to 600), found '%s'",
                               optarg);
      for (size_t i = 0; i < opt.n_dur_bands; i++)
        if (dbands[i] != floor(dbands[i]))
          return cli_usage_error("calibrate", "--duration-bands: whole months, found '%s'", optarg);
      opt.dur_bands = dbands;
      break;
    case 'f': opt.from = optarg; break;
    case 'T': opt.to = optarg; break;
    case 'D': opt.date_format = optarg; break;
    case 'L':
      if (!strcmp(optarg, "tab") || !strcmp(optarg, "\t")) opt.delimiter = '\t';
      else if (strlen(optarg) == 1 && strchr(",;|", optarg[0])) opt.delimiter = optarg[0];
      else
        return cli_usage_error("calibrate", "--delimiter: expected , ; tab or |, found '%s'",
                               optarg);
      break;
    case 'a':
      if (!parse_bands(optarg, bands, &opt.n_age_bands))
        return cli_usage_error("calibrate",
                               "--age-bands: expected ascending ages in years "
                               "such as 5,12,16, found '%s'",
                               optarg);
      opt.age_bands = bands;
      break;
    case 'm':
    case 'S':
      if (!cli_parse_u64(optarg, 0, 1000000000, &v))
        return cli_usage_error("calibrate", "%s: expected a whole number, found '%s'",
                               c == 'm' ? "--min-row" : "--suppress", optarg);
      if (c == 'm') opt.min_row = (double)v;
      else opt.suppress = (double)v;
      break;
    default: return cli_usage_error("calibrate", "%s", "invalid option");
    }
  }
  if (optind != argc - 1)
    return cli_usage_error("calibrate", "%s", "expected one EPISODES.csv argument");
  if (!opt.output || !opt.population || !tmpl)
    return cli_usage_error("calibrate", "%s",
                           "give -o OUT.yaml, --population POP.csv and --template SCENARIO");
  if (opt.check && !opt.report)
    return cli_usage_error("calibrate", "%s", "--check writes its comparison into --report FILE");
  opt.episodes = argv[optind];
  fl_path_role paths[6] = {{opt.episodes, "EPISODES", FL_PATH_INPUT},
                           {opt.population, "--population", FL_PATH_INPUT},
                           {tmpl, "--template", FL_PATH_INPUT},
                           {opt.output, "-o", FL_PATH_OUTPUT}};
  size_t n_paths = 4;
  if (opt.report) paths[n_paths++] = (fl_path_role){opt.report, "--report", FL_PATH_OUTPUT};
  if (opt.report_h5)
    paths[n_paths++] = (fl_path_role){opt.report_h5, "--report-h5", FL_PATH_OUTPUT};
  if ((rc = cli_check_paths(paths, n_paths)) != 0) return rc;
  fl_status st = fl_scenario_load(tmpl, &sc, &err);
  if (st == FL_OK) st = fl_model_compile(sc, &m, &err);
  opt.notice = cli_notice;
  opt.notice_ctx = (void *)"calibrate: warning";
  if (st == FL_OK) st = fl_calibrate(sc, m, &opt, &err);
  fl_model_free(m);
  fl_scenario_free(sc);
  return st == FL_OK ? 0 : cli_report(&err);
}
