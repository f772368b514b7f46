/* The agent simulation: every child of the population, one step at a time.
 *
 * Random numbers. Each child owns a pcg32 stream keyed by (seed, replication, child, purpose
 * CHILD): its attributes at creation are drawn from it, then exactly one 32-bit draw per step
 * decides its transition. Children are numbered in a fixed order (initial groups in file order,
 * then entrants by step, stream and arrival), so a child's draws do not depend on the thread that
 * runs the replication, and are the same in every arm (common random numbers). The number of
 * entrants per step comes from a separate stream per (seed, replication, ENTRIES).
 *
 * Memory. The hot state of a child is 16 bytes (the arrays rng, base, age and tis of
 * fl_workspace); the history needed for the journey tallies (levels ever reached, when each
 * level was last left) is kept apart and touched only by events; the event list holds slots
 * only (an event's draw is recovered from its advanced stream, fl_pcg32_last). */
#include "sim.h"

#include "pass.h"
#include "rng.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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
  uint32_t *ev_u;      /* [cap] with threads inside a replication: the moves that fill the
                        * leavers' slots (unused otherwise) */
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
  /* Threads inside a replication (fl_workspace_set_threads): each takes a contiguous block of
   * children through the pass and its events, counting into its own copy of the step's
   * tallies, added up after the pass. */
  int threads;
  int32_t *local32;    /* [threads * local32_len] */
  int64_t *local_cnt;  /* [threads * NLOC * S] changes of cnt */
  size_t local32_len;
  /* The initial population is the same in every arm of a replication (its streams are keyed
   * by child, not by arm): with more than one arm, the first arm's is kept here and the others
   * copy it: init_n children, valid for (init_model, init_seed, init_rep) once init_model is
   * set. */
  size_t init_n;
  const fl_model *init_model;
  uint64_t init_seed, init_rep;
  uint64_t *init_rng;
  uint32_t *init_base;
  uint16_t *init_age, *init_tis, *init_hist;
  int64_t *init_cnt;   /* [NLOC * S] */
  int32_t *init_ever;  /* [L] */
};

fl_workspace *fl_workspace_create(const fl_model *m) {
  fl_workspace *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  ws->threads = 1;
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
  if (m->n_arms > 1) {
    for (size_t g = 0; g < m->n_init; g++) ws->init_n += m->init[g].count;
    const size_t n = ws->init_n;
    ws->init_rng = fl_calloc(n, sizeof *ws->init_rng);
    ws->init_base = fl_calloc(n, sizeof *ws->init_base);
    ws->init_age = fl_calloc(n, sizeof *ws->init_age);
    ws->init_tis = fl_calloc(n, sizeof *ws->init_tis);
    ws->init_hist = n > SIZE_MAX / HIST_WORDS(m->L)
                        ? NULL
                        : fl_calloc(n * HIST_WORDS(m->L), sizeof *ws->init_hist);
    ws->init_cnt = fl_calloc(m->NLOC * m->S, sizeof *ws->init_cnt);
    ws->init_ever = fl_calloc(m->L, sizeof *ws->init_ever);
    if (!ws->init_rng || !ws->init_base || !ws->init_age || !ws->init_tis || !ws->init_hist ||
        !ws->init_cnt || !ws->init_ever) {
      fl_workspace_free(ws);
      return NULL;
    }
  }
  return ws;
}

size_t fl_workspace_child_bytes(const fl_model *m, int inside, size_t *hot, size_t *history,
                                size_t *events, size_t *initial) {
  const size_t h = sizeof(uint64_t) + sizeof(uint32_t) + 2 * sizeof(uint16_t);
  const size_t hist = HIST_WORDS(m->L) * sizeof(uint16_t);
  const size_t ev = (inside ? 2 : 1) * sizeof(uint32_t);
  const size_t init = m->n_arms > 1 ? h + hist : 0;
  if (hot) *hot = h;
  if (history) *history = hist;
  if (events) *events = ev;
  if (initial) *initial = init;
  return h + hist + ev + init;
}

