/* Flourish random numbers: the pcg32 generator (XSH-RR output on a 64-bit LCG), after
 * M.E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient Statistically Good Algorithms for
 * Random Number Generation", Harvey Mudd College HMC-CS-2014-0905 (2014).
 *
 * Every random stream is keyed by what it simulates (seed, replication, child, purpose), never by
 * the thread that happens to run it, so results do not depend on the number of threads or on the
 * order of scheduling. None of these functions touch global state; an fl_rng must not be used by
 * two threads at once, but distinct fl_rng values may be used concurrently. */
#ifndef FL_RNG_H
#define FL_RNG_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

#define FL_PCG_MULT 6364136223846793005ULL
/* Its inverse modulo 2^64 (FL_PCG_MULT * FL_PCG_MULT_INV = 1), so a step can be undone. */
#define FL_PCG_MULT_INV 0xc097ef87329e28a5ULL

/* A pcg32 generator: the 64-bit LCG state and its increment. The increment selects one of 2^63
 * distinct streams and is always odd, which gives the LCG its full period of 2^64. */
typedef struct fl_rng {
  uint64_t state;
  uint64_t inc; /* Always odd. */
} fl_rng;

/* fl_pcg32_output is the XSH-RR output of a state; fl_pcg32_step performs one LCG step and
 * returns the output of the OLD state, advancing *state to state * FL_PCG_MULT + inc (O'Neill
 * 2014, section 6.3.1). The state and increment are separate
 * so the hot loop can keep a per-child 8-byte state with a per-replication shared increment; inc
 * must be odd. */
static inline uint32_t fl_pcg32_output(uint64_t old) {
  uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((0u - rot) & 31u));
}

static inline uint32_t fl_pcg32_step(uint64_t *state, uint64_t inc) {
  uint64_t old = *state;
  *state = old * FL_PCG_MULT + inc;
  return fl_pcg32_output(old);
}

/* The output the step that led to state gave: the LCG step undone, (state - inc) *
 * FL_PCG_MULT_INV, then its XSH-RR output. fl_pcg32_last(s', inc) == fl_pcg32_step(&s, inc)
 * where s' is the state the step left. The hot pass keeps no list of its draws: the few
 * children it lists are given theirs again this way. */
static inline uint32_t fl_pcg32_last(uint64_t state, uint64_t inc) {
  return fl_pcg32_output((state - inc) * FL_PCG_MULT_INV);
}

/* Returns the next 32-bit output of r and advances it by one step; this is the reference
 * implementation's pcg32_random_r. */
static inline uint32_t fl_rng_u32(fl_rng *r) { return fl_pcg32_step(&r->state, r->inc); }

/* Seeds r exactly as the reference pcg32_srandom_r does: the state is set to 0, the increment to
 * (initseq << 1) | 1, the generator is stepped once, initstate is added to the state, and the
 * generator is stepped again. The top bit of initseq is therefore ignored. */
void fl_rng_seed(fl_rng *r, uint64_t initstate, uint64_t initseq);

/* Jumps r ahead by delta steps in O(log delta) time, so that the result equals calling
 * fl_rng_u32 delta times (F.B. Brown, "Random number generation with arbitrary strides", Trans.
 * Am. Nucl. Soc. 1994). Because the period is 2^64, delta = 2^64 - k moves r back by k steps. */
void fl_rng_advance(fl_rng *r, uint64_t delta);

/* Returns an unbiased integer uniformly distributed on [0, bound); bound must be at least 1. It
 * uses Lemire's multiply-shift with rejection (D. Lemire, "Fast Random Integer Generation in an
 * Interval", ACM TOMACS 29(1), 2019), which consumes one output except with probability below
 * bound / 2^32. */
uint32_t fl_rng_bounded(fl_rng *r, uint32_t bound);

/* The rest of fl_rng_bounded(r, bound) once its first output x has been drawn (r is past it),
 * m = x * bound: the result, drawing again in the rare case of a rejection. For code that
 * draws the first outputs of many streams at once (sim/pass.c). */
