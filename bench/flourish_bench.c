/* The benchmark harness: named workloads, each run several times at each thread count, reporting
 * medians of child-months per second per core, replications per second, scaling efficiency
 * against one thread, peak memory and the time of the output stage, as text and JSON.
 *
 * Timings on shared machines are noisy: compare numbers taken in one invocation (ratios), and
 * use the callgrind mode of bench/run.sh for repeatable instruction counts. */
#define _GNU_SOURCE
#include "core/rng.h"
#include "results/results.h"
#include "sim/pass.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct workload {
  const char *name;
  const char *path;      /* relative to the source directory */
  size_t reps;           /* replications per timed run, at least */
  size_t per_thread;     /* ... and at least this many per thread (replications across threads) */
  double target_per_core; /* child-months per second per core, single thread; 0: none */
  double target_vector;  /* the same with a vector pass; 0: none */
  double target_scaling; /* scaling efficiency at TARGET_THREADS threads; 0: none */
  size_t max_arms;       /* simulate the first max_arms arms (the baseline first); 0: all */
  const char *about;
} workload;

/* The targets of the performance issue, printed beside the measurements. */
#define TARGET_THREADS 16         /* the node the scaling targets are stated for */
#define TARGET_OUTPUT_REPS 10000  /* output at most TARGET_OUTPUT of simulation time ... */
#define TARGET_OUTPUT 0.10        /* ... at this many replications */
#define TARGET_BYTES_PER_CHILD 16 /* plus per-replication tallies */
#define TARGET_WHOLE 1.0e9 /* dundee, one thread, vector pass: child-months/s of the whole run
                            * (simulation and output), where the processor has AVX-512 */

static const workload workloads[] = {
    {"dundee", "scenarios/dundee.yaml", 16, 32, 500e6, 1.5e9, 0.9, 1,
     "Dundee baseline: 7 states in 4 levels, 8 localities, ~27,000 children, 120 months"},
    {"paired", "scenarios/dundee.yaml", 16, 16, 0, 0, 0, 3,
     "Dundee baseline and two prevention arms (community_city, community_targeted), paired"},
    {"default", "scenarios/dundee.yaml", 16, 16, 0, 0, 0, 0,
     "the shipped Dundee scenario as `flourish run` runs it: the baseline and three arms"},
    {"rich", "bench/workloads/rich.yaml", 16, 32, 350e6, 0, 0, 0,
     "8 states, rows by age x time in state x period x locality, 27,000 children, 120 months"},
    {"scotland", "bench/workloads/scotland.yaml", 2, 4, 0, 0, 0.65, 1,
     "Scotland-sized: the Dundee model with 1,000,000 children, 120 months (scaling target "
     "with --inside)"},
};

static void target_line(const char *what, double value, double target, int at_least,
                        const char *unit) {
  const int met = at_least ? value >= target : value <= target;
  printf("          target %s %s %.4g%s: %s (%.4g%s)\n", what, at_least ? ">=" : "<=", target,
         unit, met ? "met" : "NOT met", value, unit);
}
#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A sink that only counts the child-steps simulated (every child present at the start of a
 * step: stocks + entries): the simulation without its output. */
typedef struct count_sink {
  fl_results *const *slots;
  double steps;
} count_sink;

static fl_status count_begin(void *ctx, const fl_stream_info *info, fl_error *err) {
  (void)err;
  ((count_sink *)ctx)->slots = info->slots;
  return FL_OK;
}

static fl_status count_commit(void *ctx, size_t slot, size_t rep0, size_t n, fl_error *err) {
  count_sink *c = ctx;
  const fl_results *res = c->slots[slot];
  (void)rep0;
  (void)err;
  for (size_t a = 0; a < res->n_arms; a++) {
    const fl_array *st = fl_results_find_const(res, a, "stocks");
    const fl_array *en = fl_results_find_const(res, a, "entries");
    const size_t T1 = st->dims[1], S = st->dims[2];
    for (size_t r = 0; r < n; r++)
      for (size_t t = 0; t + 1 < T1; t++)
        for (size_t s = 0; s < S; s++)
          c->steps += ((const int32_t *)st->data)[(r * T1 + t) * S + s] +
                      ((const int32_t *)en->data)[(r * (T1 - 1) + t) * S + s];
  }
  return FL_OK;
}

