/* flourish serve's JSON API (docs/serve.md): the scenario and its values, expectations with
 * --set assignments, the scenario rewritten with them, and Monte Carlo jobs run one at a time
 * on a worker thread. Numbers come from the library as `flourish expect --set` and
 * `flourish run --set` compute them; the JSON is jansson's, reals written with 17 significant
 * digits, so that they read back as the same doubles. */
#define _POSIX_C_SOURCE 200809L
#include "serve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_SETS = 256 };

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Takes a reference to v: the reply's body is v's text. */
static void reply_json(serve_reply *r, unsigned status, json_t *v) {
  r->status = status;
  r->type = "application/json";
  r->body = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
  r->len = r->body ? strlen(r->body) : 0;
  if (v && !r->body) r->status = 500;
  json_decref(v);
}

void serve_error(serve_reply *r, unsigned status, const char *message) {
  reply_json(r, status, json_pack("{s:s}", "error", message));
}

/* An engine error as the command line prints it ("--set PATH=VALUE: key: message"), with its
 * parts: status 400 for bad input, 500 for a failure. */
static void reply_fl_error(serve_reply *r, const fl_error *err) {
  char text[2048];
  fl_error_format(err, text, sizeof text);
  reply_json(r, fl_err_exit_code(err->code) == 2 ? 400 : 500,
             json_pack("{s:s,s:s,s:s}", "error", text, "key", err->key, "message", err->message));
}

/* A number as --set reads it: integers as such, other reals in the fewest digits that read
 * back as the same double. */
static void number_text(double v, char *buf, size_t size) {
  for (int digits = 1; digits <= 17; digits++) {
    snprintf(buf, size, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) return;
  }
}

/* The request's assignments: {"set": {PATH: value, ...}} into sets[] (PATH=VALUE, malloc'd).
 * root is the parsed body. Returns the number, or -1 after filling r. */
static int read_sets(json_t *root, char **sets, serve_reply *r) {
  json_t *set = json_object_get(root, "set");
  const char *key;
  json_t *v;
  int n = 0;
  if (!set) return 0;
  if (!json_is_object(set)) {
    serve_error(r, 400, "\"set\" must be an object of key paths and values");
    return -1;
  }
  if (json_object_size(set) > MAX_SETS) {
    serve_error(r, 400, "at most 256 assignments in \"set\"");
    return -1;
  }
  json_object_foreach(set, key, v) {
    char value[64];
    const char *text = value;
    if (!*key || strpbrk(key, "=\n")) {
      char msg[400];
      snprintf(msg, sizeof msg, "'%.300s': a key path has no '=' or line break", key);
      for (int i = 0; i < n; i++) free(sets[i]);
      serve_error(r, 400, msg);
      return -1;
    }
    if (json_is_integer(v)) snprintf(value, sizeof value, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v)) number_text(json_real_value(v), value, sizeof value);
    else if (json_is_boolean(v)) text = json_is_true(v) ? "true" : "false";
    else if (json_is_string(v)) text = json_string_value(v);
    else {
      char msg[400];
      snprintf(msg, sizeof msg, "%.300s: expected a number, a string or true/false", key);
      for (int i = 0; i < n; i++) free(sets[i]);
      serve_error(r, 400, msg);
      return -1;
    }
    size_t len = strlen(key) + strlen(text) + 2;
    if (!(sets[n] = malloc(len))) {
      for (int i = 0; i < n; i++) free(sets[i]);
      serve_error(r, 500, "out of memory");
      return -1;
    }
    snprintf(sets[n++], len, "%s=%s", key, text);
  }
  return n;
}

static void free_sets(char **sets, int n) {
  for (int i = 0; i < n; i++) free(sets[i]);
}