static inline uint32_t fl_rng_bounded_from(fl_rng *r, uint32_t bound, uint64_t m) {
  uint32_t low = (uint32_t)m;
  if (low < bound) {
    const uint32_t threshold = (0u - bound) % bound;
    while (low < threshold) {
      m = (uint64_t)fl_rng_u32(r) * bound;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32u);
}

/* Returns a double uniformly distributed on [0, 1) on the grid k / 2^53, built from the top 27
 * bits of one output and the top 26 bits of the next (two outputs consumed). */
double fl_rng_uniform(fl_rng *r);

/* Returns a double uniformly distributed on the open interval (0, 1); it is never 0 and never 1.
 * It draws fl_rng_uniform and redraws in the (probability 2^-53) case of exactly 0. */
double fl_rng_uniform_pos(fl_rng *r);

/* Returns a strong 64-bit finaliser of x: the SplitMix64 finaliser, which is D. Stafford's
 * "Mix13" variant of the MurmurHash3 fmix64 (Steele, Lea and Flood, "Fast Splittable
 * Pseudorandom Number Generators", OOPSLA 2014). It is a bijection on 64-bit values in which
 * every input bit affects every output bit; note that it maps 0 to 0. */
uint64_t fl_mix64(uint64_t x);

/* Stream keys: every random stream is keyed by what it simulates, never by thread. The purpose is
 * a small enum below. The increment depends on (seed, replication, purpose) only, so all children
 * of one replication can share it; the starting state depends on (seed, replication, child,
 * purpose). Keys are derived by chaining fl_mix64 over the components with distinct odd
 * constants, so tuples that differ in any component give unrelated values. */
enum fl_purpose {
  FL_PURPOSE_CHILD = 1,
  FL_PURPOSE_ENTRIES = 2,
  FL_PURPOSE_PARAMS = 3,
  FL_PURPOSE_HETEROGENEITY = 4, /* a child's multiplier (the heterogeneity section) */
  FL_PURPOSE_FIT = 5 /* the fit's sampler: (seed, iteration, walker) */
};

/* The constant a child's number is finalised with (fl_rng_init_keyed): its stream starts at
 * fl_mix64(prefix ^ fl_mix64(child * FL_KEY_CHILD + FL_KEY_CHILD)), stepped once. Public so that
 * vector code can start many children's streams at once (fl_pass_streams). */
#define FL_KEY_CHILD 0xaef17502108ef2d9ULL

/* Returns the stream increment for (seed, rep, purpose); the result is always odd. */
uint64_t fl_stream_inc(uint64_t seed, uint64_t rep, uint32_t purpose);

/* Returns the starting LCG state for (seed, rep, child, purpose). */
uint64_t fl_stream_state(uint64_t seed, uint64_t rep, uint64_t child, uint32_t purpose);

/* The part of a stream key shared by every child of one (seed, replication, purpose): computed
 * once per replication, so that starting a child's stream costs two mixes, not fourteen. */
typedef struct fl_stream_key {
  uint64_t prefix;
  uint64_t inc;
} fl_stream_key;
void fl_stream_key_init(fl_stream_key *k, uint64_t seed, uint64_t rep, uint32_t purpose);
/* Same as fl_rng_init_stream(r, seed, rep, child, purpose) for the key k was made from. */
void fl_rng_init_keyed(fl_rng *r, const fl_stream_key *k, uint64_t child);

/* Sets r to {fl_stream_state(seed, rep, child, purpose), fl_stream_inc(seed, rep, purpose)} and
 * then steps it once, so that the first output already depends on the increment. */
void fl_rng_init_stream(fl_rng *r, uint64_t seed, uint64_t rep, uint64_t child, uint32_t purpose);

/* Allocates a gsl_rng of type "flourish-pcg32" whose state is an fl_rng, so that GSL's
 * random-variate functions (gsl_ran_poisson, gsl_ran_dirichlet, ...) draw from it: gsl_rng_get
 * returns fl_rng_u32 and gsl_rng_uniform returns the 53-bit fl_rng_uniform. It starts seeded
 * with fl_rng_seed(state, 0, 0), and gsl_rng_set(g, s) means fl_rng_seed(state, s, 0). Returns
 * NULL when out of memory, without calling the GSL error handler. Free it with gsl_rng_free. */
gsl_rng *fl_rng_gsl_alloc(void);

/* Makes *g a gsl_rng of type "flourish-pcg32" that draws from r (owned by the caller), without
 * allocating: for one draw of a GSL random variate from a stream made on the stack. */
void fl_rng_gsl_view(gsl_rng *g, fl_rng *r);

/* Returns the fl_rng inside a gsl_rng made by fl_rng_gsl_alloc, so that the caller can key it
 * with fl_rng_init_stream. g must come from fl_rng_gsl_alloc. */
fl_rng *fl_rng_gsl_state(gsl_rng *g);

#endif /* FL_RNG_H */
