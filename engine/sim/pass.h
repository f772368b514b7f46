/* The hot pass of a step: every child draws once, stays or is listed as an event, and grows one
 * step older. Portable C, AVX2 and AVX-512 versions compute exactly the same thing (integer
 * arithmetic only: the same draws, the same comparisons, the same events in the same order),
 * selected at run time. The fl_path type and its names are public (flourish.h). The draws that
 * create children (their streams started, then each attribute drawn for many children at once)
 * are here too, on the same paths and as exactly. */
#ifndef FL_PASS_H
#define FL_PASS_H

#include "core/rng.h"
#include "flourish.h"

#include <stddef.h>
#include <stdint.h>

#define FL_PASS_EDGES 4

typedef struct fl_pass_args {
  size_t n;                 /* children */
  uint64_t *rng;            /* [n] pcg32 states, advanced by one step */
  const uint32_t *base;     /* [n] loc * loc_stride + state */
  uint16_t *age;            /* [n] incremented for every child */
  uint16_t *tis;            /* [n] incremented for every child (movers are corrected after) */
  const uint32_t *stay32;   /* stay thresholds of this period's rows, min(stay, 2^32 - 1) */
  const uint32_t *age_off;  /* premultiplied age band offsets */
  const uint32_t *dur_off;  /* premultiplied time-in-state band offsets */
  int banded;               /* zero when every age_off and dur_off entry is 0 (one band each) */
  uint32_t n_rows;          /* entries of stay32 that base + offsets can reach */
  /* The band offsets again, by their edges: age_off[a] is age_step times the number of
   * age_edge[0, n_age_edges) at most a, and likewise dur_off. The vector passes compare with the
   * edges when there are at most FL_PASS_EDGES of each, instead of gathering the offsets. Edges
   * are in [1, 65535], like the 16-bit ages and times in state they are compared with. */
  uint32_t n_age_edges, n_dur_edges, age_step, dur_step;
  const uint32_t *age_edge, *dur_edge;
  uint64_t inc;             /* the replication's stream increment */
  uint32_t max_age;         /* a child whose new age reaches this is an event; UINT32_MAX: none */
  uint32_t *ev_slot;        /* out [n]: slots of the children who are events, ascending.
                             * Entries past the returned count may be overwritten (the vector
                             * passes store 8 or 16 at a time). An event's draw is not kept:
                             * fl_pcg32_last(rng[slot], inc) gives it again. */
} fl_pass_args;

/* A child is an event when its draw u is not below its row's 32-bit stay threshold, or when it
 * reaches the maximum age. The caller re-checks u against the exact 33-bit threshold (a row that
 * always stays has threshold 2^32, stored here as 2^32 - 1). Returns the number of events. path
 * must be one the processor supports (fl_path_supported); FL_PATH_AUTO is fl_pass_best(). */
size_t fl_pass(const fl_pass_args *a, fl_path path);
/* Starts the streams of children child0 .. child0 + n - 1 of key k as fl_rng_init_keyed does
 * (the same states, on every path): their states into state[n]. Creating children, the initial
 * population and the entrants, starts one stream each; the AVX-512 path starts 8 at a time. */
void fl_pass_streams(const fl_stream_key *k, uint64_t child0, size_t n, uint64_t *state,
                     fl_path path);

/* For each of n children whose streams (increment inc) are at state[n]: out[i] = lo +
 * fl_rng_bounded(stream i, hi - lo + 1), as 16 bits, advancing the stream; lo, drawing nothing,
 * where hi <= lo. The same draws on every path; the AVX-512 path draws 8 at a time. */
void fl_pass_draw_range(uint64_t *state, uint64_t inc, size_t n, uint32_t lo, uint32_t hi,
                        uint16_t *out, fl_path path);

/* For each of n children whose streams (increment inc) are at state[n]: one output u, and
 * out[i] += scale * k where k is the number of cum[0, ncum - 1) at most u (cum ascending, its
 * last entry 2^32: the first of the ncum thresholds above u), as draw_cum in sim/sim.c
 * counts. The same on every path; the AVX-512 path draws 8 at a time. */
void fl_pass_draw_cum(uint64_t *state, uint64_t inc, size_t n, const uint64_t *cum,
                      size_t ncum, uint32_t scale, uint32_t *out, fl_path path);

/* The fastest path this processor supports: AVX-512, then AVX2, then portable. */
fl_path fl_pass_best(void);

#endif
