/* The agent simulation: every child of the population, one step at a time.
 *
 * Random numbers. Each child owns a pcg32 stream keyed by (seed, replication, child, purpose
 * CHILD): its attributes at creation are drawn from it, then exactly one 32-bit draw per step
 * decides its transition. Children are numbered in a fixed order (initial groups in file order,
 * then entrants by step, stream and arrival), so a child's draws do not depend on the thread that
 * runs the replication, and are the same in every arm (common random numbers). The number of
 * entrants per step comes from a separate stream per (seed, replication, ENTRIES).
 *
 * Memory. The hot state of a child is 16 bytes (fl_child); the history needed for the
 * journey tallies (levels ever reached, when each level was last left) is kept in separate
 * arrays touched only when a child changes level. */
#include "sim.h"

#include "rng.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>

/* The hot state of a child, 16 bytes. base = loc * loc_stride + state locates the child's
 * transition row together with its age and time in state; state and locality are recovered
 * from it off the common path. */
typedef struct fl_child {
  uint64_t rng;  /* pcg32 state; the increment is shared by the replication */
  uint32_t base; /* loc * loc_stride + state */
  uint16_t age;  /* in steps, at most the model's age_top */
  uint16_t tis;  /* completed steps in the current state (or level), at most tis_top */
} fl_child;

/* Cold per-child history, touched only when a child changes state: bit l (l < 15) set when the
 * child has been in level l; SPELL_OBSERVED when its current spell began inside the run. */
#define SPELL_OBSERVED 0x8000u

/* A child that needs more than the common "stay, grow older" update in this step. */
typedef struct fl_event {
  uint32_t slot; /* index of the child in kids[], with AGED_OUT when it stayed and aged out */
  uint32_t u;    /* its draw; u >= stay threshold means it moves (or leaves the area) */
} fl_event;

struct fl_workspace {
  size_t cap;           /* children the buffers hold */
  fl_child *kids;       /* [cap] */
  uint16_t *hist;       /* [cap] levels ever reached and SPELL_OBSERVED */
  uint32_t *left_at;    /* [cap * L] step at which the child last left each level */
  uint32_t *n_enter;    /* [T * E] entrants per step and stream */
  fl_event *events;     /* [cap] children that move or leave in the current step */
  int64_t *cnt;         /* [NLOC * S] children by locality and state now */
  int32_t *flows;       /* [T * S * S] scratch when the caller keeps no flows */
  gsl_rng *entry_rng;   /* GSL view of the ENTRIES stream, for Poisson draws */
};

#define LEFT_NEVER UINT32_MAX
#define AGED_OUT 0x80000000u

fl_workspace *fl_workspace_create(const fl_model *m) {
  fl_workspace *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  ws->n_enter = fl_calloc(m->T * (m->n_entries ? m->n_entries : 1), sizeof *ws->n_enter);
  ws->cnt = fl_calloc(m->NLOC * m->S, sizeof *ws->cnt);
  ws->entry_rng = fl_rng_gsl_alloc();
  if (!ws->n_enter || !ws->cnt || !ws->entry_rng) {
    fl_workspace_free(ws);
    return NULL;
  }
  return ws;
}

void fl_workspace_free(fl_workspace *ws) {
  if (!ws) return;
  free(ws->kids);
  free(ws->hist);
  free(ws->left_at);
  free(ws->n_enter);
  free(ws->events);
  free(ws->cnt);
  free(ws->flows);
  if (ws->entry_rng) gsl_rng_free(ws->entry_rng);
  free(ws);
}

/* Grows the per-child buffers to hold need children (before the step loop). */
static fl_status reserve(fl_workspace *ws, const fl_model *m, size_t need) {
  void *p;
  if (need <= ws->cap) return FL_OK;
  if (need >= AGED_OUT / 2) return FL_ENOMEM; /* slots must fit in 31 bits */
  need += need / 8;
  if (!(p = realloc(ws->events, need * sizeof *ws->events))) return FL_ENOMEM;
  ws->events = p;
  if (!(p = realloc(ws->kids, need * sizeof *ws->kids))) return FL_ENOMEM;
  ws->kids = p;
  if (!(p = realloc(ws->hist, need * sizeof *ws->hist))) return FL_ENOMEM;
  ws->hist = p;
  if (!(p = fl_malloc_array(need, m->L * sizeof *ws->left_at))) return FL_ENOMEM;
  free(ws->left_at);
  ws->left_at = p;
  ws->cap = need;
  return FL_OK;
}

static inline uint32_t draw_range(fl_rng *r, uint32_t lo, uint32_t hi) {
  return hi > lo ? lo + fl_rng_bounded(r, hi - lo + 1) : lo;
}

static inline uint32_t draw_cum(fl_rng *r, const uint64_t *cum) {
  uint32_t u = fl_rng_u32(r), k = 0;
  while (u >= cum[k]) k++;
  return k;
}

