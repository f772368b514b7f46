/* Posterior draws (the scenario's posterior_draws, a CSV that flourish fit writes): a header of
 * key paths (after a first column "draw"), then a row a draw. Each draw is the scenario with
 * those keys set, as --set would set them after the scenario's own assignments; its step
 * probabilities are compiled here, once, so that run --psa only picks a draw for each block of
 * replications (sim/psa.c). Only transition probabilities and locality multipliers may be
 * drawn: they are all that the step probabilities hold. */
#include "model/compile.h"

#include "core/csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POST_MAX_DRAWS 100000

typedef struct post_reader {
  compiler *c;
  const char *path;
  char **names;       /* the header's key paths */
  size_t n_names;
  size_t n, cap;
  char ***sets;       /* [n][n_names + n_overrides] */
} post_reader;

/* The header line of the file, split at commas (the key paths have no commas or quotes). */
static fl_status read_header(compiler *c, const char *path, char ***names, size_t *n) {
  char *text = NULL;
  size_t len;
  fl_status st = fl_read_file(path, &text, &len, c->err);
  if (st != FL_OK) return st;
  char *nl = strpbrk(text, "\r\n");
  if (nl) *nl = '\0';
  size_t k = 1;
  for (char *s = text; *s; s++) k += *s == ',';
  *names = calloc(k, sizeof **names);
  *n = 0;
  if (!*names) {
    free(text);
    return fl_c_oom(c);
  }
  for (char *s = text, *e;; s = e + 1) {
    e = strchr(s, ',');
    if (e) *e = '\0';
    if (!((*names)[(*n)++] = fl_strdup(s))) {
      free(text);
      return fl_c_oom(c);
    }
    if (!e) break;
  }
  free(text);
  if (*n < 2 || strcmp((*names)[0], "draw")) {
    fl_error_set(c->err, FL_EINPUT, path, 1, 1, NULL,
                 "posterior draws: expected a header draw,PATH,... (as flourish fit writes it)");
    return FL_EINPUT;
  }
  for (size_t i = 1; i < *n; i++)
    if (strncmp((*names)[i], "transitions.", 12) && strncmp((*names)[i], "localities.", 11)) {
      fl_error_set(c->err, FL_EINPUT, path, 1, 1, (*names)[i],
                   "run --psa draws transition probabilities and locality multipliers only "
                   "(keys under transitions. or localities.); found '%s'",
                   (*names)[i]);
      return FL_EINPUT;
    }
  return FL_OK;
}

static fl_status post_record(void *ctx, fl_csv *r, const char *const *f) {
  post_reader *pr = ctx;
  if (pr->n == POST_MAX_DRAWS)
    return fl_csv_fail(r, FL_EINPUT, -1, "at most %d posterior draws", POST_MAX_DRAWS);
  if (pr->n == pr->cap) {
    size_t cap = pr->cap ? 2 * pr->cap : 256;
    char ***g = realloc(pr->sets, cap * sizeof *g);
    if (!g) return fl_csv_fail(r, FL_ENOMEM, -1, "out of memory");
    pr->sets = g;
    pr->cap = cap;
  }
  char **row = calloc(pr->n_names, sizeof *row);
  if (!row) return fl_csv_fail(r, FL_ENOMEM, -1, "out of memory");
  pr->sets[pr->n++] = row;
  for (size_t k = 1; k < pr->n_names; k++) {
    char *end;
    errno = 0;
    const double v = strtod(f[k], &end);
    if (!f[k][0] || *end || errno || !isfinite(v))
      return fl_csv_fail(r, FL_EINPUT, (int)k, "expected a number, found '%.40s'", f[k]);
    size_t n = strlen(pr->names[k]) + strlen(f[k]) + 2;
    if (!(row[k] = malloc(n))) return fl_csv_fail(r, FL_ENOMEM, -1, "out of memory");
    snprintf(row[k], n, "%s=%s", pr->names[k], f[k]);
  }
  return FL_OK;
}

