/* The replications of a Monte Carlo run as a pipeline (fl_run_stream, sim.h): replications are
 * simulated in order into blocks of results (slots), each finished block's work for the sink
 * (compressing its chunks) is shared by whichever threads are free, and the blocks are
 * committed to the sink one at a time in replication order. A few slots circulate, so the
 * memory a run holds does not depend on its number of replications.
 *
 * Threads. One parallel region for the whole run: each thread loops taking the most urgent
 * work there is (a task of a finished block, then committing the next block, then the next
 * replication), and sleeps on a condition variable when there is none, rather than spinning at
 * a barrier: on a machine whose other cores are busy a spinning thread takes time from the
 * ones doing the work. A replication is simulated, derived and compared on one thread, its
 * arms in turn (they share its random numbers), so its row of the block is written by one
 * thread only; the results are the same bytes for any number of threads.
 *
 * Failures. After the first failure no replication is started; those under way finish, the
 * blocks in the slots are passed through without the sink, and the lowest failing replication
 * is reported (replications are claimed in order, so every lower one has run).
 *
 * MPI. Blocks are dealt to the ranks in turn (block b to rank b mod ranks). A rank other than 0
 * passes each of its blocks, in order, to rank 0, which receives it when it is next to commit:
 * a header (the rank's first failure, or none) and, without a failure, every per-replication
 * array of the block. A rank that failed still sends a header for each of its remaining blocks,
 * so rank 0 never waits for a block that will not come. MPI is called by one thread at a time
 * (the one committing or receiving): MPI_THREAD_SERIALIZED. */
#include "sim/pipeline.h"

#include "sim/psa.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef FLOURISH_MPI
#include <mpi.h>
#endif

size_t fl_stream_block_reps(size_t R) { return R < 64 ? R : 64; }

typedef enum slot_phase { SLOT_FREE, SLOT_FILLING, SLOT_TASKS, SLOT_READY } slot_phase;

/* A block of replications on its way through the pipeline. */
typedef struct slot {
  fl_results *res;  /* rows for block_reps replications */
  long long block;  /* the block it holds */
  size_t n;         /* its replications */
  size_t claimed;   /* replications started (FILLING) */
  size_t done;      /* replications finished, or given up after a failure (FILLING) */
  size_t n_tasks, next_task, tasks_done;
  slot_phase phase;
} slot;

struct fl_pipe {
  fl_pipe_config c;
  long long n_blocks;
  pthread_mutex_t mu; /* guards everything below, and the checkpoint */
  pthread_cond_t cv;
  slot *slots;
  long long next_rep;  /* the next replication to claim, of this rank's blocks (R: none) */
  long long committed; /* every block before it has been committed (rank 0) or passed on */
  int busy;            /* a thread is committing, passing on or receiving a block */
  size_t reps_done;    /* for progress (rank 0: its own, and those received) */
  long long failed_rep;
  fl_status fail_code;
  fl_error fail_err;
};

static int owns(const fl_pipe *p, long long b) { return b % p->c.ranks == p->c.rank; }

static size_t block_size(const fl_pipe *p, long long b) {
  const size_t first = (size_t)b * p->c.block_reps;
  return p->c.R - first < p->c.block_reps ? p->c.R - first : p->c.block_reps;
}

/* The first replication of this rank's first block from block b on (R when none). */
static long long own_from(const fl_pipe *p, long long b) {
  while (b < p->n_blocks && !owns(p, b)) b++;
  return b < p->n_blocks ? b * (long long)p->c.block_reps : (long long)p->c.R;
}

static slot *slot_of(fl_pipe *p, long long b) {
  for (size_t i = 0; i < p->c.n_slots; i++)
    if (p->slots[i].phase != SLOT_FREE && p->slots[i].block == b) return &p->slots[i];
  return NULL;
}

static size_t free_slots(const fl_pipe *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->c.n_slots; i++) n += p->slots[i].phase == SLOT_FREE;
  return n;
}

static slot *take_slot(fl_pipe *p, long long b) {
  for (size_t i = 0; i < p->c.n_slots; i++) {
    slot *s = &p->slots[i];
    if (s->phase != SLOT_FREE) continue;
    s->phase = SLOT_FILLING;
    s->block = b;
    s->n = block_size(p, b);
    s->claimed = s->done = 0;
    return s;
  }
  return NULL;
}