int fl_workspace_set_threads(fl_workspace *ws, const fl_model *m, int threads) {
  if (threads < 1) threads = 1;
  if (threads > FL_MAX_STEP_THREADS) threads = FL_MAX_STEP_THREADS;
  free(ws->local32);
  free(ws->local_cnt);
  ws->local32 = NULL;
  ws->local_cnt = NULL;
  ws->threads = 1;
  ws->cap = 0; /* the next replication sizes the buffers, with or without ev_u */
  if (threads == 1) return 0;
  const size_t S = m->S, L = m->L;
  ws->local32_len = S * S + S + S * FL_SPELL_BINS + L + 1 + L + S; /* see local_counts */
  ws->local32 = fl_calloc((size_t)threads * ws->local32_len, sizeof *ws->local32);
  ws->local_cnt = fl_calloc((size_t)threads * m->NLOC * S, sizeof *ws->local_cnt);
  if (!ws->local32 || !ws->local_cnt) return -1;
  ws->threads = threads;
  return 0;
}

void fl_workspace_free(fl_workspace *ws) {
  if (!ws) return;
  free(ws->local32);
  free(ws->local_cnt);
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
  free(ws->init_rng);
  free(ws->init_base);
  free(ws->init_age);
  free(ws->init_tis);
  free(ws->init_hist);
  free(ws->init_cnt);
  free(ws->init_ever);
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
      (ws->threads > 1 && !grow((void **)&ws->ev_u, need, sizeof *ws->ev_u)))
    return FL_ENOMEM;
  ws->cap = need;
  return FL_OK;
}

static inline uint32_t draw_range(fl_rng *r, uint32_t lo, uint32_t hi) {
  return hi > lo ? lo + fl_rng_bounded(r, hi - lo + 1) : lo;
}

/* The first of n cumulative thresholds (the last 2^32) above a draw, found by counting those at
 * most the draw: a search would stop after an unpredictable number of steps (an entrant's
 * locality is as likely one as another). */
static inline uint32_t draw_cum(fl_rng *r, const uint64_t *cum, size_t n) {
  const uint32_t u = fl_rng_u32(r);
  uint32_t k = 0;
  for (size_t j = 0; j + 1 < n; j++) k += u >= cum[j];
  return k;
}

/* Places a new child in slot i; its stream r has already given its attributes. */
static void child_create(fl_workspace *ws, const fl_model *m, int32_t *ever, int64_t *cnt,
                         size_t i, const fl_rng *r, uint32_t state, uint32_t loc, uint32_t age,
                         uint32_t tis, uint16_t flags) {
  ws->rng[i] = r->state;
  ws->base[i] = (uint32_t)(loc * m->loc_stride + state);
  ws->age[i] = (uint16_t)age;
  ws->tis[i] = (uint16_t)tis;
  uint16_t *h = ws->hist + i * HIST_WORDS(m->L);
  h[0] = (uint16_t)(flags | (1u << m->state_level[state]));
  ever[m->state_level[state]]++; /* children are counted on first entering a level */
  for (size_t l = 0; l < m->L; l++) h[1 + l] = LEFT_NEVER;
  cnt[loc * m->S + state]++;
}

/* Copies the child in slot from into slot to (its stream, row, age, time in state, history). */
static inline void move_child(fl_workspace *ws, const fl_model *m, size_t to, size_t from) {
  ws->rng[to] = ws->rng[from];
  ws->base[to] = ws->base[from];
  ws->age[to] = ws->age[from];
  ws->tis[to] = ws->tis[from];
  memcpy(ws->hist + to * HIST_WORDS(m->L), ws->hist + from * HIST_WORDS(m->L),
         HIST_WORDS(m->L) * sizeof *ws->hist);
}

