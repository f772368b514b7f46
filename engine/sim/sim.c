/* The agent simulation: every child of the population, one step at a time.
 *
 * Random numbers. Each child owns a pcg32 stream keyed by (seed, replication, child, purpose
 * CHILD): its attributes at creation are drawn from it, then exactly one 32-bit draw per step
 * decides its transition. Children are numbered in a fixed order (initial groups in file order,
 * then entrants by step, stream and arrival), so a child's draws do not depend on the thread that
 * runs the replication, and are the same in every arm (common random numbers). The number of
 * entrants per step comes from a separate stream per (seed, replication, ENTRIES). So every arm
 * of a replication creates the same children: the first arm keeps them as created and the
 * others copy them (kept_copy).
 *
 * Memory. The hot state of a child is 16 bytes (the arrays rng, base, age and tis of
 * fl_workspace); the history needed for the journey tallies (levels ever reached, when each
 * level was last left) is kept apart and touched only by events. A step goes through the
 * children in chunks of FL_CHUNK, from the last to the first: the pass over a chunk, then its
 * events while the chunk is still in cache, then its leavers. So the event list is one chunk's
 * (a fixed 32 KiB a thread, not 4 bytes a child), and it holds slots only
 * (an event's draw is recovered from its advanced stream, fl_pcg32_last). */
#include "sim/workspace.h"

#include "core/rng.h"
#include "model/intervention.h"
#include "sim/pass.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Removes the child in slot i by moving the last child (its stream, row, age, time in state,
 * history) into it. */
static inline void child_remove(fl_workspace *ws, const fl_model *m, size_t i, size_t *n) {
  const size_t last = --*n, hw = HIST_WORDS(m->L);
  ws->rng[i] = ws->rng[last];
  ws->base[i] = ws->base[last];
  ws->age[i] = ws->age[last];
  ws->tis[i] = ws->tis[last];
  if (ws->het) ws->het[i] = ws->het[last];
  for (size_t w = 0; w < hw; w++) ws->hist[i * hw + w] = ws->hist[last * hw + w];
}

/* Whether an arm's spend follows its realised savings in this replication: it reinvests, and
 * the baseline's tallies of the replication are there to compare with. */
static int reinvesting(const fl_arm *arm, const fl_tally *tl) {
  return fl_arm_reinvests(arm) && tl->base;
}

/* A reinvesting arm at the start of step t, after the entries: the step is opened (the shared
 * bookkeeping, fl_arm_step_open) with the replication's children now (cnt, all of them) and the
 * baseline's of the same replication, at the replication's state costs, and the table for the
 * strengths the spend buys is built and returned. NULL for other arms (use the precompiled
 * table). */
static const fl_row *reinvest_step(const fl_model *m, const fl_arm *arm,
                                   const fl_arm_tables *tab, size_t t, fl_workspace *ws,
                                   const fl_tally *tl) {
  if (!arm->n_int || !reinvesting(arm, tl)) return NULL;
  const size_t S = m->S;
  const int32_t *base_stocks = fl_tally_i32(tl->base, FL_OUT_STOCKS);
  const int32_t *base_entries = fl_tally_i32(tl->base, FL_OUT_ENTRIES);
  double occ[FL_MAX_STATES], base_occ[FL_MAX_STATES];
  for (size_t s = 0; s < S; s++) {
    int64_t now = 0;
    for (size_t l = 0; l < m->NLOC; l++) now += ws->cnt[l * S + s];
    occ[s] = (double)now;
    base_occ[s] = base_stocks[t * S + s] + base_entries[t * S + s];
  }
  fl_arm_step_open(m, arm, t, occ, base_occ, tab->cost, ws->saving, ws->strength);
  size_t n_moves = 0, bad;
  if (fl_table_build(m, tab->base_p, arm, m->period_of_step[t], ws->strength, ws->dyn_rows,
                     ws->dyn_stay32, ws->dyn_cum, ws->dyn_dest, &n_moves, &bad) != 0)
    return NULL; /* cannot happen: compilation checked the largest reachable strength */
  return ws->dyn_rows;
}

/* The children of the workspace's n that intervention iv reaches now, by state into
 * per_state[S] (zeroed by the caller) where by_state is set, and in total (returned). An
 * intervention for every age reads the counts (cnt); one for some ages looks at each child.
 * div: fl_fast_div_magic of the locality stride. */
static int64_t reach_count(const fl_model *m, const fl_intervention *iv, const fl_workspace *ws,
                           size_t n, uint64_t div, int by_state, int64_t *per_state) {
  const size_t S = m->S;
  int64_t reached = 0;
  if (iv->age_lo == 0 && iv->age_hi == UINT32_MAX) {
    for (size_t l = 0; l < m->NLOC; l++)
      for (size_t s = 0; s < S; s++)
        if (iv->loc_on[l] && iv->state_on[s]) per_state[s] += ws->cnt[l * S + s];
    for (size_t s = 0; s < S; s++) reached += per_state[s];
  } else if (by_state) {
    for (size_t k = 0; k < n; k++) {
      const uint32_t b = ws->base[k], loc = fl_fast_div(b, div);
      const uint32_t s = b - loc * (uint32_t)m->loc_stride;
      per_state[s] += fl_intervention_reaches(iv, loc, s, ws->age[k]);
    }
    for (size_t s = 0; s < S; s++) reached += per_state[s];
  } else { /* (the total only: one sum, not one a state) */
    for (size_t k = 0; k < n; k++) {
      const uint32_t b = ws->base[k], loc = fl_fast_div(b, div);
      reached += fl_intervention_reaches(iv, loc, b - loc * (uint32_t)m->loc_stride, ws->age[k]);
    }
  }
  return reached;
}

/* The children each running intervention of step t reaches now, into the tallies total and
 * by_state (NULL where the arm's kinds do not need it) at [t * n_int]. */
