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

#include "pass.h"
#include "rng.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>

/* The hot state of the children, 16 bytes each, in separate arrays so the pass over them can be
 * vectorised: the pcg32 state (the increment is shared by the replication), base = loc *
 * loc_stride + state (with age and time in state it locates the transition row; state and
 * locality are recovered from it off the common path), age in steps (at most the model's
 * age_top at the start of a step) and completed steps in the current state or level (at most
 * tis_top). Cold per-child history, touched only when a child changes state, kept together so
 * that an event touches one cache line: HIST_WORDS(L) 16-bit words per child, the first with
 * bit l (l < 15) set once the child has been in level l and SPELL_OBSERVED when its current
 * spell began inside the run, then for each level the step at which the child last left it
 * (horizons are below 65535 steps). */
#define SPELL_OBSERVED 0x8000u
#define LEFT_NEVER 0xFFFFu
#define HIST_WORDS(L) ((L) + 1)

struct fl_workspace {
  size_t cap;          /* children the buffers hold */
  uint64_t *rng;       /* [cap] */
  uint32_t *base;      /* [cap] */
  uint16_t *age;       /* [cap] */
  uint16_t *tis;       /* [cap] */
  uint16_t *hist;      /* [cap * HIST_WORDS(L)] */
  uint32_t *ev_slot;   /* [cap] events of the current step: slots, ascending */
  uint32_t *ev_u;      /* [cap] and draws */
  uint32_t *n_enter;   /* [T * E] entrants per step and stream */
  int64_t *cnt;        /* [NLOC * S] children by locality and state now */
  /* Arms that reinvest savings: this step's intervention strengths and the table built for
   * them, and the realised saving of every step so far. */
  double *strength;    /* [FL_MAX_INTERVENTIONS] */
  double *saving;      /* [T] */
  fl_row *dyn_rows;    /* [rows_per_period] */
  uint32_t *dyn_stay32;
  uint64_t *dyn_cum;   /* [rows_per_period * (S + 1)] */
  uint8_t *dyn_dest;
  gsl_rng *entry_rng;  /* GSL view of the ENTRIES stream, for Poisson draws */
};

fl_workspace *fl_workspace_create(const fl_model *m) {
  fl_workspace *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  ws->n_enter = fl_calloc(m->T * (m->n_entries ? m->n_entries : 1), sizeof *ws->n_enter);
  ws->cnt = fl_calloc(m->NLOC * m->S, sizeof *ws->cnt);
  ws->entry_rng = fl_rng_gsl_alloc();
  ws->strength = fl_calloc(FL_MAX_INTERVENTIONS, sizeof *ws->strength);
  ws->saving = fl_calloc(m->T, sizeof *ws->saving);
  ws->dyn_rows = fl_calloc(m->rows_per_period, sizeof *ws->dyn_rows);
  ws->dyn_stay32 = fl_calloc(m->rows_per_period, sizeof *ws->dyn_stay32);
  ws->dyn_cum = fl_calloc(m->rows_per_period * (m->S + 1), sizeof *ws->dyn_cum);
  ws->dyn_dest = fl_calloc(m->rows_per_period * (m->S + 1), 1);
  if (!ws->n_enter || !ws->cnt || !ws->entry_rng || !ws->strength || !ws->saving ||
      !ws->dyn_rows || !ws->dyn_stay32 || !ws->dyn_cum || !ws->dyn_dest) {
    fl_workspace_free(ws);
    return NULL;
  }
  return ws;
}

