/* pcg32 random numbers, stream keys and the GSL adapter; see rng.h for the contracts. */
#include "core/rng.h"

#include <stdlib.h>

void fl_rng_seed(fl_rng *r, uint64_t initstate, uint64_t initseq) {
  r->state = 0u;
  r->inc = (initseq << 1u) | 1u;
  (void)fl_rng_u32(r);
  r->state += initstate;
  (void)fl_rng_u32(r);
}

/* Brown (1994): k steps of s -> M*s + C compose to s -> M^k*s + C*(M^(k-1) + ... + 1). Square-and-
 * multiply builds both terms from the binary digits of delta: (cur_mult, cur_plus) is the map for
 * 2^i steps, and (acc_mult, acc_plus) accumulates the maps for the set bits. */
void fl_rng_advance(fl_rng *r, uint64_t delta) {
  uint64_t cur_mult = FL_PCG_MULT, cur_plus = r->inc;
  uint64_t acc_mult = 1u, acc_plus = 0u;
  while (delta > 0u) {
    if (delta & 1u) {
      acc_mult *= cur_mult;
      acc_plus = acc_plus * cur_mult + cur_plus;
    }
    cur_plus = (cur_mult + 1u) * cur_plus;
    cur_mult *= cur_mult;
    delta >>= 1u;
  }
  r->state = acc_mult * r->state + acc_plus;
}

/* Lemire (2019), algorithm 5: the high word of x * bound is the candidate; the low word falls
 * below (2^32 - bound) mod bound for exactly the excess values that would bias it, and those are
 * rejected. The costly modulo is computed only when the low word is below bound. */
uint32_t fl_rng_bounded(fl_rng *r, uint32_t bound) {
  return fl_rng_bounded_from(r, bound, (uint64_t)fl_rng_u32(r) * bound);
}

double fl_rng_uniform(fl_rng *r) {
  uint64_t hi = fl_rng_u32(r) >> 5u; /* 27 bits */
  uint64_t lo = fl_rng_u32(r) >> 6u; /* 26 bits */
  return (double)((hi << 26u) | lo) * 0x1.0p-53;
}

double fl_rng_uniform_pos(fl_rng *r) {
  double u;
  do {
    u = fl_rng_uniform(r);
  } while (u == 0.0);
  return u;
}

uint64_t fl_mix64(uint64_t x) {
  x = (x ^ (x >> 30u)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27u)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31u);
}

/* Distinct odd constants: one per key component and one per derived quantity (the domains keep
 * the increment and the state unrelated even for equal components). */
#define FL_KEY_SEED 0x9e3779b97f4a7c15ULL
#define FL_KEY_REP 0xd1b54a32d192ed03ULL
#define FL_KEY_PURPOSE 0xf1357aea2e62a9c5ULL
#define FL_DOMAIN_INC 0x8cb92ba72f3d8dd7ULL
#define FL_DOMAIN_STATE 0xdb4f0b9175ae2165ULL

/* Absorbs one component into the chained hash h: the component is finalised on its own with its
 * constant, then mixed into h, so no raw inputs are ever combined directly. */
static uint64_t absorb(uint64_t h, uint64_t value, uint64_t key) {
  return fl_mix64(h ^ fl_mix64(value * key + key));
}

uint64_t fl_stream_inc(uint64_t seed, uint64_t rep, uint32_t purpose) {
  uint64_t h = absorb(FL_DOMAIN_INC, seed, FL_KEY_SEED);
  h = absorb(h, rep, FL_KEY_REP);
  h = absorb(h, purpose, FL_KEY_PURPOSE);
  return h | 1u;
}

void fl_stream_key_init(fl_stream_key *k, uint64_t seed, uint64_t rep, uint32_t purpose) {
  uint64_t h = absorb(FL_DOMAIN_STATE, seed, FL_KEY_SEED);
  h = absorb(h, rep, FL_KEY_REP);
  k->prefix = absorb(h, purpose, FL_KEY_PURPOSE);
  k->inc = fl_stream_inc(seed, rep, purpose);
}

void fl_rng_init_keyed(fl_rng *r, const fl_stream_key *k, uint64_t child) {
  r->state = absorb(k->prefix, child, FL_KEY_CHILD);
  r->inc = k->inc;
  (void)fl_rng_u32(r);
}

uint64_t fl_stream_state(uint64_t seed, uint64_t rep, uint64_t child, uint32_t purpose) {
  fl_stream_key k;
  fl_stream_key_init(&k, seed, rep, purpose);
  return absorb(k.prefix, child, FL_KEY_CHILD);
}

void fl_rng_init_stream(fl_rng *r, uint64_t seed, uint64_t rep, uint64_t child, uint32_t purpose) {
  fl_stream_key k;
  fl_stream_key_init(&k, seed, rep, purpose);
  fl_rng_init_keyed(r, &k, child);
}

static void gsl_set(void *state, unsigned long int seed) { fl_rng_seed(state, seed, 0u); }

static unsigned long int gsl_get(void *state) { return fl_rng_u32(state); }

static double gsl_get_double(void *state) { return fl_rng_uniform(state); }

static const gsl_rng_type fl_gsl_pcg32_type = {
    "flourish-pcg32", 0xffffffffUL, 0UL, sizeof(fl_rng), gsl_set, gsl_get, gsl_get_double};

/* Built by hand rather than with gsl_rng_alloc so that running out of memory returns NULL instead
 * of invoking the GSL error handler (which aborts by default), and so that the initial seed is a
 * fixed 0 rather than the mutable global gsl_rng_default_seed. gsl_rng_free releases both blocks
 * with free(), matching these mallocs. */
gsl_rng *fl_rng_gsl_alloc(void) {
  gsl_rng *g = malloc(sizeof *g);
  if (g == NULL) return NULL;
  g->state = malloc(sizeof(fl_rng));
  if (g->state == NULL) {
    free(g);
    return NULL;
  }
  g->type = &fl_gsl_pcg32_type;
  gsl_set(g->state, 0u);
  return g;
}

fl_rng *fl_rng_gsl_state(gsl_rng *g) { return g->state; }

void fl_rng_gsl_view(gsl_rng *g, fl_rng *r) {
  g->type = &fl_gsl_pcg32_type;
  g->state = r;
}
