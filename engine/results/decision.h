/* Decision analysis across all arms (decision.c): the cost-effectiveness frontier with strict
 * and extended dominance, and the expected value of perfect information from blocks of
 * replications that share a parameter draw. Pure arithmetic on numbers handed in: the results
 * layer (across.c) feeds it, the tests feed it hand-made cases. */
#ifndef FL_DECISION_H
#define FL_DECISION_H

#include <stddef.h>

/* The status of an arm on the frontier. */
typedef enum fl_frontier_status {
  FL_FRONTIER_ON = 0,       /* on the frontier */
  FL_FRONTIER_DOMINATED = 1, /* another arm costs no more and gains more, or costs less and
                                gains as much */
  FL_FRONTIER_EXTENDED = 2, /* extendedly dominated: a mix of the frontier arms on either side
                               of it costs less for the same QALYs */
  FL_FRONTIER_EQUAL = 3     /* the same cost and QALYs as an arm listed before it, which stands
                               for both */
} fl_frontier_status;

/* The frontier of n arms with mean costs cost[n] and mean QALYs effect[n] (any common origin:
 * the baseline's or zero). Arms are taken in order of cost (ties: more QALYs first, then lower
 * index); an arm is dominated when an arm before it in that order has more QALYs, or as many at
 * a lower cost; equal when one before it has the same cost and QALYs. Of the rest (costs and
 * QALYs both strictly increasing), an arm whose ICER against the arm before it is greater than
 * the next arm's ICER against it is extendedly dominated and removed, and the test is repeated
 * until no arm is removed (Drummond et al., Methods for the Economic Evaluation of Health Care
 * Programmes, 4th ed., 2015). Equal ICERs (three arms on a line) keep all three.
 *
 * Fills status[n] (fl_frontier_status), by[n] and icer[n]. by: for a dominated arm the most
 * effective of the arms before it in the order (the cheapest of those, if several); for an
 * equal arm the one it equals; for an extendedly dominated arm the next frontier arm above it
 * (more costly and more effective); -1 on the frontier. icer: on the frontier, the ICER against
 * the frontier arm below it (NaN for the cheapest); NaN off it. n is at most FL_FRONTIER_MAX;
 * non-finite costs or QALYs leave every status -1, by -1 and icer NaN. */
#define FL_FRONTIER_MAX 64
void fl_frontier(size_t n, const double *cost, const double *effect, int *status, int *by,
                 double *icer);

/* The expected value of perfect information from a probabilistic run whose replications come
 * in blocks of K sharing a parameter draw: for each of n_wtp values of a QALY,
 *
 *   EVPI = (1/B) sum_b max_a m_ab  -  max_a (1/B) sum_b m_ab,
 *
 * where m_ab is the mean net monetary benefit of arm a over the K replications of block b and B
 * the number of blocks. The block mean stands in for the expectation over chance given the
 * parameters; with finite K its chance noise (variance sigma_w^2 / K for a within-block variance
 * sigma_w^2 of an NMB difference) makes the first term, and so the EVPI, too large: for two arms
 * whose NMB difference over draws is normal with mean mu and parameter sd sigma, the estimator
 * targets the closed form at sqrt(sigma^2 + sigma_w^2 / K) instead of sigma. The second term
 * over B draws makes it a little too small (by O(sigma / sqrt(B)) at most, near indifference).
 * Sums are taken in block order, so an arm that wins every block gives exactly 0. */
typedef struct fl_evpi fl_evpi;
/* For n_arms arms, n_wtp values and blocks of K; NULL when out of memory. */
fl_evpi *fl_evpi_create(size_t n_arms, size_t n_wtp, size_t K);
/* Takes in the next replication: nmb[a * n_wtp + k], arm a's net monetary benefit at value k
 * (any common origin). */
void fl_evpi_add(fl_evpi *e, const double *nmb);
/* The EVPI at each value into evpi[n_wtp] from the complete blocks taken in (0 where there are
 * none); never negative. */
void fl_evpi_finish(const fl_evpi *e, double *evpi);
void fl_evpi_free(fl_evpi *e);

/* The expected value of partial perfect information about a group of P parameters, by the
 * nonparametric-regression method of Strong, Oakley and Brennan (Med Decis Making 2014;
 * 34:311-326) with a full quadratic polynomial (intercept, each parameter, their squares and
 * pairwise products, the parameters centred and scaled) fitted by least squares in place of
 * their GAM: for each arm a >= 1 the block means of the difference m_ab - m_0b are regressed on
 * the group's values x_b of the B blocks, and with g_ab the fitted values (g_0b = 0)
 *
 *   EVPPI = (1/B) sum_b max_a g_ab  -  max_a (1/B) sum_b g_ab.
 *
 * The regression averages out the chance noise within blocks and the effect of the other
 * parameters (unlike the EVPI above, it needs no large K); what it cannot follow is a
 * conditional mean that is not quadratic in the group (biased down), and with few blocks it
 * fits some noise (biased up by about terms / B of the noise variance's effect), so B should be
 * many times the number of terms (fl_evppi_terms). x[b * P + p] and m[b * A + a]. Returns 0 and
 * *evppi (never negative), or -1 when B is less than 4 times the number of terms or P is 0 or
 * more than FL_EVPPI_MAX, -2 when out of memory or the fit fails. */
#define FL_EVPPI_MAX 6
size_t fl_evppi_terms(size_t P);
int fl_evppi(size_t B, size_t A, size_t P, const double *x, const double *m, double *evppi);

#endif
