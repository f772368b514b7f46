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

/* fl_scenario_blame and fl_paths_nest are public (flourish.h). */

#endif