static void reach_tally(const fl_model *m, const fl_arm *arm, size_t t, const fl_workspace *ws,
                        size_t n, uint64_t div, int32_t *total, int32_t *by_state) {
  const size_t S = m->S, ni = arm->n_int;
  for (size_t i = 0; i < ni; i++) {
    const fl_intervention *iv = &arm->ints[i];
    if (!fl_intervention_running(m, iv, t)) continue;
    int64_t per_state[FL_MAX_STATES] = {0};
    total[t * ni + i] = (int32_t)reach_count(m, iv, ws, n, div, by_state != NULL, per_state);
    if (by_state)
      for (size_t s = 0; s < S; s++) by_state[(t * ni + i) * S + s] = (int32_t)per_state[s];
  }
}

/* The interventions' books at the start of step t, after the entries: the spend and the
 * children reached (by state, where the arm's kinds need it) of each running intervention,
 * counted over the workspace's n children (cnt; ws->saving as reinvest_step left it). div:
 * fl_fast_div_magic of the locality stride. */
static void interventions_count(const fl_model *m, const fl_arm *arm, size_t t,
                                const fl_workspace *ws, const fl_tally *tl, size_t n,
                                uint64_t div) {
  const size_t ni = arm->n_int;
  for (size_t i = 0; i < ni; i++)
    if (fl_intervention_running(m, &arm->ints[i], t))
      fl_tally_f64(tl, FL_OUT_IV_SPEND)[t * ni + i] =
          fl_arm_spend(m, arm, i, t, ws->saving) * m->step_months;
  reach_tally(m, arm, t, ws, n, div, fl_tally_i32(tl, FL_OUT_IV_REACHED),
              fl_tally_i32(tl, FL_OUT_IV_REACHED_BY_STATE));
}

/* What the handling of a step's events needs. */
typedef struct step_ctx {
  const fl_model *m;
  const fl_row *rows;
  const uint64_t *move_cum;
  const uint8_t *move_dest;
  const uint32_t *age_off, *dur_off;
  const uint8_t *state_level;
  const uint8_t *het_on; /* [S] states whose rows the children's multipliers change, or NULL */
  const uint64_t *het_chosen; /* fl_het_chosen of rows */
  uint32_t max_age, loc_stride;
  uint64_t loc_div;
  int tis_by_level;
  uint32_t reentry_window, t;
  uint64_t inc; /* the replication's stream increment */
} step_ctx;

/* Where the events of a step are counted: the tallies of the replication, or of a part of it. */
typedef struct step_counts {
  int32_t *flow_t;      /* [S, S] this step's flows */
  int32_t *exits_t;     /* [S] */
  int32_t *spells;      /* [S, FL_SPELL_BINS] */
  int32_t *reentries_t; /* [L] this step's */
  int32_t *skips_t;     /* [1] this step's */
  int32_t *ever;        /* [L] */
  int32_t *moves;       /* [FL_MOVE_BINS] children by their moves, counted as they leave */
  int64_t *cnt;         /* [NLOC, S] */
} step_counts;

/* The moves a child has made so far (its history hist). */
static inline uint32_t moves_of(const uint16_t *hist, size_t L) {
  return (uint32_t)(hist[MOVES_WORD(L)] >> MOVES_SHIFT(L)) & MOVES_MAX;
}

/* Handles the events ev_slot[0, n_ev) (slots counted from slot off, of children the pass has
 * aged; each one's draw is recovered from its advanced stream): moves, spells, journeys and
 * leaving. Each event touches only its own child. Returns the number of children who leave,
 * whose slots (ascending, counted from off) it puts in ev_slot[0, n_gone). */
static inline __attribute__((always_inline)) size_t
handle_events(const step_ctx *c, fl_workspace *ws, uint32_t *ev_slot, size_t n_ev, uint32_t off,
              const step_counts *k_, const int banded, const int het) {
  const fl_model *m = c->m;
  const size_t S = m->S, L = m->L;
  const fl_row *rows = c->rows;
  const uint64_t *move_cum = c->move_cum;
  const uint8_t *move_dest = c->move_dest, *state_level = c->state_level, *het_on = c->het_on;
  const uint64_t *het_chosen = c->het_chosen;
  const uint32_t *age_off = c->age_off, *dur_off = c->dur_off;
  const uint32_t max_age = c->max_age, loc_stride = c->loc_stride, t = c->t;
  const uint32_t reentry_window = c->reentry_window;
  const uint64_t loc_div = c->loc_div, inc = c->inc;
  const int tis_by_level = c->tis_by_level;
  int32_t *flow_t = k_->flow_t, *exits_t = k_->exits_t, *spells = k_->spells;
  int32_t *reentries_t = k_->reentries_t, *skips_t = k_->skips_t, *ever = k_->ever;
  int32_t *moves = k_->moves;
  int64_t *cnt = k_->cnt;
  const size_t moves_word = MOVES_WORD(L), moves_shift = MOVES_SHIFT(L);
  size_t n_gone = 0;
  for (size_t k = 0; k < n_ev; k++) {
    const uint32_t slot = off + ev_slot[k], u = fl_pcg32_last(ws->rng[slot], inc);
    uint16_t *hist = ws->hist + (size_t)slot * HIST_WORDS(L);
    if (k + 8 < n_ev) {
      /* Fetch a later event's child ahead: its history from memory (the pass does not touch
       * it), its hot state from L2, where the pass over the chunk left it. */
      const uint32_t ahead = off + ev_slot[k + 8];
      __builtin_prefetch(ws->hist + (size_t)ahead * HIST_WORDS(L), 1);
      __builtin_prefetch(ws->base + ahead, 1);
      __builtin_prefetch(ws->age + ahead, 0);
      __builtin_prefetch(ws->tis + ahead, 1);
      __builtin_prefetch(ws->rng + ahead, 0);
      if (het) __builtin_prefetch(ws->het + ahead, 0);
    }
    const uint32_t b = ws->base[slot], age = ws->age[slot], tis = ws->tis[slot] - 1u;
    const size_t loc = fl_fast_div(b, loc_div), s = b - loc * loc_stride;
    const size_t r = banded ? b + age_off[age - 1] + dur_off[tis] : b;
    const fl_row *row = &rows[r];
    size_t d = s; /* a child whose draw is below the exact threshold stays */
    if (het && het_on[s]) { /* the same draw on the child's own row */
      d = fl_het_move(m, s, row, het_chosen[r], move_cum, move_dest, ws->het[slot], u);
    } else if (u >= row->stay) {
      uint32_t j = row->first;
      while (u >= move_cum[j]) j++;
      d = move_dest[j];
    }
    if (d == FL_DEST_EXIT) { /* leaves the area */
      exits_t[s]++;
      cnt[loc * S + s]--;
      moves[moves_of(hist, L)]++;
      ev_slot[n_gone++] = slot - off;
      continue;
    }
    if (d != s) {
      flow_t[s * S + d]++;
      cnt[loc * S + s]--;
      cnt[loc * S + d]++;
      const size_t ls = state_level[s], ld = state_level[d];
      /* The journey tallies below are counted without branches: which children complete an
       * observed spell, re-enter, skip a level or reach a level first is unpredictable. */
      uint32_t h0 = hist[0];
      if (ls != ld || !tis_by_level) {
        spells[s * FL_SPELL_BINS + (tis < FL_SPELL_BINS - 1 ? tis : FL_SPELL_BINS - 1)] +=
            (int32_t)(h0 >> 15);
        ws->tis[slot] = 0;
        h0 |= SPELL_OBSERVED;
      }
      if (ls != ld) {
        uint16_t *left = hist + 1;
        const uint32_t left_d = left[ld];
        left[ls] = (uint16_t)t;
        reentries_t[ld] += (left_d != LEFT_NEVER) & (t - left_d <= reentry_window);
        skips_t[0] += ld >= ls + 2;
        ever[ld] += !((h0 >> ld) & 1); /* the first time in this level */
        h0 |= 1u << ld;
      }
      hist[0] = (uint16_t)h0;
      /* One move more, unless the count is full. */
      const uint32_t mv = ((uint32_t)hist[moves_word] >> moves_shift) & MOVES_MAX;
      hist[moves_word] = (uint16_t)(hist[moves_word] + ((uint32_t)(mv != MOVES_MAX) << moves_shift));
      ws->base[slot] = (uint32_t)(loc * loc_stride + d);
    }
    if (age >= max_age) { /* reaches the maximum age */
      exits_t[d]++;
      cnt[loc * S + d]--;
      moves[moves_of(hist, L)]++;
      ev_slot[n_gone++] = slot - off;
    }
  }
  return n_gone;
}

