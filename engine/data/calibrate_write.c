/* The calibrated scenario of `flourish calibrate`: the template's text without its population
 * and transitions sections, then those sections made from the records (a population at a
 * month of the window; the estimated transitions, with the counts behind every row so that
 * --psa can draw them). The back-cast writes its model with the same functions. */
#include "data/calibrate_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A YAML scalar of the template's: numbers and plain words as written, the rest double-quoted. */
static void put_scalar(FILE *out, const fl_node *v) {
  if (!v->quoted && strspn(v->value, "0123456789.eE+-") == strlen(v->value)) {
    fputs(v->value, out);
    return;
  }
  fputc('"', out);
  for (const char *p = v->value; *p; p++) {
    if (*p == '"' || *p == '\\') fputc('\\', out);
    fputc(*p, out);
  }
  fputc('"', out);
}

/* The template's localities without their escalation multipliers: the calibrated rows are
 * estimated from every locality's records together, so they already hold the localities' mix,
 * and the template's multipliers on top would count it twice. */
static void put_localities(FILE *out, const fl_node *locs) {
  int dropped = 0;
  for (size_t i = 0; i < locs->n; i++) {
    const fl_node *l = locs->items[2 * i + 1];
    for (size_t k = 0; l->kind == FL_NODE_MAP && k < l->n; k++)
      dropped |= !strcmp(fl_map_key(l, k)->value, "escalation_multiplier");
  }
  if (dropped)
    fputs("# The template's escalation_multiplier of each locality is left out: the transitions\n"
          "# below are estimated from all localities' records together and already hold their\n"
          "# mix, so applying the multipliers as well would count it twice.\n",
          out);
  fputs("localities:\n", out);
  for (size_t i = 0; i < locs->n; i++) {
    const fl_node *l = locs->items[2 * i + 1];
    fprintf(out, "  %s: {", fl_map_key(locs, i)->value);
    int first = 1;
    for (size_t k = 0; l->kind == FL_NODE_MAP && k < l->n; k++) {
      const char *key = fl_map_key(l, k)->value;
      if (!strcmp(key, "escalation_multiplier")) continue;
      fprintf(out, "%s%s: ", first ? "" : ", ", key);
      put_scalar(out, l->items[2 * k + 1]);
      first = 0;
    }
    fputs("}\n", out);
  }
  fputs("\n", out);
}

void fl_cal_copy_template(FILE *out, const fl_scenario *sc, int for_check) {
  const fl_node *root = sc->root;
  const char *text = sc->text;
  /* Start offset of each line. */
  size_t lines = 1;
  for (const char *p = text; *p; p++) lines += *p == '\n';
  size_t *start = malloc((lines + 2) * sizeof *start), n = 0;
  if (!start) return;
  start[n++] = 0;
  for (size_t i = 0; text[i]; i++)
    if (text[i] == '\n') start[n++] = i + 1;
  start[n] = strlen(text);
  for (size_t i = 0; i < root->n; i++) {
    const fl_node *key = fl_map_key(root, i);
    const size_t l0 = (size_t)key->line - 1;
    const size_t l1 = i + 1 < root->n ? (size_t)fl_map_key(root, i + 1)->line - 1 : n;
    if (!strcmp(key->value, "population") || !strcmp(key->value, "transitions")) continue;
    if (!strcmp(key->value, "localities") && root->items[2 * i + 1]->kind == FL_NODE_MAP) {
      put_localities(out, root->items[2 * i + 1]);
      continue;
    }
    if (for_check && (!strcmp(key->value, "time") || !strcmp(key->value, "arms") ||
                      !strcmp(key->value, "uncertainty")))
      continue;
    fwrite(text + start[l0], 1, start[l1 < n ? l1 : n] - start[l0], out);
  }
  free(start);
}

/* The cell of the initial-population tally of state s, age year a, locality l (NLOC: not
 * given) and time-in-state band db. */