/* The body as a JSON object (NULL after filling r). */
static json_t *parse_body(const char *body, size_t len, serve_reply *r) {
  json_error_t jerr;
  json_t *root = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
  if (!root) {
    char msg[300];
    snprintf(msg, sizeof msg, "the body is not JSON: %s (line %d, column %d)",
             body && len ? jerr.text : "empty body", body && len ? jerr.line : 0,
             body && len ? jerr.column : 0);
    serve_error(r, 400, msg);
    return NULL;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    serve_error(r, 400, "the body must be a JSON object");
    return NULL;
  }
  return root;
}

/* The model of the scenario with the assignments (NULL after filling r). */
static fl_model *compile_with(serve_state *s, char **sets, int n, serve_reply *r) {
  fl_scenario *sc = NULL;
  fl_model *m = NULL;
  fl_error err = {0};
  fl_status st = fl_scenario_with(s->sc, (const char *const *)sets, (size_t)n, &sc, &err);
  if (st == FL_OK && (st = fl_model_compile(sc, &m, &err)) != FL_OK) fl_scenario_blame(sc, &err);
  fl_scenario_free(sc);
  if (st != FL_OK) reply_fl_error(r, &err);
  return m;
}

/* ---- values as JSON ---- */

/* count values of ds from offset at, shaped by dims[from, rank) as nested arrays. */
static json_t *nested(const fl_dataset *ds, int from, size_t at) {
  json_t *a = json_array();
  if (!a) return NULL;
  if (from == ds->rank) {
    json_decref(a);
    return json_real(fl_dataset_value(ds, at));
  }
  size_t stride = 1;
  for (int k = from + 1; k < ds->rank; k++) stride *= ds->dims[k];
  for (size_t i = 0; i < ds->dims[from]; i++) {
    json_t *item = from + 1 == ds->rank ? json_real(fl_dataset_value(ds, at + i))
                                        : nested(ds, from + 1, at + i * stride);
    json_array_append_new(a, item);
  }
  return a;
}

/* A dataset's values as nested arrays (or one number for a scalar), null when absent. */
static json_t *dataset_json(const fl_results *res, size_t arm, int comp, const char *name) {
  fl_dataset ds;
  if (!fl_results_dataset(res, arm, comp, name, &ds)) return json_null();
  return ds.rank == 0 ? json_real(fl_dataset_value(&ds, 0)) : nested(&ds, 0, 0);
}

/* The labels of dimension dim (arm's). */
static json_t *labels(const fl_results *res, size_t arm, const char *dim) {
  json_t *a = json_array();
  const char *name;
  for (size_t i = 0; (name = fl_results_label(res, arm, dim, i)); i++)
    json_array_append_new(a, json_string(name));
  return a;
}

/* Flows between levels: per step, the children moving into each level from another (in) and
 * out of it to another (out), from the flows [step, state, to_state]. */
static void level_flows(const fl_results *res, size_t arm, json_t *o) {
  fl_dataset ds;
  if (!fl_results_dataset(res, arm, 0, "flows", &ds) || ds.rank != 3) {
    json_object_set_new(o, "inflow", json_null());
    json_object_set_new(o, "outflow", json_null());
    return;
  }
  size_t L = 0;
  while (fl_results_label(res, arm, "level", L)) L++;
  const size_t T = ds.dims[0], S = ds.dims[1];
  json_t *in = json_array(), *out = json_array();
  double *row = calloc(2 * (L ? L : 1), sizeof *row);
  for (size_t t = 0; t < T && row; t++) {
    memset(row, 0, 2 * L * sizeof *row);
    for (size_t a = 0; a < S; a++)
      for (size_t b = 0; b < S; b++) {
        const int la = fl_results_state_level(res, a), lb = fl_results_state_level(res, b);
        if (la == lb || la < 0 || lb < 0) continue;
        const double v = fl_dataset_value(&ds, (t * S + a) * S + b);
        row[lb] += v;     /* into lb */
        row[L + la] += v; /* out of la */
      }
    json_t *ri = json_array(), *ro = json_array();
    for (size_t l = 0; l < L; l++) {
      json_array_append_new(ri, json_real(row[l]));
      json_array_append_new(ro, json_real(row[L + l]));
    }
    json_array_append_new(in, ri);
    json_array_append_new(out, ro);
  }
  free(row);
  json_object_set_new(o, "inflow", in);
  json_object_set_new(o, "outflow", out);
}

