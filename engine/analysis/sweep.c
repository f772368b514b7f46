/* flourish sweep. Every point is the scenario with --set assignments for the swept parameters,
 * compiled and run like `flourish run` with the same seed, so that a point is exactly the run
 * a user would get with those --set options, and differences between points come from the
 * parameters rather than from chance (common random numbers). Per point, each arm's and each
 * comparison's headline results are reduced to means and Monte Carlo standard errors; across
 * points, the sensitivity of each result to each parameter: main-effect ranges on a grid
 * (the tornado), partial rank correlations on sampled designs, Sobol indices on Saltelli's
 * design. This file runs the points, keeps the checkpoint and shares the work under MPI; the
 * other parts are named in sweep_internal.h. */
#include "analysis/sweep_internal.h"

#include "scenario/scenario.h"
#include "sim/checkpoint.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef FLOURISH_MPI
#include <mpi.h>
#endif

/* The checkpoint's key: everything that decides what the points' records hold. */
static uint64_t sweep_key(const fl_sweep_state *w, const fl_model *m) {
  const fl_sweep_options *opt = w->opt;
  const uint64_t ids[6] = {opt->run.seed, opt->run.replications, (uint64_t)opt->expect,
                           (uint64_t)opt->design, w->P, w->rec_len};
  uint64_t h = fl_fnv1a(FL_FNV_BASIS, ids, sizeof ids);
  h = fl_fnv1a(h, FL_VERSION_STRING, strlen(FL_VERSION_STRING));
  h = fl_fnv1a(h, m->scenario_text, strlen(m->scenario_text));
  for (size_t i = 0; i < opt->n_sets; i++) h = fl_fnv1a(h, opt->sets[i], strlen(opt->sets[i]) + 1);
  for (size_t k = 0; k < w->K; k++)
    h = fl_fnv1a(h, opt->params[k].path, strlen(opt->params[k].path) + 1);
  return fl_fnv1a(h, w->values, w->P * w->K * sizeof *w->values);
}

/* The --set assignments of a point: the sweep's fixed ones, then one per parameter, each
 * written into its slot of text. */
typedef struct point_sets {
  const char **sets;                    /* [n_sets + K] */
  char *text;                           /* [slot[K]] */
  size_t slot[FL_SWEEP_MAX_PARAMS + 1]; /* offsets of each parameter's assignment in text */
} point_sets;

/* Compiles the scenario at point p into *m, its parameters' assignments written into ps. */
static fl_status point_model(const char *scenario, const fl_sweep_state *w, size_t p,
                             point_sets *ps, fl_model **m, fl_error *err) {
  const fl_sweep_options *opt = w->opt;
  for (size_t k = 0; k < w->K; k++) {
    /* "%.17g" is at most 24 characters: the slot always holds the whole assignment. */
    snprintf(ps->text + ps->slot[k], ps->slot[k + 1] - ps->slot[k], "%s=%.17g",
             opt->params[k].path, w->values[p * w->K + k]);
    ps->sets[opt->n_sets + k] = ps->text + ps->slot[k];
  }
  fl_scenario *sc = NULL;
  fl_status st = fl_scenario_load_with(scenario, ps->sets, opt->n_sets + w->K, &sc, err);
  if (st == FL_OK && (st = fl_model_compile(sc, m, err)) != FL_OK) fl_scenario_blame(sc, err);
  fl_scenario_free(sc);
  return st;
}

static int mpi_rank(void) {
  int rank = 0;
#ifdef FLOURISH_MPI
  int on = 0;
  MPI_Initialized(&on);
  if (on) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
#endif
  return rank;
}

/* Under MPI only rank 0 opens, reads and writes the checkpoint: its status (on opening and
 * after each point) goes to every rank, so that a failure there stops them all rather than
 * leaving them waiting in the next point's run. */
