/* The hot pass, in portable C, with AVX2 (8 children per iteration) and with AVX-512 (16). The
 * vector versions evaluate the pcg32 step (O'Neill 2014, XSH-RR) lane by lane in 64-bit
 * arithmetic, find each child's stay threshold through the band offsets and append the few
 * events in slot order, so their events and states are bit-identical to the scalar pass.
 *
 * Gathers are the slowest part of a vector pass on current Intel processors, so the vector
 * passes avoid them where the model allows: band offsets are counted by comparing ages and times
 * in state with the band edges (at most FL_PASS_EDGES of each), and the AVX-512 pass holds a
 * table of at most 64 thresholds (a Dundee-sized model: 8 localities x 7 states) in four
 * registers and looks it up with two-table permutes. Larger tables and finer bands are gathered.
 * The variants are separate instances of one loop, chosen once per call.
 *
 * Creating children draws too: fl_pass_streams, fl_pass_draw_range and fl_pass_draw_cum give
 * many children's streams or attribute draws at once, 8 in 64-bit lanes on the AVX-512 path,
 * portably one at a time. */
#include "sim/pass.h"

#include "core/rng.h"

#include <string.h>

/* Children [i, n) one at a time, appending their events after the n_ev already listed: the
 * portable pass, and the tail of the AVX2 pass. Returns the number of events. banded: whether
 * to look up the band offsets (zero: the model has one band each, and every offset is 0). */
__attribute__((always_inline)) static inline size_t pass_from(const fl_pass_args *a, size_t i,
                                                              size_t n_ev, const int banded) {
  const uint64_t inc = a->inc;
  const uint32_t max_age = a->max_age;
  uint64_t *rng = a->rng;
  uint16_t *age = a->age, *tis = a->tis;
  const uint32_t *base = a->base, *stay32 = a->stay32;
  const uint32_t *age_off = a->age_off, *dur_off = a->dur_off;
  uint32_t *ev_slot = a->ev_slot;
  for (; i < a->n; i++) {
    const uint32_t u = fl_pcg32_step(&rng[i], inc);
    const uint32_t ag = age[i], ti = tis[i];
    const uint32_t thr = stay32[banded ? base[i] + age_off[ag] + dur_off[ti] : base[i]];
    age[i] = (uint16_t)(ag + 1);
    tis[i] = (uint16_t)(ti + 1);
    if (__builtin_expect(u >= thr || ag + 1 >= max_age, 0)) {
      ev_slot[n_ev++] = (uint32_t)i;
    }
  }
  return n_ev;
}