/* The sum of a dataset's values (QALYs over the horizon). */
static double dataset_sum(const fl_results *res, size_t arm, const char *name) {
  fl_dataset ds;
  double sum = 0;
  if (!fl_results_dataset(res, arm, 0, name, &ds)) return NAN;
  for (size_t i = 0; i < ds.count; i++) sum += fl_dataset_value(&ds, i);
  return sum;
}

static json_t *expect_json(const fl_results *res) {
  json_t *o = json_object(), *arms = json_array(), *comps = json_array();
  static const char *const arm_sets[] = {"stocks", "stocks_by_level", "entries", "exits",
                                         "costs", "costs_discounted", "qol", "qol_discounted"};
  static const char *const comp_sets[] = {"delta_costs", "cumulative_net_cost",
                                          "cumulative_net_cost_discounted", "delta_qalys",
                                          "delta_cost_total", "delta_qaly_total",
                                          "breakeven_step"};
  const size_t n = fl_results_n_arms(res);
  json_object_set_new(o, "labels",
                      json_pack("{s:o,s:o,s:o}", "state", labels(res, 0, "state"), "level",
                                labels(res, 0, "level"), "budget_holder",
                                labels(res, 0, "budget_holder")));
  for (size_t a = 0; a < n; a++) {
    json_t *arm = json_pack("{s:s}", "name", fl_results_arm_name(res, a));
    for (size_t k = 0; k < sizeof arm_sets / sizeof *arm_sets; k++)
      json_object_set_new(arm, arm_sets[k], dataset_json(res, a, 0, arm_sets[k]));
    level_flows(res, a, arm);
    json_object_set_new(arm, "qalys", json_real(dataset_sum(res, a, "qol")));
    json_object_set_new(arm, "qalys_discounted", json_real(dataset_sum(res, a, "qol_discounted")));
    json_array_append_new(arms, arm);
    if (a == 0) continue;
    json_t *c = json_pack("{s:s}", "arm", fl_results_arm_name(res, a));
    for (size_t k = 0; k < sizeof comp_sets / sizeof *comp_sets; k++)
      json_object_set_new(c, comp_sets[k], dataset_json(res, a, 1, comp_sets[k]));
    json_array_append_new(comps, c);
  }
  json_object_set_new(o, "arms", arms);
  json_object_set_new(o, "comparisons", comps);
  return o;
}

void serve_expect(serve_state *s, const char *body, size_t len, serve_reply *r) {
  const double t0 = now_ms();
  char *sets[MAX_SETS];
  json_t *root = parse_body(body, len, r);
  if (!root) return;
  int n = read_sets(root, sets, r);
  json_decref(root);
  if (n < 0) return;
  fl_model *m = compile_with(s, sets, n, r);
  free_sets(sets, n);
  if (!m) return;
  fl_results *res = NULL;
  fl_error err = {0};
  if (fl_expect(m, &res, &err) != FL_OK) {
    reply_fl_error(r, &err);
  } else {
    json_t *o = expect_json(res);
    json_object_set_new(o, "elapsed_ms", json_real(now_ms() - t0));
    reply_json(r, 200, o);
  }
  fl_results_free(res);
  fl_model_free(m);
}