static fl_status share_status(fl_status st, const char *path, fl_error *err) {
#ifdef FLOURISH_MPI
  int on = 0;
  MPI_Initialized(&on);
  if (on) {
    int code = (int)st;
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (code != FL_OK && st == FL_OK)
      fl_error_set(err, (fl_status)code, path, 0, 0, NULL, "rank 0 could not use the checkpoint");
    return (fl_status)code;
  }
#else
  (void)path;
  (void)err;
#endif
  return st;
}

/* Opens the sweep's checkpoint (rank 0 alone writes it: every rank holds every point's
 * results) and tells every rank which points it holds. */
static fl_status open_checkpoint(fl_sweep_state *w, const fl_model *m0, unsigned char *done,
                                 fl_recfile **ck, fl_error *err) {
  const fl_sweep_options *opt = w->opt;
  fl_status st = FL_OK;
  fl_recfile_found found = FL_RECFILE_NONE;
  if (w->rank == 0)
    st = fl_recfile_open(opt->checkpoint, "FLSWEEP2", sweep_key(w, m0), w->P,
                         w->rec_len * sizeof(double),
                         opt->resume ? FL_RECFILE_RESUME : FL_RECFILE_CREATE,
                         "--resume: the checkpoint was made by a different sweep (scenario, "
                         "parameters, design, seed, replications or Flourish version differ); "
                         "run without --resume to start again",
                         "FLOURISH_CRASH_AFTER_POINTS", done, ck, &found, err);
  st = share_status(st, opt->checkpoint, err);
  if (st == FL_OK && w->rank == 0 && opt->notice) {
    char text[1200];
    size_t stored = 0;
    for (size_t p = 0; p < w->P; p++) stored += done[p];
    if (found == FL_RECFILE_RESUMED)
      snprintf(text, sizeof text, "resuming from %s: %zu of %zu points stored", opt->checkpoint,
               stored, w->P);
    else if (found == FL_RECFILE_REPLACED)
      snprintf(text, sizeof text, "replaced the checkpoint an earlier sweep left at %s (without "
               "--resume a sweep starts afresh)", opt->checkpoint);
    else
      snprintf(text, sizeof text, "no checkpoint at %s to resume: starting afresh",
               opt->checkpoint);
    if (found != FL_RECFILE_NONE || opt->resume) opt->notice(opt->notice_ctx, text);
  }
#ifdef FLOURISH_MPI
  int on = 0;
  MPI_Initialized(&on);
  if (on && st == FL_OK) MPI_Bcast(done, (int)w->P, MPI_UNSIGNED_CHAR, 0, MPI_COMM_WORLD);
#endif
  return st;
}

/* Reads point p's record back from the checkpoint (rank 0, which holds it) and takes it in;
 * every rank learns whether that worked. */
static fl_status restore_point(fl_sweep_state *w, fl_recfile *ck, size_t p, fl_error *err) {
  fl_status st = FL_OK;
  if (w->rank == 0) {
    if ((st = fl_recfile_read(ck, p, w->rec, err)) == FL_OK) fl_sweep_apply(w, p);
  }
  return share_status(st, w->opt->checkpoint, err);
}

/* A point's replications, taken into its values block by block as the run commits them. */
typedef struct point_sink {
  fl_sweep_state *w;
  const fl_model *m;
  fl_results *const *slots;
} point_sink;

static fl_status point_begin(void *ctx, const fl_stream_info *info, fl_error *err) {
  (void)err;
  ((point_sink *)ctx)->slots = info->slots;
  return FL_OK;
}

static fl_status point_commit(void *ctx, size_t slot, size_t rep0, size_t n, fl_error *err) {
  point_sink *k = ctx;
  fl_status st = FL_OK;
  for (size_t i = 0; i < n && st == FL_OK; i++)
    st = fl_sweep_take(k->w, k->slots[slot], i, rep0 + i, k->m, err);
  return st;
}

/* Runs point p with its model *m, compiled here unless the caller has it (the caller frees it
 * either way), fills w->rec and, on rank 0, takes it in. Every error is the point's own:
 * compiling, a layout other than the first point's (FL_EINPUT), running, or recording. */