static size_t pass_scalar(const fl_pass_args *a) {
  return a->banded ? pass_from(a, 0, 0, 1) : pass_from(a, 0, 0, 0);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FL_HAVE_AVX512 1

/* How the AVX-512 pass finds a child's stay threshold: a gather from the table, or (tables of at
 * most 64 entries) two two-table permutes from registers. */
enum { LOOK_GATHER, LOOK_PERMUTE };
/* How it finds the band offsets: none (one band each), comparisons with the band edges (at
 * most FL_PASS_EDGES of each), or gathers from the offset tables. */
enum { BANDS_NONE, BANDS_COMPARE, BANDS_GATHER };

static int bands_of(const fl_pass_args *a) {
  return !a->banded                                                           ? BANDS_NONE
         : a->n_age_edges <= FL_PASS_EDGES && a->n_dur_edges <= FL_PASS_EDGES ? BANDS_COMPARE
                                                                              : BANDS_GATHER;
}

__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"), always_inline)) static inline size_t
avx512_loop(const fl_pass_args *a, const int look, const int bands) {
  /* Arguments in locals: the stores below could otherwise alias *a and force reloads. */
  uint64_t *const rng = a->rng;
  uint16_t *const age = a->age, *const tis = a->tis;
  const uint32_t *const base = a->base, *const stay32 = a->stay32;
  const uint32_t *const age_off = a->age_off, *const dur_off = a->dur_off;
  uint32_t *const ev_slot = a->ev_slot;
  const size_t n = a->n;
  const __m512i mult = _mm512_set1_epi64((long long)FL_PCG_MULT);
  const __m512i inc = _mm512_set1_epi64((long long)a->inc);
  const __m256i one16 = _mm256_set1_epi16(1);
  /* A child reaches the maximum age when age + 1 >= max_age, that is age >= max_age - 1 (all
   * children when max_age is 0), compared in 16 bits; none can when max_age - 1 > 65535. */
  const uint32_t lim = a->max_age ? a->max_age - 1 : 0;
  const __m256i age_lim = _mm256_set1_epi16((short)(lim <= 0xFFFF ? lim : 0xFFFF));
  const __mmask16 aging = lim <= 0xFFFF ? (__mmask16)0xFFFF : 0;
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i zero = _mm512_setzero_si512(), k32 = _mm512_set1_epi32(32);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  /* The table in registers (entries past n_rows are never indexed). */
  __m512i tab[4] = {zero, zero, zero, zero};
  if (look == LOOK_PERMUTE) {
    uint32_t pad[64] = {0};
    memcpy(pad, stay32, a->n_rows * sizeof *pad);
    for (int k = 0; k < 4; k++) tab[k] = _mm512_loadu_si512(pad + 16 * k);
  }
  /* Band edges, unused ones above every age (ages are 16-bit). */
  __m512i age_e[FL_PASS_EDGES], dur_e[FL_PASS_EDGES];
  const __m512i age_step = _mm512_set1_epi32((int)a->age_step);
  const __m512i dur_step = _mm512_set1_epi32((int)a->dur_step);
  for (unsigned k = 0; k < FL_PASS_EDGES; k++) {
    age_e[k] = _mm512_set1_epi32(k < a->n_age_edges ? (int)a->age_edge[k] : 0x10000);
    dur_e[k] = _mm512_set1_epi32(k < a->n_dur_edges ? (int)a->dur_edge[k] : 0x10000);
  }
  size_t n_ev = 0;
  for (size_t i = 0; i < n; i += 16) {
    const int full = n - i >= 16;
    const __mmask16 live = full ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    const __mmask8 lo = (__mmask8)live, hi = (__mmask8)(live >> 8);
    /* pcg32: output of the old state, state = state * mult + inc. */
    const __m512i s0 = _mm512_maskz_loadu_epi64(lo, rng + i);
    const __m512i s1 = _mm512_maskz_loadu_epi64(hi, rng + i + 8);
    _mm512_mask_storeu_epi64(rng + i, lo, _mm512_add_epi64(_mm512_mullo_epi64(s0, mult), inc));
    _mm512_mask_storeu_epi64(rng + i + 8, hi, _mm512_add_epi64(_mm512_mullo_epi64(s1, mult), inc));
    /* XSH-RR in the 64-bit lanes: the 32-bit rotation of the low half by the top 5 bits, then
     * the low halves of both registers as 16 lanes in child order, by one permute. */
    const __m512i x0 = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(s0, 18), s0), 27);
    const __m512i x1 = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(s1, 18), s1), 27);
    const __m512i r0 = _mm512_rorv_epi32(x0, _mm512_srli_epi64(s0, 59));
    const __m512i r1 = _mm512_rorv_epi32(x1, _mm512_srli_epi64(s1, 59));
    const __m512i u = _mm512_permutex2var_epi32(r0, even, r1);
    /* The row: base + age_off[age] + dur_off[tis]; its stay threshold. Ages and times in state
     * are incremented as 16-bit lanes: a narrowing store would be far slower. */
    const __m256i ag16 = _mm256_maskz_loadu_epi16(live, age + i);
    const __m256i ti16 = _mm256_maskz_loadu_epi16(live, tis + i);
    __m512i idx = _mm512_maskz_loadu_epi32(live, base + i);
    if (bands != BANDS_NONE) {
      const __m512i ag = _mm512_cvtepu16_epi32(ag16), ti = _mm512_cvtepu16_epi32(ti16);
      if (bands == BANDS_GATHER) {
        const __m512i ao = _mm512_mask_i32gather_epi32(zero, live, ag, age_off, 4);
        const __m512i dof = _mm512_mask_i32gather_epi32(zero, live, ti, dur_off, 4);
        idx = _mm512_add_epi32(idx, _mm512_add_epi32(ao, dof));
      } else {
        for (unsigned k = 0; k < FL_PASS_EDGES; k++) {
          idx = _mm512_mask_add_epi32(idx, _mm512_cmpge_epu32_mask(ag, age_e[k]), idx, age_step);
          idx = _mm512_mask_add_epi32(idx, _mm512_cmpge_epu32_mask(ti, dur_e[k]), idx, dur_step);
        }
      }
    }
    __m512i thr;
    if (look == LOOK_PERMUTE) {
      const __m512i t01 = _mm512_permutex2var_epi32(tab[0], idx, tab[1]);
      const __m512i t23 = _mm512_permutex2var_epi32(tab[2], idx, tab[3]);
      thr = _mm512_mask_blend_epi32(_mm512_cmpge_epu32_mask(idx, k32), t01, t23);
    } else {
      thr = _mm512_mask_i32gather_epi32(zero, live, idx, stay32, 4);
    }
    _mm256_mask_storeu_epi16(age + i, live, _mm256_add_epi16(ag16, one16));
    _mm256_mask_storeu_epi16(tis + i, live, _mm256_add_epi16(ti16, one16));
    const __mmask16 ev =
        live & (_mm512_cmpge_epu32_mask(u, thr) | (_mm256_cmpge_epu16_mask(ag16, age_lim) & aging));
    /* Events to the front, in slot order. Most blocks of 16 have none, but which ones do is
     * unpredictable, so a full block is stored whole without a branch: the stores reach at most
     * 16 entries past n_ev <= i, inside this call's [n] event array; entries past the count
     * are overwritten later or ignored. */
    const __m512i slots = _mm512_add_epi32(_mm512_set1_epi32((int)i), lanes);
    if (full) _mm512_storeu_si512(ev_slot + n_ev, _mm512_maskz_compress_epi32(ev, slots));
    else _mm512_mask_compressstoreu_epi32(ev_slot + n_ev, ev, slots);
    n_ev += (size_t)__builtin_popcount(ev);
  }
  return n_ev;
}

