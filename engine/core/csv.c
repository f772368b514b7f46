/* CSV tables (see csv.h). The file is read in blocks and fed to libcsv a physical line at a
 * time, so the reader knows the line it is on, bounds what a line or a record may hold before
 * libcsv buffers it, and can say on which line a record starts. */
#include "core/csv.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct fl_csv {
  const char *path;
  const fl_csv_spec *spec;
  fl_error *err;
  fl_status st;
  fl_status (*record)(void *ctx, fl_csv *r, const char *const *fields);
  void *ctx;
  size_t line;       /* the physical line being fed */
  size_t rec_line;   /* the line on which the record being read starts */
  int rec_started;
  size_t rec_bytes;  /* bytes of the record being read so far */
  size_t n_records;  /* records read (the header not counted) */
  int header_done;
  size_t field;      /* fields of the record being read so far */
  char delim;        /* the separator of the fields */
  int *role_of;      /* [FL_CSV_MAX_COLUMNS] the spec column of each file column, -1: none */
  size_t *col_of;    /* [spec->n] the file column (1-based) of each spec column, 0: absent */
  size_t *line_of;   /* [spec->n] the physical line on which the record's value starts */
  char **values;     /* [spec->n] the record's values (owned), NULL when not given */
  char **header;     /* [FL_CSV_MAX_COLUMNS] the header's names, until the header is done */
};

fl_status fl_csv_fail(fl_csv *r, fl_status code, int k, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const int known = k >= 0 && (size_t)k < r->spec->n && r->col_of[k];
  const size_t line = known && r->line_of[k] ? r->line_of[k] : r->rec_line;
  fl_error_set(r->err, code, r->path, (int)line, known ? (int)r->col_of[k] : 0,
               known ? r->spec->names[k] : NULL, "%s", msg);
  return code;
}

int fl_csv_column(const fl_csv *r, int k) {
  return k >= 0 && (size_t)k < r->spec->n && r->col_of[k] ? (int)r->col_of[k] : 1;
}

size_t fl_csv_line(const fl_csv *r) { return r->rec_line; }
size_t fl_csv_records(const fl_csv *r) { return r->n_records; }

/* A failure of the reading itself (not of a record's contents), at a physical line: kept, and
 * reading stops. */
