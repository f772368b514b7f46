/* `flourish fit`, from the sampler's draws to what the user gets: the summary of each
 * parameter (printed, and --summary-csv), the warnings (a parameter the data do not identify,
 * chains that have not converged, observations the fit misses), the fitted scenario with the
 * posterior means in place and its posterior draws beside it (FITTED.draws.csv), and the
 * report (--report FIT.h5: the draws, the observed against the fitted series with 90% bands,
 * the diagnostics). */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include "data/fit.h"

#include "core/rng.h"
#include "output/output.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Whether run --psa can draw key: the step probabilities hold transition probabilities and
 * locality multipliers only. */
static int drawable(const char *key) {
  return !strncmp(key, "transitions.", 12) || !strncmp(key, "localities.", 11);
}

void fl_fit_options_init(fl_fit_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->seed = 1;
}

enum { SUM_MEAN, SUM_SD, SUM_Q05, SUM_Q50, SUM_Q95, SUM_RHAT, SUM_ESS, SUM_COLS };

/* What the fit found, for the outputs. */
typedef struct fit_result {
  fl_fit_problem *p;
  const fl_fit_options *opt;
  fl_fit_chain ch;
  double *sum;          /* [K * SUM_COLS] */
  double *corr;         /* [K * K] */
  size_t n_draws;       /* posterior draws written */
  double *draws;        /* [n_draws * K] */
  size_t B;             /* draws the bands are computed from */
  double *obs_band;     /* [n_obs * 5]: expected mean, q05, q95; predictive q05, q95 */
  double *series_band;  /* [n_series * 3 * (T + 1)]: mean, q05, q95 of each measure */
  double *level_band;   /* [L * 3 * (T + 1)]: the same for the stock of every level */
  size_t *series_rep;   /* [n_series] an observation of each measure */
  char **series_names, **param_names;
  size_t n_missed;
} fit_result;

