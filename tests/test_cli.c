/* End-to-end tests of the flourish command-line tool: runs the real binary (FLOURISH_BIN) with
 * posix_spawn, stdout and stderr captured to files in a private temporary directory whose name
 * contains spaces, and checks exit statuses, messages and the HDF5 files it writes.
 *
 * Part 1: every broken scenario under tests/bad/ (plus two written at run time) must make both
 * `validate` and `run` exit with status 2, print one line "flourish: FILE:LINE:COL: KEY: MESSAGE"
 * with the expected location, key path and message, and leave nothing at the output path.
 * Part 2: usage errors, help, version, and a full run / expect / summary / validate of
 * scenarios/dundee.yaml read back with the HDF5 C API. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/core.h" /* fl_tmp_name, fl_tmp_clean */

extern char **environ;

#define MAX_ARGS 32
#define TIMEOUT_S 120

static const char *flourish_bin;
static const char *source_dir;
static char tmp_dir[512];

/* ------------------------------------------------------------------------------------------ */
/* Small helpers.                                                                              */

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
  va_list ap;
  int n;
  char *s;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) abort();
  s = malloc((size_t)n + 1);
  if (!s) abort();
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

/* Reads a whole file; returns NULL if it cannot be opened. *len (may be NULL) gets its size. */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t used = 0, cap = 0, got;
  if (!f) return NULL;
  do {
    if (used + 4096 + 1 > cap) {
      char *nbuf;
      cap = cap ? 2 * cap : 8192;
      nbuf = realloc(buf, cap);
      if (!nbuf) abort();
      buf = nbuf;
    }
    got = fread(buf + used, 1, cap - used - 1, f);
    used += got;
  } while (got > 0);
  fclose(f);
  buf[used] = '\0';
  if (len) *len = used;
  return buf;
}

static int write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  int ok;
  if (!f) return 0;
  ok = fwrite(data, 1, len, f) == len;
  return fclose(f) == 0 && ok;
}

static int path_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static int starts_with(const char *s, const char *prefix) {
  return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Names in dir that start with prefix, joined by spaces into out (empty if none); returns the
 * count. */
static int list_prefixed(const char *dir, const char *prefix, char *out, size_t size) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  out[0] = '\0';
  if (!d) return -1;
  while ((e = readdir(d)) != NULL) {
    if (!starts_with(e->d_name, prefix)) continue;
    n++;
    if (strlen(out) + strlen(e->d_name) + 2 < size) {
      if (out[0]) strcat(out, " ");
      strcat(out, e->d_name);
    }
  }
  closedir(d);
  return n;
}