static void vstop(fl_csv *r, fl_status code, size_t line, int col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static void vstop(fl_csv *r, fl_status code, size_t line, int col, const char *fmt, va_list ap) {
  char msg[700];
  if (r->st != FL_OK) return;
  vsnprintf(msg, sizeof msg, fmt, ap);
  fl_error_set(r->err, code, r->path, (int)line, col, NULL, "%s", msg);
  r->st = code;
}

static void stop_at(fl_csv *r, fl_status code, size_t line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void stop_at(fl_csv *r, fl_status code, size_t line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vstop(r, code, line, col, fmt, ap);
  va_end(ap);
}

/* The same at the line of the record being read (or the line being fed, between records). */
static void stop(fl_csv *r, fl_status code, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void stop(fl_csv *r, fl_status code, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vstop(r, code, r->rec_started ? r->rec_line : r->line, col, fmt, ap);
  va_end(ap);
}

static int valid_utf8(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char b = s[i];
    size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (!len || i + len > n) return 0;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    i += len;
  }
  return 1;
}

static void on_field(void *data, size_t len, void *ctx) {
  fl_csv *r = ctx;
  const char *s = data ? data : "";
  if (r->st != FL_OK) return;
  /* The field ends on the line being fed; it starts as many lines before as it holds line
   * ends (LF, CRLF or a CR of its own, as outside quotes). The record starts where its first
   * field does. */
  size_t nl = 0;
  for (size_t q = 0; q < len; q++) nl += s[q] == '\n' || (s[q] == '\r' && s[q + 1] != '\n');
  const size_t line = r->line - nl;
  if (!r->rec_started) {
    r->rec_line = line;
    r->rec_started = 1;
  }
  r->field++;
  if (!valid_utf8((const unsigned char *)s, len)) {
    stop_at(r, FL_EINPUT, line, (int)r->field, "field %zu is not valid UTF-8 text", r->field);
    return;
  }
  if (r->field > FL_CSV_MAX_COLUMNS) {
    stop(r, FL_EINPUT, (int)r->field, "more than %d columns", FL_CSV_MAX_COLUMNS);
    return;
  }
  if (!r->header_done) {
    if (!(r->header[r->field - 1] = fl_strdup(s))) stop(r, FL_ENOMEM, 0, "out of memory");
    return;
  }
  const int k = r->role_of[r->field - 1];
  if (k < 0) return;
  free(r->values[k]);
  r->line_of[k] = line;
  if (!(r->values[k] = fl_strdup(s))) stop(r, FL_ENOMEM, 0, "out of memory");
}

/* The header just read: every file column's role; a spec column named twice, or a required
 * one missing, is an error (with a hint when the header looks separated by ';' or tabs). */
static void take_header(fl_csv *r) {
  const fl_csv_spec *sp = r->spec;
  for (size_t i = 0; i < r->field; i++) {
    r->role_of[i] = -1;
    for (size_t k = 0; k < sp->n; k++) {
      if (strcasecmp(r->header[i], sp->names[k])) continue;
      if (r->col_of[k]) {
        stop(r, FL_EINPUT, (int)i + 1,
             "the header names the column '%s' twice (columns %zu and %zu)", sp->names[k],
             r->col_of[k], i + 1);
        return;
      }
      r->col_of[k] = i + 1;
      r->role_of[i] = (int)k;
    }
  }
  for (size_t k = 0; k < sp->n; k++) {
    if (!((sp->required >> k) & 1) || r->col_of[k]) continue;
    char seen = 0;
    for (const char *d = ",;\t|"; *d && r->field == 1 && !seen; d++)
      if (*d != r->delim && strchr(r->header[0], *d)) seen = *d;
    if (seen) {
      stop(r, FL_EINPUT, 1,
           "the header has one column, '%.60s': the file looks separated by %s, but %s are "
           "read separated by %s (--delimiter %s reads it)",
           r->header[0], fl_csv_delim_words(seen), sp->what, fl_csv_delim_words(r->delim),
           fl_csv_delim_option(seen));
      return;
    }
    char list[512] = "";
    size_t len = 0;
    for (int req = 1; req >= 0; req--) {
      len += (size_t)snprintf(list + len, sizeof list - len, "%s", req ? "required: " : "; optional: ");
      int first = 1;
      for (size_t j = 0; j < sp->n && len < sizeof list; j++)
        if ((int)((sp->required >> j) & 1) == req) {
          len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", first ? "" : ", ",
                                  sp->names[j]);
          first = 0;
        }
    }
    stop(r, FL_EINPUT, 1, "the header has no '%s' column (%s)", sp->names[k], list);
    return;
  }
}

static void on_row(int term, void *ctx) {
  fl_csv *r = ctx;
  (void)term;
  if (r->st == FL_OK) {
    if (!r->header_done) {
      take_header(r);
      r->header_done = 1;
    } else {
      const char *fields[64] = {0};
      const char **f = r->spec->n <= 64 ? fields : malloc(r->spec->n * sizeof *f);
      if (!f) {
        stop(r, FL_ENOMEM, 0, "out of memory");
      } else {
        for (size_t k = 0; k < r->spec->n; k++)
          f[k] = !r->col_of[k] ? NULL : r->values[k] ? r->values[k] : "";
        fl_status st = r->record(r->ctx, r, f);
        if (st != FL_OK) r->st = st;
        if (f != fields) free(f);
      }
      r->n_records++;
    }
  }
  for (size_t k = 0; k < r->spec->n; k++) {
    free(r->values[k]);
    r->values[k] = NULL;
    r->line_of[k] = 0;
  }
  r->field = 0;
  r->rec_started = 0;
  r->rec_bytes = 0;
}

int fl_csv_delim_ok(char delim) { return delim && strchr(",;\t|", delim) != NULL; }

const char *fl_csv_delim_words(char delim) {
  return delim == ';' ? "';'" : delim == '\t' ? "tabs" : delim == '|' ? "'|'" : "commas";
}

const char *fl_csv_delim_option(char delim) {
  return delim == ';' ? "';'" : delim == '\t' ? "tab" : delim == '|' ? "'|'" : "','";
}

/* What stands at a path that is not a regular file, in words. */
static const char *kind_words(mode_t mode) {
  return S_ISDIR(mode)    ? "a directory"
         : S_ISFIFO(mode) ? "a FIFO (named pipe)"
         : S_ISCHR(mode)  ? "a character device"
         : S_ISBLK(mode)  ? "a block device"
         : S_ISSOCK(mode) ? "a socket"
                          : "not a regular file";
}

/* Feeds one physical line (n bytes, its newline included when it has one) to the parser. */
static void feed(fl_csv *r, struct csv_parser *p, const char *s, size_t n) {
  if (memchr(s, '\0', n)) {
    stop(r, FL_EINPUT, 0, "a NUL byte: the file is not text");
    return;
  }
  r->rec_bytes += n;
  if (r->rec_bytes > FL_CSV_MAX_RECORD) {
    stop(r, FL_EINPUT, 0, "a record longer than %zu bytes (an unclosed quote?)",
         FL_CSV_MAX_RECORD);
    return;
  }
  if (csv_parse(p, s, n, on_field, on_row, r) != n)
    stop(r, FL_EINPUT, 0, "malformed CSV: %s", csv_strerror(csv_error(p)));
}

/* Reads the file descriptor to its end, a block at a time, feeding it line by line. A line ends
 * in LF, CRLF or a CR of its own (the classic Mac line end that Excel's "CSV (Macintosh)"
 * writes); a CR at the end of a block waits for the next block to say which. */
static void read_lines(fl_csv *r, struct csv_parser *p, int fd) {
  enum { BLOCK = 1 << 16 };
  char *buf = malloc(BLOCK), *line = malloc(FL_CSV_MAX_LINE + 1);
  size_t line_len = 0;
  int first = 1, cr_pending = 0;
  if (!buf || !line) stop(r, FL_ENOMEM, 0, "out of memory");
  r->line = 1;
  while (r->st == FL_OK) {
    ssize_t got = read(fd, buf, BLOCK);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      stop(r, FL_EIO, 0, "cannot read: %s", strerror(errno));
      break;
    }
    if (got == 0) break;
    size_t i = 0;
    if (first && got >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) i = 3; /* Excel's byte-order mark */
    if (first && got >= 2 && (!memcmp(buf, "\xFF\xFE", 2) || !memcmp(buf, "\xFE\xFF", 2))) {
      stop(r, FL_EINPUT, 0,
           "the file is UTF-16 text (as Excel saves 'Unicode Text'); save it as 'CSV UTF-8'");
      break;
    }
    first = 0;
    if (cr_pending) { /* the last block ended in CR: this one's LF makes it a CRLF */
      if (buf[0] == '\n') line[line_len++] = buf[i++]; /* (the line has room: see the +1) */
      feed(r, p, line, line_len);
      line_len = 0;
      r->line++;
      cr_pending = 0;
    }
    while (i < (size_t)got && r->st == FL_OK) {
      size_t e = i;
      while (e < (size_t)got && buf[e] != '\n' && buf[e] != '\r') e++;
      int ends = e < (size_t)got;
      if (ends && buf[e] == '\r') {
        if (e + 1 == (size_t)got) cr_pending = 1, ends = 0; /* CR or CRLF: the next block says */
        else if (buf[e + 1] == '\n') e++;
      }
      const size_t take = (e < (size_t)got ? e + 1 : e) - i;
      if (line_len + take > FL_CSV_MAX_LINE) {
        stop(r, FL_EINPUT, 0, "line %zu is longer than %zu bytes", r->line, FL_CSV_MAX_LINE);
        break;
      }
      memcpy(line + line_len, buf + i, take);
      line_len += take;
      i += take;
      if (ends) {
        feed(r, p, line, line_len);
        line_len = 0;
        r->line++;
      }
    }
  }
  if (r->st == FL_OK && line_len) feed(r, p, line, line_len); /* a last line without newline */
  free(buf);
  free(line);
}

