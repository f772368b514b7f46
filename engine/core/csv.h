/* CSV tables: a header naming columns, then records, read through libcsv (RFC 4180: quoted
 * fields with embedded commas, quotes and newlines; LF, CRLF or CR line ends). The reader every
 * input table of the engine uses (episode records, population tables, observed series), so
 * that each gets the same safeguards: a regular file only (never a FIFO or a device, which may
 * not end); Excel's UTF-8 byte-order mark skipped (and UTF-16 text, from Excel's "Unicode
 * Text", named as such); every field valid UTF-8; a column named twice in the header an error;
 * lines of at most FL_CSV_MAX_LINE bytes and records of at most FL_CSV_MAX_RECORD; a hint when
 * the header looks separated by another separator than the one given (',' by default; ';',
 * tabs or '|' on request); and messages that give the physical line (counting blank lines and
 * the lines inside quoted fields) and the file's own column. */
#ifndef FL_CSV_H
#define FL_CSV_H

#include "core/core.h"

#define FL_CSV_MAX_LINE ((size_t)1 << 20)   /* 1 MiB */
#define FL_CSV_MAX_RECORD ((size_t)4 << 20) /* 4 MiB */
#define FL_CSV_MAX_COLUMNS 256

/* The columns a table may have: their names (matched without regard to case), which are
 * required, and what the table is, for messages ("episode records"). Columns of other names
 * are read and ignored. */
typedef struct fl_csv_spec {
  const char *const *names;
  size_t n;
  unsigned long required; /* bit k: column k must be in the header */
  const char *what;
} fl_csv_spec;

/* A table being read. */
typedef struct fl_csv fl_csv;

/* Reads the table at path, its fields separated by delim (0: ','): for each record (blank lines
 * skipped), record(ctx, r, fields) with fields[k] the record's value of column k of the spec (""
 * when empty or when the record is short; NULL when the header has no such column); it returns
 * FL_OK to go on, or a failure (made with fl_csv_fail) that stops the reading. Returns FL_OK, or
 * the first failure: an unreadable, non-regular, empty or malformed file, a header without a
 * required column, or what record returned. A table with a header and no records is FL_OK: the
 * caller decides. */
fl_status fl_csv_read(const char *path, const fl_csv_spec *spec, char delim,
                      fl_status (*record)(void *ctx, fl_csv *r, const char *const *fields),
                      void *ctx, fl_error *err);
/* The separators a table may have: ',' (the default, also as 0), ';' (Excel where the
 * decimal mark is a comma), a tab, or '|'. The name of one in words ("';'", "tabs") for
 * messages, and how --delimiter writes it. */
int fl_csv_delim_ok(char delim);
const char *fl_csv_delim_words(char delim);
const char *fl_csv_delim_option(char delim);
/* An error in the current record at column k of the spec (-1: the record as a whole): file,
 * the physical line on which the column's value starts (the record's first line for -1, or
 * when the record has no such value), the column's place in the file, and its name as the
 * error's key (so fmt need not repeat it). Returns code. */
fl_status fl_csv_fail(fl_csv *r, fl_status code, int k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The file's own column (1-based) of column k of the spec in the current table (1 when it has
 * none), for errors found after the reading. */
int fl_csv_column(const fl_csv *r, int k);
/* The physical line (1-based) on which the current record starts, and the number of records
 * read before it. */
size_t fl_csv_line(const fl_csv *r);
size_t fl_csv_records(const fl_csv *r);

#endif
