/* Parameter uncertainty (probabilistic sensitivity analysis): before a block of replications,
 * every transition row that carries the counts it was estimated from (calibrated scenarios do)
 * is redrawn from its Dirichlet posterior, Dirichlet(counts + prior) over the destinations the
 * counts list; the block's tables (baseline and every arm, interventions applied) are built
 * from the drawn rows. Draws come from a stream keyed by (seed, block, PARAMS), so they do not
 * depend on threads or ranks, and every arm of a replication shares them (the comparison stays
 * paired). Rows without counts keep their values, or, where the scenario names posterior draws
 * (posterior_draws, from flourish fit), take those of one draw picked uniformly from the same
 * stream before the rows. The scenario's uncertainty section (state
 * costs, QoL weights, intervention multipliers) is drawn from the same stream after the rows. */
#include "sim/psa.h"

#include "core/rng.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fl_psa {
  double *spec_p;                  /* [n_specs * S] drawn rows */
  double *base_p;                  /* drawn step probabilities, the model's layout */
  double *alpha, *theta;           /* [S] */
  fl_row *rows[FL_MAX_ARMS];
  uint32_t *stay32[FL_MAX_ARMS];
  uint64_t *cum[FL_MAX_ARMS];
  uint8_t *dest[FL_MAX_ARMS];
  uint64_t *het_chosen[FL_MAX_ARMS]; /* fl_het_chosen of the rows (heterogeneity) */
  uint32_t *first_step[FL_MAX_ARMS]; /* the step that defines each table */
  fl_arm arms[FL_MAX_ARMS];        /* the model's arms with this block's drawn multipliers */
  fl_intervention *ints[FL_MAX_ARMS];
  double *cost;                    /* [S * B] this block's state costs per step */
  double *qol;                     /* [S] and QoL weights */
  double *drawn;                   /* [n_unc] the uncertainty section's values */
  gsl_rng *g;
  long long block;                 /* block the tables belong to; -1: none yet */
};

void fl_psa_free(fl_psa *p) {
  if (!p) return;
  free(p->spec_p);
  free(p->base_p);
  free(p->alpha);
  free(p->theta);
  for (size_t a = 0; a < FL_MAX_ARMS; a++) {
    free(p->rows[a]);
    free(p->stay32[a]);
    free(p->cum[a]);
    free(p->dest[a]);
    free(p->het_chosen[a]);
    free(p->first_step[a]);
    free(p->ints[a]);
  }
  free(p->cost);
  free(p->qol);
  free(p->drawn);
  if (p->g) gsl_rng_free(p->g);
  free(p);
}

fl_psa *fl_psa_create(const fl_model *m) {
  fl_psa *p = calloc(1, sizeof *p);
  const size_t S = m->S, cells_rows = m->NP * m->rows_per_period;
  if (!p) return NULL;
  p->block = -1;
  p->spec_p = fl_calloc(m->n_specs * S, sizeof *p->spec_p);
  p->base_p = fl_calloc(cells_rows * S, sizeof *p->base_p);
  p->alpha = fl_calloc(S, sizeof *p->alpha);
  p->theta = fl_calloc(S, sizeof *p->theta);
  p->g = fl_rng_gsl_alloc();
  p->cost = fl_calloc(S * (m->B ? m->B : 1), sizeof *p->cost);
  p->qol = fl_calloc(S, sizeof *p->qol);
  p->drawn = fl_calloc(m->n_unc + 1, sizeof *p->drawn);
  int ok = p->spec_p && p->base_p && p->alpha && p->theta && p->g && p->cost && p->qol &&
           p->drawn;
  for (size_t a = 0; ok && a < m->n_arms; a++) {
    const fl_arm *arm = &m->arms[a];
    p->rows[a] = fl_calloc(arm->n_rows, sizeof *p->rows[a]);
    p->stay32[a] = fl_calloc(arm->n_rows, sizeof *p->stay32[a]);
    p->cum[a] = fl_calloc(arm->n_rows * (S + 1), sizeof *p->cum[a]);
    p->dest[a] = fl_calloc(arm->n_rows * (S + 1), 1);
    p->first_step[a] = fl_calloc(arm->n_tables, sizeof *p->first_step[a]);
    p->ints[a] = fl_calloc(arm->n_int, sizeof *p->ints[a]);
    p->het_chosen[a] = m->het.dist != FL_HET_NONE
                           ? fl_calloc(arm->n_rows, sizeof *p->het_chosen[a])
                           : NULL;
    ok = p->rows[a] && p->stay32[a] && p->cum[a] && p->dest[a] && p->first_step[a] && p->ints[a] &&
         (m->het.dist == FL_HET_NONE || p->het_chosen[a]);
    if (ok) {
      p->arms[a] = *arm;
      if (arm->n_int) memcpy(p->ints[a], arm->ints, arm->n_int * sizeof *arm->ints);
      p->arms[a].ints = p->ints[a];
    }
    for (size_t t = m->T; ok && t-- > 0;) p->first_step[a][arm->step_table[t]] = (uint32_t)t;
  }
  if (!ok) {
    fl_psa_free(p);
    return NULL;
  }
  return p;
}

