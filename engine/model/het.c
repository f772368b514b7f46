/* Per-child heterogeneity (the heterogeneity section, model.h's fl_het): the distribution of the
 * multiplier, the moves and rewards it applies to, the nodes of expectation mode's mixture, the
 * check that no multiplier a bounded distribution can give fills a row, the draw and the row of
 * one child.
 *
 * Expectation mode replaces the distribution by a mixture of sub-cohorts, one per node z_k with
 * weight w_k: for a discrete distribution its values and probabilities (exact); for a continuous
 * one the n-point Gauss rule of its own weight function (exact when the quantity is a polynomial
 * in z of degree below 2n): Gauss-Legendre on [low, high] (uniform), generalised Gauss-Laguerre
 * with weight z^(k-1) e^(-z/theta) (gamma), Gauss-Hermite in log z (lognormal), Gauss-Jacobi with
 * weight z^(a-1) (1-z)^(b-1) (beta), from GSL's fixed-point quadratures. */
#include "model/compile.h"

#include "core/rng.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double het_round(double z) { return nearbyint(z * FL_HET_QUANTUM) / FL_HET_QUANTUM; }

double fl_het_draw(const fl_het *h, struct fl_rng *r) {
  gsl_rng g;
  double z;
  fl_rng_gsl_view(&g, r);
  switch (h->dist) {
  case FL_HET_UNIFORM: z = h->p1 + (h->p2 - h->p1) * fl_rng_uniform(r); break;
  case FL_HET_GAMMA: z = gsl_ran_gamma(&g, h->p1, h->p2); break;
  case FL_HET_LOGNORMAL: z = gsl_ran_lognormal(&g, h->p1, h->p2); break;
  case FL_HET_BETA: z = gsl_ran_beta(&g, h->p1, h->p2); break;
  case FL_HET_DISCRETE: {
    const double u = fl_rng_uniform(r);
    size_t k = 0;
    while (k + 1 < h->n_values && u >= h->cum_p[k]) k++;
    return h->values[k];
  }
  default: return 1;
  }
  return het_round(z);
}

/* A row's moves as the multiplier sees them: the widths of the chosen moves (chosen) and of the
 * others (other), and the chosen ones' total scaled by z, rounded (at most 2^32 - other: where
 * z would give more, it is capped, *capped set). */
typedef struct het_widths {
  uint64_t chosen, other, scaled;
} het_widths;

static inline uint64_t round_u64(double x) { return (uint64_t)(x + 0.5); } /* (x >= 0) */

static het_widths het_widths_of(const fl_model *m, size_t s, const fl_row *row,
                                const uint64_t *move_cum, const uint8_t *move_dest, double z,
                                int *capped) {
  const uint8_t *on = m->het.on + s * m->S;
  const uint64_t one = (uint64_t)FL_P_ONE;
  het_widths w = {0, 0, 0};
  uint64_t prev = row->stay;
  for (uint32_t k = 0; k < row->n; k++) {
    const uint64_t width = move_cum[row->first + k] - prev;
    const uint8_t d = move_dest[row->first + k];
    prev = move_cum[row->first + k];
    if (d != FL_DEST_EXIT && on[d]) w.chosen += width;
    else w.other += width;
  }
  const double scaled = z * (double)w.chosen;
  *capped = scaled > (double)(one - w.other);
  w.scaled = *capped ? one - w.other : round_u64(scaled);
  if (w.scaled > one - w.other) w.scaled = one - w.other; /* (rounding up to the edge) */
  return w;
}

/* The chosen moves' scaled widths are the differences of their scaled running total (so the
 * widths add up to the scaled total exactly): the running total c of chosen widths becomes
 * round(c z), or the scaled total once c is all of it; under a cap, z is scaled / chosen. */
