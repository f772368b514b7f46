/* What flourish serve reads and writes through the public API: a scenario's values with their
 * schema rows, its text rewritten with assignments (in place, in block and flow mappings,
 * after multi-byte characters, and keys added), and results read by dataset name with their
 * summaries over replications against a sort and R's type-7 quantile computed here. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const char *yaml =
    "flourish: 1\n"
    "name: values test   # £ and é before the values: offsets count bytes, not characters\n"
    "time: {step_months: 1, horizon_steps: 24}\n"
    "levels: [low, high]\n"
    "costs: {budget_holders: [council], per: month}\n"
    "states:\n"
    "  well: {level: low, qol: 0.9}\n"
    "  care: {level: high, qol: 0.6, cost: {council: 3000}}\n"
    "population:\n"
    "  initial:\n"
    "    - {state: well, count: 2000}\n"
    "    - {state: care, count: 50}\n"
    "transitions:\n"
    "  tables:\n"
    "    - rows:\n"
    "        well: {well: rest, care: 0.01}\n"
    "        care: {well: 0.05, care: rest}\n"
    "arms:\n"
    "  prevent:\n"
    "    label: Prévention\n"
    "    interventions:\n"
    "      help:\n"
    "        states: [well]\n"
    "        escalation: 0.8      # £ a comment after the value\n"
    "        ramp: linear\n"
    "        spend_per_month: 100\n"
    "        budget_holder: council\n"
    "  flow:\n"
    "    interventions: {help: {states: [well], escalation: 0.9}}\n";

typedef struct found {
  const char *want;
  int hits;
  fl_value_info v;
  char text[64], type[32], unit[32];
} found;

static void find_value(void *ctx, const fl_value_info *v) {
  found *f = ctx;
  if (strcmp(v->path, f->want)) return;
  f->hits++;
  f->v = *v;
  snprintf(f->text, sizeof f->text, "%s", v->text);
  snprintf(f->type, sizeof f->type, "%s", v->type);
  snprintf(f->unit, sizeof f->unit, "%s", v->unit ? v->unit : "");
}

static found value_of(const fl_scenario *sc, const char *path) {
  found f = {.want = path};
  fl_scenario_values(sc, find_value, &f);
  return f;
}

static void test_values(const fl_scenario *sc) {
  found f = value_of(sc, "arms.prevent.interventions.help.escalation");
  CHECK_INT_EQ(f.hits, 1);
  CHECK(!strcmp(f.text, "0.8") && !strcmp(f.type, "number") && !strcmp(f.unit, "factor"));
  CHECK(f.v.min == 0 && f.v.max == 100);
  f = value_of(sc, "arms.prevent.interventions.help.ramp");
  CHECK(!strcmp(f.type, "choice") && f.v.choices && strstr(f.v.choices, "logistic"));
  f = value_of(sc, "time.horizon_steps");
  CHECK(!strcmp(f.type, "integer") && !strcmp(f.text, "24"));
  f = value_of(sc, "transitions.tables[0].rows.well.care");
  CHECK(!strcmp(f.type, "probability") && !strcmp(f.text, "0.01"));
  f = value_of(sc, "arms.prevent.label");
  CHECK(!strcmp(f.type, "string") && !strcmp(f.text, "Prévention"));
  f = value_of(sc, "arms.prevent.interventions.help.states"); /* a list, as --set writes one */
  CHECK(f.hits == 1 && !strcmp(f.type, "names") && !strcmp(f.text, "[well]"));
  f = value_of(sc, "levels");
  CHECK(!strcmp(f.type, "names") && !strcmp(f.text, "[low, high]"));
}

/* The text with the assignments, and that it loads as the assignments do. */
static char *rewrite(const fl_scenario *sc, const char *const *sets, size_t n, fl_status *st,
                     fl_error *err) {
  char *text = NULL;
  size_t len = 0;
  *st = fl_scenario_yaml_with(sc, sets, n, &text, &len, err);
  if (*st == FL_OK) CHECK_INT_EQ(strlen(text), len);
  return text;
}

