/* The core layer: error records, checked allocation, small string and file helpers. Every other
 * layer builds on it; it depends on nothing but the public header and libc. */
#ifndef FL_CORE_H
#define FL_CORE_H

#include "flourish.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* error.c: fills err (when not NULL) with code, location and a formatted sentence. */
void fl_error_set(fl_error *err, fl_status code, const char *file, int line, int col,
                  const char *key, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void fl_error_clear(fl_error *err);

/* util.c: checked allocation and small string helpers. Both return NULL on overflow of
 * n * size as well as when memory runs out. */
void *fl_calloc(size_t n, size_t size);
void *fl_malloc_array(size_t n, size_t size);
char *fl_strdup(const char *s);
/* A copy of n strings, or NULL (nothing left allocated) when memory runs out; freeing one. */
char **fl_names_dup(char *const *names, size_t n);
void fl_names_free(char **names, size_t n);
/* FNV-1a over n bytes, continuing from h (start from FL_FNV_BASIS): keys of checkpoints and
 * hash tables, not cryptography. */
#define FL_FNV_BASIS 0xcbf29ce484222325ULL
uint64_t fl_fnv1a(uint64_t h, const void *data, size_t n);
fl_status fl_read_file(const char *path, char **text, size_t *len, fl_error *err);
/* suggest.c: "did you mean ...?". fl_edit_distance counts the insertions, deletions,
 * substitutions and swaps of neighbouring letters that turn a into b, ignoring case (SIZE_MAX
 * for words over 128 bytes). fl_is_likely_typo: a distance small enough, for word, to read as a
 * misspelling (a third of its length, at least 1 and at most 3). fl_closest: the name of
 * names[n] closest to word when that is a likely typo, else NULL (word itself never). */
size_t fl_edit_distance(const char *a, const char *b);
int fl_is_likely_typo(const char *word, size_t distance);
const char *fl_closest(const char *word, char *const *names, size_t n);
/* money.c: amounts in a scenario's currency (costs.currency, an ISO code). fl_currency_symbol:
 * the sign that goes before an amount (£ for GBP, € for EUR, $ for USD, else the code and a
 * space, written into buf). fl_money writes v into buf and returns it: compact, three
 * significant figures with k, m or bn from a thousand up (-£1.23m); else whole units with
 * grouped digits (£25,000), or pence below 100 (£12.50). */
const char *fl_currency_symbol(const char *currency, char *buf, size_t size);
char *fl_money(char *buf, size_t size, const char *currency, double v, int compact);
/* files.c: output files. Each is written under a temporary name beside its path and renamed into
 * place when complete. fl_tmp_name gives this process's n-th such name for path, PATH.tmp.HOST.PID.N, HOST
 * 8 hex digits of a hash of the host's name (NULL when out of memory; free it). fl_tmp_clean
 * removes the temporary files beside path that processes of this host left when they were
 * killed while writing (their PID no longer runs); other hosts' names, sharing the directory,
 * are left alone. Hosts that share a name but not their processes (containers on the host's
 * network) are taken for one host. */
char *fl_tmp_name(const char *path, unsigned n);
void fl_tmp_clean(const char *path);
/* The output-path policy for one output (fl_paths_check checks a command's paths together):
 * an output may replace only a regular file the user can write, and its directory must exist;
 * else FL_EUSAGE naming the path and the option (NULL: none). */
fl_status fl_output_target_check(const char *path, const char *option, fl_error *err);
/* An output under construction: fl_outfile_begin checks the target and creates the temporary
 * file beside it (its descriptor into *fd, or closed when fd is NULL); fl_outfile_commit moves
 * it over the path, refusing a path that meanwhile became anything but a regular file;
 * fl_outfile_abort removes it. After a failed begin or commit nothing is left behind. */
typedef struct fl_outfile {
  const char *path, *option;
  char *tmp;
} fl_outfile;
fl_status fl_outfile_begin(fl_outfile *o, const char *path, const char *option, int *fd,
                           fl_error *err);
fl_status fl_outfile_commit(fl_outfile *o, fl_error *err);
void fl_outfile_abort(fl_outfile *o);

/* Text written through a caller's function (the library's way of printing: summaries, the
 * model's description, the references), formatted into a buffer of 4 KiB; a longer text is cut
 * short. */
typedef struct fl_out {
  void (*write)(void *ctx, const char *text);
  void *ctx;
} fl_out;
void fl_outf(const fl_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
