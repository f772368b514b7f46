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

#define FL_SPELL_OBSERVED 1u /* the current spell began inside the run */

typedef struct fl_child {
  uint64_t rng;   /* pcg32 state; the increment is shared by the replication */
  uint16_t age;   /* in steps, saturating */
  uint16_t tis;   /* completed steps in the current state (or level), saturating */
  uint8_t state;
  uint8_t loc;
  uint8_t flags;
  uint8_t spare;
} fl_child;

struct fl_workspace {
  size_t cap;           /* children the buffers hold */
  fl_child *kids;       /* [cap] */
  uint16_t *ever;       /* [cap] bit l set: the child has been in level l */
  uint32_t *left_at;    /* [cap * L] step at which the child last left each level */
  uint32_t *n_enter;    /* [T * E] entrants per step and stream */
  int64_t *cnt;         /* [NLOC * S] children by locality and state now */
  int32_t *flows;       /* [T * S * S] scratch when the caller keeps no flows */
  gsl_rng *entry_rng;   /* GSL view of the ENTRIES stream, for Poisson draws */
};

#define LEFT_NEVER UINT32_MAX

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
  free(ws->ever);
  free(ws->left_at);
  free(ws->n_enter);
  free(ws->cnt);
  free(ws->flows);
  if (ws->entry_rng) gsl_rng_free(ws->entry_rng);
  free(ws);
}

