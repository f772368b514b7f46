/* The outputs derived from a simulation's (or an expectation's) tallies: children by level,
 * costs by budget holder and quality of life, undiscounted and discounted. */
#include "results/results.h"

#include "model/intervention.h"

#include <stdlib.h>
#include <string.h>

/* Children counted for the rewards of step t of replication r, by state (or by reward class:
 * S is the width of stocks and entries, m->S or m->NRC), under the model's reward timing (see
 * rewards.timing in engine/scenario/schema.c), into occ[S]; returns the time in steps at which
 * they are discounted. */
static double occupancy(const fl_model *m, const fl_array *stocks, const fl_array *entries,
                        size_t S, size_t r, size_t t, double *occ) {
  const size_t T = m->T;
#define START(u, s)                                                                                \
  (fl_array_get(stocks, (r * (T + 1) + (u)) * S + (s)) +                                          \
   fl_array_get(entries, (r * T + (u)) * S + (s)))
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

/* The children intervention i (of ni) reached in step t of replication r as the reward timing
 * counts them, the way occupancy counts the children in each state: from the children it
 * reached at the start of each step (start, after its entrants; NULL where not tallied) and at
 * its end (end), at [(r * T + u) * ni + i] times stride, plus k. Both are 0 in a step in which
 * the intervention does not run. Simpson's rule needs the intervention running over the whole
 * pair of steps and at the start of the next (if in the run); elsewhere it takes the trapezoid,
 * so a step in which it does not run costs nothing. */
static double reach_timed(const fl_model *m, const fl_intervention *iv, const fl_array *start,
                          const fl_array *end, size_t r, size_t t, size_t ni, size_t i,
                          size_t stride, size_t k) {
  const size_t T = m->T;
#define AT(a, u) fl_array_get((a), ((r * T + (u)) * ni + i) * stride + k)
  switch (m->reward_timing) {
  case FL_TIMING_END: return AT(end, t);
  case FL_TIMING_HALF_CYCLE: return 0.5 * (AT(start, t) + AT(end, t));
  case FL_TIMING_SIMPSON: {
    const size_t k0 = t - t % 2;
    const int paired = k0 + 1 < T && fl_intervention_running(m, iv, k0) &&
                       fl_intervention_running(m, iv, k0 + 1) &&
                       (k0 + 2 >= T || fl_intervention_running(m, iv, k0 + 2));
    if (!paired) return 0.5 * (AT(start, t) + AT(end, t));
    const double f2 = k0 + 2 < T ? AT(start, k0 + 2) : AT(end, k0 + 1);
    return (AT(start, k0) + 4 * AT(start, k0 + 1) + f2) / 6;
  }
  default: return AT(start, t);
  }
#undef AT
}

/* The time, in steps, at which the one-off costs and QALY changes of the moves of step t are
 * discounted: where the moves land (t + 1, the first time point that counts the child in its
 * new state) under start and end timing and under rewards.points; under half_cycle and simpson,
 * which spread a step's rewards over the step and discount them at its middle, the moves are taken
 * to happen there too, with the step's other rewards. */
static double move_time(const fl_model *m, size_t t) {
  return m->reward_timing == FL_TIMING_START || m->reward_timing == FL_TIMING_END ||
                 m->reward_timing == FL_TIMING_POINTS
             ? (double)t + 1
             : (double)t + 0.5;
}

/* Under rewards.points, whether step t reports time point u (t or t + 1): the point that
 * starts it, or under 1..T the one that ends it, and in the last step also the final point T. */
static int reports_point(const fl_model *m, size_t t, size_t u) {
  return u == t ? !m->points_end : m->points_end || u == m->T;
}

/* What a time point's rewards add under rewards.points: the rewards of time point u of
 * replication r at its weight, the children present then (at u < T those at the start of step
 * u with its entrants, at T those at the end of the run) and the children each intervention
 * reaches then (at the start of step u, in a step in which it runs; at T, at the end of the
 * last step), into c[B] and *q; rs as in fl_results_derive_rep. */
static void point_rewards(const fl_results *res, size_t arm, size_t r, size_t u,
                          const double *unit_cost, const double *unit_qol, const double *rc_cost,
                          const double *rc_qol, double *rs, double *c, double *q) {
  const fl_model *m = res->ctx.m;
  const fl_arm *marm = &m->arms[arm];
  const size_t T = m->T, S = m->S, B = m->B, ni = marm->n_int;
  const double w = m->point_w[u];
  const fl_array *stocks = fl_results_get(res, arm, FL_OUT_STOCKS);
  const fl_array *entries = fl_results_get(res, arm, FL_OUT_ENTRIES);
  /* (Heterogeneity on the rewards: the sums of the multipliers in place of the counts.) */
  const fl_array *het_stocks = fl_results_get(res, arm, FL_OUT_HET_STOCKS);
  const fl_array *het_entries = fl_results_get(res, arm, FL_OUT_HET_ENTRIES);
  /* (Rewards by age or time in state: the children by reward class, at its rewards.) */
  const fl_array *rc_stocks = fl_results_get(res, arm, FL_OUT_RC_STOCKS);
  const fl_array *rc_entries = fl_results_get(res, arm, FL_OUT_RC_ENTRIES);
  const size_t NRC = m->NRC;
  const fl_array *het_rc_stocks = fl_results_get(res, arm, FL_OUT_HET_RC_STOCKS);
  const fl_array *het_rc_entries = fl_results_get(res, arm, FL_OUT_HET_RC_ENTRIES);
  for (size_t k = 0; rc_stocks && k < NRC; k++) {
    double v = fl_array_get(rc_stocks, (r * (T + 1) + u) * NRC + k);
    if (u < T) v += fl_array_get(rc_entries, (r * T + u) * NRC + k);
    double wv = v;
    if (het_rc_stocks) {
      wv = fl_array_get(het_rc_stocks, (r * (T + 1) + u) * NRC + k);
      if (u < T) wv += fl_array_get(het_rc_entries, (r * T + u) * NRC + k);
    }
    const double vc = het_rc_stocks && m->het.costs ? wv : v;
    const double vq = het_rc_stocks && m->het.qol ? wv : v;
    for (size_t b = 0; b < B; b++) c[b] += w * vc * rc_cost[k * B + b];
    *q += w * vq * rc_qol[k];
  }
  for (size_t s = 0; !rc_stocks && s < S; s++) {
    double v = fl_array_get(stocks, (r * (T + 1) + u) * S + s);
    if (u < T) v += fl_array_get(entries, (r * T + u) * S + s);
    double wv = v;
    if (het_stocks) {
      wv = fl_array_get(het_stocks, (r * (T + 1) + u) * S + s);
      if (u < T) wv += fl_array_get(het_entries, (r * T + u) * S + s);
    }
    const double vc = het_stocks && m->het.costs ? wv : v, vq = het_stocks && m->het.qol ? wv : v;
    for (size_t b = 0; b < B; b++) c[b] += w * vc * unit_cost[s * B + b];
    *q += w * vq * unit_qol[s];
  }
  if (!ni) return;
  const int at_end = u == T;
  const size_t step = at_end ? T - 1 : u;
  const fl_array *reached =
      fl_results_get(res, arm, at_end ? FL_OUT_IV_REACHED_END : FL_OUT_IV_REACHED);
  const fl_array *by_state = fl_results_get(
      res, arm, at_end ? FL_OUT_IV_REACHED_END_BY_STATE : FL_OUT_IV_REACHED_BY_STATE);
  double rc[FL_MAX_INTERVENTIONS];
  for (size_t i = 0; i < ni; i++) {
    rc[i] = w * fl_array_get(reached, (r * T + step) * ni + i);
    for (size_t s = 0; by_state && s < S; s++)
      rs[i * S + s] = w * fl_array_get(by_state, ((r * T + step) * ni + i) * S + s);
  }
  fl_arm_reach_costs(m, marm, step, rc, by_state ? rs : NULL, unit_cost, c);
}

size_t fl_results_scratch(const fl_results *res) {
  const fl_model *m = res->ctx.m;
  size_t most = 0;
  for (size_t a = 0; a < m->n_arms; a++)
    if (m->arms[a].n_int > most) most = m->arms[a].n_int;
  /* and the arm's state costs and QoL weights, where it changes some, then the rewards and the
   * children of each reward class */
  return most * m->S + 1 + m->S * (m->B + 1) + m->NRC * (m->B + 3);
}

/* The cost per step (cost[NRC * B]) and QoL weight (qol[NRC]) of each reward class in arm, where
 * the replication's by-state costs and QoL weights are unit_cost and unit_qol (the model's, or
 * drawn): a reward that varies takes its class's value, scaled by the draw over its mean under
 * --psa; one by state takes the state's; and an arm's own value for a state replaces either. */
static void class_rewards(const fl_model *m, const fl_arm *arm, const double *unit_cost,
                          const double *unit_qol, double *cost, double *qol) {
  const size_t B = m->B, per_state = m->NRA * m->NRD;
  for (size_t k = 0; k < m->NRC; k++) {
    const size_t s = k / per_state;
    for (size_t b = 0; b < B; b++) {
      const size_t i = s * B + b;
      const double ref = m->cost[i];
      cost[k * B + b] = arm->cost && arm->cost[i] == arm->cost[i] ? arm->cost[i]
                        : !m->cost_vec[i]                           ? unit_cost[i]
                        : ref != 0 ? m->rc_cost[k * B + b] * (unit_cost[i] / ref)
                                   : m->rc_cost[k * B + b];
    }
    qol[k] = arm->qol && arm->qol[s] == arm->qol[s] ? arm->qol[s]
             : !m->qol_vec[s]                        ? unit_qol[s]
             : m->qol[s] != 0 ? m->rc_qol[k] * (unit_qol[s] / m->qol[s])
                              : m->rc_qol[k];
  }
}

/* The flows of each level in replication r of arm: into it, moves from a state of another
 * level and entrants in one of its states; out of it, moves to another level and leavers. */
static void level_flows(const fl_results *res, size_t arm, size_t r) {
  const fl_model *m = res->ctx.m;
  const size_t T = m->T, S = m->S, L = m->L;
  const fl_array *flows = fl_results_get(res, arm, FL_OUT_FLOWS);
  const fl_array *entries = fl_results_get(res, arm, FL_OUT_ENTRIES);
  const fl_array *exits = fl_results_get(res, arm, FL_OUT_EXITS);
  fl_array *in = fl_results_get(res, arm, FL_OUT_INFLOW_BY_LEVEL);
  fl_array *out = fl_results_get(res, arm, FL_OUT_OUTFLOW_BY_LEVEL);
  for (size_t t = 0; t < T; t++) {
    double vin[FL_MAX_STATES] = {0}, vout[FL_MAX_STATES] = {0}; /* (L <= S) */
    for (size_t s = 0; s < S; s++) {
      const size_t ls = m->state_level[s], st = (r * T + t) * S + s;
      vin[ls] += fl_array_get(entries, st);
      vout[ls] += fl_array_get(exits, st);
      for (size_t d = 0; d < S; d++) {
        const size_t ld = m->state_level[d];
        if (ld == ls) continue;
        const double f = fl_array_get(flows, st * S + d);
        vout[ls] += f;
        vin[ld] += f;
      }
    }
    for (size_t l = 0; l < L; l++) {
      const size_t i = (r * T + t) * L + l;
      if (in->type == FL_I32) {
        ((int32_t *)in->data)[i] = (int32_t)vin[l];
        ((int32_t *)out->data)[i] = (int32_t)vout[l];
      } else {
        ((double *)in->data)[i] = vin[l];
        ((double *)out->data)[i] = vout[l];
      }
    }
  }
}

/* The derived outputs of replication r of arm (r = 0 in expectation mode); rs: room for
 * n_int * S values, then S * (B + 1) for the arm's state costs and QoL weights, then
 * NRC * (B + 3) for the reward classes' costs, QoL weights, children and their multipliers. */
void fl_results_derive_rep(const fl_results *res, size_t arm, size_t r, double *rs) {
  const fl_model *m = res->ctx.m;
  const size_t T = m->T, S = m->S, B = m->B, L = m->L;
  const int mc = !res->expectation;
  const double step_years = m->step_months / 12.0;
  const fl_arm *marm = &m->arms[arm];
  const fl_array *stocks = fl_results_get(res, arm, FL_OUT_STOCKS);
  const fl_array *entries = fl_results_get(res, arm, FL_OUT_ENTRIES);
  const fl_array *flows = fl_results_get(res, arm, FL_OUT_FLOWS);
  const fl_array *spend = fl_results_get(res, arm, FL_OUT_IV_SPEND);
  const fl_array *reached = fl_results_get(res, arm, FL_OUT_IV_REACHED);
  const fl_array *by_state = fl_results_get(res, arm, FL_OUT_IV_REACHED_BY_STATE);
  const fl_array *reached_end = fl_results_get(res, arm, FL_OUT_IV_REACHED_END);
  const fl_array *by_state_end = fl_results_get(res, arm, FL_OUT_IV_REACHED_END_BY_STATE);
  void *lvl = fl_results_get(res, arm, FL_OUT_STOCKS_BY_LEVEL)->data;
  double *cost = fl_results_get(res, arm, FL_OUT_COSTS)->data;
  double *costd = fl_results_get(res, arm, FL_OUT_COSTS_DISCOUNTED)->data;
  double *qol = fl_results_get(res, arm, FL_OUT_QOL)->data;
  double *qold = fl_results_get(res, arm, FL_OUT_QOL_DISCOUNTED)->data;
  /* Under parameter uncertainty each replication has its own costs and QoL weights. */
  const double *unit_cost = fl_results_slice(res, 0, FL_OUT_PARAM_COST, r);
  const double *unit_qol = fl_results_slice(res, 0, FL_OUT_PARAM_QOL, r);
  if (!unit_cost) unit_cost = m->cost;
  if (!unit_qol) unit_qol = m->qol;
  /* Rewards by age or time in state: each reward class's cost and QoL weight, and room for
   * its children (and the sums of their multipliers, where they weight the rewards). */
  const fl_array *rc_stocks = fl_results_get(res, arm, FL_OUT_RC_STOCKS);
  const fl_array *rc_entries = fl_results_get(res, arm, FL_OUT_RC_ENTRIES);
  const fl_array *het_rc_stocks = fl_results_get(res, arm, FL_OUT_HET_RC_STOCKS);
  const fl_array *het_rc_entries = fl_results_get(res, arm, FL_OUT_HET_RC_ENTRIES);
  double *rc_cost = rs + fl_results_scratch(res) - m->NRC * (B + 3);
  double *rc_qol = rc_cost + m->NRC * B, *rc_occ = rc_qol + m->NRC, *rc_wocc = rc_occ + m->NRC;
  const double *rc_occ_c = het_rc_stocks && m->het.costs ? rc_wocc : rc_occ;
  const double *rc_occ_q = het_rc_stocks && m->het.qol ? rc_wocc : rc_occ;
  if (rc_stocks) class_rewards(m, marm, unit_cost, unit_qol, rc_cost, rc_qol);
  /* An arm's own state costs and QoL weights replace the scenario's (or the drawn ones). */
  if (marm->cost || marm->qol) {
    double *ac = rs + fl_results_scratch(res) - m->NRC * (B + 3) - S * (B + 1), *aq = ac + S * B;
    for (size_t i = 0; i < S * B; i++) ac[i] = fl_arm_cost(marm, unit_cost, i);
    for (size_t s = 0; s < S; s++) aq[s] = fl_arm_qol(marm, unit_qol, s);
    unit_cost = ac;
    unit_qol = aq;
  }
  const double *trans_cost = marm->trans_cost ? marm->trans_cost : m->trans_cost;
  const double *trans_qaly = marm->trans_qaly ? marm->trans_qaly : m->trans_qaly;
  level_flows(res, arm, r);
  /* Heterogeneity on the rewards: the state costs (QoL weights) count each child as its
   * multiplier, from the sums of the multipliers by state, timed as the counts are. */
  const fl_array *het_stocks = fl_results_get(res, arm, FL_OUT_HET_STOCKS);
  const fl_array *het_entries = fl_results_get(res, arm, FL_OUT_HET_ENTRIES);
  double occ[FL_MAX_STATES], wocc[FL_MAX_STATES];
  const double *occ_c = het_stocks && m->het.costs ? wocc : occ;
  const double *occ_q = het_stocks && m->het.qol ? wocc : occ;
  for (size_t t = 0; t <= T; t++) {
    for (size_t s = 0; s < S; s++) {
      size_t li = (r * (T + 1) + t) * L + m->state_level[s];
      double v = fl_array_get(stocks, (r * (T + 1) + t) * S + s);
      if (mc) ((int32_t *)lvl)[li] += (int32_t)v;
      else ((double *)lvl)[li] += v;
    }
  }
  const int points = m->reward_timing == FL_TIMING_POINTS;
  for (size_t t = 0; t < T; t++) {
    double *c = cost + (r * T + t) * B, q = 0;
    /* Under rewards.points each time point's rewards are discounted at the point (cp: the
     * step's costs so far, discounted; qp the same for QoL). */
    double cp[FL_MAX_HOLDERS] = {0}, qp = 0;
    const double when =
        points ? (double)t * step_years : occupancy(m, stocks, entries, S, r, t, occ) * step_years;
    if (het_stocks && !points) occupancy(m, het_stocks, het_entries, S, r, t, wocc);
    if (rc_stocks && !points) occupancy(m, rc_stocks, rc_entries, m->NRC, r, t, rc_occ);
    if (het_rc_stocks && !points)
      occupancy(m, het_rc_stocks, het_rc_entries, m->NRC, r, t, rc_wocc);
    for (size_t u = t; points && u <= t + 1; u++) {
      double pc[FL_MAX_HOLDERS] = {0}, pq = 0;
      if (!reports_point(m, t, u) || m->point_w[u] == 0) continue;
      point_rewards(res, arm, r, u, unit_cost, unit_qol, rc_cost, rc_qol, rs, pc, &pq);
      const double du = fl_discount(m->disc_cost, (double)u * step_years);
      for (size_t b = 0; b < B; b++) {
        c[b] += pc[b];
        cp[b] += pc[b] * du;
      }
      q += pq;
      qp += pq * fl_discount(m->disc_qol, (double)u * step_years);
    }
    for (size_t s = 0; s < S && !points && !rc_stocks; s++) {
      for (size_t b = 0; b < B; b++) c[b] += occ_c[s] * unit_cost[s * B + b];
      q += occ_q[s] * unit_qol[s];
    }
    for (size_t k = 0; k < m->NRC && !points && rc_stocks; k++) {
      for (size_t b = 0; b < B; b++) c[b] += rc_occ_c[k] * rc_cost[k * B + b];
      q += rc_occ_q[k] * rc_qol[k];
    }
    /* One-off costs and QALY changes of the moves of the step (also kept apart, cm and qm:
     * they may be discounted at another time). */
    double cm[FL_MAX_HOLDERS] = {0}, qm = 0;
    for (size_t s = 0; s < S && flows; s++)
      for (size_t d = 0; d < S; d++) {
        const double f = fl_array_get(flows, ((r * T + t) * S + s) * S + d);
        if (f == 0) continue;
        for (size_t b = 0; b < B; b++) {
          c[b] += f * trans_cost[(s * S + d) * B + b];
          cm[b] += f * trans_cost[(s * S + d) * B + b];
        }
        q += f * trans_qaly[s * S + d] / step_years;
        qm += f * trans_qaly[s * S + d] / step_years;
      }
    /* Interventions: running cost, cost per child reached and what their kinds change in the
     * costs of the children reached (both counted as the reward timing counts the children in
     * each state), set-up cost in the step in which an intervention starts. */
    if (marm->n_int && points) {
      /* the step's running spend and set-up costs (its children reached: at its points) */
      double sp[FL_MAX_INTERVENTIONS], none[FL_MAX_INTERVENTIONS] = {0};
      double cs[FL_MAX_HOLDERS] = {0};
      for (size_t i = 0; i < marm->n_int; i++)
        sp[i] = fl_array_get(spend, (r * T + t) * marm->n_int + i);
      fl_arm_intervention_costs(m, marm, t, sp, none, NULL, unit_cost, cs);
      for (size_t b = 0; b < B; b++) {
        c[b] += cs[b];
        cp[b] += cs[b] * fl_discount(m->disc_cost, when);
      }
    } else if (marm->n_int) {
      double sp[FL_MAX_INTERVENTIONS], rc[FL_MAX_INTERVENTIONS];
      const size_t ni = marm->n_int;
      for (size_t i = 0; i < ni; i++) {
        const fl_intervention *iv = &marm->ints[i];
        sp[i] = fl_array_get(spend, (r * T + t) * ni + i);
        rc[i] = reach_timed(m, iv, reached, reached_end, r, t, ni, i, 1, 0);
        for (size_t s = 0; by_state && s < S; s++)
          rs[i * S + s] = reach_timed(m, iv, by_state, by_state_end, r, t, ni, i, S, s);
      }
      fl_arm_intervention_costs(m, marm, t, sp, rc, by_state ? rs : NULL, unit_cost, c);
    }
    const double dc = fl_discount(m->disc_cost, when), dq = fl_discount(m->disc_qol, when);
    const double moved = move_time(m, t) * step_years;
    const double dcm = fl_discount(m->disc_cost, moved), dqm = fl_discount(m->disc_qol, moved);
    if (points) {
      for (size_t b = 0; b < B; b++) costd[(r * T + t) * B + b] = cp[b] + cm[b] * dcm;
      qol[r * T + t] = q;
      qold[r * T + t] = qp + qm * dqm;
      continue;
    }
    /* (c - cm: the step's costs other than those of its moves) */
    for (size_t b = 0; b < B; b++)
      costd[(r * T + t) * B + b] = dcm == dc ? c[b] * dc : (c[b] - cm[b]) * dc + cm[b] * dcm;
    qol[r * T + t] = q;
    qold[r * T + t] = dqm == dq ? q * dq : (q - qm) * dq + qm * dqm;
  }
}

fl_status fl_results_derive(fl_results *res, fl_error *err) {
  fl_status st = fl_results_alloc(res, FL_STAGE_DERIVED, err);
  if (st != FL_OK) return st;
  double *rs = fl_malloc_array(fl_results_scratch(res), sizeof *rs);
  if (!rs) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory deriving costs");
    return FL_ENOMEM;
  }
  for (size_t arm = 0; arm < res->n_arms; arm++)
    for (size_t r = 0; r < res->R; r++) fl_results_derive_rep(res, arm, r, rs);
  free(rs);
  return FL_OK;
}