/* A replication under way: what the steps share. */
typedef struct sim_run {
  const fl_model *m;
  const fl_arm *arm;
  size_t arm_i;          /* the arm's index in the model */
  const fl_arm_tables *tab;
  fl_workspace *ws;
  const fl_tally *tl;
  fl_stream_key key;
  fl_stream_key het_key; /* the children's multipliers (the model's heterogeneity) */
  fl_path path;
  uint64_t next_id;
  size_t n;              /* children now */
  const fl_row *rows_dyn;
  uint32_t reentry_window, max_age, loc_stride;
  uint64_t loc_div;
  /* This step's: */
  step_ctx c;
  fl_pass_args pa;
  int32_t *flow_t, *exits_t;
  int dyn_shared; /* rows_dyn is set for each step by the caller (threads inside) */
  int copy, save;  /* children are copied from the kept population, or kept as created */
} sim_run;

/* Children [slot, slot + k) of sr's workspace into the kept population from child number id
 * (save), or back. */
static void kept_copy(const sim_run *sr, size_t slot, uint64_t id, size_t k, int save) {
  if (k == 0) return; /* (the buffers may not exist yet: no null pointers to memcpy) */
  fl_workspace *ws = sr->ws;
  const size_t hw = HIST_WORDS(sr->m->L);
#define FL_COPY(here, kept, count) memcpy(save ? (void *)(kept) : (void *)(here), \
                                          save ? (void *)(here) : (void *)(kept), \
                                          (count) * sizeof *(here))
  FL_COPY(ws->rng + slot, ws->keep_rng + id, k);
  FL_COPY(ws->base + slot, ws->keep_base + id, k);
  FL_COPY(ws->age + slot, ws->keep_age + id, k);
  FL_COPY(ws->tis + slot, ws->keep_tis + id, k);
  FL_COPY(ws->hist + slot * hw, ws->keep_hist + id * hw, k * hw);
  if (ws->het) FL_COPY(ws->het + slot, ws->keep_het + id, k);
#undef FL_COPY
}

/* The multiplier of child number id (its own stream), for the model's heterogeneity. */
static double het_draw(const sim_run *sr, uint64_t id) {
  fl_rng r;
  fl_rng_init_keyed(&r, &sr->het_key, id);
  return fl_het_draw(&sr->m->het, &r);
}

/* The multipliers of the children in slots [i0, i1) of sr's workspace, added by state to
 * out[S] (NULL: the model's rewards do not need them). The multipliers are multiples of 2^-16,
 * so the sums do not depend on the order. */
static void het_sum(const sim_run *sr, size_t i0, size_t i1, double *out) {
  if (!out) return;
  const fl_workspace *ws = sr->ws;
  for (size_t i = i0; i < i1; i++) {
    const uint32_t b = ws->base[i], loc = fl_fast_div(b, sr->loc_div);
    out[b - loc * sr->loc_stride] += ws->het[i];
  }
}

/* The children in slots [i0, i1) of sr's workspace, added by reward class to out[NRC] (NULL:
 * the model has no rewards by age or time in state), and their multipliers to het_out[NRC]
 * (NULL: the model's heterogeneity does not weight the rewards; exact sums, as het_sum's). */
static void rc_count(const sim_run *sr, size_t i0, size_t i1, int32_t *out, double *het_out) {
  if (!out) return;
  const fl_workspace *ws = sr->ws;
  const fl_model *m = sr->m;
  for (size_t i = i0; i < i1; i++) {
    const uint32_t b = ws->base[i], loc = fl_fast_div(b, sr->loc_div);
    const size_t k = fl_reward_class(m, b - loc * sr->loc_stride, ws->age[i], ws->tis[i]);
    out[k]++;
    if (het_out) het_out[k] += ws->het[i];
  }
}