static fl_status reserve(fl_workspace *ws, const fl_model *m, size_t need) {
  fl_child *kids;
  uint16_t *ever;
  uint32_t *left;
  if (need <= ws->cap) return FL_OK;
  need += need / 8;
  kids = realloc(ws->kids, need * sizeof *kids);
  if (kids) ws->kids = kids;
  ever = realloc(ws->ever, need * sizeof *ever);
  if (ever) ws->ever = ever;
  left = fl_malloc_array(need, m->L * sizeof *left);
  if (!kids || !ever || !left) {
    free(left);
    return FL_ENOMEM;
  }
  free(ws->left_at);
  ws->left_at = left;
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

/* Places child number id in slot i. */
static void child_create(fl_workspace *ws, const fl_model *m, size_t i, fl_rng *r,
                         uint32_t state, uint32_t loc, uint32_t age, uint32_t tis) {
  fl_child *c = &ws->kids[i];
  c->rng = r->state;
  c->age = (uint16_t)(age < 0xFFFF ? age : 0xFFFF);
  c->tis = (uint16_t)(tis < 0xFFFF ? tis : 0xFFFF);
  c->state = (uint8_t)state;
  c->loc = (uint8_t)loc;
  c->flags = 0;
  c->spare = 0;
  ws->ever[i] = (uint16_t)(1u << m->state_level[state]);
  for (size_t l = 0; l < m->L; l++) ws->left_at[i * m->L + l] = LEFT_NEVER;
  ws->cnt[loc * m->S + state]++;
}

/* Counts the levels a child leaving the population (or present at the end) has reached. */
static inline void count_ever(const fl_model *m, const fl_tally *tl, uint16_t ever) {
  for (size_t l = 0; l < m->L; l++) tl->ever[l] += (ever >> l) & 1u;
}

/* Removes the child in slot i by moving the last child into it. */
static inline void child_remove(fl_workspace *ws, const fl_model *m, size_t i, size_t *n) {
  size_t last = --*n;
  ws->kids[i] = ws->kids[last];
  ws->ever[i] = ws->ever[last];
  memcpy(ws->left_at + i * m->L, ws->left_at + last * m->L, m->L * sizeof *ws->left_at);
}

fl_status fl_simulate(const fl_model *m, size_t arm_i, uint64_t seed, uint64_t rep,
                      fl_workspace *ws, const fl_tally *tl) {
  const size_t S = m->S, L = m->L, T = m->T, E = m->n_entries;
  const fl_arm *arm = &m->arms[arm_i];
  const uint64_t inc = fl_stream_inc(seed, rep, FL_PURPOSE_CHILD);
  const uint32_t reentry_window = m->step_months >= 12 ? 1 : (uint32_t)(12.0 / m->step_months + 0.5);
  const size_t rows_per_period = m->NLOC * m->NA * m->ND * S;
  int32_t *flows = tl->flows;
  uint64_t next_id = 0, total = 0;
  size_t n = 0;
  fl_rng r;

  /* Entrants per step and stream are drawn first, so the buffers can be sized before the step
   * loop, which then allocates nothing. */
  *fl_rng_gsl_state(ws->entry_rng) = (fl_rng){0, 0};
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
  memset(ws->cnt, 0, m->NLOC * S * sizeof *ws->cnt);

  /* The initial population. */
  for (size_t g = 0; g < m->n_init; g++) {
    const fl_init_group *gr = &m->init[g];
    for (uint64_t k = 0; k < gr->count; k++, n++) {
      uint32_t age, tis;
      fl_rng_init_stream(&r, seed, rep, next_id++, FL_PURPOSE_CHILD);
      age = draw_range(&r, gr->age_lo, gr->age_hi);
      tis = draw_range(&r, gr->tis_lo, gr->tis_hi);
      child_create(ws, m, n, &r, gr->state, gr->loc, age, tis);
    }
  }
  for (size_t s = 0; s < S; s++)
    for (size_t l = 0; l < m->NLOC; l++) tl->stocks[s] += (int32_t)ws->cnt[l * S + s];
  if (tl->stocks_loc)
    for (size_t i = 0; i < m->NLOC * S; i++) tl->stocks_loc[i] = (int32_t)ws->cnt[i];

  for (size_t t = 0; t < T; t++) {
    const fl_row *rows = arm->rows + m->period_of_step[t] * rows_per_period;
    const uint64_t *move_cum = arm->move_cum;
    const uint8_t *move_dest = arm->move_dest;
    int32_t *flow_t = flows + t * S * S, *exits_t = tl->exits + t * S;

    /* Phase 1: entries. Entrants arrive at the start of the step and take part in it. */
    for (size_t e = 0; e < E; e++) {
      const fl_entry_stream *es = &m->entries[e];
      for (uint32_t k = 0; k < ws->n_enter[t * E + e]; k++, n++) {
        uint32_t age, state, loc;
        fl_rng_init_stream(&r, seed, rep, next_id++, FL_PURPOSE_CHILD);
        age = draw_range(&r, es->age_lo, es->age_hi);
        state = draw_cum(&r, es->state_cum);
        loc = draw_cum(&r, es->loc_cum);
        child_create(ws, m, n, &r, state, loc, age, 0);
        ws->kids[n].flags = FL_SPELL_OBSERVED;
        tl->entries[t * S + state]++;
      }
    }

    /* Phases 2 and 3, fused into one pass over the children: the transition (including leaving
     * the area), then ageing and leaving at the maximum age. */
    for (size_t i = 0; i < n; i++) {
      fl_child *c = &ws->kids[i];
      const size_t s = c->state;
      const fl_row *row = rows + fl_row_index(m, 0, c->loc, c->age, c->tis, s);
      const uint32_t u = fl_pcg32_step(&c->rng, inc);
      if (__builtin_expect(u < row->stay, 1)) {
        c->tis += c->tis != 0xFFFF;
      } else {
        uint32_t k = row->first;
        size_t d;
        while (u >= move_cum[k]) k++;
        d = move_dest[k];
        if (d == FL_DEST_EXIT) {
          exits_t[s]++;
          ws->cnt[c->loc * S + s]--;
          count_ever(m, tl, ws->ever[i]);
          child_remove(ws, m, i, &n);
          i--; /* the child moved into slot i has not had this step yet */
          continue;
        }
        flow_t[s * S + d]++;
        ws->cnt[c->loc * S + s]--;
        ws->cnt[c->loc * S + d]++;
        const size_t ls = m->state_level[s], ld = m->state_level[d];
        if (ls != ld || !m->tis_by_level) {
          if (c->flags & FL_SPELL_OBSERVED)
            tl->spells[s * FL_SPELL_BINS + (c->tis < FL_SPELL_BINS - 1 ? c->tis : FL_SPELL_BINS - 1)]++;
          c->tis = 0;
          c->flags |= FL_SPELL_OBSERVED;
        } else {
          c->tis += c->tis != 0xFFFF;
        }
        if (ls != ld) {
          uint32_t *left = ws->left_at + i * L;
          left[ls] = (uint32_t)t;
          if (left[ld] != LEFT_NEVER && t - left[ld] <= reentry_window) tl->reentries[t * L + ld]++;
          if (ld >= ls + 2) tl->skips[t]++;
          ws->ever[i] |= (uint16_t)(1u << ld);
        }
        c->state = (uint8_t)d;
      }
      c->age += c->age != 0xFFFF;
      if (m->max_age && c->age >= m->max_age) {
        exits_t[c->state]++;
        ws->cnt[c->loc * S + c->state]--;
        count_ever(m, tl, ws->ever[i]);
        child_remove(ws, m, i, &n);
        i--;
      }
    }

    /* Phase 4: tally the stocks at the end of the step. */
    int32_t *stocks = tl->stocks + (t + 1) * S;
    for (size_t s = 0; s < S; s++) {
      int64_t sum = 0;
      for (size_t l = 0; l < m->NLOC; l++) sum += ws->cnt[l * S + s];
      stocks[s] = (int32_t)sum;
    }
    if (tl->stocks_loc)
      for (size_t j = 0; j < m->NLOC * S; j++)
        tl->stocks_loc[(t + 1) * m->NLOC * S + j] = (int32_t)ws->cnt[j];
  }
  for (size_t i = 0; i < n; i++) count_ever(m, tl, ws->ever[i]);
  return FL_OK;
}
