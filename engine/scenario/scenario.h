/* A loaded scenario: the file's text and its schema-checked document tree. */
#ifndef FL_SCENARIO_H
#define FL_SCENARIO_H

#include "scenario/schema.h"

struct fl_scenario {
  char *path;
  char *text;
  size_t len;
  fl_node *root;
  char *overrides; /* the --set assignments applied, one per line ("" when none) */
};

/* A scenario from text in memory (an output file's scenario_yaml), with the recorded --set
 * assignments overrides (one PATH=VALUE a line, may be NULL) applied and checked against the
 * schema; name stands for the file in messages. */
fl_status fl_scenario_parse(const char *name, const char *text, const char *overrides,
                            fl_scenario **out, fl_error *err);

/* fl_scenario_blame and fl_paths_nest are public (flourish.h). */

/* fl_scenario_load_with for a text in memory (len bytes, copied; it need not end in a NUL)
 * instead of a file; name stands for the file in the scenario and its errors. The limit on a
 * file's size does not apply. */
fl_status fl_scenario_load_text(const char *name, const char *text, size_t len,
                                const char *const *sets, size_t nsets, fl_scenario **out,
                                fl_error *err);

#endif
