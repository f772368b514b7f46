/* flourish sweep's design of points (the options and fl_sweep are public, flourish.h). */
#ifndef FL_SWEEP_H
#define FL_SWEEP_H

#include "flourish.h"

/* The design's points, in [lo, hi] per parameter: values[p * K + k]. Returns the number of
 * points (0 on bad options or no memory: err says which). For the grid the last parameter
 * varies fastest; Saltelli's design is in blocks of K + 2 points per base row: A, B, then A
 * with column k from B for each k. */
size_t fl_sweep_design(const fl_sweep_options *opt, double **values, fl_error *err);

#endif