static size_t tally_cell(const cal *c, size_t s, size_t a, size_t l, size_t db) {
  const size_t A1 = (size_t)c->age_years_max + 1, NL = c->m->NLOC;
  return ((s * A1 + a) * (NL + 1) + l) * c->ND + db;
}

/* The time-in-state band of a child's status at window month `month`: the months it has
 * lasted within the painted history and since birth (band 0 without duration bands). */
static size_t initial_duration_band(const cal *c, const cal_child *ch, long month) {
  const unsigned char raw = ch->status[c->LB + month];
  long since = month;
  if (c->ND == 1) return 0;
  while (since > -c->LB && ch->status[c->LB + since - 1] == raw &&
         (ch->dob < 0 || since - 1 >= ch->dob - c->w0))
    since--;
  return fl_cal_duration_band(c, month - since);
}

/* Tallies the children with a record who are present at window month `month` and outside the
 * gap state, into cnt (tally_cell; age year age_years_max: unknown age). */
static void tally_initial(const cal *c, const cal_records *rec, long month, double *cnt,
                          uint64_t *key) {
  const fl_model *m = c->m;
  for (size_t k = 0; k < rec->n_kids; k++) {
    const cal_child *ch = &rec->kids[k];
    const long age = ch->dob >= 0 ? c->w0 + month - ch->dob : -1;
    const unsigned char raw = ch->status[c->LB + month];
    const size_t s = raw == FL_CAL_NO_RECORD ? c->gap : raw;
    if (s == c->gap || (ch->dob >= 0 && age < 0) || (m->max_age && age >= (long)m->max_age))
      continue;
    const size_t a = age >= 0 ? (size_t)(age / 12) : (size_t)c->age_years_max;
    const size_t l = ch->loc >= 0 ? (size_t)ch->loc : m->NLOC;
    const size_t cell = tally_cell(c, s, a, l, initial_duration_band(c, ch, month));
    cnt[cell]++;
    key[cell] += fl_cal_event_key(FL_CAL_EV_INITIAL, k, 0);
  }
}

/* The initial entries of the children with a record, one for each state, age year, locality
 * and time-in-state band with children. */
static size_t write_recorded(FILE *out, const cal *c, const double *cnt) {
  const fl_model *m = c->m;
  const fl_calibrate_options *opt = c->opt;
  const size_t S = m->S, NL = m->NLOC, A1 = (size_t)c->age_years_max + 1, ND = c->ND;
  size_t groups = 0;
  for (size_t s = 0; s < S; s++)
    for (size_t a = 0; a < A1; a++)
      for (size_t l = 0; l <= NL; l++)
        for (size_t db = 0; db < ND; db++) {
          const double k = cnt[tally_cell(c, s, a, l, db)];
          if (k <= 0) continue;
          fprintf(out, "    - {state: %s, count: %.0f, age_years: ", m->state_names[s], k);
          if ((long)a < c->age_years_max) fprintf(out, "[%zu, %zu]", a, a + 1);
          else fprintf(out, "[0, %ld]", c->age_years_max);
          if (l < NL && NL > 1) fprintf(out, ", locality: %s", m->loc_names[l]);
          if (ND > 1) {
            const double lo = db ? opt->dur_bands[db - 1] : 0;
            const double hi = db < opt->n_dur_bands ? opt->dur_bands[db] : lo + 12;
            fprintf(out, ", time_in_state_months: [%g, %g]", lo, hi);
          }
          fprintf(out, "}\n");
          groups++;
        }
  return groups;
}

/* The initial entries of the universal children at window month `month`: for each age year,
 * the population table's children less those with a record, when at least half a child is
 * left. They have been universal since birth: time in state is their age. */