/* Removes the files directly in dir whose names start with prefix. */
static void remove_prefixed(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  struct dirent *e;
  if (!d) return;
  while ((e = readdir(d)) != NULL) {
    if (!starts_with(e->d_name, prefix) || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char *p = xasprintf("%s/%s", dir, e->d_name);
    unlink(p);
    free(p);
  }
  closedir(d);
}

/* Removes the temporary tree (two levels: files, and directories of files). */
static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  if (!d) return;
  while ((e = readdir(d)) != NULL) {
    struct stat st;
    char *p;
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    p = xasprintf("%s/%s", dir, e->d_name);
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      remove_prefixed(p, "");
      rmdir(p);
    } else {
      unlink(p);
    }
    free(p);
  }
  closedir(d);
  rmdir(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* Running the binary.                                                                         */

typedef struct result {
  int status; /* exit status; 128 + signal if killed; -1 if it could not be started */
  char *out;  /* captured stdout (never NULL) */
  char *err;  /* captured stderr (never NULL) */
  char cmd[2048];
} result;

static void result_free(result *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

/* Runs flourish with the arguments args (NULL-terminated), without a shell. */
static result run_argv(const char *const *args) {
  result r;
  char *argv[MAX_ARGS + 2];
  int argc = 0, wstatus = 0;
  char *out_path = xasprintf("%s/stdout.txt", tmp_dir);
  char *err_path = xasprintf("%s/stderr.txt", tmp_dir);
  posix_spawn_file_actions_t fa;
  pid_t pid;
  memset(&r, 0, sizeof r);
  argv[argc++] = (char *)flourish_bin;
  snprintf(r.cmd, sizeof r.cmd, "flourish");
  for (const char *const *a = args; *a && argc < MAX_ARGS; a++) {
    size_t used = strlen(r.cmd);
    argv[argc++] = (char *)*a;
    snprintf(r.cmd + used, sizeof r.cmd - used, " '%s'", *a);
  }
  argv[argc] = NULL;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (posix_spawn(&pid, flourish_bin, &fa, NULL, argv, environ) != 0) {
    r.status = -1;
  } else {
    struct timespec nap = {0, 500000};
    double waited = 0;
    int killed = 0;
    pid_t w;
    while ((w = waitpid(pid, &wstatus, WNOHANG)) == 0) {
      if (waited > TIMEOUT_S && !killed) {
        killed = 1;
        kill(pid, SIGKILL);
        fprintf(stderr, "test_cli: killed after %d s: %s\n", TIMEOUT_S, r.cmd);
      }
      nanosleep(&nap, NULL);
      waited += (double)nap.tv_nsec * 1e-9;
      if (nap.tv_nsec < 20000000) nap.tv_nsec *= 2;
    }
    if (w < 0) r.status = -1;
    else if (WIFEXITED(wstatus)) r.status = WEXITSTATUS(wstatus);
    else if (WIFSIGNALED(wstatus)) r.status = 128 + WTERMSIG(wstatus);
    else r.status = -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  r.out = slurp(out_path, NULL);
  r.err = slurp(err_path, NULL);
  if (!r.out) r.out = xasprintf("%s", "");
  if (!r.err) r.err = xasprintf("%s", "");
  unlink(out_path);
  unlink(err_path);
  free(out_path);
  free(err_path);
  return r;
}

/* run_argv with the arguments given inline, ended by NULL. */
static result run_flourish(const char *arg0, ...) __attribute__((sentinel));
static result run_flourish(const char *arg0, ...) {
  const char *args[MAX_ARGS + 1];
  size_t n = 0;
  va_list ap;
  va_start(ap, arg0);
  for (const char *a = arg0; a && n < MAX_ARGS; a = va_arg(ap, const char *)) args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  return run_argv(args);
}

/* After a group of checks: if any failed, shows the command and what it printed. */
static void explain(int failed_before, const char *what, const result *r) {
  if (check_failed == failed_before) return;
  fprintf(stderr, "  ^ in %s\n    command: %s\n    exit status: %d\n    stdout: %.600s\n"
                  "    stderr: %.1500s\n",
          what, r->cmd, r->status, r->out, r->err);
}

/* ------------------------------------------------------------------------------------------ */
/* Part 1: broken scenarios.                                                                   */

typedef enum generated { FROM_FILE, BINARY_JUNK, NUL_IN_LINE_13 } generated;

typedef struct bad_case {
  const char *file;    /* under tests/bad/, or the name of a file written at run time */
  generated gen;       /* how the file is made */
  const char *key;     /* the reported key path must start with this; "" when none applies */
  const char *message; /* a distinctive fragment of the message */
  int line;            /* the expected line (the column must be >= 1) */
} bad_case;

static const bad_case bad_cases[] = {
    /* Unreadable, empty or not a mapping. */
    {"binary junk.yaml", BINARY_JUNK, "", "control characters", 1},
    {"NUL in line 13.yaml", NUL_IN_LINE_13, "", "control characters", 13},
    {"empty.yaml", FROM_FILE, "", "the file is empty", 1},
    {"not_a_mapping.yaml", FROM_FILE, "", "a scenario is a YAML mapping", 2},
    /* YAML syntax and structure. */
    {"syntax_unclosed_bracket.yaml", FROM_FILE, "", "YAML syntax error", 8},
    {"tab_indentation.yaml", FROM_FILE, "", "YAML syntax error", 5},
    {"duplicate_key_top.yaml", FROM_FILE, "name", "duplicate key (first given at line 3)", 4},
    {"duplicate_key_nested.yaml", FROM_FILE, "states.universal.qol",
     "duplicate key (first given at line 13)", 14},
    {"yaml_alias.yaml", FROM_FILE, "", "aliases", 17},
    {"two_documents.yaml", FROM_FILE, "", "one YAML document", 51},
    {"key_not_scalar.yaml", FROM_FILE, "", "mapping keys must be plain words", 25},
    {"deep_nesting.yaml", FROM_FILE, "", "nesting deeper than 64", 3},
    /* Keys. */
    {"unknown_top_key.yaml", FROM_FILE, "transitons",
     "unknown key; did you mean 'transitions'? expected one of", 37},
    {"unknown_nested_key.yaml", FROM_FILE, "states.universal.qoll", "unknown key", 13},
    {"missing_levels.yaml", FROM_FILE, "levels", "required key is missing", 2},
    {"missing_horizon.yaml", FROM_FILE, "time.horizon_steps", "required key is missing", 5},
    {"suggest_key.yaml", FROM_FILE, "time.horizon_step",
     "unknown key; did you mean 'horizon_steps'?", 6},
    {"horizon_both.yaml", FROM_FILE, "time.horizon_years",
     "horizon_steps or horizon_years, not both", 6},
    {"horizon_years_not_whole.yaml", FROM_FILE, "time.horizon_years",
     "2.01 years is not a whole number of steps", 6},
    {"spend_both.yaml", FROM_FILE, "arms.prevention.interventions.help.spend_per_year",
     "spend_per_month or spend_per_year, not both", 57},
    {"period_both.yaml", FROM_FILE, "arms.prevention.interventions.help.years",
     "months or years, not both", 57},
    {"effect_both.yaml", FROM_FILE, "arms.prevention.interventions.help.escalation_change_percent",
     "escalation (a multiplier) or escalation_change_percent, not both", 56},
    {"effect_percent_below.yaml", FROM_FILE,
     "arms.prevention.interventions.help.escalation_change_percent",
     "between -100 and 9900 percent, found -120", 55},
    /* Types and ranges of values. */
    {"levels_not_a_list.yaml", FROM_FILE, "levels", "expected a list of names, found a scalar", 7},
    {"format_version.yaml", FROM_FILE, "flourish", "between 1 and 1", 2},
    {"bool_not_bool.yaml", FROM_FILE, "states.left.absorbing",
     "expected true or false, found 'yes'", 23},
    {"name_with_dot.yaml", FROM_FILE, "states.looked.after", "names are 1 to 63 characters", 18},
    {"given_as_unknown.yaml", FROM_FILE, "transitions.given_as", "expected one of probability|rate",
     38},
    {"absurd_horizon.yaml", FROM_FILE, "time.horizon_steps", "between 1 and 65000", 6},
    {"absurd_count.yaml", FROM_FILE, "population.initial[0].count", "between 0 and 1000000000", 30},
    {"count_not_whole.yaml", FROM_FILE, "population.initial[0].count", "expected a whole number",
     30},
    {"age_three_numbers.yaml", FROM_FILE, "population.initial[0].age_years",
     "expected a range [lo, hi]", 30},
    {"range_reversed.yaml", FROM_FILE, "population.initial[0].age_years", "ends before it starts",
     30},
    /* Probabilities and rows. */
    {"negative_probability.yaml", FROM_FILE, "transitions.tables[0].rows.universal.additional",
     "found -0.01", 42},
    {"nan_probability.yaml", FROM_FILE, "transitions.tables[0].rows.universal.additional",
     "found '.nan'", 42},
    {"string_probability.yaml", FROM_FILE, "transitions.tables[0].rows.universal.additional",
     "expected a number", 42},
    {"probability_over_1.yaml", FROM_FILE, "transitions.tables[0].rows.universal.additional",
     "a probability must be between 0 and 1", 42},
    {"row_not_sum_1.yaml", FROM_FILE, "transitions.tables[0].rows.additional",
     "add up to 0.96, not 1", 44},
    {"row_over_1_with_rest.yaml", FROM_FILE, "transitions.tables[0].rows.additional", "more than 1",
     44},
    {"two_rest.yaml", FROM_FILE, "transitions.tables[0].rows.universal.additional",
     "only one entry of a row may be rest", 42},
    {"absorbing_row.yaml", FROM_FILE, "transitions.tables[0].rows.left", "is absorbing", 51},
    {"missing_row_in_band.yaml", FROM_FILE, "transitions.tables",
     "no table gives the row of state 'looked_after' for ages from 5 years", 39},
    {"escalation_invalid.yaml", FROM_FILE, "localities.south", "escalation multiplier 200", 26},
    /* Names that must exist. */
    {"unknown_state_in_row.yaml", FROM_FILE, "transitions.tables[0].rows.additional.fostered",
     "'fostered' is not one of the states", 46},
    {"unknown_state_in_initial.yaml", FROM_FILE, "population.initial[0].state",
     "'fostered' is not one of the states", 30},
    {"unknown_state_in_entry.yaml", FROM_FILE, "population.entries.births.states.fostered",
     "'fostered' is not one of the states", 36},
    {"unknown_level.yaml", FROM_FILE, "states.additional.level",
     "'middle' is not one of the levels", 16},
    {"unknown_budget_holder.yaml", FROM_FILE, "states.additional.cost.health",
     "'health' is not one of costs.budget_holders", 17},
    {"arm_unknown_state.yaml", FROM_FILE, "arms.prevention.interventions.help.states",
     "'adittional' is not one of the states; did you mean 'additional'?", 55},
    {"suggest_name.yaml", FROM_FILE, "states.additional.level",
     "'aditional' is not one of the levels; did you mean 'additional'?", 16},
    {"label_unknown_level.yaml", FROM_FILE, "level_labels.looked_afterr",
     "did you mean 'looked_after'?", 7},
    {"arm_unknown_budget_holder.yaml", FROM_FILE,
     "arms.prevention.interventions.help.budget_holder",
     "'prevention_fund' is not one of costs.budget_holders", 57},
    {"arm_row_invalid.yaml", FROM_FILE, "arms.prevention.interventions",
     "probability of staying would fall below 0", 54},
    {"arm_ramp_negative.yaml", FROM_FILE, "arms.prevention.interventions.help.ramp_months",
     "expected a value between 0 and", 56},
    {"arm_end_before_start.yaml", FROM_FILE, "arms.prevention.interventions.help.months",
     "ends before it starts", 55},
    {"arm_named_baseline.yaml", FROM_FILE, "arms.baseline", "another name", 52},
    {"arm_reinvest_unknown.yaml", FROM_FILE, "arms.prevention.reinvest.into",
     "not one of the arm's interventions", 55},
    /* Intervention kinds. */
    {"kind_misspelled.yaml", FROM_FILE, "arms.cheaper.interventions.model.kind",
     "found 'state_cots'; did you mean 'state_cost'?", 54},
    {"kind_unknown.yaml", FROM_FILE, "arms.cheaper.interventions.model.kind",
     "expected one of transition|state_cost", 54},
    {"kind_foreign_key.yaml", FROM_FILE, "arms.cheaper.interventions.model.escalation",
     "escalation is a key of interventions of kind transition", 57},
    {"kind_state_cost_no_multiplier.yaml", FROM_FILE,
     "arms.cheaper.interventions.model.cost_multiplier", "needs cost_multiplier", 54},
    {"kind_unknown_holder.yaml", FROM_FILE,
     "arms.cheaper.interventions.model.cost_multiplier.placements",
     "'placements' is not one of costs.budget_holders", 55},
    {"kind_reinvest_state_cost.yaml", FROM_FILE, "arms.cheaper.reinvest.into",
     "is of kind state_cost, which has none", 59},
    /* What an arm changes in the scenario (arms.*.states, transition_costs, transitions). */
    {"arm_override_unknown_state.yaml", FROM_FILE, "arms.treated.states.addtional",
     "'addtional' is not one of the states; did you mean 'additional'?", 54},
    {"arm_override_unknown_holder.yaml", FROM_FILE,
     "arms.treated.states.additional.cost.social_wrok",
     "'social_wrok' is not one of costs.budget_holders; did you mean 'social_work'?", 54},
    {"arm_override_unknown_key.yaml", FROM_FILE, "arms.treated.states.additional.qoll",
     "unknown key; did you mean 'qol'? expected one of: cost, qol", 54},
    {"arm_override_qol_range.yaml", FROM_FILE, "arms.treated.states.additional.qol",
     "expected a value between 0 and 1 weight, found 1.5", 54},
    {"arm_override_row_sum.yaml", FROM_FILE, "arms.treated.transitions.tables[0].rows.additional",
     "the probabilities add up to 0.9, not 1 (within 1e-9); give every move or write rest for "
     "one of them",
     57},
    {"arm_override_row_state.yaml", FROM_FILE,
     "arms.treated.transitions.tables[0].rows.additional.lookedafter",
     "'lookedafter' is not one of the states; did you mean 'looked_after'?", 56},
    {"arm_override_absorbing_row.yaml", FROM_FILE, "arms.treated.transitions.tables[0].rows.left",
     "'left' is absorbing and has no transition row", 56},
    /* Heterogeneity. */
    {"het_unknown_distribution.yaml", FROM_FILE, "heterogeneity.distribution",
     "expected one of uniform|gamma|lognormal|beta|discrete, found 'weibull'", 20},
    {"het_bad_parameters.yaml", FROM_FILE, "heterogeneity",
     "a beta distribution needs a mean strictly between 0 and 1", 20},
    {"het_unknown_transition.yaml", FROM_FILE, "heterogeneity.transitions[0].from",
     "'wel' is neither a state nor a level; did you mean 'well'?", 24},
    {"het_exceeds_one.yaml", FROM_FILE, "heterogeneity.transitions[0]",
     "a multiplier of 10 (the largest the distribution gives) would give the chosen moves out of "
     "state 'well' (in the baseline) a probability of 1, more than the 0.98", 24},
    {"het_probabilities_sum.yaml", FROM_FILE, "heterogeneity.probabilities",
     "the probabilities must add up to 1 (they add up to 0.9)", 22},
    {"het_wrong_key.yaml", FROM_FILE, "heterogeneity.low", "a gamma distribution does not take low",
     23},
    {"arm_override_move_unknown.yaml", FROM_FILE, "arms.treated.transition_costs[0].from",
     "'additonal' is neither a state nor a level; did you mean 'additional'?", 54},
    {"arm_override_move_holder.yaml", FROM_FILE, "arms.treated.transition_costs[0].cost.courts",
     "'courts' is not one of costs.budget_holders", 54},
    /* Rewards counted at time points. */
    {"points_simpson_odd.yaml", FROM_FILE, "rewards.weights",
     "Simpson's 1/3 rule needs an even number of intervals", 50},
    {"points_list_length.yaml", FROM_FILE, "rewards.weight_list",
     "counts 12 time points over 12 steps, but the list gives 3 weights", 50},
    {"points_and_timing.yaml", FROM_FILE, "rewards.timing",
     "give rewards.timing or rewards.points, not both", 51},
    {"points_weights_alone.yaml", FROM_FILE, "rewards.weights", "weights need rewards.points", 50},
    /* Row entries that vary. */
    {"vary_rate_table.yaml", FROM_FILE, "transitions.tables[0].vary[0].weibull",
     "a parametric form gives probabilities: its table needs given_as: probability", 45},
    {"vary_no_rest.yaml", FROM_FILE, "transitions.tables[0].vary[0]",
     "the row of 'universal' needs a rest entry", 44},
    {"vary_weibull_both.yaml", FROM_FILE, "transitions.tables[0].vary[0].weibull",
     "give lambda or scale, one of them", 46},
    /* Costs and QoL weights by age and time in state. */
    {"reward_age_vector_short.yaml", FROM_FILE, "states.foster.cost_by_age.council",
     "the values are for ages 0 to 15 years, and children of the scenario are 0 to 17", 19},
    {"reward_cost_twice.yaml", FROM_FILE, "states.foster.cost_by_age.council",
     "is given twice: give it in one of cost, cost_by_age and cost_by_time_in_state", 20},
    {"reward_qol_twice.yaml", FROM_FILE, "states.foster.qol_by_time_in_state",
     "the QoL weight of 'foster' is given twice", 19},
    {"reward_tis_from_years.yaml", FROM_FILE, "states.foster.qol_by_time_in_state",
     "a value by time in state starts at 0 years in the state", 18},
    {"reward_psa_no_mean.yaml", FROM_FILE, "uncertainty[0]",
     "varies by age or time in state: give the mean", 22},
    {"reward_state_cost_kind.yaml", FROM_FILE, "arms.cheaper.interventions.redesign",
     "costs the children it reaches by state, and the cost of 'foster' to 'council' varies", 25},
    {"unknown_locality_in_group.yaml", FROM_FILE, "population.initial[1].locality",
     "'east' is not one of the localities", 31},
    {"unknown_locality_in_table.yaml", FROM_FILE, "transitions.tables[0].localities",
     "'east' is not one of the localities", 39},
    /* Durations that are not whole steps, and ages beyond the maximum. */
    {"initial_age_not_whole_steps.yaml", FROM_FILE, "population.initial[0].age_years",
     "not a whole number of steps", 30},
    {"entry_age_not_whole_steps.yaml", FROM_FILE, "population.entries.births.age_years",
     "not a whole number of steps", 35},
    {"table_age_not_whole_steps.yaml", FROM_FILE, "transitions.tables[0].age_years",
     "not a whole number of steps", 39},
    {"initial_age_infinite.yaml", FROM_FILE, "population.initial[0].age_years", "finite upper end",
     30},
    {"initial_age_above_max.yaml", FROM_FILE, "population.initial[0].age_years",
     "below population.max_age_years", 30},
};
#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

/* Checks one error line: "flourish: FILE:LINE:COL: KEY: MESSAGE\n". */
static void check_error_line(const bad_case *bc, const char *path, const result *r) {
  char *prefix = xasprintf("flourish: %s:", path);
  const char *p = r->err;
  long line = -1, col = -1;
  char *end;
  CHECK_INT_EQ(r->status, 2);
  CHECK_STR_CONTAINS(r->err, prefix);
  CHECK(starts_with(r->err, prefix));
  CHECK_INT_EQ(count_lines(r->err), 1); /* one line, nothing else (no HDF5 or YAML noise) */
  CHECK_INT_EQ(strlen(r->out), 0);
  if (starts_with(p, prefix)) {
    p += strlen(prefix);
    line = strtol(p, &end, 10);
    if (end != p && *end == ':') {
      p = end + 1;
      col = strtol(p, &end, 10);
      p = end != p && *end == ':' && end[1] == ' ' ? end + 2 : NULL;
    } else {
      p = NULL;
    }
  } else {
    p = NULL;
  }
  CHECK(p != NULL); /* a location LINE:COL follows the file name */
  CHECK_INT_EQ(line, bc->line);
  CHECK(col >= 1);
  if (p && bc->key[0]) {
    /* The key path comes right after the location and starts with the expected one. */
    CHECK(starts_with(p, bc->key));
  }
  CHECK_STR_CONTAINS(p ? p : r->err, bc->message);
  free(prefix);
}

static char *make_generated(const bad_case *bc) {
  char *path = xasprintf("%s/%s", tmp_dir, bc->file);
  if (bc->gen == BINARY_JUNK) {
    static const unsigned char junk[] = {0x00, 0xff, 0xfe, 0x01, 0x02, 0x7f, 'E', 'L', 'F',
                                         0x80, 0x81, 0xc3, 0x28, 0x00, '\n', 0x1b, '[', 'm'};
    CHECK(write_bytes(path, junk, sizeof junk));
  } else {
    /* The minimal scenario with a NUL byte inside line 13 ("    qol: 0.85"). */
    char *src = xasprintf("%s/tests/cli_fixtures/minimal.yaml", source_dir);
    size_t len = 0, pos = 0;
    char *text = slurp(src, &len);
    int line = 1;
    CHECK(text != NULL);
    if (text) {
      while (pos < len && line < 13) line += text[pos++] == '\n';
      CHECK(starts_with(text + pos, "    qol: 0.85"));
      text[pos + 9] = '\0'; /* "    qol: \0.85" */
      CHECK(write_bytes(path, text, len));
    }
    free(text);
    free(src);
  }
  return path;
}

static void test_bad_scenarios(void) {
  char *out_dir = xasprintf("%s/bad outputs", tmp_dir);
  char *out_path = xasprintf("%s/out.h5", out_dir);
  CHECK_INT_EQ(mkdir(out_dir, 0700), 0);
  for (size_t i = 0; i < N_BAD; i++) {
    const bad_case *bc = &bad_cases[i];
    char *path = bc->gen == FROM_FILE ? xasprintf("%s/tests/bad/%s", source_dir, bc->file)
                                      : make_generated(bc);
    char found[1024];
    int before = check_failed, n;
    result r;
    CHECK(path_exists(path));
    r = run_flourish("validate", path, NULL);
    check_error_line(bc, path, &r);
    explain(before, bc->file, &r);
    result_free(&r);

    before = check_failed;
    r = run_flourish("run", path, "-o", out_path, "-r", "2", NULL);
    check_error_line(bc, path, &r);
    CHECK(!path_exists(out_path));
    n = list_prefixed(out_dir, "out.h5", found, sizeof found);
    CHECK_INT_EQ(n, 0); /* neither out.h5 nor out.h5.tmp.* */
    if (n) {
      fprintf(stderr, "  left in the output directory: %s\n", found);
      remove_prefixed(out_dir, "out.h5");
    }
    explain(before, bc->file, &r);
    result_free(&r);
    free(path);
  }
  free(out_path);
  free(out_dir);
}

/* ------------------------------------------------------------------------------------------ */
/* Part 2: the command line on valid input.                                                    */

/* Expects status, a fragment of stdout (or NULL) and a fragment of stderr (or NULL). */
static void expect_cmd(const result *r, int status, const char *out_frag, const char *err_frag) {
  int before = check_failed;
  CHECK_INT_EQ(r->status, status);
  if (out_frag) CHECK_STR_CONTAINS(r->out, out_frag);
  if (err_frag) CHECK_STR_CONTAINS(r->err, err_frag);
  explain(before, "a command-line check", r);
}

static void test_usage(const char *dundee) {
  char *out = xasprintf("%s/usage.h5", tmp_dir);
  char *missing = xasprintf("%s/no such scenario.yaml", tmp_dir);
  char *nodir_out = xasprintf("%s/no such dir/out.h5", tmp_dir);
  char *dir_out = xasprintf("%s/a directory", tmp_dir);
  const char *const cmds[] = {"run", "expect", "validate", "summary"};
  result r;

  r = run_flourish("--version", NULL);
  expect_cmd(&r, 0, NULL, NULL);
  CHECK(starts_with(r.out, "flourish "));
  result_free(&r);

  r = run_flourish("--help", NULL);
  expect_cmd(&r, 0, "Usage:", NULL);
  result_free(&r);
  r = run_flourish("-h", NULL);
  expect_cmd(&r, 0, "Usage:", NULL);
  result_free(&r);
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    r = run_flourish(cmds[i], "--help", NULL);
    expect_cmd(&r, 0, "Usage:", NULL);
    CHECK_STR_CONTAINS(r.out, cmds[i]);
    result_free(&r);
    r = run_flourish(cmds[i], "-h", NULL);
    expect_cmd(&r, 0, "Usage:", NULL);
    result_free(&r);
  }

  /* No command: usage on stderr, status 2. */
  {
    const char *none[] = {NULL};
    r = run_argv(none);
  }
  expect_cmd(&r, 2, NULL, "Usage:");
  CHECK_INT_EQ(strlen(r.out), 0);
  result_free(&r);

  r = run_flourish("frobnicate", NULL);
  expect_cmd(&r, 2, NULL, "frobnicate");
  result_free(&r);

  /* Bad options of run: status 2 before any work, nothing written. */
  r = run_flourish("run", dundee, NULL);
  expect_cmd(&r, 2, NULL, "-o");
  result_free(&r);
  r = run_flourish("run", "-o", out, NULL);
  expect_cmd(&r, 2, NULL, "SCENARIO");
  result_free(&r);
  {
    /* Options with bad values: {option, value, fragment the message must name}. */
    static const char *const bad_values[][3] = {
        {"-r", "0", "--replications"},      {"-r", "abc", "--replications"},
        {"-r", "3x", "--replications"},     {"--seed", "-1", "--seed"},
        {"--seed", "18446744073709551616", "--seed"}, {"--threads", "0", "--threads"},
        {"--pass", "sse", "--pass"},
    };
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
      r = run_flourish("run", dundee, "-o", out, bad_values[i][0], bad_values[i][1], NULL);
      expect_cmd(&r, 2, NULL, bad_values[i][2]);
      result_free(&r);
    }
  }
  r = run_flourish("run", dundee, "-o", out, "--bogus", NULL);
  expect_cmd(&r, 2, NULL, NULL);
  result_free(&r);
  r = run_flourish("run", dundee, dundee, "-o", out, NULL);
  expect_cmd(&r, 2, NULL, NULL);
  result_free(&r);
  r = run_flourish("expect", dundee, "-o", out, "-r", "3", NULL);
  expect_cmd(&r, 2, NULL, NULL);
  result_free(&r);
  CHECK(!path_exists(out));

  /* Output in a directory that does not exist: status 2, the message names the path. */
  r = run_flourish("run", dundee, "-o", nodir_out, "-r", "1", NULL);
  expect_cmd(&r, 2, NULL, nodir_out);
  result_free(&r);
  r = run_flourish("expect", dundee, "-o", nodir_out, NULL);
  expect_cmd(&r, 2, NULL, nodir_out);
  result_free(&r);
  /* Output that is an existing directory: a usage error (status 2) naming the path, found
   * before any work; the directory and its parent are left as they were. */
  CHECK_INT_EQ(mkdir(dir_out, 0700), 0);
  r = run_flourish("run", dundee, "-o", dir_out, "-r", "1", "-q", NULL);
  expect_cmd(&r, 2, NULL, dir_out);
  result_free(&r);
  {
    char found[512];
    CHECK_INT_EQ(list_prefixed(tmp_dir, "a directory.tmp.", found, sizeof found), 0);
    remove_prefixed(tmp_dir, "a directory.tmp.");
  }

  /* A scenario file that does not exist: status 2, the message names the file. */
  r = run_flourish("validate", missing, NULL);
  expect_cmd(&r, 2, NULL, missing);
  CHECK(starts_with(r.err, "flourish: "));
  result_free(&r);
  r = run_flourish("run", missing, "-o", out, "-r", "1", NULL);
  expect_cmd(&r, 2, NULL, missing);
  result_free(&r);
  CHECK(!path_exists(out));

  /* validate and summary argument errors. */
  r = run_flourish("validate", NULL);
  expect_cmd(&r, 2, NULL, NULL);
  result_free(&r);
  r = run_flourish("validate", dundee, dundee, NULL);
  expect_cmd(&r, 2, NULL, NULL);
  result_free(&r);
  r = run_flourish("validate", "--bogus", dundee, NULL);
  expect_cmd(&r, 2, NULL, NULL);
  result_free(&r);
  r = run_flourish("summary", NULL);
  expect_cmd(&r, 2, NULL, NULL);
  result_free(&r);
  r = run_flourish("summary", missing, NULL);
  expect_cmd(&r, 2, NULL, missing);
  result_free(&r);

  free(out);
  free(missing);
  free(nodir_out);
  free(dir_out);
}

/* ---- HDF5 reading helpers (errors silenced; every failure shows up as a failed check). ---- */

static char *h5_attr_string(hid_t obj, const char *name) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t;
  char *s = NULL;
  if (a < 0) return NULL;
  t = H5Aget_type(a);
  if (H5Tget_class(t) == H5T_STRING) {
    if (H5Tis_variable_str(t) > 0) { /* (read in the file's own character set) */
      char *v = NULL;
      if (H5Aread(a, t, &v) >= 0 && v) {
        s = xasprintf("%s", v);
        H5free_memory(v);
      }
    } else {
      size_t n = H5Tget_size(t);
      s = calloc(n + 1, 1);
      if (s && H5Aread(a, t, s) < 0) {
        free(s);
        s = NULL;
      }
    }
  }
  H5Tclose(t);
  H5Aclose(a);
  return s;
}