void serve_yaml(serve_state *s, const char *body, size_t len, serve_reply *r) {
  char *sets[MAX_SETS], *text = NULL;
  size_t tlen = 0;
  fl_error err = {0};
  json_t *root = parse_body(body, len, r);
  if (!root) return;
  /* "arm" and "as": the what-if as a new arm named "as", a copy of "arm" changed. */
  json_t *arm = json_object_get(root, "arm"), *as = json_object_get(root, "as");
  if ((arm && !json_is_string(arm)) || (as && !json_is_string(as)) || !arm != !as) {
    json_decref(root);
    serve_error(r, 400, "\"arm\" and \"as\" go together, each a string: the arm copied "
                        "and the new arm's name");
    return;
  }
  int n = read_sets(root, sets, r);
  if (n < 0) {
    json_decref(root);
    return;
  }
  fl_status st;
  if (arm) {
    fl_scenario *loaded = NULL;
    fl_model *m = NULL;
    st = fl_scenario_yaml_new_arm(s->sc, json_string_value(arm), json_string_value(as),
                                  (const char *const *)sets, (size_t)n, &text, &tlen, &loaded,
                                  &err);
    /* The file must also compile, as flourish run and expect will. */
    if (st == FL_OK && (st = fl_model_compile(loaded, &m, &err)) != FL_OK) {
      free(text);
      text = NULL;
    }
    fl_model_free(m);
    fl_scenario_free(loaded);
  } else {
    st = fl_scenario_yaml_with(s->sc, (const char *const *)sets, (size_t)n, &text, &tlen, &err);
  }
  json_decref(root);
  free_sets(sets, n);
  if (st != FL_OK) {
    reply_fl_error(r, &err);
    return;
  }
  r->status = 200;
  r->type = "application/yaml; charset=utf-8";
  r->body = text;
  r->len = tlen;
  r->filename = "whatif.yaml";
}

/* ---- the scenario ---- */

typedef struct values_ctx {
  json_t *values;
} values_ctx;

static void add_value(void *ctx, const fl_value_info *v) {
  values_ctx *c = ctx;
  json_t *o = json_pack("{s:s,s:s,s:s}", "path", v->path, "text", v->text, "type", v->type);
  if (!strcmp(v->type, "number") || !strcmp(v->type, "integer") ||
      !strcmp(v->type, "probability")) {
    json_object_set_new(o, "min", isfinite(v->min) ? json_real(v->min) : json_null());
    json_object_set_new(o, "max", isfinite(v->max) ? json_real(v->max) : json_null());
  }
  if (v->choices) json_object_set_new(o, "choices", json_string(v->choices));
  if (v->unit) json_object_set_new(o, "unit", json_string(v->unit));
  if (v->doc) json_object_set_new(o, "doc", json_string(v->doc));
  if (v->def) json_object_set_new(o, "default", json_string(v->def));
  json_array_append_new(c->values, o);
}

void serve_scenario(serve_state *s, serve_reply *r) {
  values_ctx c = {json_array()};
  fl_scenario_values(s->sc, add_value, &c);
  json_t *o = json_pack("{s:s,s:o,s:I,s:I}", "file", s->path, "values", c.values,
                        "max_replications", (json_int_t)s->max_replications, "max_jobs",
                        (json_int_t)s->max_jobs);
  reply_json(r, 200, o);
}

/* ---- Monte Carlo jobs ---- */

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_CANCELLED, JOB_FAILED } job_state;
static const char *const job_state_names[] = {"queued", "running", "done", "cancelled", "failed"};

struct serve_job {
  unsigned long id;
  job_state state;
  fl_model *m;
  fl_run_options opt;
  size_t done;       /* replications completed (under s->lock) */
  int cancel;        /* asked to stop (read by the stop callback) */
  double queued_at, started_at, ended_at;
  char *result;      /* the summaries' JSON text when done */
  char *error;       /* the error's JSON text when failed */
  serve_state *s;
  serve_job *next;
};

/* Finished jobs kept for GET after they end; the oldest are dropped beyond this. */
enum { KEEP_FINISHED = 32 };

static void job_free(serve_job *j) {
  if (!j) return;
  fl_model_free(j->m);
  free(j->result);
  free(j->error);
  free(j);
}

