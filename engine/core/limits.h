/* The engine's fixed capacities: how many states, levels, localities, budget holders, arms and
 * interventions a scenario may have, and the constants of the compiled transition rows. The
 * schema checks scenarios against them; the model and simulation size their tables by them. */
#ifndef FL_LIMITS_H
#define FL_LIMITS_H

#define FL_MAX_STATES 250
#define FL_MAX_LEVELS 15 /* level bits share a 16-bit history word with one flag */
#define FL_MAX_LOCALITIES 250
#define FL_MAX_HOLDERS 64
#define FL_MAX_ARMS 16
#define FL_MAX_INTERVENTIONS 32 /* per arm */
#define FL_DEST_EXIT 255 /* move destination meaning "leaves the population" */
#define FL_AGE_NONE 0xFFFFu
/* Completed spells are binned by length in steps: bin k holds spells of k+1 steps, the last bin
 * holds every spell of FL_SPELL_BINS steps or more. */
#define FL_SPELL_BINS 240
/* Probabilities are sampled by comparing one 32-bit draw with integer thresholds, so each
 * outcome's probability is quantised to a multiple of 2^-32 (error below 2.4e-10). Expectation
 * mode uses the same quantised values, so it is the exact expectation of what is simulated. */
#define FL_P_ONE 4294967296.0 /* 2^32 */

#endif