static void test_rewrite(const fl_scenario *sc) {
  fl_error err = {0};
  fl_status st;
  static const char *const sets[] = {
      "arms.prevent.interventions.help.escalation=0.75",  /* after a £ and an é */
      "arms.prevent.interventions.help.decay_months=3",   /* added to a block mapping */
      "arms.flow.interventions.help.deescalation=1.25",   /* added to a flow mapping */
      "arms.flow.interventions.help.escalation=0.5",      /* replaced in a flow mapping */
      "arms.prevent.interventions.help.ramp=logistic",
      "arms.prevent.interventions.help.ramp=exponential", /* the last of a path wins */
      "arms.flow.interventions.help.states=[well, care]", /* a flow list replaced */
      "arms.prevent.interventions.help.months=[2, 20]",   /* a list added */
  };
  char *text = rewrite(sc, sets, 8, &st, &err);
  CHECK_INT_EQ(st, FL_OK);
  if (!text) return;
  CHECK(strstr(text, "        escalation: 0.75      # £ a comment after the value\n") != NULL);
  CHECK(strstr(text, "        budget_holder: council\n        decay_months: 3\n") != NULL);
  CHECK(strstr(text, "{help: {states: [well, care], escalation: 0.5, deescalation: 1.25}}") !=
        NULL);
  CHECK(strstr(text, "        decay_months: 3\n        months: [2, 20]\n") != NULL);
  CHECK(strstr(text, "        ramp: exponential\n") != NULL);
  CHECK(strstr(text, "name: values test   # £ and é before") != NULL);
  /* Loading the rewritten text compiles to the same model as the assignments: the same
   * expectation, number for number. */
  fl_scenario *a = NULL, *b = NULL;
  fl_model *ma = NULL, *mb = NULL;
  fl_results *ra = NULL, *rb = NULL;
  CHECK_INT_EQ(fl_scenario_with(sc, sets, 8, &a, &err), FL_OK);
  CHECK_INT_EQ(fl_scenario_load_text("rewritten", text, strlen(text), NULL, 0, &b, &err), FL_OK);
  if (a && b && fl_model_compile(a, &ma, &err) == FL_OK && fl_model_compile(b, &mb, &err) == FL_OK &&
      fl_expect(ma, &ra, &err) == FL_OK && fl_expect(mb, &rb, &err) == FL_OK) {
    fl_dataset da, db;
    CHECK(fl_results_dataset(ra, 1, 1, "cumulative_net_cost", &da));
    CHECK(fl_results_dataset(rb, 1, 1, "cumulative_net_cost", &db));
    int same = da.count == db.count && da.count == 24;
    for (size_t i = 0; same && i < da.count; i++)
      same = fl_dataset_value(&da, i) == fl_dataset_value(&db, i);
    CHECK(same);
    CHECK(fl_dataset_value(&da, 23) != 0); /* the arm does something */
  } else {
    CHECK(0);
  }
  fl_results_free(ra);
  fl_results_free(rb);
  fl_model_free(ma);
  fl_model_free(mb);
  fl_scenario_free(a);
  fl_scenario_free(b);
  free(text);
  /* An assignment that --set refuses is refused with --set's error. */
  static const char *const bad[] = {"arms.prevent.interventions.help.escalation=-1"};
  fl_error e1 = {0}, e2 = {0};
  fl_scenario *x = NULL;
  text = rewrite(sc, bad, 1, &st, &e1);
  CHECK_INT_EQ(st, FL_ESCHEMA);
  CHECK(text == NULL);
  CHECK_INT_EQ(fl_scenario_with(sc, bad, 1, &x, &e2), FL_ESCHEMA);
  CHECK(!strcmp(e1.message, e2.message) && !strcmp(e1.key, e2.key));
  /* A list in block style cannot be replaced in place: an error, not a wrong file. */
  static const char *const block[] = {"transitions.tables[0].rows.well.care=0.02",
                                      "population.initial=[1]"};
  text = rewrite(sc, block + 1, 1, &st, &e1);
  CHECK(st != FL_OK && text == NULL);
  text = rewrite(sc, block, 1, &st, &e1);
  CHECK(st == FL_OK && text && strstr(text, "well: {well: rest, care: 0.02}"));
  free(text);
  /* No assignments: the file as it is. */
  text = rewrite(sc, NULL, 0, &st, &err);
  CHECK(st == FL_OK && text && !strcmp(text, yaml));
  free(text);
}