uint64_t fl_het_row(const fl_model *m, size_t s, const fl_row *row, const uint64_t *move_cum,
                    const uint8_t *move_dest, double z, uint64_t *cum, int *capped) {
  const uint8_t *on = m->het.on + s * m->S;
  const uint64_t one = (uint64_t)FL_P_ONE;
  if (row->n == 0) {
    *capped = 0;
    return row->stay;
  }
  const het_widths w = het_widths_of(m, s, row, move_cum, move_dest, z, capped);
  const double ratio = *capped ? (double)w.scaled / (double)w.chosen : z;
  const uint64_t stay = one - w.other - w.scaled;
  uint64_t prev = row->stay, run = 0, run_scaled = 0, at = stay;
  for (uint32_t k = 0; k < row->n; k++) {
    const uint64_t width = move_cum[row->first + k] - prev;
    const uint8_t d = move_dest[row->first + k];
    prev = move_cum[row->first + k];
    if (d != FL_DEST_EXIT && on[d]) {
      run += width;
      const uint64_t next = run == w.chosen ? w.scaled : round_u64((double)run * ratio);
      at += next - run_scaled;
      run_scaled = next;
    } else {
      at += width;
    }
    cum[k] = at;
  }
  cum[row->n - 1] = one; /* (it is: stay + scaled + other) */
  return stay;
}

uint32_t fl_het_stay32(const fl_model *m, size_t s, const fl_row *row, const uint64_t *move_cum,
                       const uint8_t *move_dest) {
  int capped;
  if (!isfinite(m->het.hi)) return 0;
  const het_widths w = het_widths_of(m, s, row, move_cum, move_dest, m->het.hi, &capped);
  const uint64_t stay = (uint64_t)FL_P_ONE - w.other - w.scaled; /* (as fl_het_move's) */
  return stay < UINT32_MAX ? (uint32_t)stay : UINT32_MAX;
}

void fl_het_chosen(const fl_model *m, const fl_row *rows, size_t n, const uint64_t *move_cum,
                   const uint8_t *move_dest, uint64_t *chosen) {
  int capped;
  for (size_t r = 0; r < n; r++) {
    const size_t s = r % m->S;
    chosen[r] = m->het.row_on[s]
                    ? het_widths_of(m, s, &rows[r], move_cum, move_dest, 1, &capped).chosen
                    : 0;
  }
}

/* A state or a level (every state in it) into mask[S]; 0 when it is neither. */
static int state_or_level(const fl_model *m, const char *name, uint8_t *mask) {
  long s = fl_c_find(m->state_names, m->S, name), l = fl_c_find(m->level_names, m->L, name);
  if (s >= 0) mask[s] = 1;
  for (size_t j = 0; l >= 0 && j < m->S; j++)
    if (m->state_level[j] == (size_t)l) mask[j] = 1;
  return s >= 0 || l >= 0;
}

static fl_status not_state(compiler *c, const fl_node *n, const char *key) {
  const fl_model *m = c->m;
  char *names[FL_MAX_STATES + FL_MAX_LEVELS];
  for (size_t j = 0; j < m->S; j++) names[j] = m->state_names[j];
  for (size_t j = 0; j < m->L; j++) names[m->S + j] = m->level_names[j];
  const char *near = fl_closest(n->value, names, m->S + m->L);
  if (near)
    return fl_c_bad(c, n, key, "'%s' is neither a state nor a level; did you mean '%s'?",
                    n->value, near);
  return fl_c_bad(c, n, key, "'%s' is neither a state nor a level", n->value);
}