static int h5_attr_u64(hid_t obj, const char *name, uint64_t *v) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  herr_t rc;
  if (a < 0) return 0;
  rc = H5Aread(a, H5T_NATIVE_UINT64, v);
  H5Aclose(a);
  return rc >= 0;
}

static int h5_attr_double(hid_t obj, const char *name, double *v) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  herr_t rc;
  if (a < 0) return 0;
  rc = H5Aread(a, H5T_NATIVE_DOUBLE, v);
  H5Aclose(a);
  return rc >= 0;
}

typedef struct h5_info {
  int ok;
  int rank;
  hsize_t dims[8];
  H5T_class_t cls;
  size_t size;
  H5T_sign_t sign;
} h5_info;

static h5_info h5_dataset_info(hid_t file, const char *path) {
  h5_info info;
  hid_t d, t, sp;
  memset(&info, 0, sizeof info);
  d = H5Dopen2(file, path, H5P_DEFAULT);
  if (d < 0) return info;
  t = H5Dget_type(d);
  sp = H5Dget_space(d);
  info.rank = H5Sget_simple_extent_ndims(sp);
  if (info.rank >= 0 && info.rank <= 8) {
    H5Sget_simple_extent_dims(sp, info.dims, NULL);
    info.cls = H5Tget_class(t);
    info.size = H5Tget_size(t);
    info.sign = info.cls == H5T_INTEGER ? H5Tget_sign(t) : H5T_SGN_ERROR;
    info.ok = 1;
  }
  H5Sclose(sp);
  H5Tclose(t);
  H5Dclose(d);
  return info;
}