static int spec_has_counts(const fl_model *m, size_t k) {
  for (size_t j = 0; j < m->S; j++)
    if (!isnan(m->spec_counts[k * m->S + j])) return 1;
  return 0;
}

/* One draw of an uncertain parameter. Moments to parameters: gamma shape mean^2/sd^2 and
 * scale sd^2/mean; beta (mean nu, (1 - mean) nu) with nu = mean (1 - mean) / sd^2 - 1;
 * lognormal with sigma^2 = ln(1 + sd^2/mean^2) and mu = ln(mean) - sigma^2 / 2. */
static double draw_parameter(gsl_rng *g, const fl_uncertain *u) {
  const double v = u->sd * u->sd;
  switch (u->dist) {
  case FL_DIST_GAMMA: return gsl_ran_gamma(g, u->mean * u->mean / v, v / u->mean);
  case FL_DIST_BETA: {
    const double nu = u->mean * (1 - u->mean) / v - 1;
    return gsl_ran_beta(g, u->mean * nu, (1 - u->mean) * nu);
  }
  case FL_DIST_LOGNORMAL: {
    const double s2 = log1p(v / (u->mean * u->mean));
    return gsl_ran_lognormal(g, log(u->mean) - s2 / 2, sqrt(s2));
  }
  default: return u->mean;
  }
}

const double *fl_psa_cost(const fl_psa *p) { return p->cost; }
const double *fl_psa_qol(const fl_psa *p) { return p->qol; }
const double *fl_psa_drawn(const fl_psa *p) { return p->drawn; }

int fl_psa_has_counts(const fl_model *m) {
  for (size_t k = 0; k < m->n_specs * m->S; k++)
    if (!isnan(m->spec_counts[k])) return 1;
  return 0;
}

/* Applies a locality's escalation multiplier to a drawn row; where the draw leaves too little
 * staying probability for it, the escalations are scaled down to leave none. */
static void escalate(const fl_model *m, size_t s, double esc, double *p) {
  double up = 0;
  if (esc == 1.0 || m->absorbing[s]) return;
  for (size_t j = 0; j < m->S; j++)
    if (m->state_level[j] > m->state_level[s]) up += p[j];
  const double room = p[s] + up;                 /* staying plus escalating */
  const double scale = up * esc > room ? room / up : esc;
  for (size_t j = 0; j < m->S; j++)
    if (m->state_level[j] > m->state_level[s]) p[j] *= scale;
  p[s] = fmax(0.0, room - up * scale);
}

