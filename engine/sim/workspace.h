/* The simulation's workspace: the children of the replication under way (their hot state and
 * history) and the scratch space of its steps, owned by one thread. Private to sim/. */
#ifndef FL_WORKSPACE_H
#define FL_WORKSPACE_H

#include "sim/sim.h"

#include <gsl/gsl_rng.h>

/* The hot state of the children, 16 bytes each, in separate arrays so the pass over them can be
 * vectorised: the pcg32 state (the increment is shared by the replication), base = loc *
 * loc_stride + state (with age and time in state it locates the transition row; state and
 * locality are recovered from it off the common path), age in steps (at most the model's
 * age_top at the start of a step) and completed steps in the current state or level (at most
 * tis_top). Cold per-child history, touched only when a child changes state, kept together so
 * that an event touches one cache line: HIST_WORDS(L) 16-bit words per child, the first with
 * bit l (l < 15) set once the child has been in level l and SPELL_OBSERVED when its current
 * spell began inside the run, then for each level the step at which the child last left it
 * (horizons are below 65535 steps). The child's moves so far, saturating at MOVES_MAX, are six
 * bits of the first word above the level bits (L <= 9), or a word of their own after the
 * levels' (more levels). */
#define SPELL_OBSERVED 0x8000u
#define LEFT_NEVER 0xFFFFu
#define HIST_WORDS(L) ((L) + 1 + ((L) > 9))
#define MOVES_WORD(L) ((L) > 9 ? (L) + 1 : 0)
#define MOVES_SHIFT(L) ((L) > 9 ? 0 : (L))
#define MOVES_MAX (FL_MOVE_BINS - 1) /* 63: six bits */
#define FL_CACHE_LINE 64
#define FL_PARTS_PER_THREAD 4
/* Children a step passes over before handling their events: a multiple of 16 (the vector
 * passes' width), small enough that the hot state the pass leaves behind (16 bytes a child,
 * 128 KiB a chunk) is still in a core's L2 cache when the chunk's events are handled. */
#define FL_CHUNK 8192

struct fl_workspace {
  size_t cap;          /* children the buffers hold */
  uint64_t *rng;       /* [cap] */
  uint32_t *base;      /* [cap] */
  uint16_t *age;       /* [cap] */
  uint16_t *tis;       /* [cap] */
  uint16_t *hist;      /* [cap * HIST_WORDS(L)] */
  double *het;         /* [cap] each child's heterogeneity multiplier (NULL: the model has
                        * none); read by events and by the weighted tallies only */
  uint32_t *ev_slot;   /* [FL_CHUNK * ev_threads] a chunk's events (slots, ascending); those
                        * of the part that thread b of a replication's team steps from
                        * FL_CHUNK * b */
  size_t ev_threads;
  uint32_t *n_enter;   /* [T * E] entrants per step and stream */
  int64_t *cnt;        /* [NLOC * S] children by locality and state now */
  int32_t *ever;       /* [L] the replication's ever_in_level, added to the results at its end */
  /* Arms that reinvest savings: this step's intervention strengths and the table built for
   * them, and the realised saving of every step so far. */
  double *strength;    /* [FL_MAX_INTERVENTIONS] */
  double *saving;      /* [T] */
  fl_row *dyn_rows;    /* [rows_per_period] */
  uint32_t *dyn_stay32;
  uint64_t *dyn_cum;   /* [rows_per_period * (S + 1)] */
  uint8_t *dyn_dest;
  gsl_rng *entry_rng;  /* GSL view of the ENTRIES stream, for Poisson draws */
  /* Threads inside a replication (fl_workspace_set_threads): the children are split into parts
   * (up to threads * FL_PARTS_PER_THREAD), each in its own range of the buffers, stepped on its
   * own and counted in its own tallies of the whole replication, added up at its end
   * (simulate_parts). Each part's block is a whole number of cache lines: the lines at the
   * edges of two parts' counts, written at every event, would otherwise go back and forth
   * between their threads. */
  int threads;
  unsigned char *part_mem; /* [parts * part_bytes] each part's tallies (fl_tally_layout) */
  size_t part_bytes;   /* the largest layout of an arm's tallies */
  int64_t *part_cnt;   /* [parts * part_ns] each part's children by locality and state */
  size_t part_ns;      /* NLOC * S */
  size_t max_parts;    /* the parts part_mem has room for */
  /* The children are created the same in every arm of a replication (their streams are keyed
   * by child, not by arm; the numbers of entrants by replication): with more than one arm
   * (keep), the first arm's are kept here as created, by child number (the initial children,
   * then each step's entrants), and the other arms copy them. Room for keep_cap children,
   * valid for (keep_model, keep_seed, keep_rep) once keep_model is set. */
  int keep;
  size_t keep_cap;
  const fl_model *keep_model;
  uint64_t keep_seed, keep_rep;
  uint64_t *keep_rng;
  uint32_t *keep_base;
  uint16_t *keep_age, *keep_tis, *keep_hist;
  double *keep_het;
};

/* Makes room for need children in the workspace, or in its kept population (which is then
 * invalidated if it grows); contents are not kept. */
fl_status fl_workspace_reserve(fl_workspace *ws, const fl_model *m, size_t need);
fl_status fl_workspace_reserve_kept(fl_workspace *ws, const fl_model *m, size_t need);
/* What decides the tallies of a replication (they do not depend on the run's options). */
static inline fl_output_ctx fl_tally_ctx(const fl_model *m) {
  return (fl_output_ctx){.m = m, .R = 1};
}

#endif
