/* Monte Carlo runs: replications in parallel with OpenMP, each with its own workspace and its
 * own slice of the result arrays, so replications share nothing and the results are the same
 * for any number of threads. */
#include "sim/checkpoint.h"
#include "sim/psa.h"
#include "sim/sim.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef FLOURISH_MPI
#include <mpi.h>
#endif

void fl_run_options_init(fl_run_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->seed = 1;
  opt->replications = 100;
  opt->keep_flows = 1;
  opt->psa_inner = 1;
  opt->psa_prior = 0.5;
}

#ifdef FLOURISH_MPI
/* Shares every rank's block of replications with every other rank (all arrays hold
 * replications first, so a block is contiguous): counted in whole replications, through a
 * contiguous datatype, to stay within MPI's int counts. */
static int gather_ranks(fl_results *res, size_t R, int ranks) {
  int *counts = malloc((size_t)ranks * sizeof *counts), *displs = malloc((size_t)ranks * sizeof *displs);
  int rc = counts && displs ? MPI_SUCCESS : -1;
  for (int k = 0; k < ranks && rc == MPI_SUCCESS; k++) {
    displs[k] = (int)(R * (size_t)k / (size_t)ranks);
    counts[k] = (int)(R * (size_t)(k + 1) / (size_t)ranks) - displs[k];
  }
  for (size_t a = 0; a < res->n_arms && rc == MPI_SUCCESS; a++)
    for (size_t i = 0; i < res->arms[a].n_arrays && rc == MPI_SUCCESS; i++) {
      fl_array *arr = &res->arms[a].arrays[i];
      const fl_stage stage = fl_outputs[arr->id].stage;
      if (stage != FL_STAGE_TALLY && stage != FL_STAGE_PARAMS) continue; /* derived later */
      MPI_Datatype one_rep;
      const size_t per_rep = fl_array_count(arr) / R;
      if (per_rep > INT_MAX) return -1;
      MPI_Type_contiguous((int)per_rep, arr->type == FL_I32 ? MPI_INT32_T : MPI_DOUBLE, &one_rep);
      MPI_Type_commit(&one_rep);
      rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, arr->data, counts, displs, one_rep,
                          MPI_COMM_WORLD);
      MPI_Type_free(&one_rep);
    }
  free(counts);
  free(displs);
  return rc == MPI_SUCCESS ? 0 : -1;
}
#endif

/* Children (at the start) a thread inside a replication needs, for fl_run to choose it: on a
 * 16-core node, a Dundee-sized replication (27,000 children) run with -r 1 -t 16 took 20% less
 * wall time at 5,000 than at 20,000 (which kept it on one thread), and -r 4 10% less. */
#define FL_INSIDE_MIN_CHILDREN 5000

/* What the threads running a process's replications share (run_replications). */
typedef struct rep_ctx {
  const fl_model *m;
  const fl_run_options *opt;
  fl_results *res;
  fl_path path;
  fl_checkpoint *ck;
  const unsigned char *done_rep;
  long long rep_lo, rep_hi;
  int inner;
  /* Written under the critical sections: */
  size_t done;
  long long failed_rep;
  fl_status fail_code;
  fl_error psa_err;
} rep_ctx;

/* Replications [rep_lo, rep_hi), each on a workspace of the calling thread: the loop is an
 * orphaned worksharing loop, split between the threads of the team that calls this (or all run
 * here when it is called outside a parallel region). */
