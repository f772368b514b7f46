/* `flourish fit`: Bayesian calibration of a scenario's numbers to aggregate stock and flow
 * series (fit.c: the observations, the parameters, the likelihood; fit_sample.c: the ensemble
 * sampler and its diagnostics; fit_write.c: the fitted scenario, the summary and the report).
 * The options and the entry point are public (flourish.h). */
#ifndef FL_FIT_H
#define FL_FIT_H

#include "sim/sim.h"
#include "scenario/scenario.h"

/* The most parameters one fit takes. */
#define FL_FIT_MAX_PARAMS 32

/* Measures of the observations. */
typedef enum fl_obs_kind { FL_OBS_STOCK, FL_OBS_ENTRIES, FL_OBS_EXITS } fl_obs_kind;

/* One observation: the measure (its kind, the states it counts, a locality or -1 for all), the
 * step boundary of its date, for flows the boundary of the period's start, its value and sd (0:
 * the option's observation model), its CSV line and its text. used_initial: it set the initial
 * state (not in the likelihood). */
typedef struct fl_obs {
  fl_obs_kind kind;
  uint64_t states; /* bit s: state s counts */
  int loc;
  size_t t, t0;
  double value, sd;
  size_t line;
  int date_col, measure_col; /* the file's columns of the date and the measure */
  int used_initial;
  char date[16], measure[96];
  size_t series;   /* index of its measure among the distinct ones */
} fl_obs;

/* Priors. */
typedef enum fl_prior { FL_PRIOR_UNIFORM, FL_PRIOR_LOGNORMAL, FL_PRIOR_BETA, FL_PRIOR_NORMAL } fl_prior;

/* A parameter: its text, the scalars of the scenario it sets (one, or every match of a pattern,
 * which it then scales), the values they have in the scenario, its prior. */
typedef struct fl_fit_param {
  char *path;
  int scale;            /* a pattern: the value multiplies each matched scalar */
  size_t n;             /* scalars set */
  char **keys;          /* their key paths */
  double *base;         /* their values in the scenario */
  int *whole;           /* the key takes whole numbers */
  fl_prior prior;
  double a, b;          /* lo, hi; mu, sigma; a, b; m, s */
  double start;         /* the scenario's value (1 for a scale) */
} fl_fit_param;

/* The observation model of rows without an sd. */
typedef enum fl_noise { FL_NOISE_POISSON, FL_NOISE_NEGBIN } fl_noise;

/* A fit being set up or run: the scenario text after the fit's changes (the horizon, the
 * initial state), the observations and parameters, one evaluator per thread. */
typedef struct fl_fit_eval fl_fit_eval;
typedef struct fl_fit_problem {
  char *scenario_path;
  char *text;            /* the scenario's own text */
  char **sets;           /* the fit's own assignments (start, horizon, rescaled initial groups) */
  size_t n_sets;
  fl_obs *obs;
  size_t n_obs, n_series;
  fl_fit_param *par;
  size_t K;
  fl_noise noise;
  double dispersion;
  size_t T;              /* steps of the fit */
  long start_month;      /* month index (year * 12 + month - 1) of the fit's start */
  double step_months;
  size_t S, NLOC, L;
  char **state_names, **loc_names, **level_names;
  uint64_t *level_states; /* [L] bit s: state s is in the level */
  fl_fit_eval **ev;      /* [n_ev] */
  size_t n_ev;
  /* Evaluations that broke a row's sum (a row's probabilities above 1 with rest below 0) or a
   * key's bounds: rejected, counted, the first message kept. */
  size_t n_invalid;
  char first_invalid[512];
} fl_fit_problem;

fl_status fl_fit_problem_create(const fl_fit_options *opt, fl_fit_problem **out, fl_error *err);
void fl_fit_problem_free(fl_fit_problem *p);
/* The log prior of theta[K] (-INFINITY outside its support). */
double fl_fit_log_prior(const fl_fit_problem *p, const double *theta);
/* The log likelihood of theta[K] on evaluator i (one a thread), and the expected value of each
 * observation into mu[n_obs] (may be NULL). GSL's error handler must be off (the evaluations
 * of several threads compile at once: fl_model_compile_threaded). -INFINITY where theta makes the scenario invalid
 * (counted in n_invalid under a lock when count is nonzero). Fails only on a runtime failure. */
fl_status fl_fit_loglik(fl_fit_problem *p, size_t i, const double *theta, double *ll, double *mu,
                        fl_error *err);
/* The expected series of a measure (obs row j's) at every step boundary [T + 1] (stocks), or
 * its flow within each step [T], from evaluator i's last evaluation. */
void fl_fit_series_of(const fl_fit_problem *p, size_t i, size_t j, double *out);
/* The same for a measure given as an observation (its kind, states and locality). */
void fl_fit_series_obs(const fl_fit_problem *p, size_t i, const fl_obs *o, double *out);
/* The log density of observation value y at expected mu. */
double fl_fit_obs_logpdf(const fl_fit_problem *p, const fl_obs *o, double mu);
/* The variance of an observation at expected mu under its model. */
double fl_fit_obs_var(const fl_fit_problem *p, const fl_obs *o, double mu);

/* Diagnostics of draws x[chain * n + i] (m chains of n): rank-normalised split R-hat (the
 * larger of bulk and folded) and bulk effective sample size (Vehtari, Gelman, Simpson,
 * Carpenter and Buerkner 2021). */
double fl_fit_rhat(const double *x, size_t m, size_t n);
double fl_fit_ess(const double *x, size_t m, size_t n);

/* The sampler's output: W walkers of N kept iterations, x[(w * N + i) * K + k], after burn
 * iterations; the share of proposals accepted; the mode it started from. */
typedef struct fl_fit_chain {
  size_t W, N, burn;
  double *x;
  double acceptance;
  double mode[FL_FIT_MAX_PARAMS], mode_lp;
} fl_fit_chain;
fl_status fl_fit_sample(fl_fit_problem *p, const fl_fit_options *opt, fl_fit_chain *out,
                        fl_error *err);
/* The prior's standard deviation. */
double fl_fit_prior_sd(const fl_fit_param *q);

#endif