static size_t slot_index(const fl_pipe *p, const slot *s) { return (size_t)(s - p->slots); }

/* A complete block: its tasks are set out (as many as the sink asks for), or it is ready. */
static void block_complete(fl_pipe *p, slot *s) {
  const fl_block_sink *k = p->c.sink;
  s->n_tasks = k && k->tasks && k->task && p->failed_rep < 0 && p->c.rank == 0
                   ? k->tasks(k->ctx, slot_index(p, s), (size_t)s->block * p->c.block_reps, s->n)
                   : 0;
  s->next_task = s->tasks_done = 0;
  s->phase = s->n_tasks ? SLOT_TASKS : SLOT_READY;
  pthread_cond_broadcast(&p->cv);
}

/* Records a failure at replication rep (with p->mu held): the lowest wins. No replication is
 * started after it, and the blocks being filled count their unstarted ones as done. */
static void fail_at(fl_pipe *p, long long rep, fl_status code, const fl_error *e) {
  if (p->failed_rep < 0 || rep < p->failed_rep) {
    p->failed_rep = rep;
    p->fail_code = code;
    if (e && e->code != FL_OK) p->fail_err = *e;
    else memset(&p->fail_err, 0, sizeof p->fail_err);
  }
  p->next_rep = (long long)p->c.R;
  for (size_t i = 0; i < p->c.n_slots; i++) {
    slot *s = &p->slots[i];
    if (s->phase != SLOT_FILLING || s->claimed == s->n) continue;
    s->done += s->n - s->claimed;
    s->claimed = s->n;
    if (s->done == s->n) block_complete(p, s);
  }
  pthread_cond_broadcast(&p->cv);
}

/* Per-thread state of a worker. */
typedef struct worker {
  fl_workspace *ws;
  fl_psa *ps;
  fl_arm_tables tabs[FL_MAX_ARMS];
  double *scratch;
} worker;

/* Simulates (or loads from the checkpoint) replication rep into row `row` of res, then derives
 * and compares it. Returns FL_OK or the failure (with err filled where it says more). */
static fl_status replication(fl_pipe *p, worker *w, fl_results *res, size_t row, long long rep,
                             fl_error *err) {
  const fl_model *m = p->c.m;
  const fl_run_options *opt = p->c.opt;
  fl_status st = FL_OK;
  if (!w->ws) return FL_ENOMEM;
  fl_results_zero_row(res, row);
  if (p->c.done_rep && p->c.done_rep[rep]) { /* stored by an earlier run */
    pthread_mutex_lock(&p->mu);
    st = fl_checkpoint_load(p->c.ck, res, row, (size_t)rep, err);
    pthread_mutex_unlock(&p->mu);
  } else {
    if (w->ps &&
        (st = fl_psa_prepare(m, w->ps, opt->seed, (uint64_t)rep / opt->psa_inner,
                             opt->psa_prior, w->tabs, err)) != FL_OK)
      return st;
    if (w->ps && m->n_unc) {
      memcpy(fl_results_slice(res, 0, FL_OUT_PARAM_COST, row), fl_psa_cost(w->ps),
             m->S * m->B * sizeof(double));
      memcpy(fl_results_slice(res, 0, FL_OUT_PARAM_QOL, row), fl_psa_qol(w->ps),
             m->S * sizeof(double));
      memcpy(fl_results_slice(res, 0, FL_OUT_PARAM_DRAWN, row), fl_psa_drawn(w->ps),
             m->n_unc * sizeof(double));
    }
    fl_tally base = {0};
    for (size_t a = 0; a < m->n_arms && st == FL_OK; a++) {
      fl_tally tl;
      fl_results_tally(res, a, row, &tl);
      tl.base = a ? &base : NULL;
      if (a == 0) base = tl;
      st = fl_simulate(m, a, &w->tabs[a], opt->seed, (uint64_t)rep, p->c.path, w->ws, &tl);
    }
    if (st == FL_OK && p->c.ck) {
      pthread_mutex_lock(&p->mu);
      st = fl_checkpoint_save(p->c.ck, res, row, (size_t)rep);
      pthread_mutex_unlock(&p->mu);
      if (st != FL_OK)
        fl_error_set(err, st, opt->checkpoint, 0, 0, NULL, "cannot write the checkpoint");
    }
  }
  if (st != FL_OK) return st;
  for (size_t a = 0; a < m->n_arms; a++) fl_results_derive_rep(res, a, row, w->scratch);
  fl_results_compare_rep(res, row);
  return FL_OK;
}