fl_status fl_compile_posterior(compiler *c) {
  const fl_node *node = fl_map_get(c->sc->root, "posterior_draws");
  fl_model *m = c->m;
  if (!node) return FL_OK;
  const char *file = node->value, *slash = strrchr(c->sc->path, '/');
  char path[1024];
  if (file[0] == '/' || !slash) snprintf(path, sizeof path, "%s", file);
  else snprintf(path, sizeof path, "%.*s/%s", (int)(slash - c->sc->path), c->sc->path, file);
  post_reader pr = {.c = c, .path = path};
  fl_status st = read_header(c, path, &pr.names, &pr.n_names);
  /* The scenario's own assignments first, one a line. */
  size_t n_over = 0;
  char *over = fl_strdup(c->sc->overrides ? c->sc->overrides : ""), **over_sets = NULL;
  if (st == FL_OK && !over) st = fl_c_oom(c);
  if (st == FL_OK) {
    for (char *s = over; *s; s++) n_over += *s == '\n';
    if (!(over_sets = calloc(n_over + pr.n_names, sizeof *over_sets))) st = fl_c_oom(c);
    n_over = 0;
    for (char *line = over, *nl; st == FL_OK && line && *line; line = nl) {
      if ((nl = strchr(line, '\n'))) *nl++ = '\0';
      if (*line) over_sets[n_over++] = line;
    }
  }
  fl_csv_spec spec = {(const char *const *)pr.names, pr.n_names, 0, "posterior draws"};
  for (size_t k = 0; st == FL_OK && k < pr.n_names && k < 32; k++) spec.required |= 1ul << k;
  if (st == FL_OK) st = fl_csv_read(path, &spec, ',', post_record, &pr, c->err);
  if (st == FL_OK && !pr.n) {
    fl_error_set(c->err, FL_EINPUT, path, 1, 1, NULL, "posterior draws: the file has no draws");
    st = FL_EINPUT;
  }
  const size_t cells = m->NP * m->rows_per_period * m->S;
  if (st == FL_OK && !(m->post_base_p = fl_calloc(pr.n * cells, sizeof *m->post_base_p)))
    st = fl_c_oom(c);
  for (size_t d = 0; st == FL_OK && d < pr.n; d++) {
    fl_scenario *sc = NULL;
    fl_model *dm = NULL;
    for (size_t k = 1; k < pr.n_names; k++) over_sets[n_over + k - 1] = pr.sets[d][k];
    st = fl_scenario_load_text(c->sc->path, c->sc->text, c->sc->len,
                               (const char *const *)over_sets, n_over + pr.n_names - 1, &sc,
                               c->err);
    if (st == FL_OK) st = fl_model_compile_rows(sc, &dm, c->err);
    if (st == FL_OK && (dm->NP != m->NP || dm->rows_per_period != m->rows_per_period)) {
      fl_error_set(c->err, FL_EINPUT, path, (int)d + 2, 1, NULL,
                   "posterior draw %zu changes the model's bands", d);
      st = FL_EINPUT;
    }
    if (st != FL_OK) {
      /* Name the draw: its row of the file. */
      char what[sizeof c->err->message + 64];
      int n = snprintf(what, sizeof what, "posterior draw %zu (line %zu of the draws): ", d, d + 2);
      if (n > 0) {
        memcpy(what + n, c->err->message, strlen(c->err->message) + 1);
        snprintf(c->err->message, sizeof c->err->message, "%.1000s", what);
      }
    } else {
      memcpy(m->post_base_p + d * cells, dm->base_p, cells * sizeof *dm->base_p);
    }
    fl_model_free(dm);
    fl_scenario_free(sc);
  }
  if (st == FL_OK) m->n_post = pr.n;
  for (size_t d = 0; d < pr.n; d++) {
    for (size_t k = 0; k < pr.n_names; k++) free(pr.sets[d][k]);
    free(pr.sets[d]);
  }
  free(pr.sets);
  fl_names_free(pr.names, pr.n_names);
  free(over_sets);
  free(over);
  return st;
}