/* Removes the child in slot i by moving the last child into it. */
static inline void child_remove(fl_workspace *ws, const fl_model *m, size_t i, size_t *n) {
  move_child(ws, m, i, --*n);
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

/* What the handling of a step's events needs. */
typedef struct step_ctx {
  const fl_model *m;
  const fl_row *rows;
  const uint64_t *move_cum;
  const uint8_t *move_dest;
  const uint32_t *age_off, *dur_off;
  const uint8_t *state_level;
  uint32_t max_age, loc_stride;
  uint64_t loc_div;
  int tis_by_level;
  uint32_t reentry_window, t;
  uint64_t inc; /* the replication's stream increment */
} step_ctx;

/* Where the events of a step are counted: the replication's tallies themselves, or (with
 * threads inside the replication) a thread's own copies, cnt then holding changes. */
typedef struct step_counts {
  int32_t *flow_t;      /* [S, S] this step's flows */
  int32_t *exits_t;     /* [S] */
  int32_t *spells;      /* [S, FL_SPELL_BINS] */
  int32_t *reentries_t; /* [L] this step's */
  int32_t *skips_t;     /* [1] this step's */
  int32_t *ever;        /* [L] */
  int64_t *cnt;         /* [NLOC, S] */
  int32_t *entries;     /* [S] this step's entrants (a thread's own copies only) */
} step_counts;

/* Thread b's own tallies inside a replication: its slice of local32 (flows, exits, spells,
 * re-entries, skips, ever, entries, as laid out in fl_workspace_set_threads) and of local_cnt. */
static step_counts local_counts(const fl_workspace *ws, const fl_model *m, int b) {
  const size_t S = m->S, L = m->L;
  int32_t *own = ws->local32 + (size_t)b * ws->local32_len;
  step_counts k;
  k.flow_t = own;
  k.exits_t = k.flow_t + S * S;
  k.spells = k.exits_t + S;
  k.reentries_t = k.spells + S * FL_SPELL_BINS;
  k.skips_t = k.reentries_t + L;
  k.ever = k.skips_t + 1;
  k.entries = k.ever + L;
  k.cnt = ws->local_cnt + (size_t)b * m->NLOC * S;
  return k;
}

/* Handles the events ev_slot[0, n_ev) (slots of children the pass has aged; each one's draw is
 * recovered from its advanced stream): moves, spells, journeys and leaving. Each event touches
 * only its own child, so blocks of children can be handled at the same time. Returns the number
 * of children who leave, whose slots (ascending) it puts in ev_slot[0, n_gone). */
static inline __attribute__((always_inline)) size_t
handle_events(const step_ctx *c, fl_workspace *ws, uint32_t *ev_slot, size_t n_ev,
              const step_counts *k_, const int banded) {
  const fl_model *m = c->m;
  const size_t S = m->S, L = m->L;
  const fl_row *rows = c->rows;
  const uint64_t *move_cum = c->move_cum;
  const uint8_t *move_dest = c->move_dest, *state_level = c->state_level;
  const uint32_t *age_off = c->age_off, *dur_off = c->dur_off;
  const uint32_t max_age = c->max_age, loc_stride = c->loc_stride, t = c->t;
  const uint32_t reentry_window = c->reentry_window;
  const uint64_t loc_div = c->loc_div, inc = c->inc;
  const int tis_by_level = c->tis_by_level;
  int32_t *flow_t = k_->flow_t, *exits_t = k_->exits_t, *spells = k_->spells;
  int32_t *reentries_t = k_->reentries_t, *skips_t = k_->skips_t, *ever = k_->ever;
  int64_t *cnt = k_->cnt;
  size_t n_gone = 0;
  for (size_t k = 0; k < n_ev; k++) {
    const uint32_t slot = ev_slot[k], u = fl_pcg32_last(ws->rng[slot], inc);
    uint16_t *hist = ws->hist + (size_t)slot * HIST_WORDS(L);
    if (k + 8 < n_ev) { /* events are scattered: fetch a later event's child ahead */
      const uint32_t ahead = ev_slot[k + 8];
      __builtin_prefetch(ws->hist + (size_t)ahead * HIST_WORDS(L), 1);
      __builtin_prefetch(ws->base + ahead, 1);
      __builtin_prefetch(ws->age + ahead, 0);
      __builtin_prefetch(ws->tis + ahead, 1);
      __builtin_prefetch(ws->rng + ahead, 0);
    }
    const uint32_t b = ws->base[slot], age = ws->age[slot], tis = ws->tis[slot] - 1u;
    const size_t loc = fl_fast_div(b, loc_div), s = b - loc * loc_stride;
    const fl_row *row = &rows[banded ? b + age_off[age - 1] + dur_off[tis] : b];
    size_t d = s; /* a child whose draw is below the exact threshold stays */
    if (u >= row->stay) {
      uint32_t j = row->first;
      while (u >= move_cum[j]) j++;
      d = move_dest[j];
    }
    if (d == FL_DEST_EXIT) { /* leaves the area */
      exits_t[s]++;
      cnt[loc * S + s]--;
      ev_slot[n_gone++] = slot;
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
        reentries_t[ld] += left_d != LEFT_NEVER && t - left_d <= reentry_window;
        skips_t[0] += ld >= ls + 2;
        ever[ld] += !((h0 >> ld) & 1); /* the first time in this level */
        h0 |= 1u << ld;
      }
      hist[0] = (uint16_t)h0;
      ws->base[slot] = (uint32_t)(loc * loc_stride + d);
    }
    if (age >= max_age) { /* reaches the maximum age */
      exits_t[d]++;
      cnt[loc * S + d]--;
      ev_slot[n_gone++] = slot;
    }
  }
  return n_gone;
}