static fl_status run_point(const char *scenario, fl_sweep_state *w, size_t p, point_sets *ps,
                           fl_model **m, fl_error *err) {
  const fl_sweep_options *opt = w->opt;
  const fl_sweep_layout *l = &w->lay;
  fl_results *res = NULL;
  fl_status st = FL_OK;
  if (!*m) st = point_model(scenario, w, p, ps, m, err);
  if (st == FL_OK && ((*m)->n_arms != l->n_arms || (*m)->L != l->L || (*m)->n_wtp != l->W ||
                      (*m)->B != l->B || (*m)->T != l->T)) {
    fl_error_set(err, FL_EINPUT, NULL, 0, 0, NULL,
                 "sweep: the arms, levels, budget holders, horizon or values of a QALY "
                 "changed between points");
    st = FL_EINPUT;
  }
  if (st == FL_OK && opt->expect) {
    st = fl_expect(*m, &res, err);
    if (st == FL_OK && w->rank == 0) st = fl_sweep_take(w, res, 0, 0, *m, err);
  } else if (st == FL_OK) { /* the replications streamed into the point's values */
    point_sink k = {.w = w, .m = *m};
    const fl_block_sink sink = {.ctx = &k, .begin = point_begin, .commit = point_commit};
    st = fl_run_stream(*m, &opt->run, &sink, NULL, err);
  }
  /* (Under MPI the replications go to rank 0, which alone records the points.) */
  if (st == FL_OK && w->rank == 0) st = fl_sweep_record(w, *m, err);
  fl_results_free(res);
  if (st == FL_OK && w->rank == 0) fl_sweep_apply(w, p);
  return st;
}

/* Stores point p's record in the checkpoint, when the sweep keeps one (rank 0 holds it), and
 * tells every rank whether that worked. */
static fl_status store_point(const fl_sweep_state *w, fl_recfile *ck, size_t p, fl_error *err) {
  const char *path = w->opt->checkpoint;
  fl_status st = FL_OK;
  if (ck && (st = fl_recfile_write(ck, p, w->rec)) != FL_OK)
    fl_error_set(err, st, path, 0, 0, NULL, "cannot write the checkpoint");
  return path ? share_status(st, path, err) : st;
}

/* Whether the sweep is asked to stop before its next point (opt->run.stop): under MPI, whether
 * any rank is, so that every rank stops at the same point. */
static int stop_asked(const fl_sweep_state *w) {
  const fl_run_options *run = &w->opt->run;
  int stop = run->stop && run->stop(run->stop_ctx);
#ifdef FLOURISH_MPI
  int on = 0;
  MPI_Initialized(&on);
  if (on) MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#endif
  return stop;
}

/* Stopped on request before point p (every point before it is finished): the checkpoint is
 * made durable and err says what it holds. Returns FL_ESTOPPED, or the checkpoint's failure. */
static fl_status stop_sweep(const fl_sweep_state *w, fl_recfile *ck, const unsigned char *done,
                            size_t p, fl_error *err) {
  const char *path = w->opt->checkpoint;
  size_t kept = p;
  for (size_t q = p; q < w->P; q++) kept += done[q];
  fl_status st = ck && fl_recfile_finish(ck) != FL_OK ? FL_EIO : FL_OK;
  if (path) st = share_status(st, path, err);
  if (st != FL_OK) {
    fl_error_set(err, st, path, 0, 0, NULL, "cannot write the checkpoint");
    return st;
  }
  if (path)
    fl_error_set(err, FL_ESTOPPED, path, 0, 0, NULL, "stopped on request before point %zu: %zu "
                 "of %zu points are kept in the checkpoint for --resume", p, kept, w->P);
  else
    fl_error_set(err, FL_ESTOPPED, NULL, 0, 0, NULL, "stopped on request before point %zu of "
                 "%zu, without a checkpoint: nothing is kept", p, w->P);
  return FL_ESTOPPED;
}