static void run_replications(rep_ctx *c) {
  const fl_model *m = c->m;
  const fl_run_options *opt = c->opt;
  fl_results *res = c->res;
  const fl_path path = c->path;
  fl_checkpoint *ck = c->ck;
  const unsigned char *done_rep = c->done_rep;
  const long long rep_lo = c->rep_lo, rep_hi = c->rep_hi;
  const int inner = c->inner;
  fl_workspace *ws = fl_workspace_create(m);
  if (ws && inner > 1 && fl_workspace_set_threads(ws, m, inner) != 0) {
    fl_workspace_free(ws);
    ws = NULL;
  }
  fl_psa *ps = opt->psa ? fl_psa_create(m) : NULL;
  fl_arm_tables tabs[FL_MAX_ARMS];
  for (size_t a = 0; a < m->n_arms; a++) tabs[a] = fl_model_tables(m, a);
  if (!ws || (opt->psa && !ps)) {
    fl_workspace_free(ws);
    ws = NULL;
#pragma omp critical(fl_fail)
    if (c->failed_rep < 0) {
      c->failed_rep = 0;
      c->fail_code = FL_ENOMEM;
    }
  }
#pragma omp for schedule(dynamic, 1)
  for (long long rep = rep_lo; rep < rep_hi; rep++) {
    fl_tally base_tl = {0};
    /* Asked to stop: no replication starts; the stop is recorded like a failure, so that the
     * lowest-numbered one is reported (on every rank) and the checkpoint is finished. */
    if (opt->stop && opt->stop(opt->stop_ctx)) {
#pragma omp critical(fl_fail)
      if (c->failed_rep < 0 || rep < c->failed_rep) {
        c->failed_rep = rep;
        c->fail_code = FL_ESTOPPED;
      }
      continue;
    }
    if (ps && ws && !(done_rep && done_rep[rep])) {
      fl_error perr = {0};
      if (fl_psa_prepare(m, ps, opt->seed, (uint64_t)rep / opt->psa_inner, opt->psa_prior,
                         tabs, &perr) != FL_OK) {
#pragma omp critical(fl_fail)
        if (c->failed_rep < 0 || rep < c->failed_rep) {
          c->failed_rep = rep;
          c->fail_code = perr.code;
          c->psa_err = perr;
        }
        continue;
      }
    }
    if (ps && ws && m->n_unc && !(done_rep && done_rep[rep])) {
      memcpy(fl_results_slice(res, 0, FL_OUT_PARAM_COST, (size_t)rep), fl_psa_cost(ps),
             m->S * m->B * sizeof(double));
      memcpy(fl_results_slice(res, 0, FL_OUT_PARAM_QOL, (size_t)rep), fl_psa_qol(ps),
             m->S * sizeof(double));
    }
    if (done_rep && done_rep[rep]) { /* loaded from the checkpoint */
      if (opt->progress) {
#pragma omp critical(fl_progress)
        opt->progress(opt->progress_ctx, ++c->done, (size_t)(rep_hi - rep_lo));
      }
      continue;
    }
    for (size_t a = 0; ws && a < m->n_arms; a++) {
      fl_tally tl;
      fl_results_tally(res, a, (size_t)rep, &tl);
      tl.base = a ? &base_tl : NULL;
      if (a == 0) base_tl = tl;
      fl_status st = fl_simulate(m, a, &tabs[a], opt->seed, (uint64_t)rep, path, ws, &tl);
      if (st != FL_OK) {
        /* The lowest-numbered failing replication is reported, whatever the schedule. */
#pragma omp critical(fl_fail)
        if (c->failed_rep < 0 || rep < c->failed_rep) {
          c->failed_rep = rep;
          c->fail_code = st;
        }
      }
    }
    if (ck && ws) {
      fl_status cst;
#pragma omp critical(fl_checkpoint)
      cst = fl_checkpoint_save(ck, res, (size_t)rep);
      if (cst != FL_OK) {
#pragma omp critical(fl_fail)
        if (c->failed_rep < 0 || rep < c->failed_rep) {
          c->failed_rep = rep;
          c->fail_code = cst;
        }
      }
    }
    if (opt->progress) {
#pragma omp critical(fl_progress)
      opt->progress(opt->progress_ctx, ++c->done, (size_t)(rep_hi - rep_lo));
    }
  }
  fl_workspace_free(ws);
  fl_psa_free(ps);
}

/* The run's options, checked against the model: FL_OK, or FL_EUSAGE with a message. */
static fl_status check_options(const fl_model *m, const fl_run_options *opt, fl_error *err) {
  const size_t R = opt->replications;
  if (R == 0 || R > 100000000) {
    fl_error_set(err, FL_EUSAGE, NULL, 0, 0, "replications",
                 "the number of replications must be between 1 and 100000000");
    return FL_EUSAGE;
  }
  if (!fl_path_supported(opt->pass)) {
    fl_error_set(err, FL_EUSAGE, NULL, 0, 0, "pass",
                 "the %s hot pass is not supported by this processor or build (supported: "
                 "auto, scalar%s%s)", fl_path_name(opt->pass),
                 fl_path_supported(FL_PATH_AVX2) ? ", avx2" : "",
                 fl_path_supported(FL_PATH_AVX512) ? ", avx512" : "");
    return FL_EUSAGE;
  }
  if (!opt->psa) return FL_OK;
  const int counts = fl_psa_has_counts(m);
  const char *why = counts && !m->psa_ok
                        ? "its rows are converted (rates, or probabilities over another period "
                          "than the step) rather than used as given"
                    : !counts && !m->n_unc
                        ? "no transition row carries the counts it was estimated from "
                          "(flourish calibrate writes them) and there is no uncertainty section"
                    : opt->psa_inner < 1 || R % opt->psa_inner
                        ? "the replications must be a whole number of blocks of --psa-inner"
                    : !(opt->psa_prior >= 0) ? "the prior must be 0 or more" : NULL;
  if (!why) return FL_OK;
  fl_error_set(err, FL_EUSAGE, m->scenario_path, 0, 0, "--psa",
               "parameter uncertainty cannot be drawn: %s", why);
  return FL_EUSAGE;
}