void fl_workspace_free(fl_workspace *ws) {
  if (!ws) return;
  free(ws->rng);
  free(ws->base);
  free(ws->age);
  free(ws->tis);
  free(ws->hist);
  free(ws->ev_slot);
  free(ws->ev_u);
  free(ws->n_enter);
  free(ws->cnt);
  free(ws->strength);
  free(ws->saving);
  free(ws->dyn_rows);
  free(ws->dyn_stay32);
  free(ws->dyn_cum);
  free(ws->dyn_dest);
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

/* Makes room for need children (before the step loop; contents are not kept). */
static fl_status reserve(fl_workspace *ws, const fl_model *m, size_t need) {
  if (need <= ws->cap) return FL_OK;
  if (need >= ((size_t)1 << 31)) return FL_ENOMEM; /* slots are 32-bit lane indices */
  need += need / 8;
  if (!grow((void **)&ws->rng, need, sizeof *ws->rng) ||
      !grow((void **)&ws->base, need, sizeof *ws->base) ||
      !grow((void **)&ws->age, need, sizeof *ws->age) ||
      !grow((void **)&ws->tis, need, sizeof *ws->tis) ||
      !grow((void **)&ws->hist, need, HIST_WORDS(m->L) * sizeof *ws->hist) ||
      !grow((void **)&ws->ev_slot, need, sizeof *ws->ev_slot) ||
      !grow((void **)&ws->ev_u, need, sizeof *ws->ev_u))
    return FL_ENOMEM;
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
static void child_create(fl_workspace *ws, const fl_model *m, const fl_tally *tl, size_t i,
                         const fl_rng *r, uint32_t state, uint32_t loc, uint32_t age, uint32_t tis,
                         uint16_t flags) {
  ws->rng[i] = r->state;
  ws->base[i] = (uint32_t)(loc * m->loc_stride + state);
  ws->age[i] = (uint16_t)age;
  ws->tis[i] = (uint16_t)tis;
  uint16_t *h = ws->hist + i * HIST_WORDS(m->L);
  h[0] = (uint16_t)(flags | (1u << m->state_level[state]));
  tl->ever[m->state_level[state]]++; /* children are counted on first entering a level */
  for (size_t l = 0; l < m->L; l++) h[1 + l] = LEFT_NEVER;
  ws->cnt[loc * m->S + state]++;
}

/* Removes the child in slot i by moving the last child into it. */
static inline void child_remove(fl_workspace *ws, const fl_model *m, size_t i, size_t *n) {
  size_t last = --*n;
  ws->rng[i] = ws->rng[last];
  ws->base[i] = ws->base[last];
  ws->age[i] = ws->age[last];
  ws->tis[i] = ws->tis[last];
  memcpy(ws->hist + i * HIST_WORDS(m->L), ws->hist + last * HIST_WORDS(m->L),
         HIST_WORDS(m->L) * sizeof *ws->hist);
}

/* Whether the child with row base b and age `age` is reached by intervention iv. */
static inline int reaches(const fl_model *m, const fl_intervention *iv, uint32_t b, uint64_t div,
                          uint32_t age) {
  const uint32_t loc = fl_fast_div(b, div), s = b - loc * (uint32_t)m->loc_stride;
  return iv->state_on[s] && iv->loc_on[loc] && age >= iv->age_lo && age < iv->age_hi;
}

/* The interventions' bookkeeping at the start of step t, after the entries: the spend and the
 * children reached of each running intervention. For an arm that reinvests (a fraction above
 * 0), the realised saving of this step against the baseline of the same replication (state
 * costs of the chosen budget holders, children present now) is recorded, the spend of the
 * intervention it funds is its own plus the fraction of the saving `delay` steps ago (when
 * positive), and the table for the strengths that gives is built; it is returned (NULL: use
 * the precompiled table). */
static const fl_row *interventions_step(const fl_model *m, const fl_arm *arm,
                                        const fl_arm_tables *tab, size_t t, fl_workspace *ws,
                                        const fl_tally *tl, size_t n) {
  const size_t S = m->S, ni = arm->n_int;
  const fl_reinvest *rv = &arm->reinvest;
  const int dynamic = rv->on && rv->fraction > 0 && tl->base;
  const double t0 = (double)t * m->step_months;
  const uint64_t div = fl_fast_div_magic((uint32_t)m->loc_stride);
  double spend_into = 0;
  if (dynamic) {
    double saving = 0;
    for (size_t s = 0; s < S; s++) {
      int64_t now = 0;
      for (size_t l = 0; l < m->NLOC; l++) now += ws->cnt[l * S + s];
      const double base_occ = tl->base->stocks[t * S + s] + tl->base->entries[t * S + s];
      for (size_t b = 0; b < m->B; b++)
        if (rv->from[b]) saving += (base_occ - (double)now) * m->cost[s * m->B + b];
    }
    ws->saving[t] = saving;
    spend_into = arm->ints[rv->into].spend;
    if (t >= rv->delay && ws->saving[t - rv->delay] > 0)
      spend_into += rv->fraction * ws->saving[t - rv->delay] / m->step_months;
  }
  for (size_t i = 0; i < ni; i++) {
    const fl_intervention *iv = &arm->ints[i];
    const int running = t0 >= iv->start && t0 < iv->end;
    const double spend = dynamic && i == rv->into ? spend_into : iv->spend;
    ws->strength[i] = dynamic && i == rv->into
                          ? fl_intervention_profile(m, iv, t) * fl_intervention_dose(iv, spend)
                          : arm->strength[t * ni + i];
    if (!running) continue;
    tl->spend[t * ni + i] = spend * m->step_months;
    int64_t reached = 0;
    if (iv->age_lo == 0 && iv->age_hi == UINT32_MAX) {
      for (size_t l = 0; l < m->NLOC; l++)
        for (size_t s = 0; s < S; s++)
          if (iv->loc_on[l] && iv->state_on[s]) reached += ws->cnt[l * S + s];
    } else {
      for (size_t k = 0; k < n; k++) reached += reaches(m, iv, ws->base[k], div, ws->age[k]);
    }
    tl->reached[t * ni + i] = (int32_t)reached;
  }
  if (!dynamic) return NULL;
  size_t n_moves = 0, bad;
  if (fl_table_build(m, tab->base_p, arm, m->period_of_step[t], ws->strength, ws->dyn_rows,
                     ws->dyn_stay32,
                     ws->dyn_cum, ws->dyn_dest, &n_moves, &bad) != 0)
    return NULL; /* cannot happen: compilation checked the largest reachable strength */
  return ws->dyn_rows;
}

fl_status fl_simulate(const fl_model *m, size_t arm_i, const fl_arm_tables *tab, uint64_t seed,
                      uint64_t rep, fl_path path, fl_workspace *ws, const fl_tally *tl) {
  const size_t S = m->S, L = m->L, T = m->T, E = m->n_entries, NLOC = m->NLOC;
  const fl_arm *arm = tab->arm ? tab->arm : &m->arms[arm_i];
  fl_stream_key key;
  fl_stream_key_init(&key, seed, rep, FL_PURPOSE_CHILD);
  const uint64_t inc = key.inc;
  const uint32_t reentry_window =
      m->step_months >= 12 ? 1 : (uint32_t)(12.0 / m->step_months + 0.5);
  const size_t rows_per_period = m->rows_per_period;
  int32_t *flows = tl->flows;
  const fl_row *rows_dyn = NULL;
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
      child_create(ws, m, tl, n, &r, gr->state, gr->loc, age, tis, 0);
    }
  }
  for (size_t s = 0; s < S; s++)
    for (size_t l = 0; l < NLOC; l++) tl->stocks[s] += (int32_t)ws->cnt[l * S + s];
  if (tl->stocks_loc)
    for (size_t i = 0; i < NLOC * S; i++) tl->stocks_loc[i] = (int32_t)ws->cnt[i];

  /* Model constants in locals: the tallies are written through integer pointers, which could
   * otherwise alias the model's fields and force reloads. */
  const uint32_t *age_off = m->age_off, *dur_off = m->dur_off;
  const uint8_t *state_level = m->state_level;
  const uint32_t max_age = m->max_age ? m->max_age : UINT32_MAX;
  const uint32_t loc_stride = (uint32_t)m->loc_stride;
  const uint64_t loc_div = fl_fast_div_magic(loc_stride);
  const int tis_by_level = m->tis_by_level;
  int64_t *cnt = ws->cnt;

  for (size_t t = 0; t < T; t++) {
    const size_t table_row0 = (size_t)arm->step_table[t] * rows_per_period;
    const fl_row *rows = tab->rows + table_row0;
    const uint32_t *stay32 = tab->stay32 + table_row0;
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
        child_create(ws, m, tl, n, &r, state, loc, age, 0, SPELL_OBSERVED);
        tl->entries[t * S + state]++;
      }
    }

    /* Interventions: what they cost and reach this step; an arm that reinvests its savings
     * builds this step's table for the spend they fund. */
    if (arm->n_int) {
      rows_dyn = interventions_step(m, arm, tab, t, ws, tl, n);
      if (rows_dyn) {
        rows = rows_dyn;
        stay32 = ws->dyn_stay32;
      }
    }
    const uint64_t *move_cum = rows_dyn ? ws->dyn_cum : tab->move_cum;
    const uint8_t *move_dest = rows_dyn ? ws->dyn_dest : tab->move_dest;

    /* Phases 2 and 3: the transition (including leaving the area), then ageing and leaving at
     * the maximum age. The pass over all children (engine/pass.c) draws, compares with one
     * integer threshold and ages every child; the few children who move or reach the maximum
     * age come back as events, handled here. */
    const fl_pass_args pa = {.n = n, .rng = ws->rng, .base = ws->base, .age = ws->age,
                             .tis = ws->tis, .stay32 = stay32,
                             .age_off = age_off, .dur_off = dur_off,
                             .banded = m->NA > 1 || m->ND > 1, .inc = inc,
                             .max_age = max_age, .ev_slot = ws->ev_slot, .ev_u = ws->ev_u};
    const size_t n_ev = fl_pass(&pa, path);
    size_t n_gone = 0;
    for (size_t k = 0; k < n_ev; k++) {
      const uint32_t slot = ws->ev_slot[k], u = ws->ev_u[k];
      uint16_t *hist = ws->hist + (size_t)slot * HIST_WORDS(L);
      if (k + 8 < n_ev) { /* events are scattered: fetch a later event's child ahead */
        const uint32_t ahead = ws->ev_slot[k + 8];
        __builtin_prefetch(ws->hist + (size_t)ahead * HIST_WORDS(L), 1);
        __builtin_prefetch(ws->base + ahead, 1);
        __builtin_prefetch(ws->age + ahead, 0);
        __builtin_prefetch(ws->tis + ahead, 1);
      }
      const uint32_t b = ws->base[slot], age = ws->age[slot], tis = ws->tis[slot] - 1u;
      const size_t loc = fl_fast_div(b, loc_div), s = b - loc * loc_stride;
      const fl_row *row = &rows[b + age_off[age - 1] + dur_off[tis]];
      size_t d = s; /* a child whose draw is below the exact threshold stays */
      if (u >= row->stay) {
        uint32_t j = row->first;
        while (u >= move_cum[j]) j++;
        d = move_dest[j];
      }
      if (d == FL_DEST_EXIT) { /* leaves the area */
        exits_t[s]++;
        cnt[loc * S + s]--;
        ws->ev_slot[n_gone++] = slot;
        continue;
      }
      if (d != s) {
        flow_t[s * S + d]++;
        cnt[loc * S + s]--;
        cnt[loc * S + d]++;
        const size_t ls = state_level[s], ld = state_level[d];
        if (ls != ld || !tis_by_level) {
          if (hist[0] & SPELL_OBSERVED)
            tl->spells[s * FL_SPELL_BINS + (tis < FL_SPELL_BINS - 1 ? tis : FL_SPELL_BINS - 1)]++;
          ws->tis[slot] = 0;
          hist[0] |= SPELL_OBSERVED;
        }
        if (ls != ld) {
          uint16_t *left = hist + 1;
          left[ls] = (uint16_t)t;
          if (left[ld] != LEFT_NEVER && t - left[ld] <= reentry_window)
            tl->reentries[t * L + ld]++;
          if (ld >= ls + 2) tl->skips[t]++;
          if (!(hist[0] & (1u << ld))) { /* first time in this level */
            hist[0] |= (uint16_t)(1u << ld);
            tl->ever[ld]++;
          }
        }
        ws->base[slot] = (uint32_t)(loc * loc_stride + d);
      }
      if (age >= max_age) { /* reaches the maximum age */
        exits_t[d]++;
        cnt[loc * S + d]--;
        ws->ev_slot[n_gone++] = slot;
      }
    }
    /* Leavers go highest slot first: the child moved from the end into a freed slot is then
     * never one still waiting to be removed. */
    for (size_t k = n_gone; k-- > 0;) child_remove(ws, m, ws->ev_slot[k], &n);

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
  return FL_OK;
}