/* Counts the entrants just copied into slots [slot, slot + k) as creating them counts a new
 * child (it has been in its own level only), and as entrants by state (entries_t). */
static void kept_count(const sim_run *sr, size_t slot, size_t k, int32_t *entries_t) {
  const fl_model *m = sr->m;
  const uint32_t *base = sr->ws->base;
  int64_t *cnt = sr->ws->cnt;
  int32_t *ever = fl_tally_i32(sr->tl, FL_OUT_EVER_IN_LEVEL);
  const uint8_t *state_level = m->state_level;
  const size_t S = m->S;
  for (size_t i = slot; i < slot + k; i++) {
    const uint32_t b = base[i], loc = fl_fast_div(b, sr->loc_div);
    const uint32_t s = b - loc * sr->loc_stride;
    cnt[loc * S + s]++;
    ever[state_level[s]]++;
    entries_t[s]++;
  }
}

/* Phase 1, entrants [k0, k1) of step t (numbered over the step's entry streams in order):
 * entrant k gets slot n + k - k0 and the stream of child next_id + k, so any split of the range
 * between parts creates the same children. */
static void enter(const sim_run *sr, size_t t, size_t k0, size_t k1) {
  int32_t *entries_t = fl_tally_i32(sr->tl, FL_OUT_ENTRIES) + t * sr->m->S;
  int32_t *ever = fl_tally_i32(sr->tl, FL_OUT_EVER_IN_LEVEL);
  double *het_entries_t = fl_tally_f64(sr->tl, FL_OUT_HET_ENTRIES);
  int32_t *rc_entries_t = fl_tally_i32(sr->tl, FL_OUT_RC_ENTRIES);
  double *het_rc_entries_t = fl_tally_f64(sr->tl, FL_OUT_HET_RC_ENTRIES);
  if (het_entries_t) het_entries_t += t * sr->m->S;
  if (rc_entries_t) rc_entries_t += t * sr->m->NRC;
  if (het_rc_entries_t) het_rc_entries_t += t * sr->m->NRC;
  if (sr->copy) {
    kept_copy(sr, sr->n, sr->next_id + k0, k1 - k0, 0);
    kept_count(sr, sr->n, k1 - k0, entries_t);
    het_sum(sr, sr->n, sr->n + k1 - k0, het_entries_t);
    rc_count(sr, sr->n, sr->n + k1 - k0, rc_entries_t, het_rc_entries_t);
    return;
  }
  int64_t *cnt = sr->ws->cnt;
  const fl_model *m = sr->m;
  fl_workspace *ws = sr->ws;
  const size_t E = m->n_entries, S = m->S, L = m->L, hw = HIST_WORDS(L);
  const uint64_t inc = sr->key.inc;
  size_t first = 0; /* the step's first entrant of stream e */
  /* A stream's entrants are made together, each draw for all of them before the next: their
   * streams are started, then each draws its age, its state and its locality (each stream gives
   * them in this order), the state and locality into its row (base); then each is placed. */
  fl_pass_streams(&sr->key, sr->next_id + k0, k1 - k0, ws->rng + sr->n, sr->path);
  for (size_t e = 0; e < E && first < k1; first += ws->n_enter[t * E + e], e++) {
    const fl_entry_stream *es = &m->entries[e];
    const size_t last = first + ws->n_enter[t * E + e];
    const size_t a = first > k0 ? first : k0, b = last < k1 ? last : k1;
    if (a >= b) continue;
    const size_t slot = sr->n + a - k0, n = b - a;
    uint64_t *st = ws->rng + slot;
    fl_pass_draw_range(st, inc, n, es->age_lo, es->age_hi, ws->age + slot, sr->path);
    memset(ws->base + slot, 0, n * sizeof *ws->base);
    fl_pass_draw_cum(st, inc, n, es->state_cum, S, 1, ws->base + slot, sr->path);
    fl_pass_draw_cum(st, inc, n, es->loc_cum, m->NLOC, sr->loc_stride, ws->base + slot,
                     sr->path);
    for (size_t i = slot; i < slot + n; i++) {
      const uint32_t bi = ws->base[i], loc = fl_fast_div(bi, sr->loc_div);
      const uint32_t state = bi - loc * sr->loc_stride, lv = m->state_level[state];
      uint16_t *h = ws->hist + i * hw;
      ws->tis[i] = 0;
      h[0] = (uint16_t)(SPELL_OBSERVED | (1u << lv));
      for (size_t l = 0; l < L; l++) h[1 + l] = LEFT_NEVER;
      if (MOVES_WORD(L)) h[MOVES_WORD(L)] = 0;
      ever[lv]++; /* children are counted on first entering a level */
      cnt[loc * S + state]++;
      entries_t[state]++;
    }
    if (ws->het)
      for (size_t k = a; k < b; k++) ws->het[sr->n + k - k0] = het_draw(sr, sr->next_id + k);
  }
  het_sum(sr, sr->n, sr->n + k1 - k0, het_entries_t);
  rc_count(sr, sr->n, sr->n + k1 - k0, rc_entries_t, het_rc_entries_t);
  if (sr->save) kept_copy(sr, sr->n, sr->next_id + k0, k1 - k0, 1);
}

/* Entrants of step t. */
static size_t entrants(const sim_run *sr, size_t t) {
  const size_t E = sr->m->n_entries;
  size_t k = 0;
  for (size_t e = 0; e < E; e++) k += sr->ws->n_enter[t * E + e];
  return k;
}

/* The start of step t, once its entrants are in: the interventions' spend and reach are
 * counted, and an arm that reinvests its savings builds the step's table (unless the caller
 * did, dyn_shared); then the step's tables and pass are set up. */