static size_t write_universal(FILE *out, const cal *c, const cal_population *pop, long month,
                              const double *cnt) {
  const fl_model *m = c->m;
  const size_t S = m->S, NL = m->NLOC, ND = c->ND;
  size_t groups = 0;
  for (long a = 0; a < c->age_years_max; a++) {
    double total = fl_cal_pop_at(pop, c->w0 + month, (int)a, -1), recorded = 0;
    for (size_t s = 0; s < S; s++)
      for (size_t l = 0; l <= NL; l++)
        for (size_t db = 0; db < ND; db++) recorded += cnt[tally_cell(c, s, (size_t)a, l, db)];
    /* Partial coverage: shared among the uncovered states as the template's initial
     * population has them (the gap state takes what rounding leaves). */
    const double rest = floor(total - recorded + 0.5);
    double placed = 0;
    for (size_t s = 0; s < S && rest >= 1; s++) {
      if (s == c->gap || !c->uncovered[s]) continue;
      const double n = floor(rest * c->u_share[s] + 0.5);
      if (n < 1) continue;
      fprintf(out,
              "    - {state: %s, count: %.0f, age_years: [%ld, %ld]}   # not covered by the "
              "records: the template's share\n",
              m->state_names[s], n, a, a + 1);
      placed += n;
      groups++;
    }
    if (rest - placed >= 1) {
      fprintf(out, "    - {state: %s, count: %.0f, age_years: [%ld, %ld]", m->state_names[c->gap],
              rest - placed, a, a + 1);
      if (ND > 1) fprintf(out, ", time_in_state_months: [%ld, %ld]", a * 12, a * 12 + 12);
      fprintf(out, "}\n");
      groups++;
    }
  }
  return groups;
}

/* The entries: births from the population table's children aged 0; net migration as entry
 * streams for the ages with a net inflow (arriving universal during the year) and an
 * out-migration probability for the net outflow. */
static void write_entries(FILE *out, const cal *c, const cal_population *pop) {
  const char *gap = c->m->state_names[c->gap];
  cal_migration mig;
  fprintf(out,
          "  entries:\n    births:\n      per_year: %.1f   # children aged 0 in the "
          "population table, mean over its dates\n      age_years: [0, 0]\n      states: "
          "{%s: 1}\n",
          fl_cal_births_per_year(pop), gap);
  fl_cal_migration(pop, c->age_years_max, &mig);
  for (long a = 0; a < FL_CAL_MIGRATION_AGES; a++)
    if (mig.in_per_year[a] > 0)
      fprintf(out,
              "    in_migration_%ld:   # net inflow of children aged %ld to %ld, from the "
              "population table\n      per_year: %.2f\n      age_years: [%ld, %ld]\n      "
              "states: {%s: 1}\n",
              a, a, a + 1, mig.in_per_year[a], a, a + 1, gap);
  if (mig.out_per_year > 0)
    fprintf(out,
            "  out_migration_per_year: %.8g   # net outflow over the population, from the "
            "population table\n",
            mig.out_per_year);
}