/* The moves the multiplier applies to (heterogeneity.transitions). */
static fl_status compile_moves(compiler *c, const fl_node *list) {
  fl_model *m = c->m;
  fl_het *h = &m->het;
  const size_t S = m->S;
  for (size_t i = 0; list && i < list->n; i++) {
    const fl_node *e = list->items[i], *fn = fl_map_get(e, "from"), *tn = fl_map_get(e, "to");
    uint8_t from[FL_MAX_STATES] = {0}, to[FL_MAX_STATES] = {0};
    char key[128];
    snprintf(key, sizeof key, "heterogeneity.transitions[%zu].from", i);
    if (!state_or_level(m, fn->value, from)) return not_state(c, fn, key);
    if (tn) {
      snprintf(key, sizeof key, "heterogeneity.transitions[%zu].to", i);
      if (!state_or_level(m, tn->value, to)) return not_state(c, tn, key);
    } else {
      memset(to, 1, sizeof to);
    }
    size_t n = 0;
    for (size_t s = 0; s < S; s++)
      for (size_t d = 0; d < S; d++)
        if (from[s] && to[d] && s != d && !m->absorbing[s]) {
          h->on[s * S + d] = 1;
          h->row_on[s] = 1;
          n++;
        }
    snprintf(key, sizeof key, "heterogeneity.transitions[%zu]", i);
    if (n == 0)
      return fl_c_bad(c, e, key, "this entry chooses no move: from and to are the same state, or "
                      "from is absorbing (it has no moves)");
  }
  return FL_OK;
}

/* The keys each distribution takes (the others are an error). */
static const char *const het_keys[] = {"mean", "sd", "low", "high", "values", "probabilities"};
static const unsigned het_uses[] = {
    [FL_HET_UNIFORM] = 4 | 8, [FL_HET_GAMMA] = 1 | 2, [FL_HET_LOGNORMAL] = 1 | 2,
    [FL_HET_BETA] = 1 | 2, [FL_HET_DISCRETE] = 16 | 32};

/* The distribution's parameters from its keys. */
static fl_status compile_dist(compiler *c, const fl_node *sec, const char *dist) {
  fl_het *h = &c->m->het;
  h->dist = !strcmp(dist, "uniform")     ? FL_HET_UNIFORM
            : !strcmp(dist, "gamma")     ? FL_HET_GAMMA
            : !strcmp(dist, "lognormal") ? FL_HET_LOGNORMAL
            : !strcmp(dist, "beta")      ? FL_HET_BETA
                                         : FL_HET_DISCRETE;
  char key[64];
  for (unsigned k = 0; k < sizeof het_keys / sizeof *het_keys; k++) {
    const fl_node *n = fl_map_get(sec, het_keys[k]);
    const int uses = (het_uses[h->dist] >> k) & 1;
    snprintf(key, sizeof key, "heterogeneity.%s", het_keys[k]);
    if (n && !uses)
      return fl_c_bad(c, n, key, "a %s distribution does not take %s", dist, het_keys[k]);
    if (!n && uses)
      return fl_c_bad(c, sec, "heterogeneity", "a %s distribution needs %s", dist, het_keys[k]);
  }
  const double mean = fl_get_num(sec, "heterogeneity.mean");
  const double sd = fl_get_num(sec, "heterogeneity.sd");
  switch (h->dist) {
  case FL_HET_UNIFORM:
    h->p1 = fl_get_num(sec, "heterogeneity.low");
    h->p2 = fl_get_num(sec, "heterogeneity.high");
    if (!(h->p1 <= h->p2))
      return fl_c_bad(c, fl_map_get(sec, "high"), "heterogeneity.high",
                      "high (%g) must not be below low (%g)", h->p2, h->p1);
    h->mean = (h->p1 + h->p2) / 2;
    h->sd = (h->p2 - h->p1) / sqrt(12.0);
    h->hi = h->p2;
    return FL_OK;
  case FL_HET_DISCRETE: {
    const fl_node *vn = fl_map_get(sec, "values"), *pn = fl_map_get(sec, "probabilities");
    if (vn->n != pn->n || vn->n == 0)
      return fl_c_bad(c, pn, "heterogeneity.probabilities",
                      "give one probability for each of the %zu values (found %zu)", vn->n, pn->n);
    h->n_values = vn->n;
    if (!(h->values = fl_calloc(vn->n, sizeof *h->values)) ||
        !(h->cum_p = fl_calloc(vn->n, sizeof *h->cum_p)))
      return fl_c_oom(c);
    double cum = 0, m2 = 0;
    for (size_t k = 0; k < vn->n; k++) {
      const double p = fl_scalar_num(pn->items[k]);
      h->values[k] = het_round(fl_scalar_num(vn->items[k]));
      cum += p;
      h->cum_p[k] = cum;
      h->mean += p * h->values[k];
      m2 += p * h->values[k] * h->values[k];
      if (h->values[k] > h->hi) h->hi = h->values[k];
    }
    if (fabs(cum - 1) > 1e-9)
      return fl_c_bad(c, pn, "heterogeneity.probabilities",
                      "the probabilities must add up to 1 (they add up to %.12g)", cum);
    h->cum_p[vn->n - 1] = 1;
    h->sd = sqrt(fmax(m2 - h->mean * h->mean, 0));
    return FL_OK;
  }
  default: break;
  }
  h->mean = mean;
  h->sd = sd;
  if (h->dist == FL_HET_BETA) {
    if (!(mean > 0 && mean < 1 && sd > 0 && sd * sd < mean * (1 - mean)))
      return fl_c_bad(c, sec, "heterogeneity", "a beta distribution needs a mean strictly between "
                      "0 and 1 and an sd above 0 with sd^2 below mean (1 - mean)");
    const double nu = mean * (1 - mean) / (sd * sd) - 1;
    h->p1 = mean * nu;
    h->p2 = (1 - mean) * nu;
    h->hi = 1;
    return FL_OK;
  }
  if (!(mean > 0 && sd > 0))
    return fl_c_bad(c, sec, "heterogeneity", "a %s distribution needs a mean and an sd above 0",
                    dist);
  h->hi = INFINITY;
  if (h->dist == FL_HET_GAMMA) {
    h->p1 = mean * mean / (sd * sd);
    h->p2 = sd * sd / mean;
  } else {
    const double s2 = log1p(sd * sd / (mean * mean));
    h->p1 = log(mean) - s2 / 2;
    h->p2 = sqrt(s2);
  }
  return FL_OK;
}