/* Says in err's message which point failed: its number and its first assignment. */
static void blame_point(fl_error *err, size_t p, const char *first, int more) {
  char where[sizeof err->message + 400];
  snprintf(where, sizeof where, "at sweep point %zu (%.300s%s): %s", p, first,
           more ? ", ..." : "", err->message);
  where[sizeof err->message - 1] = '\0';
  memcpy(err->message, where, sizeof err->message);
}

fl_status fl_sweep(const char *scenario, const fl_sweep_options *opt, const char *out,
                   fl_error *err) {
  const size_t K = opt->n_params;
  fl_sweep_state w = {.opt = opt, .K = K, .Rv = opt->expect ? 1 : opt->run.replications,
                      .rank = mpi_rank()};
  double *values = NULL;
  if (opt->design == FL_DESIGN_GRID && K + 2 > FL_MAX_RANK) { /* + a result's 2 dimensions */
    fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
                 "a grid gives each parameter a dimension of the output and takes at most %d "
                 "parameters, found %zu; use --design lhs or sobol",
                 FL_MAX_RANK - 2, K);
    return FL_EUSAGE;
  }
  w.P = fl_sweep_design(opt, &values, err);
  if (!w.P) return err->code;
  w.values = values;
  w.t.P = w.P;

  point_sets ps = {.sets = malloc((opt->n_sets + K) * sizeof *ps.sets)};
  for (size_t k = 0; k < K; k++) ps.slot[k + 1] = ps.slot[k] + strlen(opt->params[k].path) + 32;
  ps.text = malloc(ps.slot[K] ? ps.slot[K] : 1);
  unsigned char *done = calloc(w.P, 1);
  fl_recfile *ck = NULL;
  fl_model *m = NULL;
  fl_status st = FL_OK;
  size_t p = 0;
  if (!ps.sets || !ps.text || !done) {
    st = fl_sweep_oom(err);
    goto out;
  }
  for (size_t i = 0; i < opt->n_sets; i++) ps.sets[i] = opt->sets[i];

  /* The first point's model fixes the layout: arms, levels, values of a QALY. */
  if ((st = point_model(scenario, &w, 0, &ps, &m, err)) != FL_OK ||
      (st = fl_sweep_prepare(&w, m, err)) != FL_OK)
    goto point_failed;
  if (opt->checkpoint && (st = open_checkpoint(&w, m, done, &ck, err)) != FL_OK) goto out;

  for (p = 0; p < w.P; p++) {
    if (done[p]) {
      if ((st = restore_point(&w, ck, p, err)) != FL_OK) goto out;
    } else {
      if (stop_asked(&w)) goto stopped;
      if ((st = run_point(scenario, &w, p, &ps, &m, err)) == FL_ESTOPPED) goto stopped;
      if (st != FL_OK) goto point_failed;
      if ((st = store_point(&w, ck, p, err)) != FL_OK) goto out;
    }
    fl_model_free(m);
    m = NULL;
    if (opt->progress) opt->progress(opt->progress_ctx, p + 1, w.P);
  }
  if (ck && (st = fl_recfile_finish(ck)) != FL_OK)
    fl_error_set(err, st, opt->checkpoint, 0, 0, NULL, "cannot write the checkpoint");
  if (opt->checkpoint && (st = share_status(st, opt->checkpoint, err)) != FL_OK) goto out;
  if (w.rank == 0) st = fl_sweep_write(&w, scenario, out, err);
  if (st == FL_OK && ck) unlink(opt->checkpoint); /* the output now holds everything */
  goto out;

stopped:
  st = stop_sweep(&w, ck, done, p, err);
  goto out;
point_failed:
  blame_point(err, p, ps.sets[opt->n_sets], K > 1);
out:
  fl_model_free(m);
  fl_recfile_close(ck);
  fl_sweep_state_free(&w);
  free(done);
  free(ps.text);
  free(ps.sets);
  free(values);
  return st;
}