static void step_begin(sim_run *sr, size_t t) {
  const fl_model *m = sr->m;
  const fl_arm *arm = sr->arm;
  const fl_arm_tables *tab = sr->tab;
  fl_workspace *ws = sr->ws;
  const fl_tally *tl = sr->tl;
  const size_t S = m->S;
  const size_t table_row0 = (size_t)arm->step_table[t] * m->rows_per_period;
  const fl_row *rows = tab->rows + table_row0;
  const uint32_t *stay32 = tab->stay32 + table_row0;
  sr->flow_t = fl_tally_i32(tl, FL_OUT_FLOWS) + t * S * S;
  sr->exits_t = fl_tally_i32(tl, FL_OUT_EXITS) + t * S;
  if (arm->n_int) {
    if (!sr->dyn_shared) sr->rows_dyn = reinvest_step(m, arm, tab, t, ws, tl);
    interventions_count(m, arm, t, ws, tl, sr->n, sr->loc_div);
    if (sr->rows_dyn) {
      rows = sr->rows_dyn;
      stay32 = ws->dyn_stay32;
    }
  }
  sr->c = (step_ctx){m, rows, sr->rows_dyn ? ws->dyn_cum : tab->move_cum,
                     sr->rows_dyn ? ws->dyn_dest : tab->move_dest, m->age_off, m->dur_off,
                     m->state_level, m->het.row_on,
                     tab->het_chosen ? tab->het_chosen + table_row0 : NULL, sr->max_age,
                     sr->loc_stride, sr->loc_div, m->tis_by_level, sr->reentry_window,
                     (uint32_t)t, sr->key.inc};
  /* (The children, n, rng, base, age and tis, are set for each chunk: step_serial.) */
  sr->pa = (fl_pass_args){.stay32 = stay32, .age_off = m->age_off,
                          .dur_off = m->dur_off, .banded = m->NA > 1 || m->ND > 1,
                          .n_rows = (uint32_t)m->rows_per_period,
                          .n_age_edges = (uint32_t)m->NA - 1, .age_edge = m->age_edges + 1,
                          .age_step = (uint32_t)(m->ND * S), .n_dur_edges = (uint32_t)m->ND - 1,
                          .dur_edge = m->dur_edges + 1, .dur_step = (uint32_t)S,
                          .inc = sr->key.inc, .max_age = sr->max_age, .ev_slot = ws->ev_slot};
}

/* The step's events, by the instance of handle_events for the model's rows. (A function of its
 * own: written into step_serial's loop over the chunks, the two instances cost 0.24% more
 * instructions in a Dundee run.) */
static size_t step_events(const sim_run *sr, uint32_t *ev_slot, size_t n_ev, uint32_t off,
                          const step_counts *sc) {
  if (sr->c.het_on)
    return sr->pa.banded ? handle_events(&sr->c, sr->ws, ev_slot, n_ev, off, sc, 1, 1)
                         : handle_events(&sr->c, sr->ws, ev_slot, n_ev, off, sc, 0, 1);
  return sr->pa.banded ? handle_events(&sr->c, sr->ws, ev_slot, n_ev, off, sc, 1, 0)
                       : handle_events(&sr->c, sr->ws, ev_slot, n_ev, off, sc, 0, 0);
}

/* Phase 4: the stocks at the end of step t, and the children its interventions reach then
 * where the reward timing counts them (rewards.timing other than start). */
static void step_end(sim_run *sr, size_t t) {
  const size_t S = sr->m->S, NLOC = sr->m->NLOC;
  const int64_t *cnt = sr->ws->cnt;
  int32_t *reached_end = fl_tally_i32(sr->tl, FL_OUT_IV_REACHED_END);
  if (reached_end)
    reach_tally(sr->m, sr->arm, t, sr->ws, sr->n, sr->loc_div, reached_end,
                fl_tally_i32(sr->tl, FL_OUT_IV_REACHED_END_BY_STATE));
  int32_t *stocks = fl_tally_i32(sr->tl, FL_OUT_STOCKS) + (t + 1) * S;
  int32_t *stocks_loc = fl_tally_i32(sr->tl, FL_OUT_STOCKS_BY_LOCALITY);
  for (size_t s = 0; s < S; s++) {
    int64_t sum = 0;
    for (size_t l = 0; l < NLOC; l++) sum += cnt[l * S + s];
    stocks[s] = (int32_t)sum;
  }
  if (stocks_loc)
    for (size_t j = 0; j < NLOC * S; j++) stocks_loc[(t + 1) * NLOC * S + j] = (int32_t)cnt[j];
  double *het_stocks = fl_tally_f64(sr->tl, FL_OUT_HET_STOCKS);
  if (het_stocks) het_sum(sr, 0, sr->n, het_stocks + (t + 1) * S);
  int32_t *rc_stocks = fl_tally_i32(sr->tl, FL_OUT_RC_STOCKS);
  double *het_rc_stocks = fl_tally_f64(sr->tl, FL_OUT_HET_RC_STOCKS);
  if (rc_stocks)
    rc_count(sr, 0, sr->n, rc_stocks + (t + 1) * sr->m->NRC,
             het_rc_stocks ? het_rc_stocks + (t + 1) * sr->m->NRC : NULL);
}

/* Phases 2 and 3 for the workspace's children (the replication's, or a part's), on one thread:
 * the transition (including leaving the area), then ageing and leaving at the maximum age. The
 * pass (engine/pass.c) draws, compares with one integer threshold and ages every child; the few
 * children who move or reach the maximum age come back as events. The children go in chunks,
 * the last first: a chunk's pass, its events, then its leavers, highest slot first (the child
 * moved from the end into a freed slot is then never one still waiting to be removed, and it
 * has had its step: every slot above the chunk's has). Leavers are so removed in the order, and
 * with the same children, as if the whole pass came first and every event after it; counts are
 * integers, so the order of the events does not change them. */