/* Places a new child in slot i; its stream r has already given its attributes. */
static void child_create(fl_workspace *ws, const fl_model *m, size_t i, const fl_rng *r,
                         uint32_t state, uint32_t loc, uint32_t age, uint32_t tis,
                         uint16_t flags) {
  fl_child *c = &ws->kids[i];
  c->rng = r->state;
  c->base = (uint32_t)(loc * m->loc_stride + state);
  c->age = (uint16_t)age;
  c->tis = (uint16_t)tis;
  ws->hist[i] = (uint16_t)(flags | (1u << m->state_level[state]));
  for (size_t l = 0; l < m->L; l++) ws->left_at[i * m->L + l] = LEFT_NEVER;
  ws->cnt[loc * m->S + state]++;
}

/* Counts the levels a child leaving the population (or present at the end) has reached. */
static inline void count_ever(const fl_model *m, const fl_tally *tl, uint16_t hist) {
  for (size_t l = 0; l < m->L; l++) tl->ever[l] += (hist >> l) & 1u;
}

/* Removes the child in slot i by moving the last child into it. */
static inline void child_remove(fl_workspace *ws, const fl_model *m, size_t i, size_t *n) {
  size_t last = --*n;
  ws->kids[i] = ws->kids[last];
  ws->hist[i] = ws->hist[last];
  memcpy(ws->left_at + i * m->L, ws->left_at + last * m->L, m->L * sizeof *ws->left_at);
}

