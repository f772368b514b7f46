/* Result arrays and the outputs derived from the simulation's integer tallies. */
#include "results/results.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

size_t fl_array_count(const fl_array *a) {
  size_t n = 1;
  for (int i = 0; i < a->rank; i++) n *= a->dims[i];
  return n;
}

void *fl_results_add(fl_arm_results *arm, const char *name, const char *doc, fl_dtype type,
                     int rank, const size_t *dims) {
  fl_array *a;
  size_t n = 1;
  if (arm->n_arrays == FL_MAX_ARRAYS || rank > FL_MAX_RANK) return NULL;
  for (int i = 0; i < rank; i++) {
    if (dims[i] && n > SIZE_MAX / 8 / dims[i]) return NULL;
    n *= dims[i];
  }
  a = &arm->arrays[arm->n_arrays];
  memset(a, 0, sizeof *a);
  a->name = name;
  a->doc = doc;
  a->type = type;
  a->rank = rank;
  memcpy(a->dims, dims, (size_t)rank * sizeof *dims);
  a->data = fl_calloc(n, type == FL_I32 ? sizeof(int32_t) : sizeof(double));
  if (!a->data) return NULL;
  arm->n_arrays++;
  return a->data;
}

fl_array *fl_group_find(const fl_arm_results *g, const char *name) {
  for (size_t i = 0; i < g->n_arrays; i++)
    if (!strcmp(g->arrays[i].name, name)) return (fl_array *)&g->arrays[i];
  return NULL;
}

fl_array *fl_results_find(fl_results *res, size_t arm, const char *name) {
  return fl_group_find(&res->arms[arm], name);
}

const fl_array *fl_results_find_const(const fl_results *res, size_t arm, const char *name) {
  return fl_results_find((fl_results *)res, arm, name);
}

static void free_group(fl_arm_results *g) {
  for (size_t i = 0; i < g->n_arrays; i++) free(g->arrays[i].data);
  free(g->name);
}

void fl_results_free(fl_results *res) {
  if (!res) return;
  for (size_t a = 0; a < FL_MAX_ARMS; a++) {
    free_group(&res->arms[a]);
    free_group(&res->comps[a]);
  }
  free(res);
}

/* Children counted for the rewards of step t of replication r, by state, under the model's
 * reward timing (see rewards.timing in engine/schema.c), into occ[S]; returns the time in
 * steps at which they are discounted. */
static double occupancy(const fl_model *m, const fl_array *stocks, const fl_array *entries,
                        size_t r, size_t t, double *occ) {
  const size_t S = m->S, T = m->T;
#define START(u, s) (fl_array_get(stocks, (r * (T + 1) + (u)) * S + (s)) + fl_array_get(entries, (r * T + (u)) * S + (s)))
#define END(u, s) fl_array_get(stocks, (r * (T + 1) + (u) + 1) * S + (s))
  for (size_t s = 0; s < S; s++) {
    switch (m->reward_timing) {
    case FL_TIMING_END: occ[s] = END(t, s); break;
    case FL_TIMING_HALF_CYCLE: occ[s] = 0.5 * (START(t, s) + END(t, s)); break;
    case FL_TIMING_SIMPSON: {
      /* Simpson's 1/3 rule over the pair of steps (2k, 2k+1), split evenly between them:
       * (f(2k) + 4 f(2k+1) + f(2k+2)) / 6 each, where f(u) is the start of step u (the end of
       * the run for u = T); a last unpaired step takes the trapezoid. */
      const size_t k0 = t - t % 2;
      if (k0 + 1 >= T) {
        occ[s] = 0.5 * (START(t, s) + END(t, s));
      } else {
        const double f2 = k0 + 2 < T ? START(k0 + 2, s) : END(k0 + 1, s);
        occ[s] = (START(k0, s) + 4 * START(k0 + 1, s) + f2) / 6;
      }
      break;
    }
    default: occ[s] = START(t, s);
    }
  }
#undef START
#undef END
  return m->reward_timing == FL_TIMING_START ? (double)t
         : m->reward_timing == FL_TIMING_END ? (double)t + 1
                                             : (double)t + 0.5;
}

int fl_results_threads(const fl_results *res) {
#ifdef _OPENMP
  return res->threads > 0 ? res->threads : omp_get_max_threads();
#else
  (void)res;
  return 1;
#endif
}

