/* `flourish validate`: the compiled model in plain words, so a user can check that the file
 * says what they meant. */
#include "model/intervention.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void band(fl_out *o, const uint32_t *edges, size_t k, double unit, const char *what) {
  if (edges[k + 1] == UINT32_MAX) fl_outf(o, "%s %g and over", what, edges[k] * unit);
  else fl_outf(o, "%s %g to %g", what, edges[k] * unit, edges[k + 1] * unit);
}

/* The scenario, its time steps, levels, states with their costs and QoL, budget holders and
 * discounting. */
static void describe_states(fl_out *o, const fl_model *m) {
  fl_outf(o, "Scenario: %s\n", m->name);
  fl_outf(o, "Time: %zu steps of %g months (%g years)%s.\n", m->T, m->step_months,
      m->T * m->step_months / 12.0,
      m->tis_by_level ? "; time in state counts time in the level" : "");
  fl_outf(o, "Levels, lowest first:");
  for (size_t l = 0; l < m->L; l++) fl_outf(o, "%s %s", l ? "," : "", m->level_names[l]);
  fl_outf(o, ".\nStates:\n");
  for (size_t s = 0; s < m->S; s++) {
    double total = 0;
    for (size_t b = 0; b < m->B; b++) total += m->cost[s * m->B + b];
    char cost[160], lo[64], hi[64], qol[64];
    int cost_varies = 0;
    for (size_t b = 0; m->NRC && b < m->B; b++) cost_varies |= m->cost_vec[s * m->B + b];
    snprintf(qol, sizeof qol, "%.3f", m->qol[s]);
    fl_money(cost, sizeof cost, m->currency, total, 0);
    if (m->NRC) {
      /* (by age or time in state: the range over the state's reward classes) */
      const size_t per_state = m->NRA * m->NRD;
      double c_lo = HUGE_VAL, c_hi = -HUGE_VAL, q_lo = HUGE_VAL, q_hi = -HUGE_VAL;
      for (size_t k = s * per_state; k < (s + 1) * per_state; k++) {
        double c = 0;
        for (size_t b = 0; b < m->B; b++) c += m->rc_cost[k * m->B + b];
        c_lo = fmin(c_lo, c);
        c_hi = fmax(c_hi, c);
        q_lo = fmin(q_lo, m->rc_qol[k]);
        q_hi = fmax(q_hi, m->rc_qol[k]);
      }
      if (m->qol_vec[s]) snprintf(qol, sizeof qol, "%.3f to %.3f", q_lo, q_hi);
      if (cost_varies) {
        fl_money(lo, sizeof lo, m->currency, c_lo, 0);
        fl_money(hi, sizeof hi, m->currency, c_hi, 0);
        snprintf(cost, sizeof cost, "%s to %s", lo, hi);
      }
    }
    fl_outf(o, "  %-24s level %-16s QoL %s, cost %s a step%s%s\n", m->state_names[s],
            m->level_names[m->state_level[s]], qol, cost,
            cost_varies || (m->NRC && m->qol_vec[s]) ? " (by age or time in state)" : "",
            m->absorbing[s] ? ", absorbing" : "");
  }
  if (m->NRC)
    fl_outf(o, "Rewards by age or time in state: %zu reward classes (%zu of age, %zu of time in "
            "state).\n", m->NRC, m->NRA, m->NRD);
  if (m->B) {
    fl_outf(o, "Budget holders:");
    for (size_t b = 0; b < m->B; b++) fl_outf(o, "%s %s", b ? "," : "", m->holder_names[b]);
    fl_outf(o, ".\n");
  }
  fl_outf(o, "Currency: %s. Discounting: costs %.2f%% a year, QoL %.2f%% a year.\n", m->currency,
          100 * m->disc_cost, 100 * m->disc_qol);
  static const char *const timing[] = {
      "at the start of each step (with its entrants), discounted from its start",
      "at the end of each step, discounted from its end",
      "as the mean of each step's start and end (half-cycle), discounted from its middle",
      "by Simpson's 1/3 rule over pairs of steps, discounted from the step's middle"};
  if (m->reward_timing != FL_TIMING_POINTS) {
    fl_outf(o, "Rewards: counted %s.\n", timing[m->reward_timing]);
    return;
  }
  /* the counted time points, the first weights, the last and their sum */
  const size_t first = m->points_lo, last = m->points_hi;
  double sum = 0;
  for (size_t u = first; u <= last; u++) sum += m->point_w[u];
  fl_outf(o,
          "Rewards: counted at the time points %zu to %zu (%zu of them), each discounted at its "
          "time, weights",
          first, last, last - first + 1);
  for (size_t u = first; u <= last && u < first + 4; u++) fl_outf(o, " %.4g", m->point_w[u]);
  if (last >= first + 4) fl_outf(o, " ... %.4g", m->point_w[last]);
  fl_outf(o, " (sum %.6g); moves discounted where they land.\n", sum);
}