__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) static size_t
pass_avx512(const fl_pass_args *a) {
  const int permute = a->n_rows <= 64, bands = bands_of(a);
  if (permute) {
    if (bands == BANDS_NONE) return avx512_loop(a, LOOK_PERMUTE, BANDS_NONE);
    if (bands == BANDS_COMPARE) return avx512_loop(a, LOOK_PERMUTE, BANDS_COMPARE);
    return avx512_loop(a, LOOK_PERMUTE, BANDS_GATHER);
  }
  if (bands == BANDS_NONE) return avx512_loop(a, LOOK_GATHER, BANDS_NONE);
  if (bands == BANDS_COMPARE) return avx512_loop(a, LOOK_GATHER, BANDS_COMPARE);
  return avx512_loop(a, LOOK_GATHER, BANDS_GATHER);
}

/* fl_mix64 of 8 values. */
__attribute__((target("avx512f,avx512dq"))) static inline __m512i mix64_avx512(__m512i x) {
  x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 30)),
                         _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL));
  x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 27)),
                         _mm512_set1_epi64((long long)0x94d049bb133111ebULL));
  return _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
}

/* fl_pass_streams, 8 children at a time; the last (n mod 8) by a masked store. */
__attribute__((target("avx512f,avx512dq"))) static void streams_avx512(const fl_stream_key *k,
                                                                       uint64_t child0, size_t n,
                                                                       uint64_t *state) {
  const __m512i key = _mm512_set1_epi64((long long)FL_KEY_CHILD);
  const __m512i prefix = _mm512_set1_epi64((long long)k->prefix);
  const __m512i mult = _mm512_set1_epi64((long long)FL_PCG_MULT);
  const __m512i inc = _mm512_set1_epi64((long long)k->inc), eight = _mm512_set1_epi64(8);
  __m512i child = _mm512_add_epi64(_mm512_set1_epi64((long long)child0),
                                   _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
  for (size_t i = 0; i < n; i += 8) {
    const __mmask8 live = n - i >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - i)) - 1);
    const __m512i own = mix64_avx512(_mm512_add_epi64(_mm512_mullo_epi64(child, key), key));
    const __m512i s = mix64_avx512(_mm512_xor_si512(prefix, own));
    _mm512_mask_storeu_epi64(state + i, live, _mm512_add_epi64(_mm512_mullo_epi64(s, mult), inc));
    child = _mm512_add_epi64(child, eight);
  }
}

/* fl_pass_draw_range where hi > lo, 8 children at a time: the first output of each stream and
 * its product with the bound in 64-bit lanes; the rare lanes whose product falls in the
 * rejection range (low word below the bound) finish one by one (fl_rng_bounded_from). */