fl_status fl_simulate(const fl_model *m, size_t arm_i, uint64_t seed, uint64_t rep,
                      fl_workspace *ws, const fl_tally *tl) {
  const size_t S = m->S, L = m->L, T = m->T, E = m->n_entries, NLOC = m->NLOC;
  const fl_arm *arm = &m->arms[arm_i];
  fl_stream_key key;
  fl_stream_key_init(&key, seed, rep, FL_PURPOSE_CHILD);
  const uint64_t inc = key.inc;
  const uint32_t reentry_window =
      m->step_months >= 12 ? 1 : (uint32_t)(12.0 / m->step_months + 0.5);
  const size_t rows_per_period = NLOC * m->loc_stride;
  int32_t *flows = tl->flows;
  uint64_t next_id = 0, total = 0;
  size_t n = 0;
  fl_rng r;

  /* Entrants per step and stream are drawn first, so the buffers can be sized before the step
   * loop, which then allocates nothing. */
  fl_rng_init_stream(fl_rng_gsl_state(ws->entry_rng), seed, rep, 0, FL_PURPOSE_ENTRIES);
  for (size_t t = 0; t < T; t++)
    for (size_t e = 0; e < E; e++) {
      uint32_t k = m->entries[e].per_step > 0
                       ? (uint32_t)gsl_ran_poisson(ws->entry_rng, m->entries[e].per_step)
                       : 0;
      ws->n_enter[t * E + e] = k;
      total += k;
    }
  for (size_t g = 0; g < m->n_init; g++) total += m->init[g].count;
  if (reserve(ws, m, total) != FL_OK) return FL_ENOMEM;
  if (!flows) {
    if (!ws->flows && !(ws->flows = fl_calloc(T * S * S, sizeof *ws->flows))) return FL_ENOMEM;
    memset(ws->flows, 0, T * S * S * sizeof *ws->flows);
    flows = ws->flows;
  }
  memset(ws->cnt, 0, NLOC * S * sizeof *ws->cnt);

  /* The initial population. Spells already under way are not counted as completed spells:
   * their start is unknown. */
  for (size_t g = 0; g < m->n_init; g++) {
    const fl_init_group *gr = &m->init[g];
    for (uint64_t k = 0; k < gr->count; k++, n++) {
      uint32_t age, tis;
      fl_rng_init_keyed(&r, &key, next_id++);
      age = draw_range(&r, gr->age_lo, gr->age_hi);
      tis = draw_range(&r, gr->tis_lo, gr->tis_hi);
      child_create(ws, m, n, &r, gr->state, gr->loc, age, tis, 0);
    }
  }
  for (size_t s = 0; s < S; s++)
    for (size_t l = 0; l < NLOC; l++) tl->stocks[s] += (int32_t)ws->cnt[l * S + s];
  if (tl->stocks_loc)
    for (size_t i = 0; i < NLOC * S; i++) tl->stocks_loc[i] = (int32_t)ws->cnt[i];

  /* Model constants in locals: the tallies are written through integer pointers, which could
   * otherwise alias the model's fields and force reloads in the hot loop. */
  const uint32_t *age_off = m->age_off, *dur_off = m->dur_off;
  const uint8_t *state_level = m->state_level;
  const uint32_t max_age = m->max_age ? m->max_age : UINT32_MAX;
  const uint32_t loc_stride = (uint32_t)m->loc_stride;
  const int tis_by_level = m->tis_by_level;
  const uint64_t *move_cum = arm->move_cum;
  const uint8_t *move_dest = arm->move_dest;
  fl_child *kids = ws->kids;
  int64_t *cnt = ws->cnt;

  for (size_t t = 0; t < T; t++) {
    const fl_row *rows = arm->rows + m->period_of_step[t] * rows_per_period;
    int32_t *flow_t = flows + t * S * S, *exits_t = tl->exits + t * S;

    /* Phase 1: entries. Entrants arrive at the start of the step and take part in it. */
    for (size_t e = 0; e < E; e++) {
      const fl_entry_stream *es = &m->entries[e];
      for (uint32_t k = 0; k < ws->n_enter[t * E + e]; k++, n++) {
        uint32_t age, state, loc;
        fl_rng_init_keyed(&r, &key, next_id++);
        age = draw_range(&r, es->age_lo, es->age_hi);
        state = draw_cum(&r, es->state_cum);
        loc = draw_cum(&r, es->loc_cum);
        child_create(ws, m, n, &r, state, loc, age, 0, SPELL_OBSERVED);
        tl->entries[t * S + state]++;
      }
    }

    /* Phases 2 and 3: the transition (including leaving the area), then ageing and leaving at
     * the maximum age. The pass over all children handles the common case, a child who stays
     * and grows one step older, with one draw against one integer threshold; the few children
     * who move or reach the maximum age are listed as events and handled after the pass, which
     * keeps the pass small enough to run from registers. */
    fl_event *ev = ws->events;
    size_t n_ev = 0, n_gone = 0;
    for (size_t i = 0; i < n; i++) {
      fl_child *c = &kids[i];
      const uint32_t u = fl_pcg32_step(&c->rng, inc);
      if (__builtin_expect(u < rows[c->base + age_off[c->age] + dur_off[c->tis]].stay, 1)) {
        c->tis++;
        if (__builtin_expect(++c->age >= max_age, 0))
          ev[n_ev++] = (fl_event){(uint32_t)i | AGED_OUT, u};
      } else {
        ev[n_ev++] = (fl_event){(uint32_t)i, u};
      }
    }
    for (size_t k = 0; k < n_ev; k++) {
      const uint32_t slot = ev[k].slot & ~AGED_OUT, u = ev[k].u;
      fl_child *c = &kids[slot];
      const size_t loc = c->base / loc_stride, s = c->base % loc_stride;
      if (ev[k].slot & AGED_OUT) {
        exits_t[s]++;
        cnt[loc * S + s]--;
        count_ever(m, tl, ws->hist[slot]);
        ev[n_gone++].slot = slot;
        continue;
      }
      const fl_row *row = &rows[c->base + age_off[c->age] + dur_off[c->tis]];
      uint32_t j = row->first;
      while (u >= move_cum[j]) j++;
      const size_t d = move_dest[j];
      if (d == FL_DEST_EXIT) {
        exits_t[s]++;
        cnt[loc * S + s]--;
        count_ever(m, tl, ws->hist[slot]);
        ev[n_gone++].slot = slot;
        continue;
      }
      flow_t[s * S + d]++;
      cnt[loc * S + s]--;
      cnt[loc * S + d]++;
      const size_t ls = state_level[s], ld = state_level[d];
      if (ls != ld || !tis_by_level) {
        if (ws->hist[slot] & SPELL_OBSERVED)
          tl->spells[s * FL_SPELL_BINS + (c->tis < FL_SPELL_BINS - 1 ? c->tis : FL_SPELL_BINS - 1)]++;
        c->tis = 0;
        ws->hist[slot] |= SPELL_OBSERVED;
      } else {
        c->tis++;
      }
      if (ls != ld) {
        uint32_t *left = ws->left_at + (size_t)slot * L;
        left[ls] = (uint32_t)t;
        if (left[ld] != LEFT_NEVER && t - left[ld] <= reentry_window) tl->reentries[t * L + ld]++;
        if (ld >= ls + 2) tl->skips[t]++;
        ws->hist[slot] |= (uint16_t)(1u << ld);
      }
      c->base = (uint32_t)(loc * loc_stride + d);
      if (++c->age >= max_age) {
        exits_t[d]++;
        cnt[loc * S + d]--;
        count_ever(m, tl, ws->hist[slot]);
        ev[n_gone++].slot = slot;
      }
    }
    /* Leavers go highest slot first: the child moved from the end into a freed slot is then
     * never one still waiting to be removed. */
    for (size_t k = n_gone; k-- > 0;) child_remove(ws, m, ev[k].slot, &n);

    /* Phase 4: tally the stocks at the end of the step. */
    int32_t *stocks = tl->stocks + (t + 1) * S;
    for (size_t s = 0; s < S; s++) {
      int64_t sum = 0;
      for (size_t l = 0; l < NLOC; l++) sum += cnt[l * S + s];
      stocks[s] = (int32_t)sum;
    }
    if (tl->stocks_loc)
      for (size_t j = 0; j < NLOC * S; j++)
        tl->stocks_loc[(t + 1) * NLOC * S + j] = (int32_t)cnt[j];
  }
  for (size_t i = 0; i < n; i++) count_ever(m, tl, ws->hist[i]);
  return FL_OK;
}
