/* The error table and error records. The X-macro list in flourish.h generates the enum, the
 * names, the messages and the exit codes, so they cannot drift apart. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  const char *text;
  int exit_code;
} errtab[FL_STATUS_COUNT] = {
#define FL_X_ROW(name, exit_code, text) {"FL_" #name, text, exit_code},
    FL_ERRNO_MAP(FL_X_ROW)
#undef FL_X_ROW
};

const char *fl_strerror(fl_status code) {
  return (unsigned)code < FL_STATUS_COUNT ? errtab[code].text : "unknown error";
}

const char *fl_err_name(fl_status code) {
  return (unsigned)code < FL_STATUS_COUNT ? errtab[code].name : "FL_UNKNOWN";
}

int fl_err_exit_code(fl_status code) {
  return (unsigned)code < FL_STATUS_COUNT ? errtab[code].exit_code : 1;
}

void fl_error_clear(fl_error *err) {
  if (err) memset(err, 0, sizeof *err);
}

/* Writes s into dst[size] with control characters shown as escapes (\n, \t, \xHH), so that an
 * error is always one line whatever the input it quotes. */
static void escape_into(char *dst, size_t size, const char *s) {
  size_t j = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && j + 5 < size; p++) {
    if (*p >= 0x20 && *p != 0x7f) {
      dst[j++] = (char)*p;
    } else if (*p == '\n' || *p == '\t' || *p == '\r') {
      dst[j++] = '\\';
      dst[j++] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
    } else {
      j += (size_t)snprintf(dst + j, size - j, "\\x%02X", *p);
    }
  }
  dst[j] = '\0';
}

void fl_error_set(fl_error *err, fl_status code, const char *file, int line, int col,
                  const char *key, const char *fmt, ...) {
  va_list ap;
  if (!err) return;
  fl_error_clear(err);
  err->code = code;
  if (file) escape_into(err->file, sizeof err->file, file);
  err->line = line;
  err->col = col;
  if (key) escape_into(err->key, sizeof err->key, key);
  char raw[sizeof err->message];
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  escape_into(err->message, sizeof err->message, raw);
}

void fl_error_format(const fl_error *err, char *buf, size_t size) {
  size_t used = 0;
  int n;
  if (!size) return;
  buf[0] = '\0';
#define FL_APPEND(...)                                                                             \
  do {                                                                                             \
    n = snprintf(buf + used, size - used, __VA_ARGS__);                                            \
    if (n < 0) return;                                                                             \
    used += (size_t)n < size - used ? (size_t)n : size - used - 1;                                 \
  } while (0)
  if (err->file[0]) {
    FL_APPEND("%s:", err->file);
    if (err->line > 0) FL_APPEND("%d:", err->line);
    if (err->col > 0) FL_APPEND("%d:", err->col);
    FL_APPEND(" ");
  }
  if (err->key[0]) FL_APPEND("%s: ", err->key);
  FL_APPEND("%s", err->message[0] ? err->message : fl_strerror(err->code));
#undef FL_APPEND
}