fl_status fl_cal_write_population(FILE *out, cal *c, const cal_records *rec,
                                  const cal_population *pop, long month) {
  const fl_model *m = c->m;
  const size_t A1 = (size_t)c->age_years_max + 1, cells = m->S * A1 * (m->NLOC + 1) * c->ND;
  double *cnt = fl_calloc(cells, sizeof *cnt);
  uint64_t *key = fl_calloc(cells, sizeof *key);
  if (!cnt || !key) {
    free(cnt);
    free(key);
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  fprintf(out, "population:\n");
  if (m->max_age) fprintf(out, "  max_age_years: %g\n", m->max_age / 12.0);
  fprintf(out, "  initial:\n");
  tally_initial(c, rec, month, cnt, key);
  /* Disclosure control: the recorded children's cells rounded like every other count, by the
   * keys of their children (the universal count is the population table's less the rounded
   * ones). */
  for (size_t i = 0; i < cells; i++) cnt[i] = fl_cal_round(c, cnt[i], key[i]);
  const size_t groups = write_recorded(out, c, cnt) + write_universal(out, c, pop, month, cnt);
  free(cnt);
  free(key);
  if (!groups) { /* (a scenario must start with some children) */
    fl_cal_fail(c, FL_EINPUT, 0,
                "no children at the start of the window: the records and the population table "
                "give none present then (after rounding)");
    return c->st;
  }
  write_entries(out, c, pop);
  return FL_OK;
}

/* The heading of table t: its bands, as the scenario's tables give them. */
/* A table's range key, `key: [lo, hi]` (hi infinite: .inf), and the indent of the next key. */
static void put_range(FILE *tr, const char *key, double lo, double hi) {
  if (isinf(hi)) fprintf(tr, "%s: [%.10g, .inf]\n      ", key, lo);
  else fprintf(tr, "%s: [%.10g, %.10g]\n      ", key, lo, hi);
}

static void write_table_heading(FILE *tr, const cal *c, cal_table t) {
  const fl_calibrate_options *opt = c->opt;
  fprintf(tr, "    - ");
  if (t.ab < c->NB)
    put_range(tr, "age_years", t.ab == 0 ? 0 : opt->age_bands[t.ab - 1],
              t.ab < opt->n_age_bands ? opt->age_bands[t.ab] : INFINITY);
  if (t.db < c->ND)
    put_range(tr, "time_in_state_months", t.db == 0 ? 0 : opt->dur_bands[t.db - 1],
              t.db < opt->n_dur_bands ? opt->dur_bands[t.db] : INFINITY);
  fprintf(tr, "rows:\n");
}

void fl_cal_template_row(const cal *c, size_t s, long age, long tis, double *p) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  const uint32_t a = age < 0 ? 0 : (uint32_t)age, d = tis < 0 ? 0 : (uint32_t)tis;
  memcpy(p, m->base_p + fl_row_index(m, 0, 0, a, d, s) * S, S * sizeof *p);
  /* Undo the first locality's escalation multiplier (compiled rows carry it): escalations over
   * it, staying the rest. */
  const double esc = m->loc_esc ? m->loc_esc[0] : 1;
  if (esc == 1 || m->absorbing[s]) return;
  double leave = 0;
  for (size_t j = 0; j < S; j++)
    if (j != s) {
      if (m->state_level[j] > m->state_level[s]) p[j] /= esc;
      leave += p[j];
    }
  p[s] = fmax(0, 1 - leave);
}

/* The band table t starts at: its lowest age and time in state (months). */
static void table_start(const cal *c, cal_table t, long *age, long *tis) {
  const fl_calibrate_options *opt = c->opt;
  *age = t.ab < c->NB && t.ab > 0 ? (long)llround(opt->age_bands[t.ab - 1] * 12) : 0;
  *tis = t.db < c->ND && t.db > 0 ? (long)llround(opt->dur_bands[t.db - 1]) : 0;
}

/* The row of uncovered state s (partial coverage) at an age and time in state: the template's,
 * its escalations into covered states scaled to the records (c->esc_scale; where the template
 * has none, the gap state's row takes the records' rate for the whole mixture). Returns c->st:
 * FL_EINPUT when the scaled escalations leave no room to stay. */
static fl_status uncovered_row(cal *c, const cal_estimates *e, size_t s, long age, long tis,
                               double *p) {
  const fl_model *m = c->m;
  const size_t S = m->S, rg = fl_cal_row(c, c->NB, c->ND, c->gap);
  double leave = 0;
  fl_cal_template_row(c, s, age, tis, p);
  for (size_t d = 0; d < S; d++) {
    if (d == s) continue;
    if (!c->uncovered[d] && !m->absorbing[d]) {
      if (!isnan(c->esc_scale[d])) p[d] *= c->esc_scale[d];
      else if (s == c->gap && e->tr.total[rg] > 0)
        p[d] = e->tr.count[rg * S + d] / e->tr.total[rg] /
               (c->u_share[c->gap] > 0 ? c->u_share[c->gap] : 1);
    }
    leave += p[d];
  }
  p[s] = 1 - leave;
  if (p[s] < 0)
    fl_cal_fail(c, FL_EINPUT, 0,
                "--covers: the escalations the records show from children without a record "
                "leave the row of uncovered state '%s' no probability of staying",
                m->state_names[s]);
  return c->st;
}