fl_status fl_results_derive(fl_results *res, const fl_model *m, fl_error *err) {
  const size_t T = m->T, S = m->S, B = m->B, L = m->L;
  const int mc = !res->expectation;
  const size_t R = mc ? res->R : 1;
  const double step_years = m->step_months / 12.0;
  const fl_dtype count_type = mc ? FL_I32 : FL_F64;
  /* Under parameter uncertainty each replication has its own costs and QoL weights. */
  const fl_array *p_cost = mc ? fl_results_find(res, 0, "parameters/cost") : NULL;
  const fl_array *p_qol = mc ? fl_results_find(res, 0, "parameters/qol") : NULL;
  for (size_t arm = 0; arm < res->n_arms; arm++) {
    fl_arm_results *ar = &res->arms[arm];
    const fl_arm *marm = &m->arms[arm];
    const fl_array *stocks = fl_results_find(res, arm, "stocks");
    const fl_array *entries = fl_results_find(res, arm, "entries");
    const fl_array *flows = fl_results_find(res, arm, "flows");
    const fl_array *spend = fl_results_find(res, arm, "interventions/spend");
    const fl_array *reached = fl_results_find(res, arm, "interventions/reached");
    size_t d_lvl[3] = {R, T + 1, L}, d_cost[3] = {R, T, B}, d_qol[2] = {R, T};
    const size_t *off_l = mc ? d_lvl : d_lvl + 1, *off_c = mc ? d_cost : d_cost + 1;
    const size_t *off_q = mc ? d_qol : d_qol + 1;
    int rk = mc ? 1 : 0;
    void *lvl = fl_results_add(ar, "stocks_by_level", "Children in each level at the start of "
                               "each step (step T is the end of the run).",
                               count_type, 2 + rk, off_l);
    double *cost = fl_results_add(ar, "costs", "Undiscounted cost of each step by budget "
                                  "holder: children in each state (counted as rewards.timing "
                                  "says), one-off costs of moves, and interventions.",
                                  FL_F64, 2 + rk, off_c);
    double *costd = fl_results_add(ar, "costs_discounted", "Costs discounted at the annual "
                                   "rate discount.costs.", FL_F64, 2 + rk, off_c);
    double *qol = fl_results_add(ar, "qol", "Sum of quality-of-life weights over the children "
                                 "of each step (plus one-off QALY changes of moves, in the same "
                                 "units); times the step in years it gives quality-adjusted "
                                 "child-years.",
                                 FL_F64, 1 + rk, off_q);
    double *qold = fl_results_add(ar, "qol_discounted", "qol discounted at the annual rate "
                                  "discount.qol.", FL_F64, 1 + rk, off_q);
    if (!lvl || !cost || !costd || !qol || !qold) goto nomem;
    /* Replications are independent: split between threads (each writes its own rows), so that
     * this does not become the serial tail of a run on many cores. */
#pragma omp parallel for schedule(static) if (R > 1) num_threads(fl_results_threads(res))
    for (size_t r = 0; r < R; r++) {
      double occ[FL_MAX_STATES];
      for (size_t t = 0; t <= T; t++) {
        for (size_t s = 0; s < S; s++) {
          size_t li = (r * (T + 1) + t) * L + m->state_level[s];
          double v = fl_array_get(stocks, (r * (T + 1) + t) * S + s);
          if (mc) ((int32_t *)lvl)[li] += (int32_t)v;
          else ((double *)lvl)[li] += v;
        }
      }
      const double *unit_cost = p_cost ? (const double *)p_cost->data + r * S * B : m->cost;
      const double *unit_qol = p_qol ? (const double *)p_qol->data + r * S : m->qol;
      for (size_t t = 0; t < T; t++) {
        double *c = cost + (r * T + t) * B, q = 0;
        const double when = occupancy(m, stocks, entries, r, t, occ) * step_years;
        for (size_t s = 0; s < S; s++) {
          for (size_t b = 0; b < B; b++) c[b] += occ[s] * unit_cost[s * B + b];
          q += occ[s] * unit_qol[s];
        }
        /* One-off costs and QALY changes of the moves of the step. */
        for (size_t s = 0; s < S && flows; s++)
          for (size_t d = 0; d < S; d++) {
            const double f = fl_array_get(flows, ((r * T + t) * S + s) * S + d);
            if (f == 0) continue;
            for (size_t b = 0; b < B; b++) c[b] += f * m->trans_cost[(s * S + d) * B + b];
            q += f * m->trans_qaly[s * S + d] / step_years;
          }
        /* Interventions: running cost, cost per child reached, set-up cost in the step in
         * which an intervention starts. */
        for (size_t i = 0; i < marm->n_int; i++) {
          const fl_intervention *iv = &marm->ints[i];
          const size_t k = (r * T + t) * marm->n_int + i;
          c[iv->holder] += fl_array_get(spend, k) + iv->child_cost * m->step_months * fl_array_get(reached, k);
          if (iv->setup_cost > 0 && iv->start < (double)T * m->step_months &&
              t == (size_t)(iv->start / m->step_months))
            c[iv->holder] += iv->setup_cost;
        }
        const double dc = fl_discount(m->disc_cost, when), dq = fl_discount(m->disc_qol, when);
        for (size_t b = 0; b < B; b++) costd[(r * T + t) * B + b] = c[b] * dc;
        qol[r * T + t] = q;
        qold[r * T + t] = q * dq;
      }
    }
  }
  return FL_OK;
nomem:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory deriving costs and QoL");
  return FL_ENOMEM;
}