/* Expectation mode's mixture: the discrete values, or the Gauss rule of the distribution. */
static fl_status compile_nodes(compiler *c, const fl_node *sec) {
  fl_het *h = &c->m->het;
  const size_t n = h->dist == FL_HET_DISCRETE ? h->n_values
                                              : (size_t)fl_get_num(sec, "heterogeneity.nodes");
  h->n_nodes = n;
  if (!(h->node_z = fl_calloc(n, sizeof *h->node_z)) ||
      !(h->node_w = fl_calloc(n, sizeof *h->node_w)))
    return fl_c_oom(c);
  if (h->dist == FL_HET_DISCRETE) {
    for (size_t k = 0; k < n; k++) {
      h->node_z[k] = h->values[k];
      h->node_w[k] = h->cum_p[k] - (k ? h->cum_p[k - 1] : 0);
    }
    return FL_OK;
  }
  if (h->dist == FL_HET_UNIFORM && h->p1 == h->p2) { /* (one value: GSL needs a < b) */
    for (size_t k = 0; k < n; k++) h->node_z[k] = h->p1, h->node_w[k] = 1.0 / (double)n;
    return FL_OK;
  }
  gsl_integration_fixed_workspace *w = NULL;
  switch (h->dist) {
  case FL_HET_UNIFORM:
    w = gsl_integration_fixed_alloc(gsl_integration_fixed_legendre, n, h->p1, h->p2, 0, 0);
    break;
  case FL_HET_GAMMA: /* (z)^(k-1) e^(-z / theta) on (0, inf) */
    w = gsl_integration_fixed_alloc(gsl_integration_fixed_laguerre, n, 0, 1 / h->p2, h->p1 - 1, 0);
    break;
  case FL_HET_LOGNORMAL: /* e^(-(x - mu)^2 / (2 sigma^2)) in x = log z */
    w = gsl_integration_fixed_alloc(gsl_integration_fixed_hermite, n, h->p1,
                                    1 / (2 * h->p2 * h->p2), 0, 0);
    break;
  default: /* beta: (1 - z)^(b-1) z^(a-1) on (0, 1) */
    w = gsl_integration_fixed_alloc(gsl_integration_fixed_jacobi, n, 0, 1, h->p2 - 1, h->p1 - 1);
  }
  if (!w)
    return fl_c_bad(c, sec, "heterogeneity.nodes", "the %zu-point quadrature of this distribution "
                    "could not be computed; try fewer nodes", n);
  const double *x = gsl_integration_fixed_nodes(w), *wt = gsl_integration_fixed_weights(w);
  double sum = 0;
  for (size_t k = 0; k < n; k++) sum += wt[k];
  int ok = sum > 0 && isfinite(sum);
  for (size_t k = 0; k < n; k++) {
    /* (Not rounded: the draws' rounding to 2^-16 is unbiased, and changes a smooth mean by
     * about f'' 2^-32 / 12, where rounding the nodes would change it by about f' 2^-17.) */
    const double z = h->dist == FL_HET_LOGNORMAL ? exp(x[k]) : x[k];
    h->node_z[k] = z;
    h->node_w[k] = wt[k] / sum;
    ok = ok && isfinite(z) && isfinite(h->node_w[k]);
  }
  gsl_integration_fixed_free(w);
  if (!ok)
    return fl_c_bad(c, sec, "heterogeneity.nodes", "the %zu-point quadrature of this distribution "
                    "is not finite in double precision; try fewer nodes", n);
  return FL_OK;
}