fl_status fl_csv_read(const char *path, const fl_csv_spec *spec, char delim,
                      fl_status (*record)(void *ctx, fl_csv *r, const char *const *fields),
                      void *ctx, fl_error *err) {
  fl_csv r = {.path = path,
              .spec = spec,
              .err = err,
              .record = record,
              .ctx = ctx,
              .delim = delim ? delim : ','};
  struct csv_parser p;
  struct stat stt;
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    fl_error_set(err, FL_EINPUT, path, 0, 0, NULL, "cannot open the file: %s", strerror(errno));
    return FL_EINPUT;
  }
  if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
    fl_error_set(err, FL_EINPUT, path, 0, 0, NULL, "is %s; an input must be a regular file",
                 kind_words(stt.st_mode));
    close(fd);
    return FL_EINPUT;
  }
  r.role_of = calloc(FL_CSV_MAX_COLUMNS, sizeof *r.role_of);
  r.col_of = calloc(spec->n, sizeof *r.col_of);
  r.line_of = calloc(spec->n, sizeof *r.line_of);
  r.values = calloc(spec->n, sizeof *r.values);
  r.header = calloc(FL_CSV_MAX_COLUMNS, sizeof *r.header);
  if (!r.role_of || !r.col_of || !r.line_of || !r.values || !r.header ||
      csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI) != 0) {
    stop(&r, FL_ENOMEM, 0, "out of memory");
  } else {
    csv_set_delim(&p, (unsigned char)r.delim);
    read_lines(&r, &p, fd);
    if (r.st == FL_OK && csv_fini(&p, on_field, on_row, &r) != 0)
      stop(&r, FL_EINPUT, 0, "malformed CSV at the end of the file: %s",
           csv_strerror(csv_error(&p)));
    csv_free(&p);
  }
  close(fd);
  if (r.st == FL_OK && !r.header_done) {
    fl_error_set(err, FL_EINPUT, path, 1, 1, NULL, "the file is empty");
    r.st = FL_EINPUT;
  }
  for (size_t k = 0; k < spec->n && r.values; k++) free(r.values[k]);
  for (size_t i = 0; i < FL_CSV_MAX_COLUMNS && r.header; i++) free(r.header[i]);
  free(r.role_of);
  free(r.col_of);
  free(r.line_of);
  free(r.values);
  free(r.header);
  return r.st;
}