/* --memory R1,R2,...: each run of R replications written to a file (fl_run_write) in a child
 * process of its own, whose peak resident memory (and time, and file size) is printed. */
static int memory_table(const fl_model *m, const char *list, int threads, fl_path pass) {
  char copy[256];
  snprintf(copy, sizeof copy, "%s", list);
  printf("%12s %10s %10s %12s\n", "replications", "maxrss", "seconds", "file");
  for (char *save = NULL, *r = strtok_r(copy, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
    char tmp[] = "/tmp/flourish-bench-XXXXXX";
    const int fd = mkstemp(tmp);
    if (fd < 0) return 1;
    close(fd);
    const double t0 = now();
    const pid_t pid = fork();
    if (pid == 0) {
      fl_run_options opt;
      fl_error err = {0};
      fl_provenance pv = {"flourish_bench --memory", "bench"};
      fl_run_options_init(&opt);
      opt.replications = strtoul(r, NULL, 10);
      opt.threads = threads;
      opt.pass = pass;
      _exit(fl_run_write(m, &opt, &pv, tmp, &err) == FL_OK ? 0 : 1);
    }
    int wstatus = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &wstatus, 0, &ru) != pid || !WIFEXITED(wstatus) ||
        WEXITSTATUS(wstatus) != 0) {
      fprintf(stderr, "flourish_bench: the run of %s replications failed\n", r);
      unlink(tmp);
      return 1;
    }
    struct stat sb;
    const double size = stat(tmp, &sb) == 0 ? (double)sb.st_size : 0;
    printf("%12s %9.0fM %10.1f %11.1fM\n", r, (double)ru.ru_maxrss / 1024.0, now() - t0,
           size / 1048576.0);
    unlink(tmp);
  }
  return 0;
}

/* The reference the pass is measured against (the design's target: the pass at least
 * TARGET_REF_RATIO of it): a hand-written AVX-512 pcg32 loop over the same children, which only
 * draws for every child (state = state * mult + inc, XSH-RR output of the old state) and counts
 * the draws at or above one threshold. No rows, ageing or event list: the least any pass that
 * draws once for each child must do. Returns the count; 0 where it cannot run (ref_supported). */
#define TARGET_REF_RATIO 0.67
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
static int ref_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
}

/* ref_loop, and with age and tis set (not NULL) also both incremented for every child, as the
 * pass ages children: how much of the gap to the pass is ageing. */
__attribute__((target("avx512f,avx512dq,avx512vl"), always_inline)) static inline size_t
ref_body(uint64_t *rng, size_t n, uint64_t inc, uint32_t thr, uint16_t *age, uint16_t *tis) {
  const __m512i mult = _mm512_set1_epi64((long long)FL_PCG_MULT);
  const __m128i one16 = _mm_set1_epi16(1);
  const __m512i vinc = _mm512_set1_epi64((long long)inc);
  const __m512i vthr = _mm512_set1_epi64((long long)thr), lo32 = _mm512_set1_epi64(0xFFFFFFFF);
  size_t count = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512i s = _mm512_loadu_si512(rng + i);
    _mm512_storeu_si512(rng + i, _mm512_add_epi64(_mm512_mullo_epi64(s, mult), vinc));
    const __m512i x = _mm512_srli_epi64(_mm512_xor_si512(_mm512_srli_epi64(s, 18), s), 27);
    const __m512i u = _mm512_and_si512(_mm512_rorv_epi32(x, _mm512_srli_epi64(s, 59)), lo32);
    count += (size_t)__builtin_popcount(_mm512_cmpge_epu64_mask(u, vthr));
    if (age) {
      _mm_storeu_si128((__m128i *)(age + i),
                       _mm_add_epi16(_mm_loadu_si128((const __m128i *)(age + i)), one16));
      _mm_storeu_si128((__m128i *)(tis + i),
                       _mm_add_epi16(_mm_loadu_si128((const __m128i *)(tis + i)), one16));
    }
  }
  for (; i < n; i++) {
    count += fl_pcg32_step(&rng[i], inc) >= thr;
    if (age) age[i]++, tis[i]++;
  }
  return count;
}

__attribute__((target("avx512f,avx512dq,avx512vl"))) static size_t ref_loop(uint64_t *rng, size_t n,
                                                                    uint64_t inc, uint32_t thr) {
  return ref_body(rng, n, inc, thr, NULL, NULL);
}

