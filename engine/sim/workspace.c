/* The simulation's workspace (see workspace.h): made once per thread, sized for one model, and
 * grown before a replication's step loop, never in it. */
#include "sim/workspace.h"

#include "core/rng.h"

#include <stdlib.h>
#include <string.h>

fl_workspace *fl_workspace_create(const fl_model *m) {
  fl_workspace *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  ws->threads = 1;
  ws->n_enter = fl_calloc(m->T * (m->n_entries ? m->n_entries : 1), sizeof *ws->n_enter);
  ws->cnt = fl_calloc(m->NLOC * m->S, sizeof *ws->cnt);
  ws->ever = fl_calloc(m->L, sizeof *ws->ever);
  ws->entry_rng = fl_rng_gsl_alloc();
  ws->ev_slot = fl_calloc(FL_CHUNK, sizeof *ws->ev_slot);
  ws->ev_threads = 1;
  ws->strength = fl_calloc(FL_MAX_INTERVENTIONS, sizeof *ws->strength);
  ws->saving = fl_calloc(m->T, sizeof *ws->saving);
  ws->dyn_rows = fl_calloc(m->rows_per_period, sizeof *ws->dyn_rows);
  ws->dyn_stay32 = fl_calloc(m->rows_per_period, sizeof *ws->dyn_stay32);
  ws->dyn_cum = fl_calloc(m->rows_per_period * (m->S + 1), sizeof *ws->dyn_cum);
  ws->dyn_dest = fl_calloc(m->rows_per_period * (m->S + 1), 1);
  if (!ws->n_enter || !ws->cnt || !ws->ever || !ws->entry_rng || !ws->ev_slot || !ws->strength ||
      !ws->saving ||
      !ws->dyn_rows || !ws->dyn_stay32 || !ws->dyn_cum || !ws->dyn_dest) {
    fl_workspace_free(ws);
    return NULL;
  }
  ws->keep = m->n_arms > 1;
  return ws;
}

size_t fl_workspace_child_bytes(const fl_model *m, size_t *hot, size_t *history,
                                size_t *initial) {
  const size_t h = sizeof(uint64_t) + sizeof(uint32_t) + 2 * sizeof(uint16_t);
  const size_t hist = HIST_WORDS(m->L) * sizeof(uint16_t);
  const size_t het = m->het.dist != FL_HET_NONE ? sizeof(double) : 0;
  const size_t init = m->n_arms > 1 ? h + hist + het : 0;
  if (hot) *hot = h;
  if (history) *history = hist + het;
  if (initial) *initial = init;
  return h + hist + init;
}

size_t fl_workspace_event_bytes(void) { return FL_CHUNK * sizeof(uint32_t); }

/* n elements of the given size rounded up to whole cache lines, counted in elements. */
static size_t lines(size_t n, size_t size) {
  const size_t per_line = FL_CACHE_LINE / size;
  return (n + per_line - 1) / per_line * per_line;
}