/* Localities, the initial population, entries and leaving. */
static void describe_population(fl_out *o, const fl_model *m) {
  uint64_t n0 = 0;
  fl_outf(o, "Localities: %zu (", m->NLOC);
  for (size_t l = 0; l < m->NLOC; l++) fl_outf(o, "%s%s", l ? ", " : "", m->loc_names[l]);
  fl_outf(o, ").\n");
  for (size_t g = 0; g < m->n_init; g++) n0 += m->init[g].count;
  fl_outf(o, "Initial population: %llu children.\n", (unsigned long long)n0);
  for (size_t e = 0; e < m->n_entries; e++) {
    fl_outf(o, "Entries '%s': %.1f a year (Poisson each step), aged %g to %g years.\n",
        m->entries[e].name, m->entries[e].per_step * 12.0 / m->step_months,
        m->entries[e].age_lo * m->step_months / 12.0, m->entries[e].age_hi * m->step_months / 12.0);
  }
  if (m->max_age) fl_outf(o, "Children leave on reaching %g years.\n", m->max_age * m->step_months / 12.0);
  else fl_outf(o, "Nobody ages out.\n");
  if (m->out_migration > 0)
    fl_outf(o, "Each step a child leaves the area with probability %.6g.\n", m->out_migration);
}

/* The bands of the transition rows. */
static void describe_bands(fl_out *o, const fl_model *m) {
  fl_outf(o, "Transition rows: %zu age band(s), %zu time-in-state band(s), %zu period(s), %zu "
      "locality(ies); %zu rows in all.\n",
      m->NA, m->ND, m->NP, m->NLOC, m->arms[0].n_rows);
  for (size_t a = 0; a < m->NA && m->NA > 1; a++) {
    fl_outf(o, "  ");
    band(o, m->age_edges, a, m->step_months / 12.0, "ages");
    fl_outf(o, " years\n");
  }
  for (size_t d = 0; d < m->ND && m->ND > 1; d++) {
    fl_outf(o, "  ");
    band(o, m->dur_edges, d, m->step_months, "time in state");
    fl_outf(o, " months\n");
  }
  for (size_t p = 0; p < m->NP && m->NP > 1; p++) {
    fl_outf(o, "  ");
    band(o, m->period_edges, p, m->step_months, "months");
    fl_outf(o, " of the run\n");
  }
}

/* The states an intervention reaches, by name ("all N states" when it reaches every one). */
static void reached_states(const fl_out *o, const fl_model *m, const fl_intervention *iv) {
  size_t reached = 0, k = 0;
  for (size_t s = 0; s < m->S; s++) reached += iv->state_on[s];
  if (reached == m->S) {
    fl_outf(o, "all %zu states", m->S);
    return;
  }
  for (size_t s = 0; s < m->S; s++)
    if (iv->state_on[s]) fl_outf(o, "%s%s", k++ ? ", " : "", m->state_names[s]);
}

/* When it runs, in months since the start of the run. */
static void period(const fl_out *o, const fl_intervention *iv) {
  if (isinf(iv->end)) fl_outf(o, "from month %g to the end", iv->start);
  else fl_outf(o, "months %g to %g", iv->start, iv->end);
}

/* What an arm changes in the scenario: state costs and QoL weights, one-off costs of moves, and
 * transition rows (the from-states whose rows differ somewhere, and in how many rows). */
static void describe_arm_changes(fl_out *o, const fl_model *m, const fl_arm *arm) {
  const size_t S = m->S, B = m->B;
  for (size_t s = 0; arm->cost && s < S; s++) {
    double was = 0, now = 0;
    int cost_changed = 0, qol_changed = arm->qol[s] == arm->qol[s];
    for (size_t b = 0; b < B; b++) {
      was += m->cost[s * B + b];
      now += fl_arm_cost(arm, m->cost, s * B + b);
      cost_changed |= arm->cost[s * B + b] == arm->cost[s * B + b];
    }
    if (!cost_changed && !qol_changed) continue;
    char a[64], b[64];
    fl_outf(o, "  state '%s':", m->state_names[s]);
    if (qol_changed) fl_outf(o, " QoL %.3f (scenario %.3f)", arm->qol[s], m->qol[s]);
    if (cost_changed)
      fl_outf(o, "%s cost %s a step (scenario %s)", qol_changed ? "," : "",
              fl_money(a, sizeof a, m->currency, now, 0),
              fl_money(b, sizeof b, m->currency, was, 0));
    fl_outf(o, ".\n");
  }
  if (arm->trans_cost) {
    size_t n = 0;
    for (size_t i = 0; i < S * S; i++) {
      int differs = arm->trans_qaly[i] != m->trans_qaly[i];
      for (size_t b = 0; b < B; b++)
        differs |= arm->trans_cost[i * B + b] != m->trans_cost[i * B + b];
      n += (size_t)differs;
    }
    fl_outf(o, "  one-off costs or QALY changes of %zu move(s) differ from the scenario's.\n", n);
  }
  if (arm->base_p) {
    const size_t rows = m->NP * m->rows_per_period;
    size_t n = 0, shown = 0;
    uint8_t from[FL_MAX_STATES] = {0};
    for (size_t r = 0; r < rows; r++)
      if (memcmp(arm->base_p + r * S, m->base_p + r * S, S * sizeof *m->base_p)) {
        n++;
        from[r % S] = 1;
      }
    fl_outf(o, "  its own transition rows: %zu of %zu rows differ from the scenario's (from", n,
            rows);
    for (size_t s = 0; s < S; s++)
      if (from[s]) fl_outf(o, "%s '%s'", shown++ ? "," : "", m->state_names[s]);
    fl_outf(o, "%s).\n", shown ? "" : " none");
  }
}

