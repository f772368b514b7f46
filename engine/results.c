/* Result arrays and the outputs derived from the simulation's integer tallies. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

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

fl_array *fl_results_find(fl_results *res, size_t arm, const char *name) {
  for (size_t i = 0; i < res->arms[arm].n_arrays; i++)
    if (!strcmp(res->arms[arm].arrays[i].name, name)) return &res->arms[arm].arrays[i];
  return NULL;
}

const fl_array *fl_results_find_const(const fl_results *res, size_t arm, const char *name) {
  return fl_results_find((fl_results *)res, arm, name);
}

void fl_results_free(fl_results *res) {
  if (!res) return;
  for (size_t a = 0; a < FL_MAX_ARMS; a++) {
    for (size_t i = 0; i < res->arms[a].n_arrays; i++) free(res->arms[a].arrays[i].data);
    free(res->arms[a].name);
  }
  free(res);
}

static double get(const fl_array *a, size_t i) {
  return a->type == FL_I32 ? (double)((const int32_t *)a->data)[i] : ((const double *)a->data)[i];
}

fl_status fl_results_derive(fl_results *res, const fl_model *m, fl_error *err) {
  const size_t T = m->T, S = m->S, B = m->B, L = m->L;
  const int mc = !res->expectation;
  const size_t R = mc ? res->R : 1;
  const fl_dtype count_type = mc ? FL_I32 : FL_F64;
  double *dc = malloc(T * sizeof *dc), *dq = malloc(T * sizeof *dq);
  if (!dc || !dq) goto nomem;
  for (size_t t = 0; t < T; t++) {
    dc[t] = fl_discount(m->disc_cost, m->step_months, t);
    dq[t] = fl_discount(m->disc_qol, m->step_months, t);
  }
  for (size_t arm = 0; arm < res->n_arms; arm++) {
    fl_arm_results *ar = &res->arms[arm];
    const fl_array *stocks = fl_results_find(res, arm, "stocks");
    const fl_array *entries = fl_results_find(res, arm, "entries");
    size_t d_lvl[3] = {R, T + 1, L}, d_cost[3] = {R, T, B}, d_qol[2] = {R, T};
    const size_t *off_l = mc ? d_lvl : d_lvl + 1, *off_c = mc ? d_cost : d_cost + 1;
    const size_t *off_q = mc ? d_qol : d_qol + 1;
    int rk = mc ? 1 : 0;
    void *lvl = fl_results_add(ar, "stocks_by_level", "Children in each level at the start of "
                               "each step (step T is the end of the run).",
                               count_type, 2 + rk, off_l);
    double *cost = fl_results_add(ar, "costs", "Undiscounted cost of each step by budget "
                                  "holder, charged for every child present at its start.",
                                  FL_F64, 2 + rk, off_c);
    double *costd = fl_results_add(ar, "costs_discounted", "Costs discounted at the annual "
                                   "rate discount.costs by the time elapsed at the step's start.",
                                   FL_F64, 2 + rk, off_c);
    double *qol = fl_results_add(ar, "qol", "Sum of quality-of-life weights over the children "
                                 "present at the start of each step; times the step in years "
                                 "it gives quality-adjusted child-years.",
                                 FL_F64, 1 + rk, off_q);
    double *qold = fl_results_add(ar, "qol_discounted", "qol discounted at the annual rate "
                                  "discount.qol.", FL_F64, 1 + rk, off_q);
    if (!lvl || !cost || !costd || !qol || !qold) goto nomem;
    for (size_t r = 0; r < R; r++) {
      for (size_t t = 0; t <= T; t++) {
        for (size_t s = 0; s < S; s++) {
          size_t li = (r * (T + 1) + t) * L + m->state_level[s];
          double v = get(stocks, (r * (T + 1) + t) * S + s);
          if (mc) ((int32_t *)lvl)[li] += (int32_t)v;
          else ((double *)lvl)[li] += v;
        }
      }
      for (size_t t = 0; t < T; t++) {
        double q = 0;
        for (size_t s = 0; s < S; s++) {
          double occ = get(stocks, (r * (T + 1) + t) * S + s) + get(entries, (r * T + t) * S + s);
          for (size_t b = 0; b < B; b++) cost[(r * T + t) * B + b] += occ * m->cost[s * B + b];
          q += occ * m->qol[s];
        }
        for (size_t b = 0; b < B; b++)
          costd[(r * T + t) * B + b] = cost[(r * T + t) * B + b] * dc[t];
        qol[r * T + t] = q;
        qold[r * T + t] = q * dq[t];
      }
    }
  }
  free(dc);
  free(dq);
  return FL_OK;
nomem:
  free(dc);
  free(dq);
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory deriving costs and QoL");
  return FL_ENOMEM;
}