/* A row of state s with probabilities p[S], as a scenario's table writes it (the state itself:
 * rest), and a comment after it (or ""). */
static void put_row(FILE *tr, const fl_model *m, size_t s, const double *p, const char *comment) {
  int first = 1;
  fprintf(tr, "        %s: {", m->state_names[s]);
  for (size_t d = 0; d < m->S; d++)
    if (d != s && p[d] > 0) {
      fprintf(tr, "%s%s: %.12g", first ? "" : ", ", m->state_names[d], p[d]);
      first = 0;
    }
  fprintf(tr, "%s%s: rest}%s\n", first ? "" : ", ", m->state_names[s], comment);
}

/* Row r (of state s) of table t: the estimated probabilities of the moves observed, or, for a
 * row never observed, the template's at the table's first age and time in state. With partial
 * coverage, a row of an uncovered state is uncovered_row, and the moves of a covered row to no
 * record (the gap state) are shared among the uncovered states as the template's row shares
 * them (a child leaving care to additional support is not in records that cover care only).
 * The row's probabilities into shares[S] (for the counts). Returns c->st (FL_EINPUT when the
 * records' escalations do not fit an uncovered row). */
static fl_status write_row(FILE *tr, cal *c, const cal_estimates *e, cal_table t, size_t r,
                           size_t s, double *shares) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  const int observed = e->tr.total[r] != 0, from_template = c->partial && c->uncovered[s];
  double p[FL_MAX_STATES], tp[FL_MAX_STATES];
  long age, tis;
  table_start(c, t, &age, &tis);
  if (from_template) {
    if (uncovered_row(c, e, s, age, tis, p) != FL_OK) return c->st;
  } else if (!observed) {
    fl_cal_template_row(c, s, age, tis, p);
  } else {
    for (size_t d = 0; d < S; d++) p[d] = fl_cal_estimate(&e->tr, r, d, NULL, NULL);
    if (c->partial && s != c->gap && p[c->gap] > 0) {
      double u = 0;
      fl_cal_template_row(c, s, age, tis, tp);
      for (size_t d = 0; d < S; d++) u += c->uncovered[d] && d != s ? tp[d] : 0;
      const double to_gap = p[c->gap];
      if (u > 0)
        for (size_t d = 0; d < S; d++)
          if (c->uncovered[d] && d != s) p[d] = to_gap * tp[d] / u;
    }
  }
  put_row(tr, m, s, p,
          from_template ? "   # not covered by the records (--covers): template row, escalations "
                          "into covered levels scaled to the records"
          : observed    ? ""
                        : "   # not observed: template row");
  memcpy(shares, p, S * sizeof *p);
  return FL_OK;
}

/* Appends formatted text to buf[size] at *used when all of it fits; what does not fit is left
 * past *used, where the next text overwrites it. */
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int k = vsnprintf(buf + *used, size - *used, fmt, ap);
  va_end(ap);
  if (k > 0 && (size_t)k < size - *used) *used += (size_t)k;
}

/* The counts behind row r (of state s), appended to buf[size] at *used: the cells with
 * child-months, while 100 characters are left. With partial coverage, a covered row's moves to
 * no record are shared among the uncovered states as its probabilities p[S] are, so that the
 * counts and the row agree. */
static void append_counts(char *buf, size_t size, size_t *used, const cal *c,
                          const cal_estimates *e, size_t r, size_t s, const double *p) {
  const fl_model *m = c->m;
  const double *count = e->tr.count + r * m->S;
  int first = 1;
  append(buf, size, used, "        %s: {", m->state_names[s]);
  for (size_t d = 0; d < m->S && *used < size - 100; d++) {
    const double n = c->partial && c->uncovered[d] ? e->tr.total[r] * p[d] : count[d];
    if (n > 0) {
      append(buf, size, used, "%s%s: %.12g", first ? "" : ", ", m->state_names[d], n);
      first = 0;
    }
  }
  append(buf, size, used, "}\n");
}