fl_status fl_psa_prepare(const fl_model *m, fl_psa *p, uint64_t seed, uint64_t block,
                         double prior, fl_arm_tables *tabs, fl_error *err) {
  const size_t S = m->S, rpp = m->rows_per_period, rows = m->NP * rpp;
  if (p->block == (long long)block) goto tables;
  fl_rng_init_stream(fl_rng_gsl_state(p->g), seed, block, 0, FL_PURPOSE_PARAMS);
  /* A posterior draw of the fit, first from the stream, gives the rows without counts. */
  const double *given = m->base_p;
  if (m->n_post) given = m->post_base_p + gsl_rng_uniform_int(p->g, m->n_post) * rows * S;
  for (size_t k = 0; k < m->n_specs; k++) {
    const double *n = m->spec_counts + k * S;
    size_t K = 0;
    for (size_t j = 0; j < S; j++)
      if (!isnan(n[j])) p->alpha[K++] = n[j] + prior;
    if (K == 0) continue;
    if (K > 1) gsl_ran_dirichlet(p->g, K, p->alpha, p->theta);
    else p->theta[0] = 1;
    for (size_t j = 0, i = 0; j < S; j++) p->spec_p[k * S + j] = isnan(n[j]) ? 0 : p->theta[i++];
  }
  for (size_t r = 0; r < rows; r++) {
    const int32_t k = m->row_spec[r];
    const size_t s = r % S, cell = r / S, loc = (cell / (m->NA * m->ND)) % m->NLOC;
    double *out = p->base_p + r * S;
    if (k < 0 || !spec_has_counts(m, (size_t)k)) {
      memcpy(out, given + r * S, S * sizeof *out);
      continue;
    }
    memcpy(out, p->spec_p + (size_t)k * S, S * sizeof *out);
    escalate(m, s, m->loc_esc[loc], out);
  }
  /* The uncertainty section, after the rows, from the same stream. */
  memcpy(p->cost, m->cost, S * m->B * sizeof *p->cost);
  memcpy(p->qol, m->qol, S * sizeof *p->qol);
  for (size_t a = 0; a < m->n_arms; a++)
    if (m->arms[a].n_int)
      memcpy(p->ints[a], m->arms[a].ints, m->arms[a].n_int * sizeof *p->ints[a]);
  for (size_t k = 0; k < m->n_unc; k++) {
    const fl_uncertain *u = &m->unc[k];
    const double x = draw_parameter(p->g, u);
    p->drawn[k] = x;
    switch (u->target) {
    case FL_TGT_COST: p->cost[u->i * m->B + u->j] = x * m->cost_factor; break;
    case FL_TGT_QOL: p->qol[u->i] = x; break;
    case FL_TGT_INTERVENTION: p->ints[u->i][u->j].param[u->k] = x; break;
    }
  }
  for (size_t a = 0; a < m->n_arms; a++) {
    const fl_arm *arm = &m->arms[a];
    size_t n_moves = 0, bad;
    for (size_t k = 0; k < arm->n_tables; k++) {
      const size_t u = p->first_step[a][k];
      if (fl_table_build(m, p->base_p, &p->arms[a], m->period_of_step[u], arm->strength + u * arm->n_int,
                         p->rows[a] + k * rpp, p->stay32[a] + k * rpp, p->cum[a], p->dest[a],
                         &n_moves, &bad) != 0) {
        fl_error_set(err, FL_ENUMERIC, m->scenario_path, 0, 0, NULL,
                     "the parameters drawn for replication block %llu make a row of state '%s' "
                     "invalid under the interventions of arm '%s' (staying would fall below 0)",
                     (unsigned long long)block, m->state_names[bad % S], arm->name);
        p->block = -1;
        return FL_ENUMERIC;
      }
    }
    if (p->het_chosen[a])
      fl_het_chosen(m, p->rows[a], arm->n_rows, p->cum[a], p->dest[a], p->het_chosen[a]);
  }
  p->block = (long long)block;
tables:
  for (size_t a = 0; a < m->n_arms; a++)
    tabs[a] = (fl_arm_tables){&p->arms[a], p->rows[a], p->stay32[a], p->cum[a], p->dest[a],
                              p->base_p, p->cost, p->het_chosen[a]};
  return FL_OK;
}