/* A scenario whose arms are written one key a line, with comments, a block scalar, the arm
 * copied in the middle and the arms followed by more of the file. */
static const char *arms_yaml =
    "flourish: 1\n"
    "name: new arm test\n"
    "time: {step_months: 1, horizon_steps: 24}\n"
    "levels: [low, high]\n"
    "costs: {budget_holders: [council], per: month}\n"
    "states:\n"
    "  well: {level: low, qol: 0.9}\n"
    "  care: {level: high, qol: 0.6, cost: {council: 3000}}\n"
    "population:\n"
    "  initial:\n"
    "    - {state: well, count: 2000}\n"
    "    - {state: care, count: 50}\n"
    "# The arms.\n"
    "arms:\n"
    "  first:\n"
    "    interventions: {help: {states: [well], escalation: 0.9}}\n"
    "  prevent:   # the arm copied\n"
    "    label: Prevention\n"
    "    description: >\n"
    "      Folded text\n"
    "      on two lines.\n"
    "\n"
    "    interventions:\n"
    "      help:\n"
    "        states: [well]\n"
    "        escalation: 0.8      # a comment after the value\n"
    "        budget_holder: council\n"
    "        spend_per_month: 100\n"
    "          # a comment inside the arm, kept\n"
    "\n"
    "  # a comment before the last arm, left out\n"
    "  last:\n"
    "    interventions:\n"
    "      help: {states: [care], deescalation: 1.5}\n"
    "    # inside the last arm\n"
    "\n"
    "# The transitions.\n"
    "transitions:\n"
    "  tables:\n"
    "    - rows:\n"
    "        well: {well: rest, care: 0.01}\n"
    "        care: {well: 0.05, care: rest}\n";

/* Whether dataset name of arm a of x and of arm b of y hold the same numbers, bit for bit. */
static int same_dataset(const fl_results *x, size_t a, const fl_results *y, size_t b,
                        int comparison, const char *name) {
  fl_dataset da, db;
  if (!fl_results_dataset(x, a, comparison, name, &da) ||
      !fl_results_dataset(y, b, comparison, name, &db) || da.count != db.count || !da.count)
    return 0;
  for (size_t i = 0; i < da.count; i++)
    if (memcmp(&(double){fl_dataset_value(&da, i)}, &(double){fl_dataset_value(&db, i)},
               sizeof(double)))
      return 0;
  return 1;
}