static void step_serial(sim_run *sr, size_t t) {
  fl_workspace *ws = sr->ws;
  const fl_tally *tl = sr->tl;
  const size_t L = sr->m->L;
  const step_counts sc = {sr->flow_t,
                          sr->exits_t,
                          fl_tally_i32(tl, FL_OUT_LENGTH_OF_STAY),
                          fl_tally_i32(tl, FL_OUT_REENTRIES) + t * L,
                          fl_tally_i32(tl, FL_OUT_SKIPS) + t,
                          fl_tally_i32(tl, FL_OUT_EVER_IN_LEVEL),
                          fl_tally_i32(tl, FL_OUT_MOVES_PER_CHILD),
                          ws->cnt};
  fl_pass_args pa = sr->pa;
  for (size_t c1 = sr->n; c1 > 0;) {
    const size_t c0 = (c1 - 1) / FL_CHUNK * FL_CHUNK;
    pa.n = c1 - c0;
    pa.rng = ws->rng + c0;
    pa.base = ws->base + c0;
    pa.age = ws->age + c0;
    pa.tis = ws->tis + c0;
    const size_t n_ev = fl_pass(&pa, sr->path);
    const size_t n_gone = step_events(sr, ws->ev_slot, n_ev, (uint32_t)c0, &sc);
    for (size_t k = n_gone; k-- > 0;) child_remove(ws, sr->m, c0 + ws->ev_slot[k], &sr->n);
    c1 = c0;
  }
}

/* Initial children i0 .. i1-1 (numbered over the groups in file order) into slots 0 .. i1-i0-1
 * of sr's workspace (counted by count_initial). A group's children are made together, each
 * step for all of them before the next: their streams are started, then each draws its age,
 * then its time in state (in this order from each stream); the rest (state, locality, history
 * on entry) is the group's. */
static void create_initial(const sim_run *sr, uint64_t i0, uint64_t i1) {
  const fl_model *m = sr->m;
  fl_workspace *ws = sr->ws;
  const size_t L = m->L, hw = HIST_WORDS(L);
  uint64_t g0 = 0;
  for (size_t g = 0; g < m->n_init && g0 < i1; g0 += m->init[g].count, g++) {
    const fl_init_group *gr = &m->init[g];
    const uint64_t lo = g0 > i0 ? g0 : i0, hi = g0 + gr->count < i1 ? g0 + gr->count : i1;
    if (lo >= hi) continue;
    const size_t n = (size_t)(hi - lo), slot = (size_t)(lo - i0);
    uint64_t *st = ws->rng + slot;
    fl_pass_streams(&sr->key, lo, n, st, sr->path);
    fl_pass_draw_range(st, sr->key.inc, n, gr->age_lo, gr->age_hi, ws->age + slot, sr->path);
    fl_pass_draw_range(st, sr->key.inc, n, gr->tis_lo, gr->tis_hi, ws->tis + slot, sr->path);
    /* The history of every child of the group: its level reached, no level left yet, no
     * moves, and no spell observed (its start is before the run). */
    uint16_t h[FL_MAX_LEVELS + 2];
    h[0] = (uint16_t)(1u << m->state_level[gr->state]);
    for (size_t l = 0; l < L; l++) h[1 + l] = LEFT_NEVER;
    if (MOVES_WORD(L)) h[MOVES_WORD(L)] = 0;
    const uint32_t base = (uint32_t)(gr->loc * m->loc_stride + gr->state);
    for (size_t i = slot; i < slot + n; i++) {
      ws->base[i] = base;
      for (size_t w = 0; w < hw; w++) ws->hist[i * hw + w] = h[w];
    }
    if (ws->het)
      for (uint64_t id = lo; id < hi; id++) ws->het[id - i0] = het_draw(sr, id);
  }
}

/* Initial children i0 .. i1-1 counted in sr's cnt and ever, by their groups (each child of a
 * group is in its state and locality, and has been in its level only). */
static void count_initial(const sim_run *sr, uint64_t i0, uint64_t i1) {
  const fl_model *m = sr->m;
  int32_t *ever = fl_tally_i32(sr->tl, FL_OUT_EVER_IN_LEVEL);
  uint64_t g0 = 0;
  for (size_t g = 0; g < m->n_init && g0 < i1; g0 += m->init[g].count, g++) {
    const fl_init_group *gr = &m->init[g];
    const uint64_t lo = g0 > i0 ? g0 : i0, hi = g0 + gr->count < i1 ? g0 + gr->count : i1;
    if (lo >= hi) continue;
    ever[m->state_level[gr->state]] += (int32_t)(hi - lo);
    sr->ws->cnt[gr->loc * m->S + gr->state] += (int64_t)(hi - lo);
  }
}

/* Initial children i0 .. i1-1 into slots 0 .. i1-i0-1 of sr's workspace: created (and kept,
 * sr->save), or copied from the kept population; and counted. */
static void initial(const sim_run *sr, uint64_t i0, uint64_t i1) {
  if (sr->copy) {
    kept_copy(sr, 0, i0, (size_t)(i1 - i0), 0);
  } else {
    create_initial(sr, i0, i1);
    if (sr->save) kept_copy(sr, 0, i0, (size_t)(i1 - i0), 1);
  }
  count_initial(sr, i0, i1);
}

/* The children still there at the end of the run, counted by their moves (those who left were
 * counted as they left). */
static void count_remaining_moves(const sim_run *sr) {
  int32_t *moves = fl_tally_i32(sr->tl, FL_OUT_MOVES_PER_CHILD);
  const size_t L = sr->m->L, hw = HIST_WORDS(L);
  for (size_t i = 0; i < sr->n; i++) moves[moves_of(sr->ws->hist + i * hw, L)]++;
}

/* Part p's tallies of the whole replication, laid out in its block of part_mem (zeroed). */
static fl_tally part_tally(const fl_workspace *ws, const fl_tally_layout *lay, int p) {
  unsigned char *block = ws->part_mem + (size_t)p * ws->part_bytes;
  fl_tally k;
  memset(block, 0, lay->bytes);
  fl_tally_bind(&k, lay, block);
  k.base = NULL;
  return k;
}

/* dst[i] = the sum over the np parts of their int32 tally at byte offset off, element i,
 * split between the team (integers, so the order does not matter). */