__attribute__((target("avx512f,avx512dq,avx512vl"))) static size_t
ref_ageing(uint64_t *rng, size_t n, uint64_t inc, uint32_t thr, uint16_t *age, uint16_t *tis) {
  return ref_body(rng, n, inc, thr, age, tis);
}
#else
static int ref_supported(void) { return 0; }
static size_t ref_loop(uint64_t *rng, size_t n, uint64_t inc, uint32_t thr) {
  (void)rng, (void)n, (void)inc, (void)thr;
  return 0;
}
static size_t ref_ageing(uint64_t *rng, size_t n, uint64_t inc, uint32_t thr, uint16_t *age,
                         uint16_t *tis) {
  (void)rng, (void)n, (void)inc, (void)thr, (void)age, (void)tis;
  return 0;
}
#endif

/* The hot pass alone (--pass-alone), on synthetic children: 56 unbanded rows (Dundee's 8
 * localities x 7 states) whose stay threshold makes 2.3% of children events (Dundee's rate), at
 * sizes from L1-resident to a million. Prints the median over runs of ns a child, and where the
 * processor has AVX-512 the reference loop's (ref_loop) on the same children, each run of the
 * pass followed by one of the reference, and their ratio (the reference's time over the
 * pass's: the pass's throughput as a fraction of the reference's). */