/* A replication under way: what the steps share. */
typedef struct sim_run {
  const fl_model *m;
  const fl_arm *arm;
  const fl_arm_tables *tab;
  fl_workspace *ws;
  const fl_tally *tl;
  fl_stream_key key;
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
  size_t n_moves; /* leavers' slots to fill (threads inside the replication) */
} sim_run;

/* Phase 1 for entrants [k0, k1) of step t (numbered over the step's entry streams in order):
 * entrant k gets slot n + k and the stream of child next_id + k, so any split of the range
 * between threads creates the same children. Counts go to the given tallies. */
static void enter(const sim_run *sr, size_t t, size_t k0, size_t k1, int32_t *entries_t,
                  int32_t *ever, int64_t *cnt) {
  const fl_model *m = sr->m;
  fl_workspace *ws = sr->ws;
  const size_t E = m->n_entries;
  size_t first = 0; /* the step's first entrant of stream e */
  fl_rng r;
  for (size_t e = 0; e < E && first < k1; first += ws->n_enter[t * E + e], e++) {
    const fl_entry_stream *es = &m->entries[e];
    const size_t last = first + ws->n_enter[t * E + e];
    for (size_t k = first > k0 ? first : k0; k < last && k < k1; k++) {
      uint32_t age, state, loc;
      fl_rng_init_keyed(&r, &sr->key, sr->next_id + k);
      age = draw_range(&r, es->age_lo, es->age_hi);
      state = draw_cum(&r, es->state_cum, m->S);
      loc = draw_cum(&r, es->loc_cum, m->NLOC);
      child_create(ws, m, ever, cnt, sr->n + k, &r, state, loc, age, 0, SPELL_OBSERVED);
      entries_t[state]++;
    }
  }
}

/* Entrants of step t. */
static size_t entrants(const sim_run *sr, size_t t) {
  const size_t E = sr->m->n_entries;
  size_t k = 0;
  for (size_t e = 0; e < E; e++) k += sr->ws->n_enter[t * E + e];
  return k;
}

/* The start of step t after its entrants were created (k of them): the interventions' spend
 * and reach are counted, and an arm that reinvests its savings builds the step's table; then
 * the step's tables and pass are set up. */
static void step_begin(sim_run *sr, size_t t, size_t k) {
  const fl_model *m = sr->m;
  const fl_arm *arm = sr->arm;
  const fl_arm_tables *tab = sr->tab;
  fl_workspace *ws = sr->ws;
  const fl_tally *tl = sr->tl;
  const size_t S = m->S;
  const size_t table_row0 = (size_t)arm->step_table[t] * m->rows_per_period;
  const fl_row *rows = tab->rows + table_row0;
  const uint32_t *stay32 = tab->stay32 + table_row0;
  sr->n += k;
  sr->next_id += k;
  sr->flow_t = tl->flows + t * S * S;
  sr->exits_t = tl->exits + t * S;
  if (arm->n_int) {
    sr->rows_dyn = interventions_step(m, arm, tab, t, ws, tl, sr->n);
    if (sr->rows_dyn) {
      rows = sr->rows_dyn;
      stay32 = ws->dyn_stay32;
    }
  }
  sr->c = (step_ctx){m, rows, sr->rows_dyn ? ws->dyn_cum : tab->move_cum,
                     sr->rows_dyn ? ws->dyn_dest : tab->move_dest, m->age_off, m->dur_off,
                     m->state_level, sr->max_age, sr->loc_stride, sr->loc_div, m->tis_by_level,
                     sr->reentry_window, (uint32_t)t, sr->key.inc};
  sr->pa = (fl_pass_args){.n = sr->n, .rng = ws->rng, .base = ws->base, .age = ws->age,
                          .tis = ws->tis, .stay32 = stay32, .age_off = m->age_off,
                          .dur_off = m->dur_off, .banded = m->NA > 1 || m->ND > 1,
                          .n_rows = (uint32_t)m->rows_per_period,
                          .n_age_edges = (uint32_t)m->NA - 1, .age_edge = m->age_edges + 1,
                          .age_step = (uint32_t)(m->ND * S), .n_dur_edges = (uint32_t)m->ND - 1,
                          .dur_edge = m->dur_edges + 1, .dur_step = (uint32_t)S,
                          .inc = sr->key.inc, .max_age = sr->max_age, .ev_slot = ws->ev_slot};
}