static void sum_parts(int32_t *dst, const fl_workspace *ws, size_t off, size_t len, int np) {
#pragma omp for schedule(static) nowait
  for (long long i = 0; i < (long long)len; i++) {
    int32_t sum = 0;
    for (int p = 0; p < np; p++)
      sum += ((const int32_t *)(ws->part_mem + (size_t)p * ws->part_bytes + off))[i];
    dst[i] = sum;
  }
}

/* The same for a float64 tally, summed in part order (its values are exact sums of multiples
 * of 2^-16, so the order does not matter either). */
static void sum_parts_f64(double *dst, const fl_workspace *ws, size_t off, size_t len, int np) {
#pragma omp for schedule(static) nowait
  for (long long i = 0; i < (long long)len; i++) {
    double sum = 0;
    for (int p = 0; p < np; p++)
      sum += ((const double *)(ws->part_mem + (size_t)p * ws->part_bytes + off))[i];
    dst[i] = sum;
  }
}

/* The parts' tallies combined into the replication's, as the registry says: sums of the
 * parts' counts, or the first part's value where every part computes the same. */
static void combine_parts(const fl_workspace *ws, const fl_tally_layout *lay, const fl_tally *tl,
                          int np) {
  for (size_t k = 0; k < lay->n; k++) {
    void *dst = tl->at[lay->id[k]];
    if (!dst) continue;
    if (fl_outputs[lay->id[k]].combine == FL_COMBINE_FIRST) {
#pragma omp single nowait
      memcpy(dst, ws->part_mem + lay->offset[k],
             lay->count[k] * fl_dtype_size(fl_outputs[lay->id[k]].type));
    } else if (fl_outputs[lay->id[k]].type == FL_F64) {
      sum_parts_f64(dst, ws, lay->offset[k], lay->count[k], np);
    } else {
      sum_parts(dst, ws, lay->offset[k], lay->count[k], np);
    }
  }
}

/* What the parts of a replication share (simulate_parts). */
typedef struct parts_run {
  sim_run *sr;
  fl_tally_layout lay; /* each part's tallies */
  uint64_t n0;
  int np, dynamic;
  const fl_row *rows_dyn; /* a reinvesting arm's table of the step */
} parts_run;

/* Part p of np of a replication, all of its steps: its initial children [n0 p / np,
 * n0 (p + 1) / np) and, of step t's k_t entrants, [k_t p / np, k_t (p + 1) / np), in its own
 * range of the buffers (its initial children, then room for its entrants), counted in its own
 * tallies. With a reinvesting arm every part is on its own thread of the team, and they meet
 * once a step (dynamic). */
static void run_part(parts_run *pr, int p, int thread) {
  sim_run *sr = pr->sr;
  const fl_model *m = sr->m;
  fl_workspace *ws = sr->ws;
  const size_t L = m->L, T = m->T, NS = m->NLOC * m->S;
  const size_t np = (size_t)pr->np, pp = (size_t)p;
  const uint64_t i0 = pr->n0 * pp / np, i1 = pr->n0 * (pp + 1) / np;
  size_t off = (size_t)i0;
  for (size_t t = 0; t < T; t++) off += entrants(sr, t) * pp / np;
  fl_workspace part = *ws;
  part.rng += off;
  part.base += off;
  part.age += off;
  part.tis += off;
  part.hist += off * HIST_WORDS(L);
  if (part.het) part.het += off;
  part.ev_slot += (size_t)thread * FL_CHUNK; /* (a part is stepped on one thread throughout) */
  part.cnt = ws->part_cnt + pp * ws->part_ns;
  part.threads = 1;
  fl_tally ptl = part_tally(ws, &pr->lay, p);
  /* (nothing of the part's may reach the replication's own) */
  part.ever = fl_tally_i32(&ptl, FL_OUT_EVER_IN_LEVEL);
  memset(part.cnt, 0, NS * sizeof *part.cnt);
  ptl.base = sr->tl->base;
  sim_run ps = *sr;
  ps.ws = &part;
  ps.tl = &ptl;
  ps.n = (size_t)(i1 - i0);
  ps.dyn_shared = 1;
  initial(&ps, i0, i1);
  int32_t *stocks = fl_tally_i32(&ptl, FL_OUT_STOCKS);
  int32_t *stocks_loc = fl_tally_i32(&ptl, FL_OUT_STOCKS_BY_LOCALITY);
  for (size_t j = 0; j < NS; j++) {
    stocks[j % m->S] += (int32_t)part.cnt[j];
    if (stocks_loc) stocks_loc[j] = (int32_t)part.cnt[j];
  }
  het_sum(&ps, 0, ps.n, fl_tally_f64(&ptl, FL_OUT_HET_STOCKS));
  rc_count(&ps, 0, ps.n, fl_tally_i32(&ptl, FL_OUT_RC_STOCKS),
           fl_tally_f64(&ptl, FL_OUT_HET_RC_STOCKS));
  for (size_t t = 0; t < T; t++) {
    const size_t k = entrants(sr, t), k0 = k * pp / np, k1 = k * (pp + 1) / np;
    enter(&ps, t, k0, k1);
    ps.n += k1 - k0;
    if (pr->dynamic) {
      /* The table needs the counts of the whole replication: the parts meet, one adds them up
       * and builds it. (The next step's barrier keeps it until every part has used it.) */
#pragma omp barrier
#pragma omp single
      {
        for (size_t j = 0; j < NS; j++) {
          int64_t sum = 0;
          for (size_t q = 0; q < np; q++) sum += ws->part_cnt[q * ws->part_ns + j];
          ws->cnt[j] = sum;
        }
        pr->rows_dyn = reinvest_step(m, sr->arm, sr->tab, t, ws, sr->tl);
      }
      ps.rows_dyn = pr->rows_dyn;
    }
    step_begin(&ps, t);
    step_serial(&ps, t);
    step_end(&ps, t);
    ps.next_id += k;
  }
  count_remaining_moves(&ps);
}