static void notice(const fit_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(const fit_result *r, const char *fmt, ...) {
  char buf[1200];
  va_list ap;
  if (!r->opt->notice) return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  r->opt->notice(r->opt->notice_ctx, buf);
}

static double quantile(double *v, size_t n, double q) {
  gsl_sort(v, 1, n);
  return gsl_stats_quantile_from_sorted_data(v, 1, n, q);
}

/* The summary of every parameter and their correlations. */
static fl_status summarise(fit_result *r, fl_error *err) {
  const fl_fit_problem *p = r->p;
  const size_t K = p->K, W = r->ch.W, N = r->ch.N, M = W * N;
  double *x = fl_calloc(K * M, sizeof *x), *tmp = fl_calloc(M, sizeof *tmp);
  r->sum = fl_calloc(K * SUM_COLS, sizeof *r->sum);
  r->corr = fl_calloc(K * K, sizeof *r->corr);
  if (!x || !tmp || !r->sum || !r->corr) {
    free(x);
    free(tmp);
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  for (size_t k = 0; k < K; k++)
    for (size_t i = 0; i < M; i++) x[k * M + i] = r->ch.x[i * K + k];
  for (size_t k = 0; k < K; k++) {
    double *s = r->sum + k * SUM_COLS, *v = x + k * M;
    s[SUM_MEAN] = gsl_stats_mean(v, 1, M);
    s[SUM_SD] = gsl_stats_sd_m(v, 1, M, s[SUM_MEAN]);
    memcpy(tmp, v, M * sizeof *tmp);
    s[SUM_Q05] = quantile(tmp, M, 0.05);
    s[SUM_Q50] = gsl_stats_quantile_from_sorted_data(tmp, 1, M, 0.5);
    s[SUM_Q95] = gsl_stats_quantile_from_sorted_data(tmp, 1, M, 0.95);
    s[SUM_RHAT] = fl_fit_rhat(v, W, N);
    s[SUM_ESS] = fl_fit_ess(v, W, N);
  }
  for (size_t a = 0; a < K; a++)
    for (size_t b = 0; b < K; b++)
      r->corr[a * K + b] = a == b ? 1 : gsl_stats_correlation(x + a * M, 1, x + b * M, 1, M);
  free(x);
  free(tmp);
  return FL_OK;
}

/* Posterior draws for run --psa: n evenly spaced in (iteration, walker) order from the kept
 * ones. */
static fl_status pick_draws(fit_result *r, fl_error *err) {
  const size_t K = r->p->K, W = r->ch.W, N = r->ch.N, M = W * N;
  size_t n = r->opt->draws ? r->opt->draws : 1000;
  if (n > M) n = M;
  r->n_draws = n;
  if (!(r->draws = fl_calloc(n * K, sizeof *r->draws))) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  for (size_t d = 0; d < n; d++) {
    const size_t j = (size_t)((double)d * (double)M / (double)n); /* (iteration, walker) */
    const size_t it = j / W, w = j % W;
    memcpy(r->draws + d * K, r->ch.x + (w * N + it) * K, K * sizeof *r->draws);
  }
  return FL_OK;
}

/* One value from the observation model at expected mu. */
static double obs_draw(const fl_fit_problem *p, const fl_obs *o, double mu, gsl_rng *g) {
  if (o->sd > 0) return mu + o->sd * gsl_ran_ugaussian(g);
  if (!(mu > 0)) return 0;
  if (p->noise == FL_NOISE_NEGBIN) {
    const double k = p->dispersion;
    return gsl_ran_poisson(g, gsl_ran_gamma(g, k, mu / k));
  }
  return gsl_ran_poisson(g, mu);
}

/* The fitted series at B of the draws: each observation's expected value (mean and 90% band)
 * and predictive 90% band (one value of the observation model at each draw, from streams keyed
 * by the draw), and each measure's expected series at every step. */
static fl_status bands(fit_result *r, fl_error *err) {
  fl_fit_problem *p = r->p;
  const size_t K = p->K, n_obs = p->n_obs, NS = p->n_series, T1 = p->T + 1;
  const size_t B = r->n_draws < 400 ? r->n_draws : 400;
  r->B = B;
  double *mu = fl_calloc(B * n_obs, sizeof *mu), *pred = fl_calloc(B * n_obs, sizeof *pred);
  const size_t NL = p->L, NSL = NS + NL;
  double *ser = fl_calloc(B * NSL * T1, sizeof *ser), *tmp = fl_calloc(B, sizeof *tmp);
  gsl_rng **g = fl_calloc(p->n_ev, sizeof *g);
  r->obs_band = fl_calloc(n_obs * 5, sizeof *r->obs_band);
  r->series_band = fl_calloc(NS * 3 * T1, sizeof *r->series_band);
  r->series_rep = fl_calloc(NS, sizeof *r->series_rep);
  r->level_band = fl_calloc(NL * 3 * T1, sizeof *r->level_band);
  fl_status st = FL_OK;
  if (!mu || !pred || !ser || !tmp || !g || !r->obs_band || !r->series_band || !r->series_rep ||
      !r->level_band)
    goto oom;
  for (size_t i = 0; i < p->n_ev; i++)
    if (!(g[i] = fl_rng_gsl_alloc())) goto oom;
  for (size_t j = n_obs; j-- > 0;) r->series_rep[p->obs[j].series] = j;
#pragma omp parallel for schedule(dynamic) num_threads((int)p->n_ev)
  for (size_t b = 0; b < B; b++) {
    size_t ti = 0;
#ifdef _OPENMP
    ti = (size_t)omp_get_thread_num();
#endif
    const double *theta = r->draws + (size_t)((double)b * (double)r->n_draws / (double)B) * K;
    double ll;
    fl_error e;
    fl_status s = fl_fit_loglik(p, ti, theta, &ll, mu + b * n_obs, &e);
    if (s != FL_OK || !isfinite(ll)) {
#pragma omp critical(fl_fit_error)
      {
        if (st == FL_OK) {
          st = s != FL_OK ? s : FL_EINTERNAL;
          if (s != FL_OK) *err = e;
          else
            fl_error_set(err, FL_EINTERNAL, NULL, 0, 0, NULL,
                         "a posterior draw gave no likelihood when the fitted series were made");
        }
      }
      continue;
    }
    fl_rng_init_stream(fl_rng_gsl_state(g[ti]), r->opt->seed, b, 0, FL_PURPOSE_FIT + 16);
    for (size_t j = 0; j < n_obs; j++)
      pred[b * n_obs + j] = obs_draw(p, &p->obs[j], mu[b * n_obs + j], g[ti]);
    for (size_t s2 = 0; s2 < NSL; s2++) {
      double *out = ser + (b * NSL + s2) * T1;
      out[p->T] = NAN;
      if (s2 < NS) fl_fit_series_of(p, ti, r->series_rep[s2], out);
      else {
        const fl_obs level = {.kind = FL_OBS_STOCK, .states = p->level_states[s2 - NS], .loc = -1};
        fl_fit_series_obs(p, ti, &level, out);
      }
    }
  }
  if (st != FL_OK) goto out;
  for (size_t j = 0; j < n_obs; j++) {
    double *o = r->obs_band + j * 5;
    for (size_t b = 0; b < B; b++) tmp[b] = mu[b * n_obs + j];
    o[0] = gsl_stats_mean(tmp, 1, B);
    o[1] = quantile(tmp, B, 0.05);
    o[2] = gsl_stats_quantile_from_sorted_data(tmp, 1, B, 0.95);
    for (size_t b = 0; b < B; b++) tmp[b] = pred[b * n_obs + j];
    o[3] = quantile(tmp, B, 0.05);
    o[4] = gsl_stats_quantile_from_sorted_data(tmp, 1, B, 0.95);
  }
  for (size_t s2 = 0; s2 < NSL; s2++)
    for (size_t t = 0; t < T1; t++) {
      double *o = s2 < NS ? r->series_band + s2 * 3 * T1 : r->level_band + (s2 - NS) * 3 * T1;
      for (size_t b = 0; b < B; b++) tmp[b] = ser[(b * NSL + s2) * T1 + t];
      if (isnan(tmp[0])) {
        o[t] = o[T1 + t] = o[2 * T1 + t] = NAN;
        continue;
      }
      o[t] = gsl_stats_mean(tmp, 1, B);
      o[T1 + t] = quantile(tmp, B, 0.05);
      o[2 * T1 + t] = gsl_stats_quantile_from_sorted_data(tmp, 1, B, 0.95);
    }
  goto out;
oom:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  st = FL_ENOMEM;
out:
  for (size_t i = 0; g && i < p->n_ev; i++)
    if (g[i]) gsl_rng_free(g[i]);
  free(g);
  free(mu);
  free(pred);
  free(ser);
  free(tmp);
  return st;
}

/* The warnings: proposals the scenario refused, parameters the data do not identify, chains
 * that have not converged, observations outside the 99% predictive interval. */
static void warn(fit_result *r) {
  const fl_fit_problem *p = r->p;
  const size_t K = p->K;
  if (p->n_invalid)
    notice(r, "%zu proposed parameter values made the scenario invalid and were rejected, not "
              "clipped (the first: %s)",
           p->n_invalid, p->first_invalid);
  for (size_t k = 0; k < K; k++) {
    const double *s = r->sum + k * SUM_COLS, prior = fl_fit_prior_sd(&p->par[k]);
    if (s[SUM_SD] > 0.7 * prior)
      notice(r, "%s is not identified by the observations: its posterior sd %.3g is %.0f%% of "
                "its prior's (%.3g)",
             p->par[k].path, s[SUM_SD], 100 * s[SUM_SD] / prior, prior);
    for (size_t b = k + 1; b < K; b++)
      if (fabs(r->corr[k * K + b]) > 0.9)
        notice(r, "%s and %s are not separately identified: their posterior correlation is "
                  "%.2f (the data fix a combination of them)",
               p->par[k].path, p->par[b].path, r->corr[k * K + b]);
    if (!(s[SUM_RHAT] <= 1.05) || !(s[SUM_ESS] >= 400))
      notice(r, "%s has not converged: split R-hat %.3f (want <= 1.05), bulk ESS %.0f (want "
                ">= 400); run longer (--iterations, --burn-in)",
             p->par[k].path, s[SUM_RHAT], s[SUM_ESS]);
  }
  for (size_t k = 0; k < K; k++)
    for (size_t i = 0; i < p->par[k].n; i++)
      if (!drawable(p->par[k].keys[i])) {
        notice(r, "%s is not in the posterior draws for run --psa (they hold transition "
                  "probabilities and locality multipliers): runs keep its posterior mean",
               p->par[k].keys[i]);
        break;
      }
  for (size_t j = 0; j < p->n_obs; j++) {
    const fl_obs *o = &p->obs[j];
    const double *b = r->obs_band + j * 5;
    if (o->used_initial) continue;
    /* Outside the 99% predictive interval, by the normal approximation around the 90% one. */
    const double half = (b[4] - b[3]) / 2, mid = (b[4] + b[3]) / 2, z = 2.576 / 1.645;
    if (fabs(o->value - mid) > z * half + 0.5) {
      r->n_missed++;
      notice(r, "the fit misses %s on %s (line %zu): observed %g, fitted %.4g, beyond the "
                "observation model's 99%% interval [%.4g, %.4g]",
             o->measure, o->date, o->line, o->value, b[0], mid - z * half, mid + z * half);
    }
  }
}

/* ---- Files ------------------------------------------------------------------------------- */

static fl_status write_text(const char *path, const char *option, const char *text, size_t len,
                            fl_error *err) {
  fl_outfile of = {0};
  int fd;
  fl_status st = fl_outfile_begin(&of, path, option, &fd, err);
  if (st != FL_OK) return st;
  FILE *f = fdopen(fd, "w");
  if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
    if (!f) close(fd);
    fl_outfile_abort(&of);
    fl_error_set(err, FL_EIO, path, 0, 0, NULL, "could not write the file");
    return FL_EIO;
  }
  return fl_outfile_commit(&of, err);
}

/* A growing text. */
typedef struct text {
  char *s;
  size_t n, cap;
  int oom;
} text;
static void tputs(text *t, const char *s, size_t n) {
  if (t->oom) return;
  if (t->n + n + 1 > t->cap) {
    size_t cap = (t->n + n + 1) * 2;
    char *g = realloc(t->s, cap);
    if (!g) {
      t->oom = 1;
      return;
    }
    t->s = g;
    t->cap = cap;
  }
  memcpy(t->s + t->n, s, n);
  t->n += n;
  t->s[t->n] = '\0';
}
static void tprintf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(text *t, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) tputs(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* The draws file beside the fitted scenario: FITTED without .yaml or .yml, then .draws.csv. */
static char *draws_path(const char *output) {
  size_t n = strlen(output);
  if (n > 5 && !strcmp(output + n - 5, ".yaml")) n -= 5;
  else if (n > 4 && !strcmp(output + n - 4, ".yml")) n -= 4;
  char *s = malloc(n + 11);
  if (s) {
    memcpy(s, output, n);
    strcpy(s + n, ".draws.csv");
  }
  return s;
}

typedef struct edit {
  size_t from, to;
  char value[300];
} edit;

static int by_offset(const void *a, const void *b) {
  const edit *x = a, *y = b;
  return x->from < y->from ? 1 : x->from > y->from ? -1 : 0;
}

/* The scenario's text with the parameters' posterior means written over their values. */
static fl_status fitted_text(const fit_result *r, const char *draws_name, text *t, fl_error *err) {
  const fl_fit_problem *p = r->p;
  fl_scenario *sc = NULL;
  fl_status st = fl_scenario_load_text(p->scenario_path, p->text, strlen(p->text), NULL, 0, &sc, err);
  if (st != FL_OK) return st;
  size_t n_edits = 0, cap = 0;
  for (size_t k = 0; k < p->K; k++) cap += p->par[k].n;
  edit *ed = fl_calloc(cap ? cap : 1, sizeof *ed);
  size_t *line_at = NULL;
  if (!ed) goto oom;
  /* Offsets of the lines. */
  size_t nl = 1;
  for (const char *c = p->text; *c; c++) nl += *c == '\n';
  if (!(line_at = fl_calloc(nl + 1, sizeof *line_at))) goto oom;
  nl = 1;
  for (size_t i = 0; p->text[i]; i++)
    if (p->text[i] == '\n') line_at[nl++] = i + 1;
  for (size_t k = 0; k < p->K; k++) {
    const fl_fit_param *q = &p->par[k];
    for (size_t i = 0; i < q->n; i++) {
      /* The scalar's node in the file as written. */
      char set[600];
      snprintf(set, sizeof set, "%s", q->keys[i]);
      const fl_node *node = sc->root;
      for (const char *c = set; node && *c;) {
        if (*c == '[') {
          size_t idx = strtoul(c + 1, NULL, 10);
          node = node->kind == FL_NODE_SEQ && idx < node->n ? node->items[idx] : NULL;
          c = strchr(c, ']') + 1;
          continue;
        }
        if (*c == '.') c++;
        const char *stop = c;
        while (*stop && *stop != '.' && *stop != '[') stop++;
        const fl_node *next = NULL;
        for (size_t j = 0; node->kind == FL_NODE_MAP && j < node->n && !next; j++)
          if (strlen(fl_map_key(node, j)->value) == (size_t)(stop - c) &&
              !strncmp(fl_map_key(node, j)->value, c, (size_t)(stop - c)))
            next = fl_map_val(node, j);
        node = next;
        c = stop;
      }
      if (!node || node->line < 1 || (size_t)node->line > nl - 1 + 1) continue;
      size_t from = line_at[node->line - 1] + (size_t)node->col - 1, to = from;
      while (p->text[to] && !strchr(",}]#\n\r", p->text[to])) to++;
      while (to > from && (p->text[to - 1] == ' ' || p->text[to - 1] == '\t')) to--;
      edit *e = &ed[n_edits++];
      e->from = from;
      e->to = to;
      const double mean = r->sum[k * SUM_COLS + SUM_MEAN];
      const double v = q->scale ? q->base[i] * mean : mean;
      snprintf(e->value, sizeof e->value, q->whole[i] ? "%.0f" : "%.8g", v);
    }
  }
  const fl_node *pd = fl_map_get(sc->root, "posterior_draws");
  if (pd && pd->line >= 1 && (size_t)pd->line <= nl) {
    edit *e = realloc(ed, (n_edits + 1) * sizeof *ed);
    if (!e) goto oom;
    ed = e;
    e = &ed[n_edits++];
    e->from = line_at[pd->line - 1] + (size_t)pd->col - 1;
    e->to = e->from;
    while (p->text[e->to] && !strchr(",}]#\n\r", p->text[e->to])) e->to++;
    while (e->to > e->from && (p->text[e->to - 1] == ' ' || p->text[e->to - 1] == '\t')) e->to--;
    snprintf(e->value, sizeof e->value, "%s", draws_name);
  }
  qsort(ed, n_edits, sizeof *ed, by_offset);
  tprintf(t, "# Fitted by flourish fit to %zu observations: the posterior means of %zu "
             "parameter(s) are written in place",
          p->n_obs, p->K);
  for (size_t k = 0; k < p->K; k++)
    tprintf(t, "%s%s%s", k ? ", " : " (", p->par[k].path, p->par[k].scale ? " as a factor" : "");
  tprintf(t, "); %zu posterior draws are in %s.\n", r->n_draws, draws_name);
  if (r->opt->command_line) tprintf(t, "# Command: %s\n", r->opt->command_line);
  /* Apply the edits from the end of the text back. */
  char *body = fl_strdup(p->text);
  if (!body) goto oom;
  text b = {0};
  tputs(&b, body, strlen(body));
  free(body);
  for (size_t i = 0; i < n_edits && !b.oom; i++) {
    text nb = {0};
    tputs(&nb, b.s, ed[i].from);
    tputs(&nb, ed[i].value, strlen(ed[i].value));
    tputs(&nb, b.s + ed[i].to, b.n - ed[i].to);
    free(b.s);
    b = nb;
  }
  if (b.s) tputs(t, b.s, b.n);
  if (b.n && b.s[b.n - 1] != '\n') tputs(t, "\n", 1);
  if (!fl_map_get(sc->root, "posterior_draws"))
    tprintf(t, "\n# The posterior draws of the fit, for run --psa (one a block of replications).\n"
               "posterior_draws: %s\n", draws_name);
  t->oom |= b.oom;
  free(b.s);
  free(ed);
  free(line_at);
  fl_scenario_free(sc);
  if (t->oom) goto oom2;
  return FL_OK;
oom:
  free(ed);
  free(line_at);
  fl_scenario_free(sc);
oom2:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  return FL_ENOMEM;
}

static fl_status write_outputs(fit_result *r, fl_error *err) {
  const fl_fit_problem *p = r->p;
  const fl_fit_options *opt = r->opt;
  const size_t K = p->K;
  fl_status st;
  char *dpath = draws_path(opt->output);
  text y = {0}, d = {0}, s = {0};
  if (!dpath) goto oom;
  const char *base = strrchr(dpath, '/');
  if ((st = fitted_text(r, base ? base + 1 : dpath, &y, err)) != FL_OK) goto out;
  /* The draws as run --psa reads them: a column for each key the parameters set that the
   * step probabilities hold, with its value at the draw. */
  tprintf(&d, "draw");
  for (size_t k = 0; k < K; k++)
    for (size_t i = 0; i < p->par[k].n; i++)
      if (drawable(p->par[k].keys[i])) tprintf(&d, ",%s", p->par[k].keys[i]);
  tprintf(&d, "\n");
  for (size_t j = 0; j < r->n_draws; j++) {
    tprintf(&d, "%zu", j);
    for (size_t k = 0; k < K; k++) {
      const fl_fit_param *q = &p->par[k];
      const double x = r->draws[j * K + k];
      for (size_t i = 0; i < q->n; i++)
        if (drawable(q->keys[i])) tprintf(&d, ",%.10g", q->scale ? q->base[i] * x : x);
    }
    tprintf(&d, "\n");
  }
  if (y.oom || d.oom) goto oom;
  if ((st = write_text(opt->output, "-o", y.s, y.n, err)) != FL_OK ||
      (st = write_text(dpath, "-o (its draws)", d.s, d.n, err)) != FL_OK)
    goto out;
  if (opt->summary_csv) {
    tprintf(&s, "parameter,mean,sd,q05,q50,q95,rhat,ess\n");
    for (size_t k = 0; k < K; k++) {
      const double *v = r->sum + k * SUM_COLS;
      tprintf(&s, "%s,%.8g,%.8g,%.8g,%.8g,%.8g,%.4f,%.0f\n", p->par[k].path, v[SUM_MEAN],
              v[SUM_SD], v[SUM_Q05], v[SUM_Q50], v[SUM_Q95], v[SUM_RHAT], v[SUM_ESS]);
    }
    if (s.oom) goto oom;
    if ((st = write_text(opt->summary_csv, "--summary-csv", s.s, s.n, err)) != FL_OK) goto out;
  }
  if (opt->report_h5) {
    const size_t n_obs = p->n_obs, NS = p->n_series, T1 = p->T + 1;
    double *ov = fl_calloc(n_obs * 4, sizeof *ov), *diag = fl_calloc(K * 2, sizeof *diag);
    double run[6] = {(double)r->ch.W, (double)r->ch.N, (double)r->ch.burn, r->ch.acceptance,
                     (double)(p->start_month / 12), (double)(p->start_month % 12 + 1)};
    if (!ov || !diag) {
      free(ov);
      free(diag);
      goto oom;
    }
    for (size_t j = 0; j < n_obs; j++) {
      ov[j * 4] = p->obs[j].value;
      ov[j * 4 + 1] = (double)p->obs[j].t;
      ov[j * 4 + 2] = (double)p->obs[j].series;
      ov[j * 4 + 3] = p->obs[j].used_initial;
    }
    for (size_t k = 0; k < K; k++) {
      diag[k * 2] = r->sum[k * SUM_COLS + SUM_RHAT];
      diag[k * 2 + 1] = r->sum[k * SUM_COLS + SUM_ESS];
    }
    const fl_h5_names names[3] = {{"parameters", r->param_names, K},
                                  {"measures", r->series_names, NS},
                                  {"levels", p->level_names, p->L}};
    const fl_h5_dataset ds[] = {
        {.name = "draws", .doc = "Posterior draws, one row each (the draws file's), a column "
                                 "a parameter (/parameters).",
         .rank = 2, .dims = {r->n_draws, K}, .data = r->draws},
        {.name = "summary", .doc = "Per parameter: mean, sd, q05, q50, q95, split R-hat, bulk "
                                   "ESS.",
         .rank = 2, .dims = {K, SUM_COLS}, .data = r->sum},
        {.name = "correlation", .doc = "Posterior correlations of the parameters.",
         .rank = 2, .dims = {K, K}, .data = r->corr},
        {.name = "diagnostics", .doc = "Per parameter: split R-hat, bulk ESS (Vehtari et al. "
                                       "2021).",
         .rank = 2, .dims = {K, 2}, .data = diag},
        {.name = "sampler", .doc = "Walkers, kept iterations, burn-in iterations, acceptance "
                                   "rate; the fit's first month (year, month).",
         .rank = 1, .dims = {6}, .data = run},
        {.name = "observed", .doc = "Per observation (the CSV's rows in order): value, step "
                                    "of the fit, measure (/measures), 1 when it set the "
                                    "initial state.",
         .rank = 2, .dims = {n_obs, 4}, .data = ov},
        {.name = "fitted", .doc = "Per observation: the expected value's posterior mean, q05 "
                                  "and q95, and the predictive (with the observation model's "
                                  "noise) q05 and q95.",
         .rank = 2, .dims = {n_obs, 5}, .data = r->obs_band},
        {.name = "series", .doc = "Per measure: the expected series' posterior mean, q05 and "
                                  "q95 at each step of the fit (stocks at the step's start; "
                                  "flows within the step, the last NaN).",
         .rank = 3, .dims = {NS, 3, T1}, .data = r->series_band},
        {.name = "levels_series", .doc = "Per level of the scenario (/levels), observed or not: "
                                         "its expected stock's posterior mean, q05 and q95 at "
                                         "the start of each step of the fit.",
         .rank = 3, .dims = {p->L, 3, T1}, .data = r->level_band},
    };
    char stamp[32];
    const time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    const char *const attrs[][2] = {{"mode", "fit"},
                                    {"command_line", opt->command_line ? opt->command_line : ""},
                                    {"git_commit", opt->git_commit ? opt->git_commit : "unknown"},
                                    {"created_utc", stamp},
                                    {"scenario", p->scenario_path},
                                    {"observed", opt->observed}};
    st = fl_h5_write_simple(opt->report_h5, ds, sizeof ds / sizeof ds[0], names, 3, attrs,
                            sizeof attrs / sizeof attrs[0], err);
    free(ov);
    free(diag);
    if (st != FL_OK) goto out;
  }
  st = FL_OK;
  goto out;
oom:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  st = FL_ENOMEM;
out:
  free(dpath);
  free(y.s);
  free(d.s);
  free(s.s);
  return st;
}

/* The printed tables. */
static void print_tables(const fit_result *r) {
  const fl_fit_problem *p = r->p;
  fl_out o = {r->opt->write, r->opt->ctx};
  if (!o.write) return;
  fl_outf(&o, "%zu walkers x %zu iterations after %zu of burn-in; acceptance %.2f\n\n", r->ch.W,
          r->ch.N, r->ch.burn, r->ch.acceptance);
  fl_outf(&o, "%-48s %11s %10s %11s %11s %11s %6s %6s\n", "parameter", "mean", "sd", "q05", "q50",
          "q95", "rhat", "ess");
  for (size_t k = 0; k < p->K; k++) {
    const double *v = r->sum + k * SUM_COLS;
    fl_outf(&o, "%-48s %11.5g %10.3g %11.5g %11.5g %11.5g %6.3f %6.0f\n", p->par[k].path,
            v[SUM_MEAN], v[SUM_SD], v[SUM_Q05], v[SUM_Q50], v[SUM_Q95], v[SUM_RHAT], v[SUM_ESS]);
  }
  fl_outf(&o, "\n%-11s %-24s %10s %10s %21s %21s\n", "date", "measure", "observed", "fitted",
          "90% band (expected)", "90% band (predictive)");
  for (size_t j = 0; j < p->n_obs; j++) {
    const fl_obs *ob = &p->obs[j];
    const double *b = r->obs_band + j * 5;
    char m[128];
    snprintf(m, sizeof m, "%s%s%s", ob->measure, ob->loc >= 0 ? "@" : "",
             ob->loc >= 0 ? p->loc_names[ob->loc] : "");
    fl_outf(&o, "%-11s %-24s %10g %10.1f %10.1f-%-10.1f %10.1f-%-10.1f%s\n", ob->date, m,
            ob->value, b[0], b[1], b[2], b[3], b[4], ob->used_initial ? " (initial state)" : "");
  }
  /* Every level's expected stock at the fit's start, middle and end. */
  const size_t T1 = p->T + 1, at[3] = {0, p->T / 2, p->T};
  char when[3][48];
  for (int i = 0; i < 3; i++) {
    const long mo = p->start_month + (long)nearbyint((double)at[i] * p->step_months);
    snprintf(when[i], sizeof when[i], "%04ld-%02ld", mo / 12, mo % 12 + 1);
  }
  fl_outf(&o, "\nexpected children at each level (posterior mean and 90%% band)\n%-24s", "level");
  for (int i = 0; i < 3; i++) fl_outf(&o, " %24s", when[i]);
  fl_outf(&o, "\n");
  for (size_t l = 0; l < p->L; l++) {
    const double *v = r->level_band + l * 3 * T1;
    fl_outf(&o, "%-24s", p->level_names[l]);
    for (int i = 0; i < 3; i++) {
      char cellb[64];
      snprintf(cellb, sizeof cellb, "%.0f (%.0f-%.0f)", v[at[i]], v[T1 + at[i]], v[2 * T1 + at[i]]);
      fl_outf(&o, " %24s", cellb);
    }
    fl_outf(&o, "\n");
  }
}

fl_status fl_fit(const fl_fit_options *opt, fl_error *err) {
  fit_result r = {.opt = opt};
  fl_status st;
  if ((st = fl_fit_problem_create(opt, &r.p, err)) != FL_OK) return st;
  gsl_error_handler_t *old_handler = gsl_set_error_handler_off();
  fl_fit_problem *p = r.p;
  if ((st = fl_fit_sample(p, opt, &r.ch, err)) != FL_OK) goto out;
  r.param_names = fl_calloc(p->K, sizeof *r.param_names);
  r.series_names = fl_calloc(p->n_series, sizeof *r.series_names);
  if (!r.param_names || !r.series_names) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    st = FL_ENOMEM;
    goto out;
  }
  for (size_t k = 0; k < p->K; k++) r.param_names[k] = p->par[k].path;
  if ((st = summarise(&r, err)) != FL_OK || (st = pick_draws(&r, err)) != FL_OK ||
      (st = bands(&r, err)) != FL_OK)
    goto out;
  for (size_t s = 0; s < p->n_series; s++) {
    const fl_obs *ob = &p->obs[r.series_rep[s]];
    char m[128];
    snprintf(m, sizeof m, "%s%s%s", ob->measure, ob->loc >= 0 ? "@" : "",
             ob->loc >= 0 ? p->loc_names[ob->loc] : "");
    if (!(r.series_names[s] = fl_strdup(m))) {
      fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
      st = FL_ENOMEM;
      goto out;
    }
  }
  print_tables(&r);
  warn(&r);
  st = write_outputs(&r, err);
out:
  if (r.series_names)
    for (size_t s = 0; s < p->n_series; s++) free(r.series_names[s]);
  free(r.series_names);
  free(r.param_names);
  free(r.ch.x);
  free(r.sum);
  free(r.corr);
  free(r.draws);
  free(r.obs_band);
  free(r.series_band);
  free(r.level_band);
  free(r.series_rep);
  fl_fit_problem_free(p);
  gsl_set_error_handler(old_handler);
  return st;
}