static int pass_alone(fl_path pass, size_t runs) {
  static const size_t sizes[] = {1024, 8192, 27000, 131072, 1000000};
  enum { ROWS = 56 };
  const int ref = ref_supported();
  uint32_t stay32[ROWS];
  uint32_t *zero = calloc(65536, sizeof *zero); /* band offsets (one band), by age or time */
  if (!zero) return 1;
  const uint32_t thr = (uint32_t)(0.977 * 4294967296.0);
  for (size_t r = 0; r < ROWS; r++) stay32[r] = thr;
  printf("pass alone (%s): ns a child, median of %zu%s\n", fl_path_name(pass), runs,
         ref ? "; the reference AVX-512 pcg32 loop on the same children, and pass/reference "
               "throughput"
             : "");
  double ratio_dundee = 0;
  for (size_t q = 0; q < sizeof sizes / sizeof *sizes; q++) {
    const size_t n = sizes[q], passes = n < 100000 ? 100000000 / n : 100;
    uint64_t *rng = malloc(n * sizeof *rng);
    uint32_t *base = malloc(n * sizeof *base), *ev = malloc(n * sizeof *ev);
    uint16_t *age = malloc(n * sizeof *age), *tis = malloc(n * sizeof *tis);
    double *t = malloc(runs * sizeof *t), *tr = malloc(runs * sizeof *tr);
    double *ta = malloc(runs * sizeof *ta);
    if (!rng || !base || !ev || !age || !tis || !t || !tr || !ta) {
      fprintf(stderr, "flourish_bench: out of memory\n");
      free(rng), free(base), free(ev), free(age), free(tis), free(t), free(tr), free(ta);
      free(zero);
      return 1;
    }
    for (size_t i = 0; i < n; i++) {
      rng[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
      base[i] = (uint32_t)(i % ROWS);
    }
    fl_pass_args a = {.n = n, .rng = rng, .base = base, .age = age, .tis = tis,
                      .stay32 = stay32, .age_off = zero, .dur_off = zero, .n_rows = ROWS,
                      .inc = 0xda3e39cb94b95bdbULL, .max_age = UINT32_MAX, .ev_slot = ev};
    size_t events = 0, ref_events = 0;
    for (size_t k = 0; k < runs; k++) {
      double t0 = now();
      for (size_t p = 0; p < passes; p++) {
        if (p % 30000 == 0) { /* ages and times in state are 16-bit */
          memset(age, 0, n * sizeof *age);
          memset(tis, 0, n * sizeof *tis);
        }
        events += fl_pass(&a, pass);
      }
      t[k] = (now() - t0) / ((double)passes * (double)n) * 1e9;
      if (!ref) continue;
      t0 = now();
      for (size_t p = 0; p < passes; p++) ref_events += ref_loop(rng, n, a.inc, thr);
      tr[k] = (now() - t0) / ((double)passes * (double)n) * 1e9;
      t0 = now();
      for (size_t p = 0; p < passes; p++) (void)ref_ageing(rng, n, a.inc, thr, age, tis);
      ta[k] = (now() - t0) / ((double)passes * (double)n) * 1e9;
    }
    const double pass_ns = median(t, runs);
    printf("  %8zu children (%6.0f KiB hot)  %.3f ns  (%.2f%% events)", n,
           (double)n * 16 / 1024, pass_ns,
           100.0 * (double)events / ((double)runs * (double)passes * (double)n));
    if (ref) {
      const double ref_ns = median(tr, runs);
      printf("  reference %.3f ns (%.2f%% events)  %.2fx  (reference and ageing %.3f ns)",
             ref_ns, 100.0 * (double)ref_events / ((double)runs * (double)passes * (double)n),
             ref_ns / pass_ns, median(ta, runs));
      if (n == 27000) ratio_dundee = ref_ns / pass_ns;
    }
    printf("\n");
    free(rng), free(base), free(ev), free(age), free(tis), free(t), free(tr), free(ta);
  }
  if (ref && pass != FL_PATH_SCALAR)
    target_line("pass/reference, 27,000 children", ratio_dundee, TARGET_REF_RATIO, 1, "");
  free(zero);
  return 0;
}

static fl_model *load(const char *src, const char *rel) {
  char path[2048], msg[2048];
  fl_scenario *sc = NULL;
  fl_model *m = NULL;
  fl_error err = {0};
  snprintf(path, sizeof path, "%s/%s", src, rel);
  if (fl_scenario_load(path, &sc, &err) != FL_OK || fl_model_compile(sc, &m, &err) != FL_OK) {
    fl_error_format(&err, msg, sizeof msg);
    fprintf(stderr, "flourish_bench: %s\n", msg);
    fl_scenario_free(sc);
    return NULL;
  }
  fl_scenario_free(sc);
  return m;
}

static void usage(void) {
  fputs("Usage: flourish_bench [--workload NAME[,NAME...]|all] [--threads 1,2,...] [--runs N]\n"
        "                      [--reps R] [--json FILE] [--source DIR]\n"
        "                      [--pass auto|scalar|avx2|avx512] [--scalar] [--inside]\n"
        "                      [--sim-only]\n"
        "       flourish_bench --pass-alone [--pass P] [--runs N]\n"
        "       flourish_bench --memory R1,R2,... [--threads T]\n"
        "  --pass    the hot pass (default auto: AVX-512, else AVX2, else portable)\n"
        "  --scalar  the same as --pass scalar\n"
        "  --reps    replications per timed run (default: the workload's, raised to a number\n"
        "            per thread: dundee and rich 32, paired 16, scotland 4; always at least one\n"
        "            per thread)\n"
        "  --inside  every thread inside each replication (its children split between them),\n"
        "            and the replications as given, not raised to the thread count\n"
        "  --sim-only  the simulation alone, not also written to a file (output_s is 0)\n"
        "  --pass-alone  time the hot pass by itself on synthetic children (1,024 to a\n"
        "            million; Dundee's 56 rows and event rate), in ns a child\n"
        "  --memory  the shipped Dundee scenario run with each number of replications and\n"
        "            written to a file, each in a process of its own: its peak memory\n"
        "Workloads:\n",
        stderr);
  for (size_t i = 0; i < N_WORKLOADS; i++)
    fprintf(stderr, "  %-10s %s\n", workloads[i].name, workloads[i].about);
}

int main(int argc, char **argv) {
  const char *src = getenv("FLOURISH_SOURCE_DIR"), *json_path = NULL;
  char wl_list[256] = "dundee,rich", th_list[128] = "1,2";
  size_t runs = 5, reps_override = 0;
  fl_path pass = FL_PATH_AUTO;
  int inside = 0, alone = 0, sim_only = 0;
  const char *memory = NULL;
  FILE *json = NULL;
  int first_json = 1, status = 0;
  if (!src) src = ".";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--workload") && v) snprintf(wl_list, sizeof wl_list, "%s", argv[++i]);
    else if (!strcmp(a, "--threads") && v) snprintf(th_list, sizeof th_list, "%s", argv[++i]);
    else if (!strcmp(a, "--runs") && v) runs = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(a, "--reps") && v) reps_override = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(a, "--json") && v) json_path = argv[++i];
    else if (!strcmp(a, "--source") && v) src = argv[++i];
    else if (!strcmp(a, "--scalar")) pass = FL_PATH_SCALAR;
    else if (!strcmp(a, "--inside")) inside = 1;
    else if (!strcmp(a, "--sim-only")) sim_only = 1;
    else if (!strcmp(a, "--pass-alone")) alone = 1;
    else if (!strcmp(a, "--memory") && v) memory = argv[++i];
    else if (!strcmp(a, "--pass") && v && !fl_path_parse(v, &pass)) i++;
    else {
      usage();
      return 2;
    }
  }
  if (!strcmp(wl_list, "all")) snprintf(wl_list, sizeof wl_list, "dundee,paired,rich,scotland");
  if (runs < 1) runs = 1;
  if (json_path && !(json = fopen(json_path, "w"))) {
    perror(json_path);
    return 1;
  }
  if (!fl_path_supported(pass)) {
    fprintf(stderr, "flourish_bench: this processor does not support the %s pass\n",
            fl_path_name(pass));
    return 2;
  }
  if (pass == FL_PATH_AUTO) pass = fl_pass_best();
  if (alone) return pass_alone(pass, runs);
  if (memory) {
    fl_model *m = load(src, "scenarios/dundee.yaml");
    const int rc = m ? memory_table(m, memory, atoi(th_list), pass) : 2;
    fl_model_free(m);
    return rc;
  }
  printf("hot pass: %s\n", fl_path_name(pass));
  if (json)
    fprintf(json, "{\n  \"hot_pass\": \"%s\",\n  \"results\": [\n", fl_path_name(pass));
  printf("%-9s %3s %5s %14s %14s %10s %9s %9s %10s %8s\n", "workload", "thr", "reps",
         "child-months/s", "per core", "reps/s", "scaling", "output_s", "output/sim", "maxrss");
  char wl_copy[256];
  snprintf(wl_copy, sizeof wl_copy, "%s", wl_list);
  for (char *wsave = NULL, *wname = strtok_r(wl_copy, ",", &wsave); wname;
       wname = strtok_r(NULL, ",", &wsave)) {
    const workload *w = NULL;
    for (size_t i = 0; i < N_WORKLOADS; i++)
      if (!strcmp(workloads[i].name, wname)) w = &workloads[i];
    if (!w) {
      fprintf(stderr, "flourish_bench: unknown workload '%s'\n", wname);
      usage();
      return 2;
    }
    fl_model *m = load(src, w->path);
    if (!m) return 2;
    if (w->max_arms && m->n_arms > w->max_arms) m->n_arms = w->max_arms;
    size_t hot, history, initial;
    const size_t bytes = fl_workspace_child_bytes(m, &hot, &history, &initial);
    printf("%-9s memory: %zu bytes a child (hot state %zu, history %zu, kept for arms %zu), "
           "and %zu KiB of events a thread\n", w->name, bytes, hot, history, initial,
           fl_workspace_event_bytes() >> 10);
    target_line("bytes a child", (double)bytes, TARGET_BYTES_PER_CHILD, 0, "");
    double base_per_core = 0;
    char th_copy[128];
    snprintf(th_copy, sizeof th_copy, "%s", th_list);
    for (char *tsave = NULL, *tname = strtok_r(th_copy, ",", &tsave); tname;
         tname = strtok_r(NULL, ",", &tsave)) {
      int threads = atoi(tname);
      /* Replications across threads: enough per thread that the last ones to finish do not
       * decide the time (users run hundreds or thousands). */
      size_t reps = reps_override ? reps_override : w->reps;
      if (!reps_override && !inside && reps < w->per_thread * (size_t)threads)
        reps = w->per_thread * (size_t)threads;
      double *sim = calloc(runs, sizeof *sim), *outp = calloc(runs, sizeof *outp), steps = 0;
      if (threads < 1 || !sim || !outp) return 2;
      if (reps < (size_t)threads && !inside) reps = (size_t)threads;
#ifdef _OPENMP
      omp_set_num_threads(threads); /* (the summaries' team) */
#endif
      /* Each run twice: the simulation alone (into a sink that counts), then as `flourish
       * run` does it, streamed to a file with its summaries; the difference is the output's
       * cost in wall time. */
      for (size_t k = 0; k < runs; k++) {
        fl_run_options opt;
        fl_error err = {0};
        char tmp[] = "/tmp/flourish-bench-XXXXXX";
        int fd = mkstemp(tmp);
        fl_run_options_init(&opt);
        opt.seed = 1000 + k;
        opt.replications = reps;
        opt.threads = threads;
        opt.threads_per_replication = inside ? threads : 0;
        opt.pass = pass;
        count_sink cs = {0};
        const fl_block_sink sink = {.ctx = &cs, .begin = count_begin, .commit = count_commit};
        double t0 = now();
        if (fl_run_stream(m, &opt, &sink, NULL, &err) != FL_OK) {
          fprintf(stderr, "flourish_bench: %s\n", err.message);
          return 1;
        }
        sim[k] = now() - t0;
        steps = cs.steps;
        if (fd >= 0) close(fd);
        fl_provenance pv = {"flourish_bench", "bench"};
        t0 = now();
        if (sim_only) {
          unlink(tmp);
          continue;
        }
        if (fl_run_write(m, &opt, &pv, tmp, &err) != FL_OK) {
          fprintf(stderr, "flourish_bench: %s\n", err.message);
          return 1;
        }
        outp[k] = now() - t0 - sim[k];
        unlink(tmp);
      }
      double sim_med = median(sim, runs), out_med = median(outp, runs);
      double cms = steps / sim_med, per_core = cms / threads;
      struct rusage ru;
      getrusage(RUSAGE_SELF, &ru);
      if (threads == 1) base_per_core = per_core;
      double scaling = base_per_core > 0 ? per_core / base_per_core : 0;
      printf("%-9s %3d %5zu %14.4g %14.4g %10.3g %9.3f %9.3f %10.3f %7.0fM\n", w->name, threads,
             reps, cms, per_core, (double)reps / sim_med, scaling, out_med, out_med / sim_med,
             (double)ru.ru_maxrss / 1024.0);
      if (threads == 1 && w->target_per_core > 0)
        target_line("per core, one thread", per_core / 1e6, w->target_per_core / 1e6, 1, " M");
      if (threads == 1 && w->target_vector > 0 && pass != FL_PATH_SCALAR)
        target_line("per core, vector pass", per_core / 1e6, w->target_vector / 1e6, 1, " M");
      /* The whole run as `flourish run` does it: the simulation and the output stage. */
      const double whole = sim_only ? 0 : steps / (sim_med + out_med);
      if (threads == 1 && w->target_vector > 0 && pass == FL_PATH_AVX512 && !sim_only)
        target_line("whole run incl. output, one thread", whole / 1e6, TARGET_WHOLE / 1e6, 1,
                    " M");
      if (threads == TARGET_THREADS && w->target_scaling > 0 && base_per_core > 0)
        target_line("scaling at 16 threads", scaling, w->target_scaling, 1, "");
      if (reps >= TARGET_OUTPUT_REPS)
        target_line("output/sim at 10,000 replications", out_med / sim_med, TARGET_OUTPUT, 0, "");
      if (json) {
        fprintf(json,
                "%s    {\"workload\": \"%s\", \"threads\": %d, \"replications\": %zu, "
                "\"runs\": %zu, \"child_steps\": %.0f, \"sim_seconds_median\": %.6f, "
                "\"child_months_per_s\": %.6g, \"child_months_per_s_per_core\": %.6g, "
                "\"replications_per_s\": %.6g, \"scaling_efficiency\": %.4f, "
                "\"output_seconds_median\": %.6f, \"whole_run_child_months_per_s\": %.6g, "
                "\"maxrss_mib\": %.1f, "
                "\"bytes_per_child\": %zu, \"bytes_per_child_hot\": %zu, "
                "\"target_per_core\": %.6g, \"target_vector\": %.6g, "
                "\"target_scaling_16\": %.6g}",
                first_json ? "" : ",\n", w->name, threads, reps, runs, steps, sim_med, cms,
                per_core, (double)reps / sim_med, scaling, out_med, whole,
                (double)ru.ru_maxrss / 1024.0,
                bytes, hot, w->target_per_core, w->target_vector, w->target_scaling);
        first_json = 0;
      }
      free(sim);
      free(outp);
    }
    fl_model_free(m);
  }
  if (json) {
    fprintf(json, "\n  ]\n}\n");
    fclose(json);
  }
  return status;
}