static void test_new_arm(void) {
  fl_scenario *sc = NULL, *loaded = NULL, *with = NULL, *plain = NULL;
  fl_error err = {0};
  char *text = NULL;
  size_t len = 0;
  CHECK_INT_EQ(fl_scenario_load_text("arms.yaml", arms_yaml, strlen(arms_yaml), NULL, 0, &sc,
                                     &err), FL_OK);
  if (!sc) return;
  static const char *const sets[] = {"arms.prevent.interventions.help.escalation=0.6",
                                     "arms.prevent.interventions.help.decay_months=3"};
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "prevent", "prevent_whatif", sets, 2, &text, &len,
                                        &loaded, &err), FL_OK);
  /* The original text, with the arm's lines (comments and the folded text kept, the comment
   * before the next arm left out) copied after the last arm, changed and renamed. */
  const char *added = "  prevent_whatif:   # the arm copied\n"
                      "    label: Prevention (what-if)\n"
                      "    description: >\n"
                      "      Folded text\n"
                      "      on two lines.\n"
                      "\n"
                      "    interventions:\n"
                      "      help:\n"
                      "        states: [well]\n"
                      "        escalation: 0.6      # a comment after the value\n"
                      "        budget_holder: council\n"
                      "        spend_per_month: 100\n"
                      "        decay_months: 3\n"
                      "          # a comment inside the arm, kept\n";
  const char *after = strstr(arms_yaml, "\n# The transitions."); /* the blank line */
  const size_t head = (size_t)(after - arms_yaml);
  CHECK(text && len == strlen(arms_yaml) + strlen(added) && strlen(text) == len);
  if (text && len == strlen(arms_yaml) + strlen(added)) {
    CHECK(!memcmp(text, arms_yaml, head));
    CHECK(!memcmp(text + head, added, strlen(added)));
    CHECK(!strcmp(text + head + strlen(added), after));
  }
  /* Its expectation: the new arm's numbers are those of the arm with the assignments, the
   * others those of the file, bit for bit. */
  fl_model *ml = NULL, *mw = NULL, *mp = NULL;
  fl_results *rl = NULL, *rw = NULL, *rp = NULL;
  static const char *const with_label[] = {"arms.prevent.interventions.help.escalation=0.6",
                                           "arms.prevent.interventions.help.decay_months=3"};
  CHECK_INT_EQ(fl_scenario_with(sc, with_label, 2, &with, &err), FL_OK);
  CHECK_INT_EQ(fl_scenario_with(sc, NULL, 0, &plain, &err), FL_OK);
  if (loaded && with && plain && fl_model_compile(loaded, &ml, &err) == FL_OK &&
      fl_model_compile(with, &mw, &err) == FL_OK && fl_model_compile(plain, &mp, &err) == FL_OK &&
      fl_expect(ml, &rl, &err) == FL_OK && fl_expect(mw, &rw, &err) == FL_OK &&
      fl_expect(mp, &rp, &err) == FL_OK) {
    CHECK(!strcmp(fl_results_arm_name(rl, 4), "prevent_whatif"));
    CHECK(same_dataset(rl, 4, rw, 2, 0, "stocks"));
    CHECK(same_dataset(rl, 4, rw, 2, 1, "cumulative_net_cost"));
    CHECK(!same_dataset(rl, 4, rp, 2, 1, "cumulative_net_cost")); /* the change shows */
    for (size_t a = 0; a < 4; a++) CHECK(same_dataset(rl, a, rp, a, 0, "stocks"));
    for (size_t a = 1; a < 4; a++) CHECK(same_dataset(rl, a, rp, a, 1, "cumulative_net_cost"));
  } else {
    CHECK(0);
  }
  fl_results_free(rl);
  fl_results_free(rw);
  fl_results_free(rp);
  fl_model_free(ml);
  fl_model_free(mw);
  fl_model_free(mp);
  fl_scenario_free(loaded);
  fl_scenario_free(with);
  fl_scenario_free(plain);
  free(text);
  /* The last arm, unchanged and without a label: its lines with the comment inside it. */
  text = NULL;
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "last", "last2", NULL, 0, &text, &len, NULL, &err),
               FL_OK);
  CHECK(text && strstr(text, "    # inside the last arm\n  last2:\n    interventions:\n"
                             "      help: {states: [care], deescalation: 1.5}\n"
                             "    # inside the last arm\n\n# The transitions.\n"));
  free(text);
  /* An arm given a label by an assignment keeps it. */
  static const char *const named[] = {"arms.prevent.label=Mine"};
  text = NULL;
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "prevent", "p2", named, 1, &text, &len, NULL, &err),
               FL_OK);
  CHECK(text && strstr(text, "  p2:   # the arm copied\n    label: Mine\n") &&
        strstr(text, "  prevent:   # the arm copied\n    label: Prevention\n"));
  free(text);
  /* A label written otherwise than as one line of plain text is copied as it is. */
  {
    char quoted[2048];
    const char *l = strstr(arms_yaml, "label: Prevention\n");
    snprintf(quoted, sizeof quoted, "%.*slabel: \"Prevention\"\n%s", (int)(l - arms_yaml),
             arms_yaml, l + strlen("label: Prevention\n"));
    fl_scenario *q = NULL;
    CHECK_INT_EQ(fl_scenario_load_text("quoted.yaml", quoted, strlen(quoted), NULL, 0, &q, &err),
                 FL_OK);
    text = NULL;
    if (q)
      CHECK_INT_EQ(fl_scenario_yaml_new_arm(q, "prevent", "p2", NULL, 0, &text, &len, NULL, &err),
                   FL_OK);
    CHECK(text && strstr(text, "  p2:   # the arm copied\n    label: \"Prevention\"\n"));
    free(text);
    fl_scenario_free(q);
  }
  /* Refused: an assignment outside the arm, a name taken or not a plain name, no such arm. */
  static const char *const outside[] = {"arms.prevent.interventions.help.escalation=0.6",
                                        "arms.first.interventions.help.escalation=0.5"};
  static const char *const global[] = {"time.horizon_steps=12"};
  static const char *const bad[] = {"arms.prevent.interventions.help.escalation=-1"};
  text = NULL;
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "prevent", "x", outside, 2, &text, &len, NULL, &err),
               FL_EUSAGE);
  CHECK(text == NULL && strstr(err.message, "arms.first.interventions.help.escalation=0.5") &&
        strstr(err.message, "only assignments under arms.prevent."));
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "prevent", "x", global, 1, &text, &len, NULL, &err),
               FL_EUSAGE);
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "prevent", "last", NULL, 0, &text, &len, NULL, &err),
               FL_EUSAGE);
  CHECK(strstr(err.message, "an arm 'last' already") != NULL);
  static const char *const names[] = {"", "1st", "a.b", "a b", "_x", "a-b", "x:"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "prevent", names[i], NULL, 0, &text, &len, NULL,
                                          &err), FL_EUSAGE);
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "nosuch", "x", NULL, 0, &text, &len, NULL, &err),
               FL_EUSAGE);
  /* An assignment --set refuses, with --set's error. */
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "prevent", "x", bad, 1, &text, &len, NULL, &err),
               FL_ESCHEMA);
  CHECK(text == NULL);
  fl_scenario_free(sc);
  /* Arms written {...}: refused. */
  const char *flow = "flourish: 1\n"
                     "name: flow\n"
                     "time: {step_months: 1, horizon_steps: 24}\n"
                     "levels: [low, high]\n"
                     "costs: {budget_holders: [council], per: month}\n"
                     "states: {well: {level: low}, care: {level: high}}\n"
                     "population: {initial: [{state: well, count: 10}]}\n"
                     "transitions: {tables: [{rows: {well: {well: rest, care: 0.1}, "
                     "care: {care: rest}}}]}\n"
                     "arms: {a: {interventions: {help: {states: [well], escalation: 0.9}}}}\n";
  sc = NULL;
  CHECK_INT_EQ(fl_scenario_load_text("flow.yaml", flow, strlen(flow), NULL, 0, &sc, &err), FL_OK);
  if (sc) {
    CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "a", "b", NULL, 0, &text, &len, NULL, &err),
                 FL_EUSAGE);
    CHECK(strstr(err.message, "flow style") != NULL);
  }
  fl_scenario_free(sc);
}