/* Checks that a dataset exists with the given shape (rank from the list, ended by 0), class and
 * element size. */
static void check_dataset(hid_t file, const char *path, H5T_class_t cls, size_t size, int rank,
                          const hsize_t *dims) {
  h5_info info = h5_dataset_info(file, path);
  int before = check_failed;
  CHECK(info.ok);
  CHECK_INT_EQ(info.rank, rank);
  for (int i = 0; i < rank && i < info.rank; i++) CHECK_INT_EQ(info.dims[i], dims[i]);
  CHECK_INT_EQ(info.cls, cls);
  CHECK_INT_EQ(info.size, size);
  if (cls == H5T_INTEGER) CHECK_INT_EQ(info.sign, H5T_SGN_2);
  if (check_failed != before) fprintf(stderr, "  ^ in dataset %s\n", path);
}

/* Reads a whole dataset converted to mem_type; returns a malloc'd buffer or NULL. */
static void *h5_read_all(hid_t file, const char *path, hid_t mem_type, size_t elem) {
  h5_info info = h5_dataset_info(file, path);
  size_t n = 1;
  void *buf;
  hid_t d;
  if (!info.ok) return NULL;
  for (int i = 0; i < info.rank; i++) n *= (size_t)info.dims[i];
  buf = calloc(n ? n : 1, elem);
  d = H5Dopen2(file, path, H5P_DEFAULT);
  if (!buf || d < 0 || H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    free(buf);
    buf = NULL;
  }
  if (d >= 0) H5Dclose(d);
  return buf;
}