/* This process's MPI rank and the number of ranks (0 and 1 without MPI). */
static void mpi_place(int *rank, int *ranks) {
  *rank = 0;
  *ranks = 1;
#ifdef FLOURISH_MPI
  int mpi_on = 0;
  MPI_Initialized(&mpi_on);
  if (mpi_on) {
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, ranks);
  }
#else
  (void)rank;
#endif
}

/* Tells the run's user (rank 0) what opening the checkpoint found. */
static void checkpoint_notice(const fl_run_options *opt, fl_recfile_found found,
                              const unsigned char *done_rep, size_t R) {
  char text[1200];
  size_t stored = 0;
  for (size_t r = 0; r < R; r++) stored += done_rep[r];
  if (!opt->notice) return;
  if (found == FL_RECFILE_RESUMED)
    snprintf(text, sizeof text, "resuming from %s: %zu of %zu replications stored", opt->checkpoint,
             stored, R);
  else if (found == FL_RECFILE_REPLACED)
    snprintf(text, sizeof text, "replaced the checkpoint an earlier run left at %s (without "
             "--resume a run starts afresh)", opt->checkpoint);
  else if (opt->resume)
    snprintf(text, sizeof text, "no checkpoint at %s to resume: starting afresh", opt->checkpoint);
  else
    return;
  opt->notice(opt->notice_ctx, text);
}

/* Opens the run's checkpoint: rank 0 resumes (--resume) or creates it before the others open
 * it, to resume it too or to join it; done_rep[R] marks the replications it already holds
 * (loaded into res). */
static fl_status open_checkpoint(const fl_model *m, const fl_run_options *opt, fl_results *res,
                                 int rank, int ranks, unsigned char *done_rep,
                                 fl_checkpoint **ck, fl_error *err) {
  fl_status st = FL_OK;
  fl_recfile_found found = FL_RECFILE_NONE;
  *ck = NULL;
  if (rank == 0)
    st = fl_checkpoint_open(opt->checkpoint, m, res,
                            opt->resume ? FL_RECFILE_RESUME : FL_RECFILE_CREATE, done_rep, ck,
                            &found, err);
#ifdef FLOURISH_MPI
  if (ranks > 1) {
    int ok = st == FL_OK, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok && st == FL_OK) {
      fl_checkpoint_close(*ck);
      *ck = NULL;
      fl_error_set(err, FL_EIO, opt->checkpoint, 0, 0, NULL, "another rank could not open the "
                   "checkpoint");
      return FL_EIO;
    }
    if (!all_ok) return st;
  }
#else
  (void)ranks;
#endif
  if (st == FL_OK && rank != 0)
    st = fl_checkpoint_open(opt->checkpoint, m, res,
                            opt->resume ? FL_RECFILE_RESUME : FL_RECFILE_JOIN, done_rep, ck,
                            NULL, err);
  if (st == FL_OK && rank == 0) checkpoint_notice(opt, found, done_rep, res->R);
  return st;
}

/* Threads across replications (*threads) and inside each (*inner) for this process's n_reps
 * replications: across replications first; when there are fewer replications than threads,
 * the rest go inside the replications (a nested team per replication), provided each has
 * enough children to be worth a share of every step. */
static void choose_threads(const fl_model *m, const fl_run_options *opt, long long n_reps,
                           int *threads, int *inner) {
  *threads = 1;
  *inner = 1;
#ifdef _OPENMP
  *threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
  if (opt->threads_per_replication > 0) {
    *inner = opt->threads_per_replication < *threads ? opt->threads_per_replication : *threads;
  } else if ((long long)*threads > n_reps) {
    uint64_t children = 0;
    for (size_t g = 0; g < m->n_init; g++) children += m->init[g].count;
    const long long reps_here = n_reps > 0 ? n_reps : 1;
    const uint64_t by_size = children / FL_INSIDE_MIN_CHILDREN;
    *inner = (int)(*threads / reps_here);
    if ((uint64_t)*inner > by_size) *inner = by_size > 1 ? (int)by_size : 1;
  }
  if (*inner > 1) {
    *threads = *threads / *inner > 0 ? *threads / *inner : 1;
    /* Teams inside teams only when replications run in parallel too. */
    if (*threads > 1 && omp_get_max_active_levels() < 2) omp_set_max_active_levels(2);
  }
#else
  (void)m;
  (void)opt;
  (void)n_reps;
#endif
}

/* Under MPI: the lowest failing replication of any rank, and its code, are reported
 * everywhere; without a failure every rank's block of replications is shared with the
 * others. */