__attribute__((target("avx512f,avx512dq"))) static void draw_range_avx512(uint64_t *state,
                                                                          uint64_t inc, size_t n,
                                                                          uint32_t lo,
                                                                          uint32_t bound,
                                                                          uint16_t *out) {
  const __m512i mult = _mm512_set1_epi64((long long)FL_PCG_MULT);
  const __m512i vinc = _mm512_set1_epi64((long long)inc);
  const __m512i vbound = _mm512_set1_epi64((long long)bound), vlo = _mm512_set1_epi64(lo);
  const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFF);
  for (size_t i = 0; i < n; i += 8) {
    const __mmask8 live = n - i >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - i)) - 1);
    const __m512i s = _mm512_maskz_loadu_epi64(live, state + i);
    _mm512_mask_storeu_epi64(state + i, live, _mm512_add_epi64(_mm512_mullo_epi64(s, mult), vinc));
    const __m512i x = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(s, 18), s), 27);
    const __m512i u = _mm512_rorv_epi32(x, _mm512_srli_epi64(s, 59)); /* (the low halves) */
    const __m512i m = _mm512_mul_epu32(u, vbound);
    _mm512_mask_cvtepi64_storeu_epi16(out + i, live,
                                      _mm512_add_epi64(_mm512_srli_epi64(m, 32), vlo));
    __mmask8 rej = live & _mm512_cmplt_epu64_mask(_mm512_and_si512(m, lo32), vbound);
    if (__builtin_expect(rej != 0, 0)) {
      uint64_t mm[8];
      _mm512_storeu_si512(mm, m);
      for (; rej; rej &= (__mmask8)(rej - 1)) {
        const int l = __builtin_ctz(rej);
        fl_rng r = {state[i + l], inc};
        out[i + l] = (uint16_t)(lo + fl_rng_bounded_from(&r, bound, mm[l]));
        state[i + l] = r.state;
      }
    }
  }
}

/* fl_pass_draw_cum, 8 children at a time: the thresholds compared in 64-bit lanes. */
__attribute__((target("avx512f,avx512dq,avx512vl"))) static void draw_cum_avx512(
    uint64_t *state, uint64_t inc, size_t n, const uint64_t *cum, size_t ncum, uint32_t scale,
    uint32_t *out) {
  const __m512i mult = _mm512_set1_epi64((long long)FL_PCG_MULT);
  const __m512i vinc = _mm512_set1_epi64((long long)inc);
  const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFF), vscale = _mm512_set1_epi64(scale);
  for (size_t i = 0; i < n; i += 8) {
    const __mmask8 live = n - i >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - i)) - 1);
    const __m512i s = _mm512_maskz_loadu_epi64(live, state + i);
    _mm512_mask_storeu_epi64(state + i, live, _mm512_add_epi64(_mm512_mullo_epi64(s, mult), vinc));
    const __m512i x = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(s, 18), s), 27);
    const __m512i u = _mm512_and_si512(_mm512_rorv_epi32(x, _mm512_srli_epi64(s, 59)), lo32);
    __m512i k = _mm512_setzero_si512();
    for (size_t j = 0; j + 1 < ncum; j++)
      k = _mm512_mask_add_epi64(k, _mm512_cmpge_epu64_mask(u, _mm512_set1_epi64((long long)cum[j])),
                                k, vscale);
    const __m256i o = _mm256_maskz_loadu_epi32(live, out + i);
    _mm256_mask_storeu_epi32(out + i, live, _mm256_add_epi32(o, _mm512_cvtepi64_epi32(k)));
  }
}

#define FL_HAVE_AVX2 1

/* s * FL_PCG_MULT mod 2^64 in each 64-bit lane. AVX2 multiplies only 32 x 32 -> 64 bits, so the
 * product is built from the halves: lo*lo + ((lo*hi + hi*lo) << 32); hi*hi only reaches bits
 * 64 and up. m_lo and m_hi hold the halves of the multiplier. */
__attribute__((target("avx2"))) static inline __m256i mul64_avx2(__m256i s, __m256i m_lo,
                                                                 __m256i m_hi) {
  const __m256i ll = _mm256_mul_epu32(s, m_lo);
  const __m256i lh = _mm256_mul_epu32(s, m_hi);
  const __m256i hl = _mm256_mul_epu32(_mm256_srli_epi64(s, 32), m_lo);
  return _mm256_add_epi64(ll, _mm256_slli_epi64(_mm256_add_epi64(lh, hl), 32));
}