static void job_progress(void *ctx, size_t done, size_t total) {
  serve_job *j = ctx;
  (void)total;
  pthread_mutex_lock(&j->s->lock);
  if (done > j->done) j->done = done;
  pthread_mutex_unlock(&j->s->lock);
}

static int job_stop(void *ctx) {
  serve_job *j = ctx;
  return __atomic_load_n(&j->cancel, __ATOMIC_RELAXED) ||
         __atomic_load_n(&j->s->quit, __ATOMIC_RELAXED);
}

/* The summaries of a dataset over replications: {stat: nested values} (null when absent). */
static json_t *summary_json(const fl_results *res, size_t arm, int comp, const char *name) {
  fl_dataset ds;
  fl_error err = {0};
  if (!fl_results_dataset(res, arm, comp, name, &ds) || !ds.per_replication) return json_null();
  const size_t cells = ds.count / ds.dims[0];
  double *stats = malloc(FL_SUMMARY_STATS * (cells ? cells : 1) * sizeof *stats);
  if (!stats || fl_dataset_summarise(&ds, stats, &err) != FL_OK) {
    free(stats);
    return json_null();
  }
  /* Each statistic shaped as the dataset without its replication dimension. */
  json_t *o = json_object();
  for (size_t k = 0; k < FL_SUMMARY_STATS; k++) {
    json_t *flat = json_array();
    for (size_t c = 0; c < cells; c++) json_array_append_new(flat, json_real(stats[k * cells + c]));
    if (ds.rank == 3) { /* [R, A, B]: A arrays of B */
      json_t *rows = json_array();
      for (size_t i = 0; i < ds.dims[1]; i++) {
        json_t *row = json_array();
        for (size_t jx = 0; jx < ds.dims[2]; jx++)
          json_array_append(row, json_array_get(flat, i * ds.dims[2] + jx));
        json_array_append_new(rows, row);
      }
      json_decref(flat);
      flat = rows;
    } else if (ds.rank == 1) {
      json_t *one = json_incref(json_array_get(flat, 0));
      json_decref(flat);
      flat = one;
    }
    json_object_set_new(o, fl_summary_stat_name(k), flat);
  }
  free(stats);
  return o;
}

static char *run_json(const fl_results *res) {
  json_t *o = json_object(), *arms = json_array(), *comps = json_array();
  static const char *const arm_sets[] = {"stocks_by_level", "costs", "qol"};
  static const char *const comp_sets[] = {"cumulative_net_cost", "delta_cost_total",
                                          "delta_qaly_total", "breakeven_step"};
  const size_t n = fl_results_n_arms(res);
  json_object_set_new(o, "replications", json_integer((json_int_t)fl_results_replications(res)));
  for (size_t a = 0; a < n; a++) {
    json_t *arm = json_pack("{s:s}", "name", fl_results_arm_name(res, a));
    for (size_t k = 0; k < sizeof arm_sets / sizeof *arm_sets; k++)
      json_object_set_new(arm, arm_sets[k], summary_json(res, a, 0, arm_sets[k]));
    json_array_append_new(arms, arm);
    if (a == 0) continue;
    json_t *c = json_pack("{s:s}", "arm", fl_results_arm_name(res, a));
    for (size_t k = 0; k < sizeof comp_sets / sizeof *comp_sets; k++)
      json_object_set_new(c, comp_sets[k], summary_json(res, a, 1, comp_sets[k]));
    json_object_set_new(c, "p_saving_by_year", dataset_json(res, a, 1, "p_saving_by_year"));
    json_array_append_new(comps, c);
  }
  json_object_set_new(o, "arms", arms);
  json_object_set_new(o, "comparisons", comps);
  char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(o);
  return text;
}

/* Drops finished jobs beyond KEEP_FINISHED (under the lock). */
static void prune(serve_state *s) {
  size_t finished = 0;
  for (serve_job **p = &s->jobs; *p;) {
    serve_job *j = *p;
    if (j->state >= JOB_DONE && ++finished > KEEP_FINISHED) {
      *p = j->next;
      job_free(j);
    } else {
      p = &j->next;
    }
  }
}