fl_status fl_compile_het(compiler *c) {
  fl_model *m = c->m;
  fl_het *h = &m->het;
  const fl_node *sec = fl_map_get(c->sc->root, "heterogeneity");
  fl_status st;
  h->cap_z = INFINITY;
  if (!sec) return FL_OK;
  const fl_node *moves = fl_map_get(sec, "transitions");
  h->costs = fl_get_bool(sec, "heterogeneity.costs");
  h->qol = fl_get_bool(sec, "heterogeneity.qol");
  if (!moves && !h->costs && !h->qol)
    return fl_c_bad(c, sec, "heterogeneity", "the multiplier applies to nothing: give "
                    "transitions, or set costs or qol to true");
  if (!(h->on = fl_calloc(m->S * m->S, 1)) || !(h->row_on = fl_calloc(m->S, 1)))
    return fl_c_oom(c);
  if ((st = compile_dist(c, sec, fl_get_str(sec, "heterogeneity.distribution"))) != FL_OK ||
      (st = compile_moves(c, moves)) != FL_OK || (st = compile_nodes(c, sec)) != FL_OK)
    return st;
  return FL_OK;
}

/* The distribution function of an unbounded multiplier (gamma or lognormal), its upper tail, its
 * quantile function, and E[Z; Z > c]. */
static double cdf(const fl_het *h, double z) {
  return h->dist == FL_HET_GAMMA ? gsl_cdf_gamma_P(z, h->p1, h->p2)
                                 : gsl_cdf_lognormal_P(z, h->p1, h->p2);
}
static double tail(const fl_het *h, double z) {
  return h->dist == FL_HET_GAMMA ? gsl_cdf_gamma_Q(z, h->p1, h->p2)
                                 : gsl_cdf_lognormal_Q(z, h->p1, h->p2);
}
static double quantile(const fl_het *h, double u) {
  return h->dist == FL_HET_GAMMA ? gsl_cdf_gamma_Pinv(u, h->p1, h->p2)
                                 : gsl_cdf_lognormal_Pinv(u, h->p1, h->p2);
}
#define FL_HET_CAP_SHARE 1e-9