/* The XSH-RR output of four states, in the low half of each 64-bit lane. The 32-bit rotation is
 * one 64-bit variable shift: rotr32(x, r) is the low half of (x:x) >> r. */
__attribute__((target("avx2"))) static inline __m256i pcg_out_avx2(__m256i s) {
  const __m256i x = _mm256_srli_epi64(_mm256_xor_si256(_mm256_srli_epi64(s, 18), s), 27);
  const __m256i xx = _mm256_blend_epi32(x, _mm256_slli_epi64(x, 32), 0xAA);
  return _mm256_srlv_epi64(xx, _mm256_srli_epi64(s, 59));
}

/* The low halves of the 64-bit lanes of a (children 0-3) and b (4-7) as eight 32-bit lanes in
 * child order. The shuffle interleaves the 128-bit halves; the permute restores the order. */
__attribute__((target("avx2"))) static inline __m256i pack_lo32_avx2(__m256i a, __m256i b) {
  const __m256 p =
      _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_permute4x64_epi64(_mm256_castps_si256(p), _MM_SHUFFLE(3, 1, 2, 0));
}

/* Unsigned a >= b in each 32-bit lane (AVX2 compares only signed): max(a, b) == a. */
__attribute__((target("avx2"))) static inline __m256i cmpge_epu32_avx2(__m256i a, __m256i b) {
  return _mm256_cmpeq_epi32(_mm256_max_epu32(a, b), a);
}

/* Entry m lists the set bits of m, lowest first, one per byte (the bytes past the last one are
 * zero): the lane order that moves the events of an 8-lane mask to the front, in slot order. AVX2
 * has no compress-store; a permutation from this table and two full stores cost fewer cycles
 * than a loop over the set bits or a branch around the stores (most blocks of 8 have no event,
 * but which ones do is unpredictable). Bit b of m goes to the byte numbered by the set bits below
 * it; bit 0 always lands in byte 0 as the value 0, so it needs no term. */
#define EV_BELOW(m, b) __builtin_popcount((unsigned)(m) & ((1u << (b)) - 1))
#define EV_BIT(m, b) ((((m) >> (b)) & 1) ? (uint64_t)(b) << (8 * EV_BELOW(m, b)) : 0)
#define EV_LANES(m)                                                                                \
  (EV_BIT(m, 1) | EV_BIT(m, 2) | EV_BIT(m, 3) | EV_BIT(m, 4) | EV_BIT(m, 5) | EV_BIT(m, 6) |       \
   EV_BIT(m, 7))
#define EV_4(m) EV_LANES(m), EV_LANES((m) + 1), EV_LANES((m) + 2), EV_LANES((m) + 3)
#define EV_16(m) EV_4(m), EV_4((m) + 4), EV_4((m) + 8), EV_4((m) + 12)
#define EV_64(m) EV_16(m), EV_16((m) + 16), EV_16((m) + 32), EV_16((m) + 48)
static const uint64_t ev_lanes[256] = {EV_64(0), EV_64(64), EV_64(128), EV_64(192)};