/* The oldest queued job (under the lock), or NULL. */
static serve_job *next_queued(serve_state *s) {
  serve_job *found = NULL;
  for (serve_job *j = s->jobs; j; j = j->next)
    if (j->state == JOB_QUEUED) found = j;
  return found;
}

static void *worker(void *arg) {
  serve_state *s = arg;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    serve_job *j;
    while (!s->quit && !(j = next_queued(s))) pthread_cond_wait(&s->wake, &s->lock);
    if (s->quit) break;
    j->state = JOB_RUNNING;
    j->started_at = now_ms();
    pthread_mutex_unlock(&s->lock);
    fl_results *res = NULL;
    fl_error err = {0};
    fl_status st = fl_run(j->m, &j->opt, &res, &err);
    char *text = st == FL_OK ? run_json(res) : NULL, *error = NULL;
    if (st != FL_OK && st != FL_ESTOPPED) {
      char msg[2048];
      fl_error_format(&err, msg, sizeof msg);
      json_t *e = json_pack("{s:s}", "error", msg);
      error = json_dumps(e, JSON_COMPACT);
      json_decref(e);
    }
    fl_results_free(res);
    pthread_mutex_lock(&s->lock);
    j->ended_at = now_ms();
    j->result = text;
    j->error = error;
    j->state = st == FL_OK && text ? JOB_DONE : st == FL_ESTOPPED ? JOB_CANCELLED : JOB_FAILED;
    fl_model_free(j->m);
    j->m = NULL;
    prune(s);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

int serve_jobs_start(serve_state *s) {
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->wake, NULL);
  s->next_id = 1;
  return pthread_create(&s->worker, NULL, worker, s) == 0 ? 0 : -1;
}

void serve_jobs_stop(serve_state *s) {
  pthread_mutex_lock(&s->lock);
  __atomic_store_n(&s->quit, 1, __ATOMIC_RELAXED);
  pthread_cond_broadcast(&s->wake);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->worker, NULL);
  while (s->jobs) {
    serve_job *j = s->jobs;
    s->jobs = j->next;
    job_free(j);
  }
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->lock);
}

/* A whole number field of the body in [lo, hi] (def when absent); -1 after filling r. */
static int int_field(json_t *root, const char *name, json_int_t lo, json_int_t hi, json_int_t def,
                     json_int_t *out, serve_reply *r) {
  json_t *v = json_object_get(root, name);
  char msg[200];
  *out = def;
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
    snprintf(msg, sizeof msg, "\"%s\": expected a whole number from %" JSON_INTEGER_FORMAT
             " to %" JSON_INTEGER_FORMAT, name, lo, hi);
    serve_error(r, 400, msg);
    return -1;
  }
  *out = json_integer_value(v);
  return 0;
}

static json_t *job_json(const serve_job *j) {
  const double end = j->ended_at ? j->ended_at : now_ms();
  json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I}", "id", "", "state", job_state_names[j->state],
                        "done", (json_int_t)j->done, "total", (json_int_t)j->opt.replications,
                        "seed", (json_int_t)j->opt.seed);
  char id[32];
  snprintf(id, sizeof id, "%lu", j->id);
  json_object_set_new(o, "id", json_string(id));
  json_object_set_new(o, "elapsed_ms",
                      j->started_at ? json_real(end - j->started_at) : json_real(0));
  return o;
}

