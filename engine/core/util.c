/* Checked allocation, file reading and temporary output names. */
#include "core/core.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *fl_calloc(size_t n, size_t size) { return n && size ? calloc(n, size) : calloc(1, 1); }

void *fl_malloc_array(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  return malloc(n && size ? n * size : 1);
}

char *fl_strdup(const char *s) {
  size_t len = strlen(s) + 1;
  char *d = malloc(len);
  if (d) memcpy(d, s, len);
  return d;
}

char **fl_names_dup(char *const *names, size_t n) {
  char **out = calloc(n ? n : 1, sizeof *out);
  for (size_t i = 0; out && i < n; i++)
    if (!(out[i] = fl_strdup(names[i]))) {
      fl_names_free(out, i);
      return NULL;
    }
  return out;
}

void fl_names_free(char **names, size_t n) {
  for (size_t i = 0; names && i < n; i++) free(names[i]);
  free(names);
}

uint64_t fl_fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* Scenario files are small; anything above this is refused before reading. */
#define FL_MAX_INPUT_BYTES (64u << 20)

fl_status fl_read_file(const char *path, char **text, size_t *len, fl_error *err) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, used = 0;
  *text = NULL;
  if (!f) {
    fl_error_set(err, FL_EINPUT, path, 0, 0, NULL, "cannot open the file: %s", strerror(errno));
    return FL_EINPUT;
  }
  for (;;) {
    if (used + 4096 + 1 > cap) {
      size_t ncap = cap ? 2 * cap : 65536;
      char *nbuf;
      if (ncap > FL_MAX_INPUT_BYTES + 4096 + 1) {
        fl_error_set(err, FL_EINPUT, path, 0, 0, NULL,
                     "the file is larger than %u MiB; a scenario file is far smaller",
                     FL_MAX_INPUT_BYTES >> 20);
        goto fail;
      }
      nbuf = realloc(buf, ncap);
      if (!nbuf) {
        fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory reading the file");
        goto fail;
      }
      buf = nbuf;
      cap = ncap;
    }
    size_t got = fread(buf + used, 1, cap - used - 1, f);
    used += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    fl_error_set(err, FL_EINPUT, path, 0, 0, NULL, "cannot read the file: %s", strerror(errno));
    goto fail;
  }
  fclose(f);
  buf[used] = '\0';
  *text = buf;
  *len = used;
  return FL_OK;
fail:
  fclose(f);
  free(buf);
  return err ? err->code : FL_EINPUT;
}

void fl_outf(const fl_out *o, const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  o->write(o->ctx, line);
}