/* Reads a 1-D dataset of strings (fixed or variable length) into a NULL-terminated array. */
static char **h5_read_names(hid_t file, const char *path, size_t *count) {
  h5_info info = h5_dataset_info(file, path);
  hid_t d, t;
  char **names = NULL;
  *count = 0;
  if (!info.ok || info.rank != 1 || info.cls != H5T_STRING) return NULL;
  d = H5Dopen2(file, path, H5P_DEFAULT);
  t = H5Dget_type(d);
  names = calloc((size_t)info.dims[0] + 1, sizeof *names);
  if (names && H5Tis_variable_str(t) > 0) {
    char **v = calloc((size_t)info.dims[0] + 1, sizeof *v);
    if (v && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)
      for (size_t i = 0; i < info.dims[0]; i++) {
        names[i] = xasprintf("%s", v[i] ? v[i] : "");
        H5free_memory(v[i]);
      }
    free(v);
  } else if (names) {
    size_t len = H5Tget_size(t);
    char *buf = calloc((size_t)info.dims[0] * len + 1, 1);
    if (buf && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)
      for (size_t i = 0; i < info.dims[0]; i++) {
        names[i] = calloc(len + 1, 1);
        if (names[i]) memcpy(names[i], buf + i * len, len);
      }
    free(buf);
  }
  H5Tclose(t);
  H5Dclose(d);
  for (size_t i = 0; names && i < info.dims[0]; i++)
    if (names[i]) *count = i + 1;
  return names;
}