void serve_run_start(serve_state *s, const char *body, size_t len, serve_reply *r) {
  char *sets[MAX_SETS];
  json_int_t reps, seed;
  json_t *root = parse_body(body, len, r);
  if (!root) return;
  if (int_field(root, "replications", 1, (json_int_t)s->max_replications, 100, &reps, r) ||
      int_field(root, "seed", 0, INT64_MAX, 1, &seed, r)) {
    json_decref(root);
    return;
  }
  int n = read_sets(root, sets, r);
  json_decref(root);
  if (n < 0) return;
  fl_model *m = compile_with(s, sets, n, r);
  free_sets(sets, n);
  if (!m) return;
  serve_job *j = calloc(1, sizeof *j);
  if (!j) {
    fl_model_free(m);
    serve_error(r, 500, "out of memory");
    return;
  }
  j->m = m;
  j->s = s;
  fl_run_options_init(&j->opt);
  j->opt.seed = (uint64_t)seed;
  j->opt.replications = (size_t)reps;
  j->opt.threads = s->threads;
  j->opt.keep_flows = 0;
  j->opt.progress = job_progress;
  j->opt.progress_ctx = j;
  j->opt.stop = job_stop;
  j->opt.stop_ctx = j;
  j->queued_at = now_ms();
  pthread_mutex_lock(&s->lock);
  size_t active = 0;
  for (serve_job *k = s->jobs; k; k = k->next) active += k->state <= JOB_RUNNING;
  if (active >= s->max_jobs) {
    pthread_mutex_unlock(&s->lock);
    job_free(j);
    serve_error(r, 429, "too many Monte Carlo jobs queued or running; wait or cancel one");
    return;
  }
  j->id = s->next_id++;
  j->next = s->jobs;
  s->jobs = j;
  json_t *o = job_json(j);
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->lock);
  reply_json(r, 202, o);
}

/* The job with this id (under the lock), or NULL. */
static serve_job *find_job(serve_state *s, const char *id) {
  char *end;
  unsigned long v = strtoul(id, &end, 10);
  if (!*id || *end || id[0] == '0' || id[0] == '-' || id[0] == '+') return NULL;
  for (serve_job *j = s->jobs; j; j = j->next)
    if (j->id == v) return j;
  return NULL;
}

void serve_run_get(serve_state *s, const char *id, serve_reply *r) {
  pthread_mutex_lock(&s->lock);
  serve_job *j = find_job(s, id);
  if (!j) {
    pthread_mutex_unlock(&s->lock);
    serve_error(r, 404, "no such Monte Carlo job");
    return;
  }
  json_t *o = job_json(j);
  /* The result's text is spliced in as it is, not parsed again. */
  const char *extra = j->state == JOB_DONE ? j->result : j->state == JOB_FAILED ? j->error : NULL;
  char *head = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(o);
  size_t hl = head ? strlen(head) : 0, el = extra ? strlen(extra) : 0;
  char *text = head ? malloc(hl + el + 16) : NULL;
  if (text) {
    memcpy(text, head, hl - 1); /* without the closing brace */
    size_t at = hl - 1;
    if (extra) {
      const char *key = j->state == JOB_DONE ? ",\"result\":" : ",\"failure\":";
      memcpy(text + at, key, strlen(key));
      at += strlen(key);
      memcpy(text + at, extra, el);
      at += el;
    }
    text[at++] = '}';
    text[at] = '\0';
    r->len = at;
  }
  pthread_mutex_unlock(&s->lock);
  free(head);
  r->status = text ? 200 : 500;
  r->type = "application/json";
  r->body = text;
}

void serve_run_delete(serve_state *s, const char *id, serve_reply *r) {
  pthread_mutex_lock(&s->lock);
  serve_job *j = find_job(s, id);
  if (!j) {
    pthread_mutex_unlock(&s->lock);
    serve_error(r, 404, "no such Monte Carlo job");
    return;
  }
  if (j->state == JOB_QUEUED) {
    j->state = JOB_CANCELLED;
    j->ended_at = now_ms();
    fl_model_free(j->m);
    j->m = NULL;
  } else if (j->state == JOB_RUNNING) {
    __atomic_store_n(&j->cancel, 1, __ATOMIC_RELAXED);
  }
  json_t *o = job_json(j);
  pthread_mutex_unlock(&s->lock);
  reply_json(r, 200, o);
}