static double tail_mean(const fl_het *h, double c) {
  if (h->dist == FL_HET_GAMMA) return h->p1 * h->p2 * gsl_cdf_gamma_Q(c, h->p1 + 1, h->p2);
  return exp(h->p1 + h->p2 * h->p2 / 2) *
         gsl_cdf_ugaussian_Q((log(c) - h->p1 - h->p2 * h->p2) / h->p2);
}

/* Expectation mode's mixture of an unbounded multiplier that fills some rows: the expected
 * quantities have a kink at each multiplier that fills a row (caps[n_caps], ascending), where
 * a Gauss rule of the whole distribution converges slowly. Between kinks (from 0 to the first)
 * they are smooth in z: n-point Gauss-Legendre on the quantile function over each interval of
 * probability. Above the last every row with a chosen move is capped, so the rows no longer
 * depend on z and the rewards are linear in it: one node at E[Z | Z > c] with weight
 * P(Z > c) is exact there. */
static fl_status split_nodes(compiler *c, const double *caps, size_t n_caps) {
  fl_het *h = &c->m->het;
  const size_t n = h->n_nodes, total = n * n_caps + 1;
  double *z = fl_calloc(total, sizeof *z), *w = fl_calloc(total, sizeof *w);
  gsl_integration_fixed_workspace *gl =
      gsl_integration_fixed_alloc(gsl_integration_fixed_legendre, n, 0, 1, 0, 0);
  if (!z || !w || !gl) {
    free(z);
    free(w);
    if (gl) gsl_integration_fixed_free(gl);
    return fl_c_oom(c);
  }
  const double *x = gsl_integration_fixed_nodes(gl), *wt = gsl_integration_fixed_weights(gl);
  double u0 = 0;
  int ok = 1;
  for (size_t j = 0; j < n_caps; j++) {
    const double u1 = cdf(h, caps[j]);
    for (size_t k = 0; k < n; k++) {
      z[j * n + k] = quantile(h, u0 + (u1 - u0) * x[k]);
      w[j * n + k] = (u1 - u0) * wt[k];
      ok = ok && isfinite(z[j * n + k]);
    }
    u0 = u1;
  }
  const double above = tail(h, caps[n_caps - 1]);
  w[total - 1] = above;
  z[total - 1] = tail_mean(h, caps[n_caps - 1]) / above;
  ok = ok && isfinite(z[total - 1]) && above > 0;
  gsl_integration_fixed_free(gl);
  if (!ok) {
    free(z);
    free(w);
    return fl_c_bad(c, fl_map_get(c->sc->root, "heterogeneity"), "heterogeneity.nodes",
                    "the quadrature of this distribution between the multipliers that fill "
                    "rows could not be computed; try fewer nodes");
  }
  free(h->node_z);
  free(h->node_w);
  h->node_z = z;
  h->node_w = w;
  h->n_nodes = total;
  h->n_caps = n_caps;
  return FL_OK;
}

/* The entry of heterogeneity.transitions that chose a move from state s, for messages. */
static const fl_node *entry_of(compiler *c, size_t s, size_t *at) {
  const fl_model *m = c->m;
  const fl_node *list = fl_map_get(fl_map_get(c->sc->root, "heterogeneity"), "transitions");
  for (size_t i = 0; list && i < list->n; i++) {
    uint8_t from[FL_MAX_STATES] = {0};
    state_or_level(m, fl_map_get(list->items[i], "from")->value, from);
    if (from[s]) {
      *at = i;
      return list->items[i];
    }
  }
  *at = 0;
  return list;
}

