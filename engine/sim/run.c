/* Monte Carlo runs: the options, the threads and ranks, the checkpoint, and the replications
 * streamed through the pipeline (pipeline.c) to a sink: the HDF5 writer, or the in-memory
 * results of fl_run. Replications share nothing and are combined in replication order, so the
 * results are the same for any number of threads or ranks. */
#include "sim/pipeline.h"
#include "sim/psa.h"

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


/* Children (at the start) a thread inside a replication needs, for fl_run to choose it: on a
 * 16-core node, a Dundee-sized replication (27,000 children) run with -r 1 -t 16 took 20% less
 * wall time at 5,000 than at 20,000 (which kept it on one thread), and -r 4 10% less. */
#define FL_INSIDE_MIN_CHILDREN 5000

/* The parameter group of opt->evppi as indices into m->unc (idx[FL_EVPPI_GROUP_MAX]) and
 * their number: FL_OK (n = 0 for none), or FL_EUSAGE with a message naming the key. */
static fl_status evppi_group(const fl_model *m, const char *list, size_t *idx, size_t *n,
                             fl_error *err) {
  *n = 0;
  for (const char *p = list; p && *p;) {
    const char *end = strchr(p, ',');
    const size_t len = end ? (size_t)(end - p) : strlen(p);
    long found = -1;
    for (size_t k = 0; k < m->n_unc; k++)
      if (strlen(m->unc[k].key) == len && !strncmp(m->unc[k].key, p, len)) found = (long)k;
    for (size_t j = 0; found >= 0 && j < *n; j++)
      if (idx[j] == (size_t)found) found = -2;
    if (found < 0 || *n == FL_EVPPI_GROUP_MAX) {
      fl_error_set(err, FL_EUSAGE, m->scenario_path, 0, 0, "--evppi",
                   found == -2 ? "'%.*s' is named twice"
                   : found >= 0 ? "at most 6 parameters, found more (at '%.*s')"
                                : "'%.*s' is not a key of the scenario's uncertainty section",
                   (int)len, p);
      return FL_EUSAGE;
    }
    idx[(*n)++] = (size_t)found;
    p = end ? end + 1 : p + len;
  }
  return FL_OK;
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
  for (size_t a = 1; a < m->n_arms; a++)
    if (m->arms[a].base_p) {
      fl_error_set(err, FL_EUSAGE, m->scenario_path, 0, 0, "--psa",
                   "parameter uncertainty cannot be drawn: arm '%s' has transition rows of its "
                   "own (arms.%s.transitions), which it cannot redraw",
                   m->arms[a].name, m->arms[a].name);
      return FL_EUSAGE;
    }
  const int counts = fl_psa_has_counts(m);
  const char *why = counts && !m->psa_ok
                        ? "its rows are converted (rates, or probabilities over another period "
                          "than the step) rather than used as given"
                    : !counts && !m->n_unc && !m->n_post
                        ? "no transition row carries the counts it was estimated from "
                          "(flourish calibrate writes them), there is no uncertainty section "
                          "and no posterior_draws (flourish fit writes them)"
                    : opt->psa_inner < 1 || R % opt->psa_inner
                        ? "the replications must be a whole number of blocks of --psa-inner"
                    : !(opt->psa_prior >= 0) ? "the prior must be 0 or more" : NULL;
  if (!why && opt->evppi && *opt->evppi) {
    size_t idx[FL_EVPPI_GROUP_MAX], n;
    fl_status st = evppi_group(m, opt->evppi, idx, &n, err);
    if (st != FL_OK) return st;
    const size_t blocks = R / opt->psa_inner, terms = 1 + n + n * (n + 1) / 2;
    if (blocks < 4 * terms) {
      fl_error_set(err, FL_EUSAGE, m->scenario_path, 0, 0, "--evppi",
                   "the regression on %zu parameter(s) fits %zu terms and needs at least %zu "
                   "parameter draws (replications / --psa-inner), found %zu",
                   n, terms, 4 * terms, blocks);
      return FL_EUSAGE;
    }
  }
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

/* Opens the run's checkpoint for replications laid out as in block: rank 0 resumes
 * (--resume) or creates it before the others open it, to resume it too or to join it;
 * done_rep[R] marks the replications it already holds. */
static fl_status open_checkpoint(const fl_model *m, const fl_run_options *opt,
                                 const fl_results *block, size_t R, int rank, int ranks,
                                 unsigned char *done_rep, fl_checkpoint **ck, fl_error *err) {
  fl_status st = FL_OK;
  fl_recfile_found found = FL_RECFILE_NONE;
  *ck = NULL;
  if (rank == 0)
    st = fl_checkpoint_open(opt->checkpoint, m, block, R,
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
    st = fl_checkpoint_open(opt->checkpoint, m, block, R,
                            opt->resume ? FL_RECFILE_RESUME : FL_RECFILE_JOIN, done_rep, ck,
                            NULL, err);
  if (st == FL_OK && rank == 0) checkpoint_notice(opt, found, done_rep, R);
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


/* Under MPI the lowest failing replication of any rank, and its code, are agreed by all. */
static void agree_ranks(int ranks, long long *failed_rep, fl_status *fail_code) {
#ifdef FLOURISH_MPI
  if (ranks <= 1) return;
  struct {
    int rep, code;
  } mine = {*failed_rep >= 0 ? (int)*failed_rep : INT_MAX, (int)*fail_code}, first;
  MPI_Allreduce(&mine, &first, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD);
  *failed_rep = first.rep == INT_MAX ? -1 : first.rep;
  *fail_code = (fl_status)first.code;
#else
  (void)ranks;
  (void)failed_rep;
  (void)fail_code;
#endif
}

fl_results *fl_run_results_create(const fl_model *m, const fl_run_options *opt, size_t R) {
  fl_output_ctx oc = {.m = m, .R = R, .psa = opt->psa, .psa_inner = opt->psa_inner};
  fl_error ignored; /* (check_options reports a bad group) */
  if (opt->psa && evppi_group(m, opt->evppi, oc.evppi, &oc.n_evppi, &ignored) != FL_OK)
    oc.n_evppi = 0;
  fl_results *res = fl_results_create(&oc);
  if (!res) return NULL;
  res->psa_prior = opt->psa_prior;
  res->seed = opt->seed;
  res->threads = opt->threads;
  res->keep_flows = opt->keep_flows;
  return res;
}

/* A block of results (rows for Rb replications) with every per-replication output of a run. */
static fl_results *block_create(const fl_model *m, const fl_run_options *opt, size_t Rb,
                                fl_error *err) {
  static const fl_stage stages[] = {FL_STAGE_TALLY, FL_STAGE_PARAMS, FL_STAGE_DERIVED,
                                    FL_STAGE_COMPARE};
  fl_results *res = fl_run_results_create(m, opt, Rb);
  if (!res) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < sizeof stages / sizeof *stages; i++)
    if (fl_results_alloc_part(res, stages[i], FL_PART_PER_REP, err) != FL_OK) {
      fl_results_free(res);
      return NULL;
    }
  return res;
}

/* The blocks a run keeps in flight: one on one thread; else enough for every thread to work
 * on while one block is finished and committed; rank 0 of several keeps one more for a block
 * it receives. Never more than there are blocks (and one to receive). */
static size_t slots_needed(size_t n_blocks, size_t Rb, int threads, int rank, int ranks) {
  size_t n = threads <= 1 ? 1 : 2 + ((size_t)threads + Rb - 1) / Rb;
  if (n > n_blocks) n = n_blocks;
  return n + (ranks > 1 && rank == 0);
}

/* Everything a stream holds apart from the pipeline. */
typedef struct stream {
  fl_results **slots;
  size_t n_slots;
  unsigned char *done_rep;
  fl_checkpoint *ck;
  fl_across *across;
} stream;

static void stream_free(stream *s) {
  for (size_t i = 0; s->slots && i < s->n_slots; i++) fl_results_free(s->slots[i]);
  free(s->slots);
  free(s->done_rep);
  fl_checkpoint_close(s->ck);
  fl_across_free(s->across);
}

/* Makes the slots, the checkpoint and the sums across replications of a stream. */
static fl_status stream_init(stream *s, const fl_model *m, const fl_run_options *opt, size_t Rb,
                             int threads, int rank, int ranks, fl_error *err) {
  const size_t R = opt->replications, n_blocks = (R + Rb - 1) / Rb;
  s->n_slots = slots_needed(n_blocks, Rb, threads, rank, ranks);
  if (!(s->slots = calloc(s->n_slots, sizeof *s->slots))) goto oom;
  for (size_t i = 0; i < s->n_slots; i++)
    if (!(s->slots[i] = block_create(m, opt, Rb, err))) return FL_ENOMEM;
  if (rank == 0) {
    fl_output_ctx whole = {.m = m, .R = R, .psa = opt->psa, .psa_inner = opt->psa_inner};
    fl_error ignored;
    if (opt->psa && evppi_group(m, opt->evppi, whole.evppi, &whole.n_evppi, &ignored) != FL_OK)
      whole.n_evppi = 0;
    if (!(s->across = fl_across_create(&whole))) goto oom;
  }
  if (opt->checkpoint) {
    if (!(s->done_rep = calloc(R, 1))) goto oom;
    return open_checkpoint(m, opt, s->slots[0], R, rank, ranks, s->done_rep, &s->ck, err);
  }
  return FL_OK;
oom:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  return FL_ENOMEM;
}

fl_status fl_run_stream(const fl_model *m, const fl_run_options *opt, const fl_block_sink *sink,
                        fl_results *whole, fl_error *err) {
  const size_t R = opt->replications;
  fl_status st;
  if ((st = check_options(m, opt, err)) != FL_OK) return st;
  int rank, ranks, threads, inner;
  mpi_place(&rank, &ranks);
  const size_t Rb = fl_stream_block_reps(R), n_blocks = (R + Rb - 1) / Rb;
  /* Under MPI each rank simulates every ranks-th block. */
  const size_t own_blocks = (n_blocks - (size_t)rank + (size_t)ranks - 1) / (size_t)ranks;
  choose_threads(m, opt, (long long)(own_blocks * Rb < R ? own_blocks * Rb : R), &threads, &inner);
#ifdef FLOURISH_MPI
  /* The pipeline's threads call MPI one at a time: an MPI that allows only its main thread to
   * call it gets one thread across replications. */
  int level = MPI_THREAD_SINGLE;
  if (ranks > 1 && MPI_Query_thread(&level) == MPI_SUCCESS && level < MPI_THREAD_SERIALIZED)
    threads = 1;
#endif
  stream s = {0};
  if ((st = stream_init(&s, m, opt, Rb, threads, rank, ranks, err)) != FL_OK) {
    stream_free(&s);
    return st;
  }
  if (rank == 0 && sink && sink->begin) {
    const fl_stream_info info = {R, Rb, n_blocks, s.n_slots, s.slots};
    if ((st = sink->begin(sink->ctx, &info, err)) != FL_OK) {
      stream_free(&s);
      return st;
    }
  }
  const fl_pipe_config cfg = {.m = m, .opt = opt, .sink = rank == 0 ? sink : NULL,
                              .path = opt->pass ? opt->pass : fl_pass_best(), .ck = s.ck,
                              .done_rep = opt->resume ? s.done_rep : NULL, .across = s.across,
                              .rank = rank, .ranks = ranks, .inner = inner, .R = R,
                              .block_reps = Rb, .slots = s.slots, .n_slots = s.n_slots};
  fl_pipe *p = fl_pipe_create(&cfg);
  if (!p) {
    stream_free(&s);
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  fl_pipe_run(p, threads);
  fl_status fail_code = FL_OK;
  fl_error fail_err = {0};
  long long failed_rep = fl_pipe_failure(p, &fail_code, &fail_err);
  fl_pipe_free(p);
  if (s.ck && fl_checkpoint_finish(s.ck) != FL_OK && failed_rep < 0) {
    failed_rep = 0;
    fail_code = FL_EIO;
    fl_error_set(&fail_err, FL_EIO, opt->checkpoint, 0, 0, NULL, "cannot write the checkpoint");
  }
  agree_ranks(ranks, &failed_rep, &fail_code);
  if (failed_rep >= 0) {
    if (fail_err.code != FL_OK) {
      if (err) *err = fail_err;
    } else if (fail_code == FL_ESTOPPED) {
      fl_error_set(err, fail_code, opt->checkpoint, 0, 0, NULL,
                   "stopped on request before replication %lld%s", failed_rep,
                   opt->checkpoint ? ": the finished ones are kept in the checkpoint" : "");
    } else {
      fl_error_set(err, fail_code, NULL, 0, 0, NULL, "replication %lld failed: %s", failed_rep,
                   fl_strerror(fail_code));
    }
    stream_free(&s);
    return fail_code;
  }
  if (rank == 0 && whole) st = fl_across_finish(s.across, whole, err);
  stream_free(&s);
  return st;
}

/* fl_run's sink: every block copied into the results of the whole run. */
typedef struct memory_sink {
  fl_results *full;
  fl_results *const *slots;
} memory_sink;

static fl_status memory_begin(void *ctx, const fl_stream_info *info, fl_error *err) {
  memory_sink *k = ctx;
  (void)err;
  k->slots = info->slots;
  return FL_OK;
}

static fl_status memory_commit(void *ctx, size_t slot, size_t rep0, size_t n, fl_error *err) {
  memory_sink *k = ctx;
  const fl_results *block = k->slots[slot];
  (void)err;
  for (size_t a = 0; a < k->full->n_arms; a++)
    for (int comp = 0; comp < 2; comp++) {
      const fl_arm_results *g = comp ? &block->comps[a] : &block->arms[a];
      for (size_t i = 0; i < g->n_arrays; i++) {
        const fl_array *src = &g->arrays[i];
        fl_array *dst = fl_results_get(k->full, a, src->id);
        const size_t bytes = fl_array_count(src) / block->R * fl_dtype_size(src->type);
        memcpy((char *)dst->data + rep0 * bytes, src->data, n * bytes);
      }
    }
  return FL_OK;
}

fl_status fl_run(const fl_model *m, const fl_run_options *opt, fl_results **out, fl_error *err) {
  static const fl_stage stages[] = {FL_STAGE_TALLY, FL_STAGE_PARAMS, FL_STAGE_DERIVED,
                                    FL_STAGE_COMPARE};
  fl_status st;
  *out = NULL;
  if ((st = check_options(m, opt, err)) != FL_OK) return st;
  fl_results *full = fl_run_results_create(m, opt, opt->replications);
  if (!full) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  int rank, ranks;
  mpi_place(&rank, &ranks);
  /* Under MPI the results are rank 0's: the other ranks' hold no arrays. */
  for (size_t i = 0; rank == 0 && i < sizeof stages / sizeof *stages; i++)
    if ((st = fl_results_alloc_part(full, stages[i], FL_PART_PER_REP, err)) != FL_OK) {
      fl_results_free(full);
      return st;
    }
  memory_sink k = {.full = full};
  const fl_block_sink sink = {.ctx = &k, .begin = memory_begin, .commit = memory_commit};
  if ((st = fl_run_stream(m, opt, &sink, full, err)) != FL_OK) {
    fl_results_free(full);
    return st;
  }
  *out = full;
  return FL_OK;
}
