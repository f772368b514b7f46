/* The hot pass, in portable C and with AVX-512 (16 children per iteration). The vector version
 * evaluates the pcg32 step (O'Neill 2014, XSH-RR) lane by lane with 64-bit multiplies
 * (AVX512DQ), gathers each child's stay threshold through the band tables, and appends the few
 * events with compress-stores, so its events and states are bit-identical to the scalar pass. */
#include "pass.h"

#include "rng.h"

static size_t pass_scalar(const fl_pass_args *a) {
  const uint64_t inc = a->inc;
  const uint32_t max_age = a->max_age;
  uint64_t *rng = a->rng;
  uint16_t *age = a->age, *tis = a->tis;
  const uint32_t *base = a->base, *stay32 = a->stay32;
  const uint32_t *age_off = a->age_off, *dur_off = a->dur_off;
  uint32_t *ev_slot = a->ev_slot, *ev_u = a->ev_u;
  size_t n_ev = 0;
  for (size_t i = 0; i < a->n; i++) {
    const uint32_t u = fl_pcg32_step(&rng[i], inc);
    const uint32_t ag = age[i], ti = tis[i];
    const uint32_t thr = stay32[base[i] + age_off[ag] + dur_off[ti]];
    age[i] = (uint16_t)(ag + 1);
    tis[i] = (uint16_t)(ti + 1);
    if (__builtin_expect(u >= thr || ag + 1 >= max_age, 0)) {
      ev_slot[n_ev] = (uint32_t)i;
      ev_u[n_ev] = u;
      n_ev++;
    }
  }
  return n_ev;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FL_HAVE_AVX512 1

__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) static size_t
pass_avx512(const fl_pass_args *a) {
  /* Arguments in locals: the stores below could otherwise alias *a and force reloads. */
  uint64_t *const rng = a->rng;
  uint16_t *const age = a->age, *const tis = a->tis;
  const uint32_t *const base = a->base, *const stay32 = a->stay32;
  const uint32_t *const age_off = a->age_off, *const dur_off = a->dur_off;
  uint32_t *const ev_slot = a->ev_slot, *const ev_u = a->ev_u;
  const size_t n = a->n;
  const int banded = a->banded;
  const __m512i mult = _mm512_set1_epi64((long long)FL_PCG_MULT);
  const __m512i inc = _mm512_set1_epi64((long long)a->inc);
  const __m512i one = _mm512_set1_epi32(1), max_age = _mm512_set1_epi32((int)a->max_age);
  const __m256i one16 = _mm256_set1_epi16(1);
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i zero = _mm512_setzero_si512();
  size_t n_ev = 0;
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 live = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    const __mmask8 lo = (__mmask8)live, hi = (__mmask8)(live >> 8);
    /* pcg32: output of the old state, state = state * mult + inc. */
    const __m512i s0 = _mm512_maskz_loadu_epi64(lo, rng + i);
    const __m512i s1 = _mm512_maskz_loadu_epi64(hi, rng + i + 8);
    _mm512_mask_storeu_epi64(rng + i, lo, _mm512_add_epi64(_mm512_mullo_epi64(s0, mult), inc));
    _mm512_mask_storeu_epi64(rng + i + 8, hi, _mm512_add_epi64(_mm512_mullo_epi64(s1, mult), inc));
    const __m512i x0 = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(s0, 18), s0), 27);
    const __m512i x1 = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(s1, 18), s1), 27);
    const __m512i xs = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(x0)),
                                          _mm512_cvtepi64_epi32(x1), 1);
    const __m512i rot =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(_mm512_srli_epi64(s0, 59))),
                           _mm512_cvtepi64_epi32(_mm512_srli_epi64(s1, 59)), 1);
    const __m512i u = _mm512_rorv_epi32(xs, rot);
    /* The row: base + age_off[age] + dur_off[tis]; its stay threshold. Ages and times in state
     * are incremented as 16-bit lanes: a narrowing store would be far slower. */
    const __m256i ag16 = _mm256_maskz_loadu_epi16(live, age + i);
    const __m256i ti16 = _mm256_maskz_loadu_epi16(live, tis + i);
    const __m512i ag = _mm512_cvtepu16_epi32(ag16), ti = _mm512_cvtepu16_epi32(ti16);
    const __m512i b = _mm512_maskz_loadu_epi32(live, base + i);
    __m512i idx = b;
    if (banded) { /* rows depend on age or time in state: two more gathers */
      const __m512i ao = _mm512_mask_i32gather_epi32(zero, live, ag, age_off, 4);
      const __m512i dof = _mm512_mask_i32gather_epi32(zero, live, ti, dur_off, 4);
      idx = _mm512_add_epi32(b, _mm512_add_epi32(ao, dof));
    }
    const __m512i thr = _mm512_mask_i32gather_epi32(zero, live, idx, stay32, 4);
    _mm256_mask_storeu_epi16(age + i, live, _mm256_add_epi16(ag16, one16));
    _mm256_mask_storeu_epi16(tis + i, live, _mm256_add_epi16(ti16, one16));
    const __mmask16 ev = live & (_mm512_cmpge_epu32_mask(u, thr) |
                                 _mm512_cmpge_epu32_mask(_mm512_add_epi32(ag, one), max_age));
    if (__builtin_expect(ev != 0, 0)) {
      const __m512i slots = _mm512_add_epi32(_mm512_set1_epi32((int)i), lanes);
      _mm512_mask_compressstoreu_epi32(ev_slot + n_ev, ev, slots);
      _mm512_mask_compressstoreu_epi32(ev_u + n_ev, ev, u);
      n_ev += (size_t)__builtin_popcount(ev);
    }
  }
  return n_ev;
}
#endif

fl_path fl_pass_best(void) {
#ifdef FL_HAVE_AVX512
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return FL_PATH_AVX512;
#endif
  return FL_PATH_SCALAR;
}

const char *fl_path_name(fl_path path) {
  switch (path) {
  case FL_PATH_SCALAR: return "scalar";
  case FL_PATH_AVX512: return "avx512";
  default: return "auto";
  }
}

size_t fl_pass(const fl_pass_args *a, fl_path path) {
#ifdef FL_HAVE_AVX512
  if (path == FL_PATH_AVX512) return pass_avx512(a);
#endif
  (void)path;
  return pass_scalar(a);
}
