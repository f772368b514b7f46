/* A loaded scenario: the file's text and its schema-checked document tree. */
#ifndef FL_SCENARIO_H
#define FL_SCENARIO_H

#include "schema.h"

struct fl_scenario {
  char *path;
  char *text;
  size_t len;
  fl_node *root;
  char *overrides; /* the --set assignments applied, one per line ("" when none) */
};

/* An error about a value that --set gave (it has no line) names the assignment in err->file
 * instead of the scenario file. */
void fl_scenario_blame(const fl_scenario *sc, fl_error *err);
/* Whether key path a is b, lies inside it, or holds it (a.b and a.b[0].c nest; a.b and a.bc
 * do not). */
int fl_paths_nest(const char *a, const char *b);

#endif