#ifdef FLOURISH_MPI
/* Calls f on each per-replication array of rows [0, n) of a block, in a fixed order. */
static int block_arrays(fl_results *res, size_t n, int (*f)(void *buf, size_t bytes, void *ctx),
                        void *ctx) {
  for (size_t a = 0; a < res->n_arms; a++)
    for (int comp = 0; comp < 2; comp++) {
      fl_arm_results *g = comp ? &res->comps[a] : &res->arms[a];
      for (size_t i = 0; i < g->n_arrays; i++) {
        fl_array *arr = &g->arrays[i];
        if (!fl_output_per_rep(arr->id)) continue;
        const size_t bytes = fl_array_count(arr) / res->R * fl_dtype_size(arr->type) * n;
        if (f(arr->data, bytes, ctx) != 0) return -1;
      }
    }
  return 0;
}

typedef struct msg {
  int peer, tag;
} msg;

/* MPI counts are ints: bytes go in messages of at most 1 GiB. */
#define PIECE ((size_t)1 << 30)
static int send_bytes(void *buf, size_t bytes, void *ctx) {
  const msg *g = ctx;
  for (size_t off = 0; off < bytes; off += PIECE) {
    const int k = (int)(bytes - off < PIECE ? bytes - off : PIECE);
    if (MPI_Send((char *)buf + off, k, MPI_BYTE, g->peer, g->tag, MPI_COMM_WORLD) != MPI_SUCCESS)
      return -1;
  }
  return 0;
}