__attribute__((target("avx2"), always_inline)) static inline size_t avx2_loop(const fl_pass_args *a,
                                                                              const int bands) {
  /* Arguments in locals: the stores below could otherwise alias *a and force reloads. */
  uint64_t *const rng = a->rng;
  uint16_t *const age = a->age, *const tis = a->tis;
  const uint32_t *const base = a->base, *const stay32 = a->stay32;
  const int *const age_off = (const int *)a->age_off, *const dur_off = (const int *)a->dur_off;
  uint32_t *const ev_slot = a->ev_slot;
  const size_t n8 = a->n & ~(size_t)7;
  const __m256i m_lo = _mm256_set1_epi64x((long long)(FL_PCG_MULT & 0xFFFFFFFFu));
  const __m256i m_hi = _mm256_set1_epi64x((long long)(FL_PCG_MULT >> 32));
  const __m256i inc = _mm256_set1_epi64x((long long)a->inc);
  const __m256i one = _mm256_set1_epi32(1), max_age = _mm256_set1_epi32((int)a->max_age);
  const __m128i one16 = _mm_set1_epi16(1);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  /* Band edges less one, unused ones at the largest age (ages are 16-bit). */
  __m256i age_e[FL_PASS_EDGES], dur_e[FL_PASS_EDGES];
  const __m256i age_step = _mm256_set1_epi32((int)a->age_step);
  const __m256i dur_step = _mm256_set1_epi32((int)a->dur_step);
  for (unsigned k = 0; k < FL_PASS_EDGES; k++) {
    age_e[k] = _mm256_set1_epi32(k < a->n_age_edges ? (int)a->age_edge[k] - 1 : 0xFFFF);
    dur_e[k] = _mm256_set1_epi32(k < a->n_dur_edges ? (int)a->dur_edge[k] - 1 : 0xFFFF);
  }
  size_t n_ev = 0;
  for (size_t i = 0; i < n8; i += 8) {
    /* pcg32: output of the old state, state = state * mult + inc. */
    const __m256i s0 = _mm256_loadu_si256((const __m256i *)(rng + i));
    const __m256i s1 = _mm256_loadu_si256((const __m256i *)(rng + i + 4));
    _mm256_storeu_si256((__m256i *)(rng + i), _mm256_add_epi64(mul64_avx2(s0, m_lo, m_hi), inc));
    _mm256_storeu_si256((__m256i *)(rng + i + 4),
                        _mm256_add_epi64(mul64_avx2(s1, m_lo, m_hi), inc));
    const __m256i u = pack_lo32_avx2(pcg_out_avx2(s0), pcg_out_avx2(s1));
    /* The row: base + age_off[age] + dur_off[tis]; its stay threshold. */
    const __m128i ag16 = _mm_loadu_si128((const __m128i *)(age + i));
    const __m128i ti16 = _mm_loadu_si128((const __m128i *)(tis + i));
    const __m256i ag = _mm256_cvtepu16_epi32(ag16);
    __m256i idx = _mm256_loadu_si256((const __m256i *)(base + i));
    if (bands == BANDS_GATHER) {
      const __m256i ao = _mm256_i32gather_epi32(age_off, ag, 4);
      const __m256i dof = _mm256_i32gather_epi32(dur_off, _mm256_cvtepu16_epi32(ti16), 4);
      idx = _mm256_add_epi32(idx, _mm256_add_epi32(ao, dof));
    } else if (bands == BANDS_COMPARE) { /* age >= edge is age > edge - 1, signed: both fit */
      const __m256i ti = _mm256_cvtepu16_epi32(ti16);
      for (unsigned k = 0; k < FL_PASS_EDGES; k++) {
        idx = _mm256_add_epi32(idx, _mm256_and_si256(_mm256_cmpgt_epi32(ag, age_e[k]), age_step));
        idx = _mm256_add_epi32(idx, _mm256_and_si256(_mm256_cmpgt_epi32(ti, dur_e[k]), dur_step));
      }
    }
    const __m256i thr = _mm256_i32gather_epi32((const int *)stay32, idx, 4);
    _mm_storeu_si128((__m128i *)(age + i), _mm_add_epi16(ag16, one16));
    _mm_storeu_si128((__m128i *)(tis + i), _mm_add_epi16(ti16, one16));
    const __m256i ev = _mm256_or_si256(cmpge_epu32_avx2(u, thr),
                                       cmpge_epu32_avx2(_mm256_add_epi32(ag, one), max_age));
    const unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(ev));
    /* Events to the front, in slot order, stored whole: the stores reach at most 8 entries
     * past n_ev <= i, so they stay inside the [n] event array; entries past the count are
     * overwritten later or ignored. */
    const __m256i perm = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&ev_lanes[mask]));
    const __m256i slots = _mm256_add_epi32(_mm256_set1_epi32((int)i), lanes);
    _mm256_storeu_si256((__m256i *)(ev_slot + n_ev), _mm256_permutevar8x32_epi32(slots, perm));
    n_ev += (size_t)__builtin_popcount(mask);
  }
  return pass_from(a, n8, n_ev, 1);
}

__attribute__((target("avx2"))) static size_t pass_avx2(const fl_pass_args *a) {
  switch (bands_of(a)) {
  case BANDS_NONE: return avx2_loop(a, BANDS_NONE);
  case BANDS_COMPARE: return avx2_loop(a, BANDS_COMPARE);
  default: return avx2_loop(a, BANDS_GATHER);
  }
}
#endif