/* Each arm's interventions and reinvestment. */
static void describe_arms(fl_out *o, const fl_model *m) {
  for (size_t a = 1; a < m->n_arms; a++) {
    const fl_arm *arm = &m->arms[a];
    fl_outf(o, "Arm '%s': %zu intervention(s)%s.\n", arm->name, arm->n_int,
        arm->reinvest.on ? ", reinvesting savings" : "");
    for (size_t i = 0; i < arm->n_int; i++) {
      const fl_intervention *iv = &arm->ints[i];
      char effect[512], spend[64], year[64], setup[64], child[64];
      iv->kind->describe(m, iv, effect, sizeof effect);
      fl_outf(o, "  '%s': ", iv->name);
      period(o, iv);
      fl_outf(o, "; reaches ");
      reached_states(o, m, iv);
      size_t nloc = 0;
      for (size_t l = 0; l < m->NLOC; l++) nloc += iv->loc_on[l];
      if (nloc < m->NLOC) fl_outf(o, " in %zu of %zu localities", nloc, m->NLOC);
      fl_outf(o,
              "; %s, ramp %g months; spend %s a month (%s a year), set-up %s, %s per child "
              "a month",
              effect, iv->ramp, fl_money(spend, sizeof spend, m->currency, iv->spend, 0),
              fl_money(year, sizeof year, m->currency, 12 * iv->spend, 0),
              fl_money(setup, sizeof setup, m->currency, iv->setup_cost, 0),
              fl_money(child, sizeof child, m->currency, iv->child_cost, 0));
      if (iv->spend > 0 || iv->setup_cost > 0 || iv->child_cost > 0)
        fl_outf(o, " (%s)", m->holder_names[iv->holder]);
      if (iv->half_sat > 0)
        fl_outf(o,
                "; dose-response with half-saturation %s a month, the multipliers being the "
                "effect at %s a month (x%.3g at its spend)",
                fl_money(spend, sizeof spend, m->currency, iv->half_sat, 0),
                fl_money(year, sizeof year, m->currency, iv->ref_spend, 0),
                fl_intervention_dose(iv, iv->spend));
      fl_outf(o, ".\n");
    }
    if (arm->reinvest.on)
      fl_outf(o, "  reinvests %.0f%% of its savings after %u step(s) into '%s'.\n",
          100 * arm->reinvest.fraction, arm->reinvest.delay, arm->ints[arm->reinvest.into].name);
    describe_arm_changes(o, m, arm);
  }
  if (m->n_unc)
    fl_outf(o,
            "Parameter uncertainty: %zu distribution(s), drawn by run --psa (without it every "
            "replication uses the values above, and intervals show chance alone).\n",
            m->n_unc);
}

/* The share of children whose heterogeneity multiplier is above z. */
static double het_above(const fl_het *h, double z) {
  switch (h->dist) {
  case FL_HET_GAMMA: return gsl_cdf_gamma_Q(z, h->p1, h->p2);
  case FL_HET_LOGNORMAL: return gsl_cdf_lognormal_Q(z, h->p1, h->p2);
  default: return 0; /* (bounded distributions: compilation refused a multiplier that large) */
  }
}