/* One replication with threads inside it. The children are split into parts (run_part), each
 * stepped on its own, as one thread steps the whole: no child's step depends on another's, so
 * the parts meet only at the end, where their tallies (integers) are added up. Every child keeps
 * its number, so the results are those of one thread, whatever the number of parts. There are
 * FL_PARTS_PER_THREAD parts a thread, taken in turn by whichever thread is free, so a thread
 * slowed down (by the machine) does not hold up the replication. An arm that reinvests its
 * savings needs the whole replication's children at each step: there each thread has one part
 * and the parts meet once a step, after the entries, to add up their counts for the table. */
static void simulate_parts(sim_run *sr, uint64_t n0) {
  const fl_model *m = sr->m;
  fl_workspace *ws = sr->ws;
  parts_run pr = {.sr = sr, .n0 = n0,
                  .dynamic = sr->arm->n_int && reinvesting(sr->arm, sr->tl)};
  const fl_output_ctx oc = fl_tally_ctx(m);
  fl_tally_layout_init(&pr.lay, &oc, sr->arm_i);
#pragma omp parallel num_threads(ws->threads)
  {
#ifdef _OPENMP
    const int b = omp_get_thread_num(), nb = omp_get_num_threads();
#else
    const int b = 0, nb = 1;
#endif
    /* (OpenMP may give fewer threads than asked for; part_mem has room for the parts of all.) */
#pragma omp single
    pr.np = pr.dynamic || ws->max_parts < (size_t)nb * FL_PARTS_PER_THREAD
                ? nb
                : nb * FL_PARTS_PER_THREAD;
    if (pr.dynamic)
      run_part(&pr, b, b);
    else {
#pragma omp for schedule(dynamic, 1)
      for (int p = 0; p < pr.np; p++) run_part(&pr, p, b);
    }
#pragma omp barrier
    combine_parts(ws, &pr.lay, sr->tl, pr.np);
  }
}

fl_status fl_simulate(const fl_model *m, size_t arm_i, const fl_arm_tables *tab, uint64_t seed,
                      uint64_t rep, fl_path path, fl_workspace *ws, const fl_tally *tl_out) {
  const size_t S = m->S, L = m->L, T = m->T, E = m->n_entries, NLOC = m->NLOC;
  /* ever_in_level is [R, L]: the slices of four replications share a cache line, and every
   * child created adds to it. Counted in the workspace and added to the results once at the
   * end, so threads on neighbouring replications do not contend for the line. */
  fl_tally own = *tl_out;
  own.at[FL_OUT_EVER_IN_LEVEL] = ws->ever;
  memset(ws->ever, 0, L * sizeof *ws->ever);
  const fl_tally *tl = &own;
  sim_run sr = {.m = m, .arm = tab->arm ? tab->arm : &m->arms[arm_i], .arm_i = arm_i,
                .tab = tab, .ws = ws,
                .tl = tl, .path = path};
  fl_stream_key_init(&sr.key, seed, rep, FL_PURPOSE_CHILD);
  if (m->het.dist != FL_HET_NONE)
    fl_stream_key_init(&sr.het_key, seed, rep, FL_PURPOSE_HETEROGENEITY);
  sr.reentry_window = m->step_months >= 12 ? 1 : (uint32_t)(12.0 / m->step_months + 0.5);
  sr.max_age = m->max_age ? m->max_age : UINT32_MAX;
  sr.loc_stride = (uint32_t)m->loc_stride;
  sr.loc_div = fl_fast_div_magic(sr.loc_stride);
  uint64_t total = 0, n0 = 0;

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
  for (size_t g = 0; g < m->n_init; g++) n0 += m->init[g].count;
  total += n0;
  if (fl_workspace_reserve(ws, m, total) != FL_OK) return FL_ENOMEM;
  memset(ws->cnt, 0, NLOC * S * sizeof *ws->cnt);
  memset(ws->saving, 0, T * sizeof *ws->saving); /* (read by an arm that reinvests only) */

  /* The children: created, or copied from the replication's first arm (where the kept
   * population cannot grow, every arm creates its own). Spells already under way at the start
   * are not counted as completed spells: their start is unknown. */
  sr.copy = ws->keep && ws->keep_model == m && ws->keep_seed == seed && ws->keep_rep == rep;
  sr.save = ws->keep && !sr.copy && fl_workspace_reserve_kept(ws, m, total) == FL_OK;
  if (sr.save) ws->keep_model = NULL; /* (until the whole replication is kept) */
  sr.next_id = n0; /* entrants are numbered after the initial children */
  if (ws->threads > 1)
    simulate_parts(&sr, n0);
  else {
    initial(&sr, 0, n0);
    sr.n = (size_t)n0;
    int32_t *stocks = fl_tally_i32(tl, FL_OUT_STOCKS);
    int32_t *stocks_loc = fl_tally_i32(tl, FL_OUT_STOCKS_BY_LOCALITY);
    for (size_t s = 0; s < S; s++)
      for (size_t l = 0; l < NLOC; l++) stocks[s] += (int32_t)ws->cnt[l * S + s];
    if (stocks_loc)
      for (size_t i = 0; i < NLOC * S; i++) stocks_loc[i] = (int32_t)ws->cnt[i];
    het_sum(&sr, 0, sr.n, fl_tally_f64(tl, FL_OUT_HET_STOCKS));
    rc_count(&sr, 0, sr.n, fl_tally_i32(tl, FL_OUT_RC_STOCKS),
             fl_tally_f64(tl, FL_OUT_HET_RC_STOCKS));
    for (size_t t = 0; t < T; t++) {
      const size_t k = entrants(&sr, t);
      enter(&sr, t, 0, k);
      sr.n += k;
      step_begin(&sr, t);
      step_serial(&sr, t);
      step_end(&sr, t);
      sr.next_id += k;
    }
    count_remaining_moves(&sr);
  }
  if (sr.save) {
    ws->keep_model = m;
    ws->keep_seed = seed;
    ws->keep_rep = rep;
  }
  int32_t *ever = fl_tally_i32(tl_out, FL_OUT_EVER_IN_LEVEL);
  for (size_t l = 0; l < L; l++) ever[l] += ws->ever[l];
  return FL_OK;
}
