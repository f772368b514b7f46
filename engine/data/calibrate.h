/* The data layer's shared declarations (calibrate.c, synth.c). The options and entry points
 * are public (flourish.h). */
#ifndef FL_CALIBRATE_H
#define FL_CALIBRATE_H

#include "output/output.h"
#include "scenario/scenario.h"

#endif