/* Per-child heterogeneity: its distribution, what it multiplies, expectation mode's mixture. */
static void describe_het(fl_out *o, const fl_model *m) {
  const fl_het *h = &m->het;
  static const char *const names[] = {"", "uniform", "gamma", "lognormal", "beta", "discrete"};
  if (h->dist == FL_HET_NONE) return;
  size_t moves = 0;
  for (size_t i = 0; i < m->S * m->S; i++) moves += h->on[i];
  fl_outf(o, "Heterogeneity: each child draws a %s multiplier (mean %.4g, sd %.4g) once; it "
          "multiplies %zu move(s)%s%s. Expectation mode: a mixture of %zu sub-cohort(s)%s.\n",
          names[h->dist], h->mean, h->sd, moves, h->costs ? ", state costs" : "",
          h->qol ? ", QoL weights" : "", h->n_nodes,
          h->dist == FL_HET_DISCRETE ? " (exact)"
          : h->n_caps ? ", Gauss-Legendre on the quantile function up to each multiplier that "
                        "fills a row, and the conditional mean above the last"
                      : ", the nodes of a Gauss rule");
  if (isfinite(h->cap_z) && (h->dist == FL_HET_GAMMA || h->dist == FL_HET_LOGNORMAL))
    fl_outf(o, "  A multiplier above %.6g (a share %.3g of children) fills some row of the "
            "baseline and is capped there.\n", h->cap_z, het_above(h, h->cap_z));
}

/* The first cell's rows as monthly percentages, the most useful single view. */
static void describe_first_cell(fl_out *o, const fl_model *m) {
  fl_outf(o, "Step transition probabilities (%%) for the first age, time-in-state, period and "
      "locality cell (row: from, columns: to; 'leave' is leaving the area):\n%-16s", "");
  for (size_t j = 0; j < m->S; j++) fl_outf(o, " %9.9s", m->state_names[j]);
  fl_outf(o, " %9s\n", "leave");
  for (size_t s = 0; s < m->S; s++) {
    const fl_arm *arm = &m->arms[0];
    const fl_row *row = &arm->rows[s];
    double p[FL_MAX_STATES + 1] = {0}, prev = (double)row->stay;
    p[s] = prev / FL_P_ONE;
    for (uint32_t k = row->first; k < row->first + row->n; k++) {
      size_t d = arm->move_dest[k] == FL_DEST_EXIT ? m->S : arm->move_dest[k];
      p[d] += ((double)arm->move_cum[k] - prev) / FL_P_ONE;
      prev = (double)arm->move_cum[k];
    }
    fl_outf(o, "%-16.16s", m->state_names[s]);
    for (size_t j = 0; j <= m->S; j++) fl_outf(o, " %9.4f", 100 * p[j]);
    fl_outf(o, "\n");
  }
}

void fl_model_describe(const fl_model *m, void (*write)(void *ctx, const char *text), void *ctx) {
  fl_out o = {write, ctx};
  describe_states(&o, m);
  describe_population(&o, m);
  describe_bands(&o, m);
  describe_arms(&o, m);
  describe_het(&o, m);
  describe_first_cell(&o, m);
}

/* Whether intervention iv, at full strength, makes some escalation of a child it reaches more
 * likely: its kind's row function applied to a row with every move open (the multipliers of
 * the kinds do not depend on the probabilities they scale). */
static int raises_escalation(const fl_model *m, const fl_intervention *iv, size_t *from,
                             size_t *to) {
  double p[FL_MAX_STATES];
  if (!iv->kind->row) return 0;
  for (size_t s = 0; s < m->S; s++) {
    if (!iv->state_on[s] || m->absorbing[s]) continue;
    double moved = 0;
    for (size_t j = 0; j < m->S; j++) p[j] = 1.0 / (double)m->S;
    iv->kind->row(m, iv, s, 1.0, p, &moved);
    for (size_t j = 0; j < m->S; j++)
      if (m->state_level[j] > m->state_level[s] && p[j] > 1.0 / (double)m->S * (1 + 1e-12)) {
        *from = s;
        *to = j;
        return 1;
      }
  }
  return 0;
}

void fl_model_warnings(const fl_model *m, void (*write)(void *ctx, const char *text), void *ctx) {
  const fl_out o = {write, ctx};
  const double capped = isfinite(m->het.cap_z) ? het_above(&m->het, m->het.cap_z) : 0;
  if (capped > 1e-9) /* (fewer: validate's description says so, without a warning) */
    fl_outf(&o,
            "heterogeneity: a multiplier above %.6g (a share %.3g of children) would leave "
            "staying a negative probability in some row of the baseline; it is capped there, so "
            "that staying has probability 0\n",
            m->het.cap_z, capped);
  for (size_t a = 1; a < m->n_arms; a++)
    for (size_t i = 0; i < m->arms[a].n_int; i++) {
      const fl_intervention *iv = &m->arms[a].ints[i];
      size_t s, j;
      if (!raises_escalation(m, iv, &s, &j)) continue;
      fl_outf(&o,
              "arms.%s.interventions.%s: it makes escalation more likely (e.g. %s to %s), "
              "which a prevention investment is meant to lower: a multiplier below 1 lowers it "
              "(escalation: 0.9, or escalation_change_percent: -10, is a tenth fewer)\n",
              m->arms[a].name, iv->name, m->state_names[s], m->state_names[j]);
    }
}