static int recv_bytes(void *buf, size_t bytes, void *ctx) {
  const msg *g = ctx;
  for (size_t off = 0; off < bytes; off += PIECE) {
    const int k = (int)(bytes - off < PIECE ? bytes - off : PIECE);
    if (MPI_Recv((char *)buf + off, k, MPI_BYTE, g->peer, g->tag, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS)
      return -1;
  }
  return 0;
}

/* Tags are reused: messages from one rank arrive in the order they were sent. */
static int tag_of(long long b) { return (int)(b % 32768); }

/* A rank other than 0 passes block b on (s: its slot, or NULL after a failure left it
 * unstarted); with p->mu held, released while sending. */
static void pass_on(fl_pipe *p, long long b, slot *s) {
  const int failed = p->failed_rep >= 0;
  long long head[2] = {failed ? p->failed_rep : -1, failed ? (long long)p->fail_code : 0};
  msg g = {0, tag_of(b)};
  p->busy = 1;
  pthread_mutex_unlock(&p->mu);
  int bad = MPI_Send(head, 2, MPI_LONG_LONG, 0, g.tag, MPI_COMM_WORLD) != MPI_SUCCESS;
  if (!bad && !failed) bad = block_arrays(s->res, s->n, send_bytes, &g) != 0;
  pthread_mutex_lock(&p->mu);
  if (bad) fail_at(p, b * (long long)p->c.block_reps, FL_EINTERNAL, NULL);
  if (s) s->phase = SLOT_FREE;
  p->committed = b + 1;
  p->busy = 0;
  pthread_cond_broadcast(&p->cv);
}

/* Rank 0 receives block b from the rank that ran it into a free slot; with p->mu held,
 * released while waiting. The block then goes through its tasks like one of rank 0's own. */
static void receive(fl_pipe *p, long long b) {
  slot *s = take_slot(p, b);
  msg g = {(int)(b % p->c.ranks), tag_of(b)};
  long long head[2] = {0, 0};
  p->busy = 1;
  pthread_mutex_unlock(&p->mu);
  int bad = MPI_Recv(head, 2, MPI_LONG_LONG, g.peer, g.tag, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE) != MPI_SUCCESS;
  if (!bad && head[0] < 0) bad = block_arrays(s->res, s->n, recv_bytes, &g) != 0;
  pthread_mutex_lock(&p->mu);
  p->busy = 0;
  if (bad) fail_at(p, b * (long long)p->c.block_reps, FL_EINTERNAL, NULL);
  else if (head[0] >= 0) fail_at(p, head[0], (fl_status)head[1], NULL);
  p->reps_done += s->n;
  s->claimed = s->done = s->n;
  if (p->c.opt->progress) p->c.opt->progress(p->c.opt->progress_ctx, p->reps_done, p->c.R);
  block_complete(p, s);
}
#endif

/* Rank 0 commits block s (its tasks done): the sums across replications, then the sink
 * (neither after a failure); with p->mu held, released while it works. */
static void commit(fl_pipe *p, slot *s) {
  const size_t rep0 = (size_t)s->block * p->c.block_reps;
  const fl_block_sink *k = p->c.sink;
  fl_status st = FL_OK;
  fl_error e = {0};
  const int failed = p->failed_rep >= 0;
  p->busy = 1;
  pthread_mutex_unlock(&p->mu);
  if (!failed) {
    for (size_t i = 0; i < s->n; i++) fl_across_add(p->c.across, s->res, i);
    if (k && k->commit) st = k->commit(k->ctx, slot_index(p, s), rep0, s->n, &e);
  }
  pthread_mutex_lock(&p->mu);
  if (st != FL_OK) fail_at(p, (long long)rep0, st, &e);
  s->phase = SLOT_FREE;
  p->committed = s->block + 1;
  p->busy = 0;
  pthread_cond_broadcast(&p->cv);
}

/* Commits, passes on or receives the next block when it can be (with p->mu held); returns
 * whether it did something. */
static int advance(fl_pipe *p) {
  if (p->busy || p->committed >= p->n_blocks) return 0;
  long long b = p->committed;
  if (p->c.rank != 0) { /* the next of this rank's blocks */
    while (b < p->n_blocks && !owns(p, b)) b++;
    if (b >= p->n_blocks) {
      p->committed = b;
      return 1;
    }
  }
  slot *s = slot_of(p, b);
  if (s && s->phase == SLOT_READY) {
#ifdef FLOURISH_MPI
    if (p->c.rank != 0) {
      pass_on(p, b, s);
      return 1;
    }
#endif
    commit(p, s);
    return 1;
  }
  if (s) return 0;
  if (owns(p, b)) { /* not started: after a failure it never will be */
    if (p->failed_rep < 0) return 0;
#ifdef FLOURISH_MPI
    if (p->c.rank != 0) {
      pass_on(p, b, NULL);
      return 1;
    }
#endif
    p->committed = b + 1;
    return 1;
  }
#ifdef FLOURISH_MPI
  if (free_slots(p) > 0) {
    receive(p, b);
    return 1;
  }
#endif
  return 0;
}

/* Claims the next replication when its block has, or can take, a slot (rank 0 of several
 * keeps one free for a block it must receive): returns the slot and sets *rep, or NULL. With
 * p->mu held. */
static slot *claim(fl_pipe *p, long long *rep) {
  if (p->next_rep >= (long long)p->c.R) return NULL;
  const long long b = p->next_rep / (long long)p->c.block_reps;
  slot *s = slot_of(p, b);
  if (!s && free_slots(p) > (p->c.ranks > 1 && p->c.rank == 0 ? 1u : 0u)) s = take_slot(p, b);
  if (!s) return NULL;
  *rep = p->next_rep++;
  s->claimed++;
  if (p->next_rep % (long long)p->c.block_reps == 0 || p->next_rep >= (long long)p->c.R)
    p->next_rep = own_from(p, (p->next_rep - 1) / (long long)p->c.block_reps + 1);
  return s;
}

/* A task of a complete block, if one is waiting; with p->mu held. */
static int run_task(fl_pipe *p) {
  slot *s = NULL;
  for (size_t i = 0; i < p->c.n_slots && !s; i++)
    if (p->slots[i].phase == SLOT_TASKS && p->slots[i].next_task < p->slots[i].n_tasks)
      s = &p->slots[i];
  if (!s) return 0;
  const size_t task = s->next_task++;
  fl_error e = {0};
  pthread_mutex_unlock(&p->mu);
  const fl_status st = p->c.sink->task(p->c.sink->ctx, slot_index(p, s), task, &e);
  pthread_mutex_lock(&p->mu);
  if (st != FL_OK) fail_at(p, s->block * (long long)p->c.block_reps, st, &e);
  if (++s->tasks_done == s->n_tasks) {
    s->phase = SLOT_READY;
    pthread_cond_broadcast(&p->cv);
  }
  return 1;
}

/* The next replication, if one can start; with p->mu held. When the caller asks the run to
 * stop (fl_run_options.stop), none starts: the stop is recorded like a failure at the next
 * replication, so the finished ones are kept in the checkpoint and, under MPI, every rank
 * agrees on it. */
static int run_replication(fl_pipe *p, worker *w) {
  const fl_run_options *opt = p->c.opt;
  if (opt->stop && p->failed_rep < 0 && p->next_rep < (long long)p->c.R &&
      opt->stop(opt->stop_ctx)) {
    fail_at(p, p->next_rep, FL_ESTOPPED, NULL);
    return 1;
  }
  long long rep;
  slot *s = claim(p, &rep);
  if (!s) return 0;
  fl_error e = {0};
  pthread_mutex_unlock(&p->mu);
  const fl_status st =
      replication(p, w, s->res, (size_t)(rep % (long long)p->c.block_reps), rep, &e);
  pthread_mutex_lock(&p->mu);
  if (st != FL_OK) fail_at(p, rep, st, &e);
  p->reps_done++;
  if (p->c.opt->progress && p->c.rank == 0)
    p->c.opt->progress(p->c.opt->progress_ctx, p->reps_done, p->c.R);
  if (++s->done == s->n && s->phase == SLOT_FILLING) block_complete(p, s);
  return 1;
}

/* One thread's loop: the most urgent work there is, until this rank's part is done. */
static void work(fl_pipe *p, worker *w) {
  pthread_mutex_lock(&p->mu);
  while (p->committed < p->n_blocks || p->busy) {
    if (run_task(p) || advance(p) || run_replication(p, w)) continue;
    pthread_cond_wait(&p->cv, &p->mu);
  }
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* A thread's workspace, parameter buffers and scratch (ws NULL when out of memory: its
 * replications then fail). */
static void worker_init(const fl_pipe *p, worker *w) {
  const fl_model *m = p->c.m;
  memset(w, 0, sizeof *w);
  w->ws = fl_workspace_create(m);
  if (w->ws && p->c.inner > 1 && fl_workspace_set_threads(w->ws, m, p->c.inner) != 0) {
    fl_workspace_free(w->ws);
    w->ws = NULL;
  }
  w->ps = p->c.opt->psa ? fl_psa_create(m) : NULL;
  for (size_t a = 0; a < m->n_arms; a++) w->tabs[a] = fl_model_tables(m, a);
  w->scratch = malloc(fl_results_scratch(p->slots[0].res) * sizeof(double));
  if (!w->scratch || (p->c.opt->psa && !w->ps)) {
    fl_workspace_free(w->ws);
    w->ws = NULL;
  }
}

static void worker_run(fl_pipe *p) {
  worker w;
  worker_init(p, &w);
  work(p, &w);
  fl_workspace_free(w.ws);
  fl_psa_free(w.ps);
  free(w.scratch);
}

fl_pipe *fl_pipe_create(const fl_pipe_config *cfg) {
  fl_pipe *p = calloc(1, sizeof *p);
  if (!p || !(p->slots = calloc(cfg->n_slots, sizeof *p->slots))) {
    free(p);
    return NULL;
  }
  p->c = *cfg;
  p->n_blocks = (long long)((cfg->R + cfg->block_reps - 1) / cfg->block_reps);
  for (size_t i = 0; i < cfg->n_slots; i++) p->slots[i].res = cfg->slots[i];
  p->next_rep = own_from(p, 0);
  p->failed_rep = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  return p;
}

void fl_pipe_free(fl_pipe *p) {
  if (!p) return;
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->slots);
  free(p);
}

void fl_pipe_run(fl_pipe *p, int threads) {
#ifdef _OPENMP
  /* Its own team when more than one thread, or when called from inside a parallel region
   * (whose threads would otherwise all run it). */
  if (threads > 1 || omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    worker_run(p);
    return;
  }
#endif
  (void)threads;
  worker_run(p);
}

long long fl_pipe_failure(const fl_pipe *p, fl_status *code, fl_error *err) {
  *code = p->fail_code;
  if (err) *err = p->fail_err;
  return p->failed_rep;
}
