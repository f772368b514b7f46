/* Checked allocation, file reading and temporary output names. */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
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

/* This host, in temporary file names: 8 hex digits of a hash of its name (any characters, any
 * length, yet a short name with no dots, so the names parse unambiguously). */
static void host_tag(char tag[9]) {
  char host[256];
  if (gethostname(host, sizeof host) != 0) host[0] = '\0';
  host[sizeof host - 1] = '\0';
  snprintf(tag, 9, "%08x", (unsigned)(fl_fnv1a(FL_FNV_BASIS, host, strlen(host)) & 0xFFFFFFFFu));
}

char *fl_tmp_name(const char *path, unsigned n) {
  char tag[9];
  host_tag(tag);
  const size_t len = strlen(path) + 48;
  char *tmp = malloc(len);
  if (tmp) snprintf(tmp, len, "%s.tmp.%s.%ld.%u", path, tag, (long)getpid(), n);
  return tmp;
}

/* Whether s is one or more decimal digits and nothing else. */
static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

void fl_tmp_clean(const char *path) {
  char tag[9];
  host_tag(tag);
  /* The directory (".", "/" or the part before the last slash) and the file name. */
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  const size_t dlen = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
  char *dir = malloc(dlen + 1), *prefix = malloc(strlen(base) + 32);
  DIR *d = NULL;
  if (dir && prefix) {
    memcpy(dir, !slash ? "." : path, dlen);
    dir[dlen] = '\0';
    snprintf(prefix, strlen(base) + 32, "%s.tmp.%s.", base, tag);
    d = opendir(dir);
  }
  if (d) {
    const size_t k = strlen(prefix);
    for (struct dirent *e; (e = readdir(d));) {
      /* PATH.tmp.TAG.PID.N exactly, with a PID of this host that no longer runs. */
      if (strncmp(e->d_name, prefix, k) != 0) continue;
      char *end;
      errno = 0;
      const long pid = strtol(e->d_name + k, &end, 10);
      if (errno || end == e->d_name + k || *end != '.' || !all_digits(end + 1) || pid <= 0 ||
          pid == (long)getpid())
        continue;
      if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to ask */
      const size_t flen = dlen + strlen(e->d_name) + 2;
      char *full = malloc(flen);
      if (!full) break;
      snprintf(full, flen, "%s%s%s", dir, dir[dlen - 1] == '/' ? "" : "/", e->d_name);
      unlink(full);
      free(full);
    }
    closedir(d);
  }
  free(prefix);
  free(dir);
}

void fl_outf(const fl_out *o, const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  o->write(o->ctx, line);
}