/* Table t of the transitions: the rows it gives, then the counts behind the observed ones.
 * Returns c->st. */
static fl_status write_table(FILE *tr, cal *c, const cal_estimates *e, cal_table t) {
  const size_t S = c->m->S;
  char counts_text[1 << 14];
  size_t used = 0, written = 0;
  double p[FL_MAX_STATES];
  counts_text[0] = '\0';
  for (size_t s = 0; s < S; s++) {
    const size_t r = fl_cal_row(c, t.ab, t.db, s);
    if (!e->given[r]) continue;
    if (!written++) write_table_heading(tr, c, t);
    if (write_row(tr, c, e, t, r, s, p) != FL_OK) return c->st;
    if (e->tr.total[r] != 0 && !(c->partial && c->uncovered[s]))
      append_counts(counts_text, sizeof counts_text, &used, c, e, r, s, p);
  }
  if (used)
    fprintf(tr, "      counts:   # observed child-months behind the rows above\n%s", counts_text);
  return FL_OK;
}

/* With partial coverage and a template whose rows differ by age or time in state: a table for
 * each of its age and time-in-state bands with the uncovered rows there (uncovered_row), after
 * the calibrated tables, so that they keep the template's structure. Returns c->st. */
static fl_status write_uncovered_tables(FILE *tr, cal *c, const cal_estimates *e) {
  const fl_model *m = c->m;
  double p[FL_MAX_STATES];
  if (!c->partial || (m->NA == 1 && m->ND == 1)) return FL_OK;
  for (size_t ab = 0; ab < m->NA; ab++)
    for (size_t db = 0; db < m->ND; db++) {
      const uint32_t a0 = m->age_edges[ab], a1 = m->age_edges[ab + 1];
      const uint32_t d0 = m->dur_edges[db], d1 = m->dur_edges[db + 1];
      fprintf(tr, "    - ");
      if (m->NA > 1) put_range(tr, "age_years", a0 / 12.0, a1 == UINT32_MAX ? INFINITY : a1 / 12.0);
      if (m->ND > 1)
        put_range(tr, "time_in_state_months", d0, d1 == UINT32_MAX ? INFINITY : (double)d1);
      fprintf(tr, "rows:   # not covered by the records (--covers): the template's rows here, "
                  "escalations into covered levels scaled to the records\n");
      for (size_t s = 0; s < m->S; s++) {
        if (!c->uncovered[s]) continue;
        if (uncovered_row(c, e, s, (long)a0, (long)d0, p) != FL_OK) return c->st;
        put_row(tr, m, s, p, "");
      }
    }
  return FL_OK;
}

fl_status fl_cal_write_scenario(FILE *out, cal *c, const fl_scenario *sc, const cal_records *rec,
                                const cal_population *pop, const cal_estimates *e,
                                char **transitions) {
  size_t len = 0;
  fl_cal_copy_template(out, sc, 0);
  fprintf(out,
          "\n# Population and transitions calibrated by flourish calibrate from %zu episode "
          "records\n# of %zu children, months %04ld-%02ld to %04ld-%02ld (the extract date).\n",
          rec->rows, rec->n_kids, c->w0 / 12, c->w0 % 12 + 1, (c->w0 + c->W - 1) / 12,
          (c->w0 + c->W - 1) % 12 + 1);
  if (fl_cal_write_population(out, c, rec, pop, c->W - 1) != FL_OK) return c->st;
  FILE *tr = open_memstream(transitions, &len);
  if (!tr) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  fprintf(tr, "transitions:\n  given_as: probability\n  per_months: 1\n  tables:\n");
  for (size_t i = 0; i < e->n_tables && c->st == FL_OK; i++) write_table(tr, c, e, e->tables[i]);
  if (c->st == FL_OK) write_uncovered_tables(tr, c, e);
  fclose(tr);
  if (c->st != FL_OK) return c->st;
  fputs(*transitions, out);
  return FL_OK;
}