static void agree_ranks(fl_results *res, size_t R, int ranks, long long *failed_rep,
                        fl_status *fail_code) {
#ifdef FLOURISH_MPI
  if (ranks <= 1) return;
  struct {
    int rep, code;
  } mine = {*failed_rep >= 0 ? (int)*failed_rep : INT_MAX, (int)*fail_code}, first;
  MPI_Allreduce(&mine, &first, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD);
  *failed_rep = first.rep == INT_MAX ? -1 : first.rep;
  *fail_code = (fl_status)first.code;
  if (*failed_rep < 0 && gather_ranks(res, R, ranks) != 0) {
    *failed_rep = 0;
    *fail_code = FL_EINTERNAL;
  }
#else
  (void)res;
  (void)R;
  (void)ranks;
  (void)failed_rep;
  (void)fail_code;
#endif
}

fl_status fl_run(const fl_model *m, const fl_run_options *opt, fl_results **out, fl_error *err) {
  const size_t R = opt->replications;
  fl_status st;
  *out = NULL;
  if ((st = check_options(m, opt, err)) != FL_OK) return st;
  const fl_output_ctx oc = {.m = m, .R = R, .psa = opt->psa, .psa_inner = opt->psa_inner};
  fl_results *res = fl_results_create(&oc);
  if (!res) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  res->psa_prior = opt->psa_prior;
  res->seed = opt->seed;
  res->threads = opt->threads;
  res->keep_flows = opt->keep_flows;
  if ((st = fl_results_alloc(res, FL_STAGE_TALLY, err)) != FL_OK ||
      (st = fl_results_alloc(res, FL_STAGE_PARAMS, err)) != FL_OK) {
    fl_results_free(res);
    return st;
  }
  /* Under MPI each rank simulates a contiguous block of replications; the blocks are gathered
   * afterwards, so every rank ends with the same bytes a single process computes. */
  int rank, ranks;
  mpi_place(&rank, &ranks);
  const long long rep_lo = (long long)(R * (size_t)rank / (size_t)ranks);
  const long long rep_hi = (long long)(R * (size_t)(rank + 1) / (size_t)ranks);
  fl_checkpoint *ck = NULL;
  unsigned char *done_rep = NULL;
  if (opt->checkpoint) {
    if (!(done_rep = calloc(R, 1))) {
      fl_results_free(res);
      fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
      return FL_ENOMEM;
    }
    if ((st = open_checkpoint(m, opt, res, rank, ranks, done_rep, &ck, err)) != FL_OK) {
      free(done_rep);
      fl_results_free(res);
      return st;
    }
  }
  int threads, inner;
  choose_threads(m, opt, rep_hi - rep_lo, &threads, &inner);
  /* With one thread across replications there is no team around them: a team of one would
   * make the replications' own teams nested ones, whose threads OpenMP keeps apart from those of
   * the top level (the output stage's), so that both sets would compete for the cores. Unless
   * the caller is itself in a team: the loop would then be shared out among the caller's
   * threads, so it gets a team of its own. */
  rep_ctx ctx = {.m = m, .opt = opt, .res = res, .path = opt->pass ? opt->pass : fl_pass_best(),
                 .ck = ck, .done_rep = done_rep, .rep_lo = rep_lo, .rep_hi = rep_hi,
                 .inner = inner, .failed_rep = -1};
#ifdef _OPENMP
  const int own_team = threads > 1 || omp_in_parallel();
#else
  const int own_team = 0;
#endif
  if (own_team) {
#pragma omp parallel num_threads(threads)
    run_replications(&ctx);
  } else
    run_replications(&ctx);
  long long failed_rep = ctx.failed_rep;
  fl_status fail_code = ctx.fail_code;
  if (ck && fl_checkpoint_finish(ck) != FL_OK && failed_rep < 0) {
    failed_rep = rep_lo;
    fail_code = FL_EIO;
  }
  fl_checkpoint_close(ck);
  free(done_rep);
  agree_ranks(res, R, ranks, &failed_rep, &fail_code);
  if (failed_rep >= 0) {
    if (ctx.psa_err.code != FL_OK && err) *err = ctx.psa_err;
    else
      fl_error_set(err, fail_code, NULL, 0, 0, NULL, "replication %lld failed: %s", failed_rep,
                   fl_strerror(fail_code));
    fl_results_free(res);
    return fail_code;
  }
  if ((st = fl_results_derive(res, err)) != FL_OK || (st = fl_results_compare(res, err)) != FL_OK ||
      (st = fl_results_decompose(res, err)) != FL_OK) {
    fl_results_free(res);
    return st;
  }
  *out = res;
  return FL_OK;
}