/* The step's events, by the instance of handle_events for the model's rows. */
static size_t step_events(const sim_run *sr, uint32_t *ev_slot, size_t n_ev,
                          const step_counts *sc) {
  return sr->pa.banded ? handle_events(&sr->c, sr->ws, ev_slot, n_ev, sc, 1)
                       : handle_events(&sr->c, sr->ws, ev_slot, n_ev, sc, 0);
}

/* Phase 4: the stocks at the end of step t. */
static void step_end(sim_run *sr, size_t t) {
  const size_t S = sr->m->S, NLOC = sr->m->NLOC;
  const int64_t *cnt = sr->ws->cnt;
  int32_t *stocks = sr->tl->stocks + (t + 1) * S;
  for (size_t s = 0; s < S; s++) {
    int64_t sum = 0;
    for (size_t l = 0; l < NLOC; l++) sum += cnt[l * S + s];
    stocks[s] = (int32_t)sum;
  }
  if (sr->tl->stocks_loc)
    for (size_t j = 0; j < NLOC * S; j++)
      sr->tl->stocks_loc[(t + 1) * NLOC * S + j] = (int32_t)cnt[j];
}

/* Phases 2 and 3 on one thread: the transition (including leaving the area), then ageing and
 * leaving at the maximum age. The pass over all children (engine/pass.c) draws, compares with
 * one integer threshold and ages every child; the few children who move or reach the maximum
 * age come back as events. Leavers go highest slot first: the child moved from the end into a
 * freed slot is then never one still waiting to be removed. */
static void step_serial(sim_run *sr, size_t t) {
  fl_workspace *ws = sr->ws;
  const fl_tally *tl = sr->tl;
  const size_t L = sr->m->L;
  const size_t n_ev = fl_pass(&sr->pa, sr->path);
  const step_counts sc = {sr->flow_t, sr->exits_t, tl->spells, tl->reentries + t * L,
                          tl->skips + t, tl->ever, ws->cnt, NULL};
  const size_t n_gone = step_events(sr, ws->ev_slot, n_ev, &sc);
  for (size_t k = n_gone; k-- > 0;) child_remove(ws, sr->m, ws->ev_slot[k], &sr->n);
}

/* Phases 2 and 3 for block b of nb, on its own thread, with threads inside the replication:
 * the block is a contiguous range of children, its events land in its part of the event arrays
 * (which the pass never writes past) and are counted in the thread's own tallies. Returns the
 * number of leavers, whose slots are in ev_slot[*lo, *lo + count). */
static size_t step_block(sim_run *sr, int b, int nb, size_t *lo_out) {
  fl_workspace *ws = sr->ws;
  const size_t lo = sr->n * (size_t)b / (size_t)nb, hi = sr->n * (size_t)(b + 1) / (size_t)nb;
  const step_counts sc = local_counts(ws, sr->m, b);
  memset(sc.flow_t, 0, ws->local32_len * sizeof *sc.flow_t);
  memset(sc.cnt, 0, sr->m->NLOC * sr->m->S * sizeof *sc.cnt);
  fl_pass_args pa = sr->pa;
  pa.n = hi - lo;
  pa.rng += lo;
  pa.base += lo;
  pa.age += lo;
  pa.tis += lo;
  pa.ev_slot += lo;
  const size_t n_ev = fl_pass(&pa, sr->path);
  for (size_t k = 0; k < n_ev; k++) pa.ev_slot[k] += (uint32_t)lo; /* slots of the whole */
  *lo_out = lo;
  return step_events(sr, pa.ev_slot, n_ev, &sc);
}

/* After the blocks of step t: their counts added up (integers, so the order does not matter)
 * and the moves that fill the leavers' slots planned (made by all threads after), so the
 * results do not depend on the number of blocks. */