static void free_names(char **names) {
  for (size_t i = 0; names && names[i]; i++) free(names[i]);
  free(names);
}

static uint64_t replications_of(const char *path) {
  uint64_t r = 0;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 0;
  if (!h5_attr_u64(f, "replications", &r)) r = 0;
  H5Fclose(f);
  return r;
}

static const int dundee_initial[7] = {23500, 2700, 500, 68, 120, 109, 38};

static void check_run_file(const char *out, const char *dundee) {
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  int before = check_failed;
  uint64_t u = 0;
  double horizon = 0;
  char *s;
  size_t text_len = 0, n_states = 0;
  char *text = slurp(dundee, &text_len);
  char **states;
  CHECK(f >= 0);
  if (f < 0) {
    free(text);
    return;
  }
  /* Root attributes. */
  s = h5_attr_string(f, "flourish_version");
  CHECK(s != NULL && s[0] != '\0');
  free(s);
  s = h5_attr_string(f, "git_commit");
  CHECK(s != NULL && s[0] != '\0');
  free(s);
  s = h5_attr_string(f, "created_utc");
  CHECK(s != NULL);
  if (s) { /* YYYY-MM-DDTHH:MM:SSZ */
    CHECK_INT_EQ(strlen(s), 20);
    CHECK(s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[19] == 'Z');
  }
  free(s);
  s = h5_attr_string(f, "command_line");
  CHECK(s != NULL);
  CHECK_STR_CONTAINS(s, "run");
  CHECK_STR_CONTAINS(s, "12345");
  CHECK_STR_CONTAINS(s, out);
  free(s);
  CHECK(h5_attr_u64(f, "seed", &u));
  CHECK_U64_EQ(u, 12345);
  CHECK(h5_attr_u64(f, "replications", &u));
  CHECK_U64_EQ(u, 3);
  CHECK(h5_attr_double(f, "horizon_months", &horizon));
  CHECK_DBL_NEAR(horizon, 120.0, 0.0);
  s = h5_attr_string(f, "scenario_yaml");
  CHECK(s != NULL && text != NULL);
  if (s && text) {
    CHECK_INT_EQ(strlen(s), text_len);
    CHECK(strcmp(s, text) == 0);
  }
  free(s);
  free(text);
  if (check_failed != before) fprintf(stderr, "  ^ in the root attributes of %s\n", out);

  /* States. */
  states = h5_read_names(f, "/states", &n_states);
  CHECK_INT_EQ(n_states, 7);
  CHECK(states != NULL && states[0] != NULL && strcmp(states[0], "universal") == 0);
  free_names(states);

  /* Shapes and types. */
  {
    const hsize_t d_stocks[] = {3, 121, 7}, d_flows[] = {3, 120, 7, 7}, d_costs[] = {3, 120, 6};
    const hsize_t d_qol[] = {3, 120}, d_mean[] = {121, 7};
    check_dataset(f, "/arms/baseline/stocks", H5T_INTEGER, 4, 3, d_stocks);
    check_dataset(f, "/arms/baseline/flows", H5T_INTEGER, 4, 4, d_flows);
    check_dataset(f, "/arms/baseline/costs", H5T_FLOAT, 8, 3, d_costs);
    check_dataset(f, "/arms/baseline/qol", H5T_FLOAT, 8, 2, d_qol);
    check_dataset(f, "/arms/baseline/summary/stocks/mean", H5T_FLOAT, 8, 2, d_mean);
  }

  /* Initial stocks in every replication, and the mean summary at t = 0. */
  {
    int32_t *stocks = h5_read_all(f, "/arms/baseline/stocks", H5T_NATIVE_INT32, sizeof(int32_t));
    double *mean = h5_read_all(f, "/arms/baseline/summary/stocks/mean", H5T_NATIVE_DOUBLE,
                               sizeof(double));
    h5_info info = h5_dataset_info(f, "/arms/baseline/stocks");
    CHECK(stocks != NULL);
    if (stocks && info.ok && info.rank == 3 && info.dims[0] == 3 && info.dims[2] == 7)
      for (size_t r = 0; r < 3; r++)
        for (size_t s2 = 0; s2 < 7; s2++)
          CHECK_INT_EQ(stocks[r * info.dims[1] * 7 + s2], dundee_initial[s2]);
    CHECK(mean != NULL);
    if (mean) {
      CHECK_DBL_NEAR(mean[0], 23500.0, 0.0);
      CHECK_DBL_NEAR(mean[6], 38.0, 0.0);
    }
    free(stocks);
    free(mean);
  }
  H5Fclose(f);
}