fl_status fl_check_het(compiler *c) {
  fl_model *m = c->m;
  fl_het *h = &m->het;
  const size_t S = m->S;
  if (h->dist == FL_HET_NONE) return FL_OK;
  const fl_node *sec = fl_map_get(c->sc->root, "heterogeneity");
  for (size_t a = 0; a < m->n_arms; a++) {
    fl_arm *arm = &m->arms[a];
    if (!(arm->het_chosen = fl_calloc(arm->n_rows, sizeof *arm->het_chosen))) return fl_c_oom(c);
    fl_het_chosen(m, arm->rows, arm->n_rows, arm->move_cum, arm->move_dest, arm->het_chosen);
  }
  for (size_t a = 0; a < m->n_arms; a++)
    if (m->arms[a].reinvest.on)
      return fl_c_bad(c, sec, "heterogeneity", "arm '%s' reinvests its savings; expectation mode "
                      "cannot mix sub-cohorts whose spend depends on the whole population, so "
                      "heterogeneity and reinvest cannot be used together", m->arms[a].name);
  /* Every row of every arm with a chosen move: the largest multiplier must leave staying a
   * probability of at least 0 (bounded distributions); otherwise the multiplier that fills
   * the row (the cap) is noted, where some children have a larger one. */
  double caps[FL_HET_MAX_CAPS];
  size_t n_caps = 0;
  int many = 0;
  for (size_t a = 0; a < m->n_arms; a++) {
    const fl_arm *arm = &m->arms[a];
    for (size_t r = 0; r < arm->n_rows; r++) {
      const size_t s = r % S;
      const fl_row *row = &arm->rows[r];
      if (!h->row_on[s] || row->n == 0) continue;
      uint64_t prev = row->stay;
      double chosen = 0, other = 0;
      for (uint32_t k = 0; k < row->n; k++) {
        const uint64_t w = arm->move_cum[row->first + k] - prev;
        const uint8_t d = arm->move_dest[row->first + k];
        prev = arm->move_cum[row->first + k];
        if (d != FL_DEST_EXIT && h->on[s * S + d]) chosen += (double)w;
        else other += (double)w;
      }
      if (chosen == 0) continue;
      const double fill = (FL_P_ONE - other) / chosen;
      if (a == 0 && fill < h->cap_z) h->cap_z = fill;
      /* (A cap fewer than FL_HET_CAP_SHARE of children reach leaves the Gauss rule of the
       * whole distribution, whose error from it is of that order; splitting at it would put
       * the quantile function's singularity at 1 inside an interval.) */
      if (!isfinite(h->hi) && tail(h, fill) > FL_HET_CAP_SHARE) {
        size_t j = 0;
        while (j < n_caps && fabs(caps[j] - fill) > 1e-12 * fill) j++;
        if (j == n_caps && n_caps == FL_HET_MAX_CAPS) many = 1;
        else if (j == n_caps) caps[n_caps++] = fill;
      }
      if (isfinite(h->hi) && h->hi > fill * (1 + 1e-9)) {
        size_t at;
        const fl_node *e = entry_of(c, s, &at);
        char key[64];
        snprintf(key, sizeof key, "heterogeneity.transitions[%zu]", at);
        return fl_c_bad(c, e, key, "a multiplier of %g (the largest the distribution gives) "
                        "would give the chosen moves out of state '%s' (in %s%s%s) a "
                        "probability of %.6g, more than the %.6g the other moves leave: above 1 "
                        "in total",
                        h->hi, m->state_names[s], a ? "arm '" : "the baseline", a ? arm->name : "",
                        a ? "'" : "", h->hi * chosen / FL_P_ONE, (FL_P_ONE - other) / FL_P_ONE);
      }
    }
  }
  if (n_caps == 0 || many) return FL_OK; /* (many: the Gauss rule of the whole distribution) */
  for (size_t i = 1; i < n_caps; i++) /* (ascending) */
    for (size_t j = i; j > 0 && caps[j - 1] > caps[j]; j--) {
      const double t = caps[j];
      caps[j] = caps[j - 1];
      caps[j - 1] = t;
    }
  return split_nodes(c, caps, n_caps);
}

void fl_het_free(fl_het *h) {
  free(h->values);
  free(h->cum_p);
  free(h->node_z);
  free(h->node_w);
  free(h->on);
  free(h->row_on);
}