static void test_new_arm_flow_value(const fl_scenario *sc) {
  /* An arm written {...} in arms written one key a line: its line copied, changed. */
  static const char *const sets[] = {"arms.flow.interventions.help.escalation=0.5"};
  char *text = NULL;
  size_t len = 0;
  fl_error err = {0};
  CHECK_INT_EQ(fl_scenario_yaml_new_arm(sc, "flow", "flow_b", sets, 1, &text, &len, NULL, &err),
               FL_OK);
  CHECK(text && len == strlen(text) && !strncmp(text, yaml, strlen(yaml)) &&
        !strcmp(text + strlen(yaml),
                "  flow_b:\n    interventions: {help: {states: [well], escalation: 0.5}}\n"));
  free(text);
}

/* Quantile p of v[0, n) by R's type 7, sorting a copy. */
static int cmp_dbl(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double type7(const double *v, size_t n, double p) {
  double *s = malloc(n * sizeof *s);
  memcpy(s, v, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_dbl);
  const double h = (double)(n - 1) * p;
  const size_t k = (size_t)h;
  const double q = k + 1 < n ? s[k] + (h - (double)k) * (s[k + 1] - s[k]) : s[k];
  free(s);
  return q;
}

static void test_datasets(const fl_scenario *sc) {
  fl_model *m = NULL;
  fl_error err = {0};
  CHECK_INT_EQ(fl_model_compile(sc, &m, &err), FL_OK);
  if (!m) return;
  fl_results *ex = expect_model(m);
  fl_dataset ds;
  CHECK_INT_EQ(fl_results_n_arms(ex), 3);
  CHECK(!strcmp(fl_results_arm_name(ex, 1), "prevent"));
  CHECK_INT_EQ(fl_results_replications(ex), 0);
  CHECK(fl_results_dataset(ex, 0, 0, "stocks_by_level", &ds));
  CHECK(ds.rank == 2 && ds.dims[0] == 25 && ds.dims[1] == 2 && !ds.per_replication);
  CHECK(!strcmp(ds.dim_names[0], "time") && !strcmp(ds.dim_names[1], "level"));
  CHECK(fl_dataset_value(&ds, 0) == 2000 && fl_dataset_value(&ds, 1) == 50);
  CHECK(!fl_results_dataset(ex, 0, 1, "cumulative_net_cost", &ds)); /* the baseline has none */
  CHECK(!fl_results_dataset(ex, 1, 0, "no_such_dataset", &ds));
  CHECK(!strcmp(fl_results_label(ex, 0, "level", 1), "high"));
  CHECK(!strcmp(fl_results_label(ex, 1, "intervention", 0), "help"));
  CHECK(fl_results_label(ex, 0, "level", 2) == NULL);
  CHECK_INT_EQ(fl_results_state_level(ex, 1), 1);
  fl_results_free(ex);

  const size_t R = 37;
  fl_results *mc = run_model(m, 9, R, 2);
  CHECK_INT_EQ(fl_results_replications(mc), R);
  CHECK(fl_results_dataset(mc, 1, 1, "cumulative_net_cost", &ds));
  CHECK(ds.per_replication && ds.rank == 2 && ds.dims[0] == R && ds.dims[1] == 24 &&
        !strcmp(ds.dim_names[0], "replication") && !strcmp(ds.dim_names[1], "step"));
  double *stats = malloc(FL_SUMMARY_STATS * 24 * sizeof *stats), v[64];
  CHECK_INT_EQ(fl_dataset_summarise(&ds, stats, &err), FL_OK);
  CHECK(!strcmp(fl_summary_stat_name(0), "mean") && !strcmp(fl_summary_stat_name(9), "q975"));
  CHECK(fl_summary_stat_name(FL_SUMMARY_STATS) == NULL);
  static const double levels[7] = {0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975};
  for (size_t c = 0; c < 24; c++) {
    double sum = 0;
    for (size_t r = 0; r < R; r++) sum += v[r] = fl_dataset_value(&ds, r * 24 + c);
    CHECK_DBL_NEAR(stats[c], sum / (double)R, 1e-9 * (1 + fabs(sum)));
    for (size_t q = 0; q < 7; q++)
      CHECK_DBL_NEAR(stats[(3 + q) * 24 + c], type7(v, R, levels[q]), 1e-9 * (1 + fabs(v[0])));
  }
  /* Whole-number data (stocks) go through the histogram path: the same quantiles. */
  CHECK(fl_results_dataset(mc, 0, 0, "stocks_by_level", &ds));
  double *s2 = malloc(FL_SUMMARY_STATS * 25 * 2 * sizeof *s2);
  CHECK_INT_EQ(fl_dataset_summarise(&ds, s2, &err), FL_OK);
  for (size_t c = 0; c < 50; c++) {
    for (size_t r = 0; r < R; r++) v[r] = fl_dataset_value(&ds, r * 50 + c);
    for (size_t q = 0; q < 7; q++) CHECK_DBL_NEAR(s2[(3 + q) * 50 + c], type7(v, R, levels[q]), 1e-9);
  }
  /* A dataset made from all replications together has no replication dimension to summarise. */
  CHECK(fl_results_dataset(mc, 1, 1, "p_saving_by_year", &ds) && !ds.per_replication);
  CHECK_INT_EQ(fl_dataset_summarise(&ds, s2, &err), FL_EUSAGE);
  free(stats);
  free(s2);
  fl_results_free(mc);
  fl_model_free(m);
}

int main(void) {
  fl_scenario *sc = NULL;
  fl_error err = {0};
  if (fl_scenario_load_text("values.yaml", yaml, strlen(yaml), NULL, 0, &sc, &err) != FL_OK) {
    char buf[2048];
    fl_error_format(&err, buf, sizeof buf);
    fprintf(stderr, "cannot load the test scenario: %s\n", buf);
    return 1;
  }
  test_values(sc);
  test_rewrite(sc);
  test_new_arm();
  test_new_arm_flow_value(sc);
  test_datasets(sc);
  fl_scenario_free(sc);
  return check_finish("test_values");
}
