/* A loaded scenario: the file's text and its schema-checked document tree. */
#ifndef FL_SCENARIO_H
#define FL_SCENARIO_H

#include "schema.h"

struct fl_scenario {
  char *path;
  char *text;
  size_t len;
  fl_node *root;
};

#endif