/* Zeroed memory for n elements (a whole number of lines) that starts a cache line. */
static void *calloc_lines(size_t n, size_t size) {
  if (n == 0 || size > SIZE_MAX / n) return NULL;
  void *p = aligned_alloc(FL_CACHE_LINE, n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

static void free_parts(fl_workspace *ws) {
  free(ws->part_mem);
  free(ws->part_cnt);
  ws->part_mem = NULL;
  ws->part_cnt = NULL;
}

int fl_workspace_set_threads(fl_workspace *ws, const fl_model *m, int threads) {
  if (threads < 1) threads = 1;
  if (threads > FL_MAX_STEP_THREADS) threads = FL_MAX_STEP_THREADS;
  const size_t NS = m->NLOC * m->S;
  free_parts(ws);
  ws->threads = 1;
  if (threads == 1) return 0;
  /* FL_PARTS_PER_THREAD parts a thread, or one where their tallies do not fit. */
  size_t parts = (size_t)threads * FL_PARTS_PER_THREAD;
  const fl_output_ctx oc = fl_tally_ctx(m);
  ws->part_bytes = FL_CACHE_LINE;
  for (size_t a = 0; a < m->n_arms; a++) {
    fl_tally_layout lay;
    fl_tally_layout_init(&lay, &oc, a);
    if (lay.bytes > ws->part_bytes) ws->part_bytes = lay.bytes;
  }
  ws->part_ns = lines(NS, sizeof *ws->part_cnt);
  for (;;) {
    ws->part_mem = calloc_lines(parts * ws->part_bytes, 1);
    ws->part_cnt = calloc_lines(parts * ws->part_ns, sizeof *ws->part_cnt);
    if (ws->part_mem && ws->part_cnt) break;
    free_parts(ws);
    if (parts == (size_t)threads) return -1;
    parts = (size_t)threads;
  }
  if ((size_t)threads > ws->ev_threads) {
    uint32_t *ev = fl_malloc_array((size_t)threads * FL_CHUNK, sizeof *ev);
    if (!ev) {
      free_parts(ws);
      return -1;
    }
    free(ws->ev_slot);
    ws->ev_slot = ev;
    ws->ev_threads = (size_t)threads;
  }
  ws->max_parts = parts;
  ws->threads = threads;
  return 0;
}

void fl_workspace_free(fl_workspace *ws) {
  if (!ws) return;
  free_parts(ws);
  free(ws->rng);
  free(ws->base);
  free(ws->age);
  free(ws->tis);
  free(ws->hist);
  free(ws->het);
  free(ws->ev_slot);
  free(ws->n_enter);
  free(ws->cnt);
  free(ws->ever);
  free(ws->strength);
  free(ws->saving);
  free(ws->dyn_rows);
  free(ws->dyn_stay32);
  free(ws->dyn_cum);
  free(ws->dyn_dest);
  free(ws->keep_rng);
  free(ws->keep_base);
  free(ws->keep_age);
  free(ws->keep_tis);
  free(ws->keep_hist);
  free(ws->keep_het);
  if (ws->entry_rng) gsl_rng_free(ws->entry_rng);
  free(ws);
}

static int grow(void **p, size_t n, size_t size) {
  void *q = fl_malloc_array(n, size);
  if (!q) return 0;
  free(*p);
  *p = q;
  return 1;
}

/* Room for *cap children, at least need (with an eighth more), in a set of child arrays (the
 * workspace's own or its kept population; the multipliers where the model has them: het set);
 * contents are not kept. */
static fl_status reserve_set(size_t *cap, uint64_t **rng, uint32_t **base, uint16_t **age,
                             uint16_t **tis, uint16_t **hist, double **het, size_t hist_words,
                             size_t need) {
  if (need <= *cap) return FL_OK;
  need += need / 8;
  if (!grow((void **)rng, need, sizeof **rng) || !grow((void **)base, need, sizeof **base) ||
      !grow((void **)age, need, sizeof **age) || !grow((void **)tis, need, sizeof **tis) ||
      !grow((void **)hist, need, hist_words * sizeof **hist) ||
      (het && !grow((void **)het, need, sizeof **het)))
    return FL_ENOMEM;
  *cap = need;
  return FL_OK;
}

/* The multipliers' array of a set of child arrays that already has room for cap children but
 * was sized for a model without heterogeneity. */
static fl_status reserve_het(double **het, size_t cap) {
  return *het || cap == 0 || grow((void **)het, cap, sizeof **het) ? FL_OK : FL_ENOMEM;
}

fl_status fl_workspace_reserve(fl_workspace *ws, const fl_model *m, size_t need) {
  if (need >= ((size_t)1 << 31)) return FL_ENOMEM; /* slots are 32-bit lane indices */
  if (m->het.dist != FL_HET_NONE && reserve_het(&ws->het, ws->cap) != FL_OK) return FL_ENOMEM;
  return reserve_set(&ws->cap, &ws->rng, &ws->base, &ws->age, &ws->tis, &ws->hist,
                     m->het.dist != FL_HET_NONE ? &ws->het : NULL, HIST_WORDS(m->L), need);
}

fl_status fl_workspace_reserve_kept(fl_workspace *ws, const fl_model *m, size_t need) {
  if (need > ws->keep_cap) ws->keep_model = NULL;
  if (m->het.dist != FL_HET_NONE && reserve_het(&ws->keep_het, ws->keep_cap) != FL_OK)
    return FL_ENOMEM;
  return reserve_set(&ws->keep_cap, &ws->keep_rng, &ws->keep_base, &ws->keep_age,
                     &ws->keep_tis, &ws->keep_hist,
                     m->het.dist != FL_HET_NONE ? &ws->keep_het : NULL, HIST_WORDS(m->L), need);
}
