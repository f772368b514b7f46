/* The scenario schema: one table of every key (path pattern, type, bounds, default, unit, doc).
 * The loader validates documents against it, the compiler reads values through it (so defaults
 * live in one place), and `flourish validate --keys` prints it. */
#ifndef FL_SCHEMA_H
#define FL_SCHEMA_H

#include "scenario/yaml_dom.h"

typedef enum fl_type {
  FL_TY_MAP,     /* a mapping with fixed keys */
  FL_TY_NAMED,   /* a mapping whose keys are names the user chooses */
  FL_TY_SEQ,     /* a sequence of mappings */
  FL_TY_STR,     /* a string */
  FL_TY_NAMES,   /* a sequence of names */
  FL_TY_NUM,     /* a finite number within [min, max] */
  FL_TY_INT,     /* a whole number within [min, max] */
  FL_TY_BOOL,    /* true or false */
  FL_TY_RANGE,   /* [lo, hi] with min <= lo <= hi <= max; hi may be .inf */
  FL_TY_PROB,    /* a number within [min, max], or the word rest */
  FL_TY_ENUM,    /* one of the words in choices, separated by | */
  FL_TY_NUMS     /* a list of numbers within [min, max] */
} fl_type;

typedef struct fl_key {
  const char *path;    /* e.g. "states.*.cost.*" or "transitions.tables[].rows" */
  fl_type type;
  int required;
  double min, max;
  const char *def;     /* default as text, NULL if none */
  const char *choices; /* FL_TY_ENUM */
  const char *unit;
  const char *doc;
} fl_key;

extern const fl_key fl_schema[];
extern const size_t fl_schema_len;

/* The row of the schema pattern path ("arms.*.reinvest.fraction"), or NULL. */
const fl_key *fl_schema_find(const char *path);

/* Checks the whole tree against the schema: unknown keys, missing required keys, types and
 * bounds. Errors name the file, line, column and key path. */
fl_status fl_schema_check(const char *file, const fl_node *root, fl_error *err);

/* Typed readers for validated documents. pattern is the schema path of the key (defaults come
 * from the table); node is the mapping holding it, which may be NULL (then the default is used).
 * fl_get_num returns the default, or NAN when the key is absent and has none. */
double fl_get_num(const fl_node *map, const char *pattern);
const char *fl_get_str(const fl_node *map, const char *pattern);
int fl_get_bool(const fl_node *map, const char *pattern);
/* Reads a RANGE; returns 0 when absent (lo and hi untouched). */
int fl_get_range(const fl_node *map, const char *pattern, double *lo, double *hi);
/* Parses a validated numeric scalar (number, .inf) */
double fl_scalar_num(const fl_node *n);
int fl_scalar_is_rest(const fl_node *n);

/* fl_schema_print, the key reference, is public (flourish.h). */

#endif