/* What the processor offers. __builtin_cpu_supports reads a table that __builtin_cpu_init
 * fills; the explicit init makes the answer right even before constructors have run, and
 * repeating it is cheap. The AVX checks include the operating system's support for the wide
 * registers. */
static int cpu_has_avx512(void) {
#ifdef FL_HAVE_AVX512
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
  return 0;
#endif
}

static int cpu_has_avx2(void) {
#ifdef FL_HAVE_AVX2
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
#else
  return 0;
#endif
}

int fl_path_supported(fl_path path) {
  switch (path) {
  case FL_PATH_AUTO:
  case FL_PATH_SCALAR: return 1;
  case FL_PATH_AVX2: return cpu_has_avx2();
  case FL_PATH_AVX512: return cpu_has_avx512();
  default: return 0;
  }
}

fl_path fl_pass_best(void) {
  return cpu_has_avx512() ? FL_PATH_AVX512 : cpu_has_avx2() ? FL_PATH_AVX2 : FL_PATH_SCALAR;
}

void fl_pass_streams(const fl_stream_key *k, uint64_t child0, size_t n, uint64_t *state,
                     fl_path path) {
#ifdef FL_HAVE_AVX512
  if (path == FL_PATH_AUTO) path = fl_pass_best();
  if (path == FL_PATH_AVX512) {
    streams_avx512(k, child0, n, state);
    return;
  }
#endif
  (void)path;
  fl_rng r;
  for (size_t i = 0; i < n; i++) {
    fl_rng_init_keyed(&r, k, child0 + i);
    state[i] = r.state;
  }
}

void fl_pass_draw_range(uint64_t *state, uint64_t inc, size_t n, uint32_t lo, uint32_t hi,
                        uint16_t *out, fl_path path) {
  if (hi <= lo) {
    for (size_t i = 0; i < n; i++) out[i] = (uint16_t)lo;
    return;
  }
  const uint32_t bound = hi - lo + 1;
#ifdef FL_HAVE_AVX512
  if (path == FL_PATH_AUTO) path = fl_pass_best();
  if (path == FL_PATH_AVX512) {
    draw_range_avx512(state, inc, n, lo, bound, out);
    return;
  }
#endif
  (void)path;
  for (size_t i = 0; i < n; i++) {
    fl_rng r = {state[i], inc};
    const uint64_t m = (uint64_t)fl_rng_u32(&r) * bound;
    out[i] = (uint16_t)(lo + fl_rng_bounded_from(&r, bound, m));
    state[i] = r.state;
  }
}

void fl_pass_draw_cum(uint64_t *state, uint64_t inc, size_t n, const uint64_t *cum,
                      size_t ncum, uint32_t scale, uint32_t *out, fl_path path) {
#ifdef FL_HAVE_AVX512
  if (path == FL_PATH_AUTO) path = fl_pass_best();
  if (path == FL_PATH_AVX512) {
    draw_cum_avx512(state, inc, n, cum, ncum, scale, out);
    return;
  }
#endif
  (void)path;
  for (size_t i = 0; i < n; i++) {
    const uint32_t u = fl_pcg32_step(&state[i], inc);
    uint32_t k = 0;
    for (size_t j = 0; j + 1 < ncum; j++) k += u >= cum[j];
    out[i] += scale * k;
  }
}

static const char *const path_names[] = {"auto", "scalar", "avx2", "avx512"};

const char *fl_path_name(fl_path path) {
  return (unsigned)path < sizeof path_names / sizeof *path_names ? path_names[path] : "unknown";
}

int fl_path_parse(const char *name, fl_path *path) {
  for (unsigned k = 0; k < sizeof path_names / sizeof *path_names; k++)
    if (!strcmp(name, path_names[k])) {
      *path = (fl_path)k;
      return 0;
    }
  return -1;
}

size_t fl_pass(const fl_pass_args *a, fl_path path) {
  if (path == FL_PATH_AUTO) path = fl_pass_best();
  switch (path) {
#ifdef FL_HAVE_AVX512
  case FL_PATH_AVX512: return pass_avx512(a);
#endif
#ifdef FL_HAVE_AVX2
  case FL_PATH_AVX2: return pass_avx2(a);
#endif
  default: return pass_scalar(a);
  }
}