static void test_valid(const char *dundee) {
  char *out = xasprintf("%s/dundee run.h5", tmp_dir);
  char *out2 = xasprintf("%s/dundee expect.h5", tmp_dir);
  char *bad = xasprintf("%s/tests/bad/row_not_sum_1.yaml", source_dir);
  char found[512];
  struct stat st1, st2, st3;
  result r;
  int before;

  /* validate. */
  r = run_flourish("validate", dundee, NULL);
  expect_cmd(&r, 0, "valid", NULL);
  result_free(&r);
  {
    char *minimal = xasprintf("%s/tests/cli_fixtures/minimal.yaml", source_dir);
    r = run_flourish("validate", minimal, NULL);
    expect_cmd(&r, 0, "valid", NULL);
    result_free(&r);
    free(minimal);
  }
  r = run_flourish("validate", "--keys", NULL);
  expect_cmd(&r, 0, "transitions.tables[].rows", NULL);
  result_free(&r);

  /* run. */
  r = run_flourish("run", dundee, "-o", out, "-r", "3", "-t", "2", "--seed", "12345", NULL);
  expect_cmd(&r, 0, NULL, NULL);
  result_free(&r);
  CHECK(path_exists(out));
  CHECK(H5Fis_hdf5(out) > 0);
  CHECK_INT_EQ(list_prefixed(tmp_dir, "dundee run.h5.tmp.", found, sizeof found), 0);
  /* The output gets the permissions of any new file (0666 less the umask 022 set in main), not
   * the 0600 of a private temporary file. */
  CHECK_INT_EQ(stat(out, &st1), 0);
  CHECK_INT_EQ(st1.st_mode & 0777, 0644);
  if ((st1.st_mode & 0777) != 0644)
    fprintf(stderr, "  ^ %s has mode %03o, expected 644\n", out, (unsigned)(st1.st_mode & 0777));
  check_run_file(out, dundee);

  /* summary. */
  r = run_flourish("summary", out, NULL);
  expect_cmd(&r, 0, "Universal", NULL);
  result_free(&r);
  r = run_flourish("summary", out, "--csv", NULL);
  expect_cmd(&r, 0, "arm,year,measure,unit,discounted,mean,median,q05,q95", NULL);
  CHECK(starts_with(r.out, "arm,year,measure,unit,discounted,mean,median,q05,q95\n"));
  CHECK_STR_CONTAINS(r.out, "\nbaseline,0,children_universal,children,,");
  CHECK_STR_CONTAINS(r.out, "\ncommunity_city,1,delta_cost_social_work,GBP,no,");
  CHECK_STR_CONTAINS(r.out, "\ncommunity_city,,icer,GBP per QALY,yes,");
  result_free(&r);
  /* The text uses the scenario's labels, whole, and amounts in its currency. */
  r = run_flourish("summary", out, NULL);
  expect_cmd(&r, 0, "Community programme, city-wide minus baseline", NULL);
  CHECK_STR_CONTAINS(r.out, "Purchased placements");
  CHECK_STR_CONTAINS(r.out, "£");
  CHECK(strstr(r.out, "e+0") == NULL);
  result_free(&r);
  /* summary of files that are not Flourish outputs: status 2 and one line naming the file. */
  {
    char *empty_h5 = xasprintf("%s/empty.h5", tmp_dir), *cut_h5 = xasprintf("%s/cut.h5", tmp_dir);
    size_t len = 0;
    char *bytes = slurp(out, &len);
    hid_t f = H5Fcreate(empty_h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0);
    if (f >= 0) H5Fclose(f);
    CHECK(bytes != NULL && len > 4096);
    if (bytes) CHECK(write_bytes(cut_h5, bytes, len > 4096 ? 4096 : len));
    free(bytes);
    r = run_flourish("summary", empty_h5, NULL);
    expect_cmd(&r, 2, NULL, empty_h5);
    CHECK(starts_with(r.err, "flourish: "));
    CHECK_STR_CONTAINS(r.err, "not a Flourish output file");
    CHECK_INT_EQ(count_lines(r.err), 1);
    result_free(&r);
    r = run_flourish("summary", cut_h5, "--csv", NULL);
    expect_cmd(&r, 2, NULL, cut_h5);
    CHECK(starts_with(r.err, "flourish: "));
    CHECK_INT_EQ(count_lines(r.err), 1);
    result_free(&r);
    free(empty_h5);
    free(cut_h5);
  }
  r = run_flourish("summary", dundee, NULL);
  before = check_failed;
  CHECK_INT_EQ(r.status, 2);
  CHECK(starts_with(r.err, "flourish: "));
  CHECK_STR_CONTAINS(r.err, dundee);
  CHECK_STR_CONTAINS(r.err, "HDF5");
  CHECK_INT_EQ(count_lines(r.err), 1);
  explain(before, "summary of a YAML file", &r);
  result_free(&r);

  /* expect. */
  r = run_flourish("expect", dundee, "-o", out2, NULL);
  expect_cmd(&r, 0, NULL, NULL);
  result_free(&r);
  {
    hid_t f = H5Fopen(out2, H5F_ACC_RDONLY, H5P_DEFAULT);
    const hsize_t d_stocks[] = {121, 7};
    CHECK(f >= 0);
    if (f >= 0) {
      double *stocks;
      check_dataset(f, "/arms/baseline/stocks", H5T_FLOAT, 8, 2, d_stocks);
      stocks = h5_read_all(f, "/arms/baseline/stocks", H5T_NATIVE_DOUBLE, sizeof(double));
      CHECK(stocks != NULL);
      if (stocks)
        for (size_t s = 0; s < 7; s++) CHECK_DBL_NEAR(stocks[s], dundee_initial[s], 1e-9);
      free(stocks);
      H5Fclose(f);
    }
  }
  r = run_flourish("summary", out2, NULL);
  expect_cmd(&r, 0, "Universal", NULL);
  result_free(&r);

  /* Running again over an existing output replaces it by rename: a new file (new inode) that
   * is complete, and no temporary file left beside it. */
  CHECK_INT_EQ(stat(out, &st1), 0);
  CHECK_U64_EQ(replications_of(out), 3);
  r = run_flourish("run", dundee, "-o", out, "-r", "2", "-t", "2", "--seed", "12345", "-q",
                   "--no-flows", NULL);
  expect_cmd(&r, 0, NULL, NULL);
  result_free(&r);
  CHECK_INT_EQ(stat(out, &st2), 0);
  CHECK(H5Fis_hdf5(out) > 0);
  CHECK_U64_EQ(replications_of(out), 2);
  CHECK(st1.st_ino != st2.st_ino);
  CHECK_INT_EQ(list_prefixed(tmp_dir, "dundee run.h5.tmp.", found, sizeof found), 0);
  {
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    if (f >= 0) {
      CHECK(H5Lexists(f, "/arms/baseline/flows", H5P_DEFAULT) == 0);
      H5Fclose(f);
    }
  }

  /* A failing run (bad scenario, bad option) over an existing output leaves it untouched. */
  r = run_flourish("run", bad, "-o", out, "-r", "2", NULL);
  expect_cmd(&r, 2, NULL, "add up to");
  result_free(&r);
  r = run_flourish("run", dundee, "-o", out, "-r", "0", NULL);
  expect_cmd(&r, 2, NULL, "--replications");
  result_free(&r);
  r = run_flourish("expect", dundee, "-o", out, "--seed", "3", NULL);
  expect_cmd(&r, 2, NULL, "without replications");
  result_free(&r);
  CHECK_INT_EQ(stat(out, &st3), 0);
  CHECK(st3.st_ino == st2.st_ino);
  CHECK(st3.st_size == st2.st_size);
  CHECK_U64_EQ(replications_of(out), 2);
  CHECK_INT_EQ(list_prefixed(tmp_dir, "dundee run.h5.tmp.", found, sizeof found), 0);

  free(out);
  free(out2);
  free(bad);
}