static void step_merge(sim_run *sr, size_t t, int nb, const size_t *lo_of,
                       const size_t *gone_of) {
  fl_workspace *ws = sr->ws;
  const fl_tally *tl = sr->tl;
  const size_t S = sr->m->S, L = sr->m->L, NS = sr->m->NLOC * S;
  int32_t *sp = tl->spells, *re = tl->reentries + t * L, *sk = tl->skips + t;
  for (int b = 0; b < nb; b++) {
    const step_counts k = local_counts(ws, sr->m, b);
    for (size_t i = 0; i < S * S; i++) sr->flow_t[i] += k.flow_t[i];
    for (size_t i = 0; i < S; i++) sr->exits_t[i] += k.exits_t[i];
    for (size_t i = 0; i < S * FL_SPELL_BINS; i++) sp[i] += k.spells[i];
    for (size_t i = 0; i < L; i++) re[i] += k.reentries_t[i];
    sk[0] += k.skips_t[0];
    for (size_t i = 0; i < L; i++) tl->ever[i] += k.ever[i];
    for (size_t i = 0; i < NS; i++) ws->cnt[i] += k.cnt[i];
  }
  /* Leavers: with n' children left, the survivors in slots n' and up fill the leavers' slots
   * below n', in ascending order of both (a different arrangement from one thread's, which
   * the results do not depend on: every child carries its own stream and history, and the
   * tallies are sums). The pairs go to ev_u: holes first, then the survivors that fill them;
   * the team makes the moves (move_child) after this. */
  size_t gone = 0;
  for (int b = 0; b < nb; b++) gone += gone_of[b];
  const size_t n_after = sr->n - gone;
  uint32_t *holes = ws->ev_u, *fill;
  size_t n_holes = 0;
  for (int b = 0; b < nb; b++)
    for (size_t k = 0; k < gone_of[b] && ws->ev_slot[lo_of[b] + k] < n_after; k++)
      holes[n_holes++] = ws->ev_slot[lo_of[b] + k];
  fill = holes + n_holes;
  size_t n_fill = 0, next_slot = n_after;
  for (int b = 0; b < nb && n_fill < n_holes; b++)
    for (size_t k = 0; k < gone_of[b]; k++) {
      const uint32_t g = ws->ev_slot[lo_of[b] + k];
      if (g < n_after) continue;
      while (next_slot < g) fill[n_fill++] = (uint32_t)next_slot++;
      next_slot = (size_t)g + 1;
    }
  while (n_fill < n_holes) fill[n_fill++] = (uint32_t)next_slot++;
  sr->n_moves = n_holes;
  sr->n = n_after;
}

/* Copies the initial population from the workspace's copy (save 0: its children are added to
 * ever, and *n and *next_id set) or into it (save 1, just after creating it, with init_ever
 * holding ever as it was before: the initial population's part of ever is kept). */
static void init_copy(fl_workspace *ws, const fl_model *m, int32_t *ever, size_t *n,
                      uint64_t *next_id, int save) {
  const size_t k = ws->init_n, hw = HIST_WORDS(m->L), ns = m->NLOC * m->S;
#define FL_COPY(to, from, count) memcpy(save ? (from) : (to), save ? (to) : (from), \
                                        (count) * sizeof *(to))
  FL_COPY(ws->rng, ws->init_rng, k);
  FL_COPY(ws->base, ws->init_base, k);
  FL_COPY(ws->age, ws->init_age, k);
  FL_COPY(ws->tis, ws->init_tis, k);
  FL_COPY(ws->hist, ws->init_hist, k * hw);
  FL_COPY(ws->cnt, ws->init_cnt, ns);
#undef FL_COPY
  if (save) { /* init_ever held ever before the initial population was created */
    for (size_t l = 0; l < m->L; l++) ws->init_ever[l] = ever[l] - ws->init_ever[l];
    return;
  }
  for (size_t l = 0; l < m->L; l++) ever[l] += ws->init_ever[l];
  *n = k;
  *next_id = k;
}

fl_status fl_simulate(const fl_model *m, size_t arm_i, const fl_arm_tables *tab, uint64_t seed,
                      uint64_t rep, fl_path path, fl_workspace *ws, const fl_tally *tl) {
  const size_t S = m->S, L = m->L, T = m->T, E = m->n_entries, NLOC = m->NLOC;
  sim_run sr = {.m = m, .arm = tab->arm ? tab->arm : &m->arms[arm_i], .tab = tab, .ws = ws,
                .tl = tl, .path = path};
  fl_stream_key_init(&sr.key, seed, rep, FL_PURPOSE_CHILD);
  sr.reentry_window = m->step_months >= 12 ? 1 : (uint32_t)(12.0 / m->step_months + 0.5);
  sr.max_age = m->max_age ? m->max_age : UINT32_MAX;
  sr.loc_stride = (uint32_t)m->loc_stride;
  sr.loc_div = fl_fast_div_magic(sr.loc_stride);
  uint64_t total = 0;
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

  /* The initial population: created, or copied from the replication's first arm. Spells
   * already under way are not counted as completed spells: their start is unknown. */
  if (ws->init_rng && ws->init_model == m && ws->init_seed == seed &&
      ws->init_rep == rep)
    init_copy(ws, m, tl->ever, &sr.n, &sr.next_id, 0);
  else {
    if (ws->init_rng) memcpy(ws->init_ever, tl->ever, m->L * sizeof *tl->ever);
    for (size_t g = 0; g < m->n_init; g++) {
      const fl_init_group *gr = &m->init[g];
      for (uint64_t k = 0; k < gr->count; k++, sr.n++) {
        uint32_t age, tis;
        fl_rng_init_keyed(&r, &sr.key, sr.next_id++);
        age = draw_range(&r, gr->age_lo, gr->age_hi);
        tis = draw_range(&r, gr->tis_lo, gr->tis_hi);
        child_create(ws, m, tl->ever, ws->cnt, sr.n, &r, gr->state, gr->loc, age, tis, 0);
      }
    }
    if (ws->init_rng) {
      init_copy(ws, m, tl->ever, &sr.n, &sr.next_id, 1);
      ws->init_model = m;
      ws->init_seed = seed;
      ws->init_rep = rep;
    }
  }
  for (size_t s = 0; s < S; s++)
    for (size_t l = 0; l < NLOC; l++) tl->stocks[s] += (int32_t)ws->cnt[l * S + s];
  if (tl->stocks_loc)
    for (size_t i = 0; i < NLOC * S; i++) tl->stocks_loc[i] = (int32_t)ws->cnt[i];

  if (ws->threads <= 1) {
    for (size_t t = 0; t < T; t++) {
      const size_t k = entrants(&sr, t);
      enter(&sr, t, 0, k, tl->entries + t * S, tl->ever, ws->cnt);
      step_begin(&sr, t, k);
      step_serial(&sr, t);
      step_end(&sr, t);
    }
    return FL_OK;
  }
  /* Threads inside the replication: one team for the whole replication (a team per step would
   * pay its start-up every step); the steps' serial parts run on one thread between barriers. */
  size_t lo_of[FL_MAX_STEP_THREADS], gone_of[FL_MAX_STEP_THREADS];
#pragma omp parallel num_threads(ws->threads)
  {
#ifdef _OPENMP
    const int b = omp_get_thread_num(), nb = omp_get_num_threads();
#else
    const int b = 0, nb = 1;
#endif
    const size_t NS = NLOC * S;
    const step_counts own = local_counts(ws, m, b);
    for (size_t t = 0; t < T; t++) {
      /* Entrants, split between the threads, counted in their own tallies. */
      const size_t k = entrants(&sr, t);
      memset(own.entries, 0, S * sizeof *own.entries);
      memset(own.ever, 0, L * sizeof *own.ever);
      memset(own.cnt, 0, NS * sizeof *own.cnt);
      enter(&sr, t, k * (size_t)b / (size_t)nb, k * (size_t)(b + 1) / (size_t)nb, own.entries,
            own.ever, own.cnt);
#pragma omp barrier
#pragma omp single
      {
        for (int j = 0; j < nb; j++) {
          const step_counts o = local_counts(ws, m, j);
          for (size_t i = 0; i < S; i++) tl->entries[t * S + i] += o.entries[i];
          for (size_t i = 0; i < L; i++) tl->ever[i] += o.ever[i];
          for (size_t i = 0; i < NS; i++) ws->cnt[i] += o.cnt[i];
        }
        step_begin(&sr, t, k);
      }
      gone_of[b] = step_block(&sr, b, nb, &lo_of[b]);
#pragma omp barrier
#pragma omp single
      {
        step_merge(&sr, t, nb, lo_of, gone_of);
        step_end(&sr, t);
      }
      const long long moves = (long long)sr.n_moves;
      const uint32_t *holes = ws->ev_u, *fill = ws->ev_u + sr.n_moves;
      /* The planned moves: child fill[i] into slot holes[i], all slots different, so in
       * parallel. */
#pragma omp for schedule(static)
      for (long long i = 0; i < moves; i++) move_child(ws, m, holes[i], fill[i]);
    }
  }
  return FL_OK;
}