/* --pass: every inner loop the processor has writes the same replications as the automatic
 * choice (the stocks, flows and costs of every arm compared exactly). */
static void test_pass(const char *dundee) {
  static const char *const passes[] = {"scalar", "avx2", "avx512"};
  static const char *const arrays[] = {"/arms/baseline/stocks", "/arms/baseline/flows",
                                       "/arms/community_city/stocks",
                                       "/arms/community_city_reinvest/costs"};
  char *ref = xasprintf("%s/pass auto.h5", tmp_dir), *other = xasprintf("%s/pass.h5", tmp_dir);
  result r = run_flourish("run", dundee, "-o", ref, "-r", "2", "-s", "9", "-q", NULL);
  expect_cmd(&r, 0, NULL, NULL);
  result_free(&r);
  for (size_t p = 0; p < sizeof passes / sizeof *passes; p++) {
    fl_path path;
    CHECK_INT_EQ(fl_path_parse(passes[p], &path), 0);
    r = run_flourish("run", dundee, "-o", other, "-r", "2", "-s", "9", "-q", "--pass", passes[p],
                     NULL);
    if (!fl_path_supported(path)) { /* refused, nothing written */
      expect_cmd(&r, 2, NULL, "does not support");
      result_free(&r);
      continue;
    }
    expect_cmd(&r, 0, NULL, NULL);
    result_free(&r);
    hid_t f = H5Fopen(ref, H5F_ACC_RDONLY, H5P_DEFAULT), g = H5Fopen(other, H5F_ACC_RDONLY,
                                                                      H5P_DEFAULT);
    CHECK(f >= 0 && g >= 0);
    for (size_t a = 0; f >= 0 && g >= 0 && a < sizeof arrays / sizeof *arrays; a++) {
      const h5_info info = h5_dataset_info(f, arrays[a]);
      size_t n = 1;
      for (int i = 0; i < info.rank; i++) n *= (size_t)info.dims[i];
      double *x = h5_read_all(f, arrays[a], H5T_NATIVE_DOUBLE, sizeof(double));
      double *y = h5_read_all(g, arrays[a], H5T_NATIVE_DOUBLE, sizeof(double));
      CHECK(info.ok && n > 1 && x && y && !memcmp(x, y, n * sizeof *x));
      free(x);
      free(y);
    }
    if (f >= 0) H5Fclose(f);
    if (g >= 0) H5Fclose(g);
    remove(other);
  }
  remove(ref);
  free(ref);
  free(other);
}

/* Temporary output names: what a killed run left beside an output (this host, a process that
 * no longer runs) is removed before the next write there, and nothing else is: a live
 * process's, this process's, another host's, another output's, or a name that only starts
 * like one. Relative paths too. */
static void touch(const char *path) {
  FILE *f = fopen(path, "w");
  if (f) fclose(f);
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static void test_tmp_clean(void) {
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  CHECK(dead > 0);
  waitpid(dead, NULL, 0);
  char *out = xasprintf("%s/t.h5", tmp_dir), *mine = fl_tmp_name(out, 3);
  CHECK(mine != NULL);
  /* PATH.tmp.TAG.PID.N: the tag is this host's. */
  const char *tag = mine + strlen(out) + strlen(".tmp.");
  CHECK(!strncmp(mine, out, strlen(out)) && strlen(tag) > 9 && tag[8] == '.');
  const char *other_tag = strncmp(tag, "00000000", 8) ? "00000000" : "ffffffff";
  char *stale = xasprintf("%s.tmp.%.8s.%ld.0", out, tag, (long)dead);
  char *stale2 = xasprintf("%s.tmp.%.8s.%ld.17", out, tag, (long)dead);
  char *live = xasprintf("%s.tmp.%.8s.%ld.0", out, tag, (long)getppid());
  char *own = xasprintf("%s.tmp.%.8s.%ld.0", out, tag, (long)getpid());
  char *other_host = xasprintf("%s.tmp.%s.%ld.0", out, other_tag, (long)dead);
  char *suffix = xasprintf("%s.tmp.%.8s.%ld.keep", out, tag, (long)dead);
  char *other_out = xasprintf("%s/u.h5.tmp.%.8s.%ld.0", tmp_dir, tag, (long)dead);
  const char *keep[] = {live, own, other_host, suffix, other_out};
  touch(stale);
  touch(stale2);
  for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) touch(keep[i]);
  fl_tmp_clean(out);
  CHECK(!exists(stale));
  CHECK(!exists(stale2));
  for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
    CHECK(exists(keep[i]));
    remove(keep[i]);
  }
  /* A path relative to the working directory. */
  char cwd[4096];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK(chdir(tmp_dir) == 0);
  char *rel = xasprintf("t.h5.tmp.%.8s.%ld.0", tag, (long)dead);
  touch(rel);
  fl_tmp_clean("t.h5");
  CHECK(!exists(rel));
  CHECK(chdir(cwd) == 0);
  free(rel);
  free(stale);
  free(stale2);
  free(live);
  free(own);
  free(other_host);
  free(suffix);
  free(other_out);
  free(mine);
  free(out);
}

int main(void) {
  const char *base = getenv("TMPDIR");
  char *dundee;
  flourish_bin = getenv("FLOURISH_BIN");
  source_dir = getenv("FLOURISH_SOURCE_DIR");
  if (!flourish_bin || !source_dir) {
    fprintf(stderr, "test_cli: set FLOURISH_BIN and FLOURISH_SOURCE_DIR\n");
    return 1;
  }
  /* The temporary directory's name has spaces, so paths with spaces are exercised. */
  snprintf(tmp_dir, sizeof tmp_dir, "%s/flourish cli test.XXXXXX",
           base && base[0] ? base : "/tmp");
  if (!mkdtemp(tmp_dir)) {
    fprintf(stderr, "test_cli: mkdtemp %s: %s\n", tmp_dir, strerror(errno));
    return 1;
  }
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  umask(022);
  dundee = xasprintf("%s/scenarios/dundee.yaml", source_dir);

  test_tmp_clean();
  test_bad_scenarios();
  test_usage(dundee);
  test_valid(dundee);
  test_pass(dundee);

  free(dundee);
  if (getenv("FLOURISH_KEEP_TMP")) fprintf(stderr, "test_cli: kept %s\n", tmp_dir);
  else remove_tree(tmp_dir);
  return check_finish("cli");
}
