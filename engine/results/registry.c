/* The output registry (see registry.h): the table of every dataset, and what follows from it. */
#include "results/registry.h"

#include "model/intervention.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define REP FL_DIM_REPLICATION
#define TIME FL_DIM_TIME
#define STEP FL_DIM_STEP
#define STATE FL_DIM_STATE
#define TO_STATE FL_DIM_TO_STATE
#define LEVEL FL_DIM_LEVEL
#define HOLDER FL_DIM_HOLDER
#define LOCALITY FL_DIM_LOCALITY
#define SPELL FL_DIM_SPELL_LENGTH
#define MOVES FL_DIM_MOVES
#define IV FL_DIM_INTERVENTION
#define WTP FL_DIM_WTP
#define YEAR FL_DIM_YEAR
#define COMPONENT FL_DIM_COMPONENT
#define ONE FL_DIM_ONE
#define ARM FL_DIM_ARM
#define PARAMETER FL_DIM_PARAMETER
#define RCLASS FL_DIM_REWARD_CLASS
#define BOTH (FL_IN_MC | FL_IN_EXPECT)
#define SUMMARISED FL_OUT_SUMMARISED

const char *const fl_dim_names[FL_N_DIMS] = {
    [FL_DIM_NONE] = "",           [REP] = "replication",     [TIME] = "time",
    [STEP] = "step",              [STATE] = "state",         [TO_STATE] = "to_state",
    [LEVEL] = "level",            [HOLDER] = "budget_holder", [LOCALITY] = "locality",
    [SPELL] = "spell_length",     [MOVES] = "moves",         [IV] = "intervention",
    [WTP] = "willingness_to_pay",
    [YEAR] = "year",              [COMPONENT] = "component", [ONE] = "value",
    [ARM] = "arm",                [PARAMETER] = "parameter", [RCLASS] = "reward_class",
};

const char *const fl_dim_docs[FL_N_DIMS] = {
    [FL_DIM_NONE] = "",
    [REP] = "Replication index (0-based).",
    [TIME] = "Time point: the start of each step; the last is the end of the run.",
    [STEP] = "Step, labelled by its start.",
    [STATE] = "State (the order of /states).",
    [TO_STATE] = "State moved to (the order of /states).",
    [LEVEL] = "Level (the order of /levels).",
    [HOLDER] = "Budget holder (the order of /budget_holders).",
    [LOCALITY] = "Locality (the order of /localities; 'all' when the scenario has none).",
    [SPELL] = "Length of a completed spell, in steps (the last bin: that many or more).",
    [MOVES] = "Number of moves a child made (the last bin: that many or more).",
    [IV] = "The arm's interventions, in scenario order.",
    [WTP] = "Values of a QALY.",
    [YEAR] = "Year of the run (1 is the first twelve months).",
    [COMPONENT] = "Component of the variance split.",
    [ONE] = "A single value.",
    [ARM] = "Arm (the scenario's order, the baseline first).",
    [PARAMETER] = "Entry of the uncertainty section, by its key (the section's order).",
    [RCLASS] = "Reward class: a state, and the years of age and of time in state over which its "
               "costs and QoL weights by age and time in state do not change (by state, then "
               "age, then time in state).",
};
const char *const fl_dim_units[FL_N_DIMS] = {
    [REP] = "1", [SPELL] = "steps", [MOVES] = "moves", [YEAR] = "years", [ONE] = "1",
};

static const char vd_doc[] = "Variance across replications split by parameter uncertainty "
                             "(blocks of replications share a parameter draw): parameter "
                             "variance, chance variance, parameter share.";

/* The rows, in stage order: the order of the file's datasets within each group. */
const fl_output_def fl_outputs[FL_N_OUTPUTS] = {
    [FL_OUT_STOCKS] = {
        .name = "stocks", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY, .type = FL_I32,
        .dims = {REP, TIME, STATE}, .unit = "children", .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children in each state at the start of each step (step T is the end of the run).",
        .doc_expect = "Expected children in each state at the start of each step."},
    [FL_OUT_STOCKS_BY_LOCALITY] = {
        .name = "stocks_by_locality", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, TIME, LOCALITY, STATE}, .unit = "children",
        .when = FL_WHEN_LOCALITIES, .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children in each locality and state at the start of each step.",
        .doc_expect = "Expected children in each locality and state at the start of each step."},
    /* Flows are always tallied (one-off move costs derive from them); --no-flows only leaves
     * them out of the file. */
    [FL_OUT_FLOWS] = {
        .name = "flows", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY, .type = FL_I32,
        .dims = {REP, STEP, STATE, TO_STATE}, .unit = "moves", .modes = BOTH,
        .flags = SUMMARISED | FL_OUT_OMITTABLE,
        .doc = "Moves during each step, from state (third index) to state (fourth index).",
        .doc_expect = "Expected moves during each step, from state (second index) to state "
                      "(third index)."},
    [FL_OUT_ENTRIES] = {
        .name = "entries", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY, .type = FL_I32,
        .dims = {REP, STEP, STATE}, .unit = "children", .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children entering during each step, by the state they enter in.",
        .doc_expect = "Expected entrants during each step by state."},
    [FL_OUT_EXITS] = {
        .name = "exits", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY, .type = FL_I32,
        .dims = {REP, STEP, STATE}, .unit = "children", .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children leaving during each step (out-migration or maximum age), by the state "
               "they leave from.",
        .doc_expect = "Expected leavers during each step by state."},
    [FL_OUT_LENGTH_OF_STAY] = {
        .name = "spells/length_of_stay", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, STATE, SPELL}, .unit = "spells", .modes = FL_IN_MC,
        .flags = SUMMARISED,
        .doc = "Completed spells by state and length: bin k counts spells of k+1 steps (the last "
               "bin, that many or more); only spells that began and ended inside the run."},
    [FL_OUT_EVER_IN_LEVEL] = {
        .name = "spells/ever_in_level", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, LEVEL}, .unit = "children", .modes = FL_IN_MC,
        .flags = SUMMARISED,
        .doc = "Children who were in each level at some time during the run."},
    [FL_OUT_REENTRIES] = {
        .name = "spells/reentries_12m", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, STEP, LEVEL}, .unit = "moves", .modes = FL_IN_MC,
        .flags = SUMMARISED,
        .doc = "Moves into a level that the child had left within the previous 12 months, by "
               "step and level."},
    [FL_OUT_SKIPS] = {
        .name = "spells/skip_level_escalations", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_TALLY, .type = FL_I32, .dims = {REP, STEP}, .unit = "moves",
        .modes = FL_IN_MC, .flags = SUMMARISED,
        .doc = "Escalations that skip at least one level (e.g. universal straight to looked "
               "after), by step."},
    [FL_OUT_MOVES_PER_CHILD] = {
        .name = "spells/moves_per_child", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, MOVES}, .unit = "children", .modes = FL_IN_MC,
        .flags = SUMMARISED,
        .doc = "Children by the moves (changes of state) they made while in the run: bin k counts "
               "children with k moves (the last bin, that many or more); each child is counted "
               "once, when it leaves or at the end of the run."},
    /* Every part of a replication works out the same spend (it depends on the time and the
     * whole replication's savings only). */
    [FL_OUT_IV_SPEND] = {
        .name = "interventions/spend", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_F64, .dims = {REP, STEP, IV}, .unit = "currency",
        .combine = FL_COMBINE_FIRST, .when = FL_WHEN_INTERVENTIONS, .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Cost of running each intervention in each step (its spend, with any reinvested "
               "savings).",
        .doc_expect = "Expected cost of running each intervention in each step."},
    [FL_OUT_IV_REACHED] = {
        .name = "interventions/reached", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, STEP, IV}, .unit = "children",
        .when = FL_WHEN_INTERVENTIONS, .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children each intervention reached at the start of each step while it ran.",
        .doc_expect = "Expected children each intervention reached at the start of each step "
                      "while it ran."},
    /* What a kind that changes costs needs (model/intervention.h). */
    [FL_OUT_IV_REACHED_BY_STATE] = {
        .name = "interventions/reached_by_state", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_TALLY, .type = FL_I32, .dims = {REP, STEP, IV, STATE},
        .unit = "children", .when = FL_WHEN_STATE_REACH, .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children each intervention reached at the start of each step while it ran, by "
               "state.",
        .doc_expect = "Expected children each intervention reached at the start of each step "
                      "while it ran, by state."},
    /* The same at the end of each step, for the reward timings that count the children present
     * then (their costs per child follow rewards.timing, as state costs do). */
    [FL_OUT_IV_REACHED_END] = {
        .name = "interventions/reached_end", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, STEP, IV}, .unit = "children",
        .when = FL_WHEN_REACH_END, .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children each intervention reached at the end of each step while it ran (their "
               "states and ages then).",
        .doc_expect = "Expected children each intervention reached at the end of each step "
                      "while it ran."},
    [FL_OUT_IV_REACHED_END_BY_STATE] = {
        .name = "interventions/reached_end_by_state", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_TALLY, .type = FL_I32, .dims = {REP, STEP, IV, STATE},
        .unit = "children", .when = FL_WHEN_STATE_REACH_END, .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children each intervention reached at the end of each step while it ran, by "
               "state.",
        .doc_expect = "Expected children each intervention reached at the end of each step "
                      "while it ran, by state."},
    /* Sums of the children's multipliers: multiples of 2^-16, so the sums (and the parts'
     * sums) are exact, whatever the order, while they stay below 2^37. */
    [FL_OUT_HET_STOCKS] = {
        .name = "heterogeneity/weighted_stocks", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_F64, .dims = {REP, TIME, STATE}, .unit = "children",
        .when = FL_WHEN_HET_REWARDS, .modes = BOTH, .flags = SUMMARISED,
        .doc = "The sum of the heterogeneity multipliers of the children in each state at the "
               "start of each step (the stocks, each child counted as its multiplier).",
        .doc_expect = "Expected sum of the heterogeneity multipliers of the children in each "
                      "state at the start of each step."},
    [FL_OUT_HET_ENTRIES] = {
        .name = "heterogeneity/weighted_entries", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_TALLY, .type = FL_F64, .dims = {REP, STEP, STATE},
        .unit = "children", .when = FL_WHEN_HET_REWARDS, .modes = BOTH, .flags = SUMMARISED,
        .doc = "The sum of the heterogeneity multipliers of the children entering during each "
               "step, by the state they enter in.",
        .doc_expect = "Expected sum of the heterogeneity multipliers of the entrants during each "
                      "step, by state."},
    /* Children by reward class, for the costs and QoL weights that vary by age or time in
     * state (derive.c charges them by class in place of by state). */
    [FL_OUT_RC_STOCKS] = {
        .name = "rewards/class_stocks", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, TIME, RCLASS}, .unit = "children",
        .when = FL_WHEN_REWARD_CLASSES, .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children in each reward class (state, age and time in state at the time point) "
               "at the start of each step (the stocks by reward class).",
        .doc_expect = "Expected children in each reward class at the start of each step."},
    [FL_OUT_RC_ENTRIES] = {
        .name = "rewards/class_entries", .group = FL_GROUP_ARM, .stage = FL_STAGE_TALLY,
        .type = FL_I32, .dims = {REP, STEP, RCLASS}, .unit = "children",
        .when = FL_WHEN_REWARD_CLASSES, .modes = BOTH, .flags = SUMMARISED,
        .doc = "Children entering during each step, by the reward class they enter in.",
        .doc_expect = "Expected entrants during each step, by reward class."},
    [FL_OUT_HET_RC_STOCKS] = {
        .name = "heterogeneity/weighted_class_stocks", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_TALLY, .type = FL_F64, .dims = {REP, TIME, RCLASS},
        .unit = "children", .when = FL_WHEN_HET_REWARD_CLASSES, .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "The sum of the heterogeneity multipliers of the children in each reward class at "
               "the start of each step.",
        .doc_expect = "Expected sum of the heterogeneity multipliers of the children in each "
                      "reward class at the start of each step."},
    [FL_OUT_HET_RC_ENTRIES] = {
        .name = "heterogeneity/weighted_class_entries", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_TALLY, .type = FL_F64, .dims = {REP, STEP, RCLASS},
        .unit = "children", .when = FL_WHEN_HET_REWARD_CLASSES, .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "The sum of the heterogeneity multipliers of the children entering during each "
               "step, by the reward class they enter in.",
        .doc_expect = "Expected sum of the heterogeneity multipliers of the entrants during each "
                      "step, by reward class."},
    [FL_OUT_PARAM_COST] = {
        .name = "parameters/cost", .group = FL_GROUP_ARM, .stage = FL_STAGE_PARAMS,
        .type = FL_F64, .dims = {REP, STATE, HOLDER}, .unit = "currency per child per step",
        .when = FL_WHEN_PSA_DRAWS, .modes = FL_IN_MC, .flags = SUMMARISED,
        .doc = "State costs per child per step drawn for each replication (parameter "
               "uncertainty)."},
    [FL_OUT_PARAM_QOL] = {
        .name = "parameters/qol", .group = FL_GROUP_ARM, .stage = FL_STAGE_PARAMS,
        .type = FL_F64, .dims = {REP, STATE}, .unit = "weight", .when = FL_WHEN_PSA_DRAWS,
        .modes = FL_IN_MC, .flags = SUMMARISED,
        .doc = "QoL weights drawn for each replication (parameter uncertainty)."},
    [FL_OUT_PARAM_DRAWN] = {
        .name = "parameters/drawn", .group = FL_GROUP_ARM, .stage = FL_STAGE_PARAMS,
        .type = FL_F64, .dims = {REP, PARAMETER}, .unit = "the key's unit",
        .when = FL_WHEN_PSA_DRAWS, .modes = FL_IN_MC, .flags = SUMMARISED,
        .doc = "Value drawn for each entry of the uncertainty section in each replication, in "
               "its key's units (a multiplier of an intervention as given); --evppi names "
               "them by key."},
    [FL_OUT_STOCKS_BY_LEVEL] = {
        .name = "stocks_by_level", .group = FL_GROUP_ARM, .stage = FL_STAGE_DERIVED,
        .type = FL_I32, .dims = {REP, TIME, LEVEL}, .unit = "children", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Children in each level at the start of each step (step T is the end of the "
               "run)."},
    /* A level's stock changes by these alone: stocks_by_level at step t + 1 is the stock at
     * step t plus the inflow minus the outflow of step t, in every replication. */
    [FL_OUT_INFLOW_BY_LEVEL] = {
        .name = "inflow_by_level", .group = FL_GROUP_ARM, .stage = FL_STAGE_DERIVED,
        .type = FL_I32, .dims = {REP, STEP, LEVEL}, .unit = "children", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Children coming into each level during each step: moves from a state of another "
               "level, and entrants in one of its states (moves between two states of the level "
               "are not counted).",
        .doc_expect = "Expected children coming into each level during each step (moves from "
                      "another level, and entrants)."},
    [FL_OUT_OUTFLOW_BY_LEVEL] = {
        .name = "outflow_by_level", .group = FL_GROUP_ARM, .stage = FL_STAGE_DERIVED,
        .type = FL_I32, .dims = {REP, STEP, LEVEL}, .unit = "children", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Children going out of each level during each step: moves to a state of another "
               "level, and leavers (out-migration or maximum age) from one of its states.",
        .doc_expect = "Expected children going out of each level during each step (moves to "
                      "another level, and leavers)."},
    [FL_OUT_COSTS] = {
        .name = "costs", .group = FL_GROUP_ARM, .stage = FL_STAGE_DERIVED, .type = FL_F64,
        .dims = {REP, STEP, HOLDER}, .unit = "currency", .modes = BOTH, .flags = SUMMARISED,
        .doc = "Undiscounted cost of each step by budget holder: children in each state "
               "(counted as rewards.timing says), one-off costs of moves, and interventions."},
    [FL_OUT_COSTS_DISCOUNTED] = {
        .name = "costs_discounted", .group = FL_GROUP_ARM, .stage = FL_STAGE_DERIVED,
        .type = FL_F64, .dims = {REP, STEP, HOLDER}, .unit = "currency", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Costs discounted at the annual rate discount.costs, each at the time "
               "rewards.timing gives it (docs/scenario.md, reward timing)."},
    [FL_OUT_QOL] = {
        .name = "qol", .group = FL_GROUP_ARM, .stage = FL_STAGE_DERIVED, .type = FL_F64,
        .dims = {REP, STEP}, .unit = "QoL-weighted children", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Sum of quality-of-life weights over the children of each step (plus one-off QALY "
               "changes of moves, in the same units); times the step in years it gives "
               "quality-adjusted child-years."},
    [FL_OUT_QOL_DISCOUNTED] = {
        .name = "qol_discounted", .group = FL_GROUP_ARM, .stage = FL_STAGE_DERIVED,
        .type = FL_F64, .dims = {REP, STEP}, .unit = "QoL-weighted children", .modes = BOTH,
        .flags = SUMMARISED, .doc = "qol discounted at the annual rate discount.qol."},
    [FL_OUT_VD_TOTAL_COST] = {
        .name = "variance_decomposition/total_cost", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_DECOMPOSE, .type = FL_F64, .dims = {COMPONENT},
        .unit = "currency squared (share: fraction)", .when = FL_WHEN_PSA_BLOCKS,
        .modes = FL_IN_MC, .doc = vd_doc},
    [FL_OUT_VD_TOTAL_QALYS] = {
        .name = "variance_decomposition/total_qalys", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_DECOMPOSE, .type = FL_F64, .dims = {COMPONENT},
        .unit = "QALYs squared (share: fraction)", .when = FL_WHEN_PSA_BLOCKS,
        .modes = FL_IN_MC, .doc = vd_doc},
    [FL_OUT_VD_END_STOCK_BY_LEVEL] = {
        .name = "variance_decomposition/end_stock_by_level", .group = FL_GROUP_ARM,
        .stage = FL_STAGE_DECOMPOSE, .type = FL_F64, .dims = {LEVEL, COMPONENT},
        .unit = "children squared (share: fraction)", .when = FL_WHEN_PSA_BLOCKS,
        .modes = FL_IN_MC, .doc = vd_doc},
    [FL_OUT_DELTA_COSTS] = {
        .name = "delta_costs", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {REP, STEP, HOLDER}, .unit = "currency", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Arm minus baseline cost of each step by budget holder, undiscounted: negative "
               "is a saving."},
    [FL_OUT_DELTA_COSTS_DISCOUNTED] = {
        .name = "delta_costs_discounted", .group = FL_GROUP_COMPARISON,
        .stage = FL_STAGE_COMPARE, .type = FL_F64, .dims = {REP, STEP, HOLDER},
        .unit = "currency", .modes = BOTH, .flags = SUMMARISED,
        .doc = "delta_costs, discounted."},
    [FL_OUT_CUMULATIVE_NET_COST] = {
        .name = "cumulative_net_cost", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {REP, STEP}, .unit = "currency", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Arm minus baseline cost summed over budget holders and over the steps so far, "
               "undiscounted."},
    [FL_OUT_CUMULATIVE_NET_COST_DISCOUNTED] = {
        .name = "cumulative_net_cost_discounted", .group = FL_GROUP_COMPARISON,
        .stage = FL_STAGE_COMPARE, .type = FL_F64, .dims = {REP, STEP}, .unit = "currency",
        .modes = BOTH, .flags = SUMMARISED, .doc = "cumulative_net_cost, discounted."},
    [FL_OUT_DELTA_QALYS] = {
        .name = "delta_qalys", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {REP, STEP}, .unit = "QALYs", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "Arm minus baseline quality-adjusted child-years in each step, undiscounted."},
    [FL_OUT_DELTA_COST_TOTAL] = {
        .name = "delta_cost_total", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {REP}, .unit = "currency", .modes = BOTH, .flags = SUMMARISED,
        .doc = "Discounted net cost of the arm over the horizon, minus the baseline's."},
    [FL_OUT_DELTA_QALY_TOTAL] = {
        .name = "delta_qaly_total", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {REP}, .unit = "QALYs", .modes = BOTH, .flags = SUMMARISED,
        .doc = "Discounted quality-adjusted child-years of the arm over the horizon, minus the "
               "baseline's."},
    [FL_OUT_NET_MONETARY_BENEFIT] = {
        .name = "net_monetary_benefit", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {REP, WTP}, .unit = "currency", .modes = BOTH,
        .flags = SUMMARISED,
        .doc = "willingness_to_pay x delta_qaly_total - delta_cost_total, for each willingness "
               "to pay."},
    [FL_OUT_BREAKEVEN_STEP] = {
        .name = "breakeven_step", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_I32, .dims = {REP}, .unit = "step", .modes = BOTH, .flags = SUMMARISED,
        .doc = "First step from which the cumulative net cost stays at or below 0 to the end of "
               "the run; -1: never.",
        .doc_expect = "First step from which the expected cumulative net cost stays at or below "
                      "0; -1: never."},
    [FL_OUT_WILLINGNESS_TO_PAY] = {
        .name = "willingness_to_pay", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {WTP}, .unit = "currency per QALY", .modes = BOTH,
        .doc = "Values of a QALY (economics.willingness_to_pay)."},
    [FL_OUT_ICER] = {
        .name = "icer", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {ONE}, .unit = "currency per QALY", .modes = BOTH,
        .doc = "Incremental cost per quality-adjusted child-year: mean delta_cost_total / mean "
               "delta_qaly_total (discounted)."},
    [FL_OUT_P_SAVING_BY_YEAR] = {
        .name = "p_saving_by_year", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {YEAR}, .unit = "probability", .modes = FL_IN_MC,
        .doc = "Share of replications whose cumulative net cost (undiscounted) is below 0 at the "
               "end of each year."},
    [FL_OUT_P_COST_EFFECTIVE] = {
        .name = "p_cost_effective", .group = FL_GROUP_COMPARISON, .stage = FL_STAGE_COMPARE,
        .type = FL_F64, .dims = {WTP}, .unit = "probability", .modes = FL_IN_MC,
        .doc = "Share of replications with a positive net monetary benefit at each willingness "
               "to pay (the acceptability curve)."},
    [FL_OUT_VD_DELTA_COST_TOTAL] = {
        .name = "variance_decomposition/delta_cost_total", .group = FL_GROUP_COMPARISON,
        .stage = FL_STAGE_DECOMPOSE, .type = FL_F64, .dims = {COMPONENT},
        .unit = "currency squared (share: fraction)", .when = FL_WHEN_PSA_BLOCKS,
        .modes = FL_IN_MC, .doc = vd_doc},
    [FL_OUT_VD_DELTA_QALY_TOTAL] = {
        .name = "variance_decomposition/delta_qaly_total", .group = FL_GROUP_COMPARISON,
        .stage = FL_STAGE_DECOMPOSE, .type = FL_F64, .dims = {COMPONENT},
        .unit = "QALYs squared (share: fraction)", .when = FL_WHEN_PSA_BLOCKS,
        .modes = FL_IN_MC, .doc = vd_doc},
    /* The frontier on the means (results/decision.h): in expectation mode the expected values,
     * in a run the means over replications, which are estimates; an arm close to the frontier
     * may change status with the seed. */
    [FL_OUT_FRONTIER_DELTA_COST] = {
        .name = "frontier/delta_cost", .group = FL_GROUP_DECISION, .stage = FL_STAGE_DECISION,
        .type = FL_F64, .dims = {ARM}, .unit = "currency", .modes = BOTH,
        .doc = "Mean discounted cost of each arm over the horizon minus the baseline's (0 for "
               "the baseline): the cost axis of the frontier."},
    [FL_OUT_FRONTIER_DELTA_QALYS] = {
        .name = "frontier/delta_qalys", .group = FL_GROUP_DECISION, .stage = FL_STAGE_DECISION,
        .type = FL_F64, .dims = {ARM}, .unit = "QALYs", .modes = BOTH,
        .doc = "Mean discounted quality-adjusted child-years of each arm minus the baseline's "
               "(0 for the baseline): the effect axis of the frontier."},
    [FL_OUT_FRONTIER_STATUS] = {
        .name = "frontier/status", .group = FL_GROUP_DECISION, .stage = FL_STAGE_DECISION,
        .type = FL_I32, .dims = {ARM}, .unit = "1", .modes = BOTH,
        .doc = "Each arm on the cost-effectiveness frontier of all arms: 0 on it; 1 dominated "
               "(an arm costs no more and gains more QALYs, or costs less for as many); 2 "
               "extendedly dominated (its ICER against the next cheaper frontier arm exceeds "
               "that of the next more effective one against it, removed repeatedly); 3 the same "
               "cost and QALYs as dominated_by, which stands for both."},
    [FL_OUT_FRONTIER_DOMINATED_BY] = {
        .name = "frontier/dominated_by", .group = FL_GROUP_DECISION,
        .stage = FL_STAGE_DECISION, .type = FL_I32, .dims = {ARM}, .unit = "1", .modes = BOTH,
        .doc = "Index of the arm that dominates each arm (the most effective of those that cost "
               "no more), the one it equals, or for extended dominance the next frontier arm "
               "above it; -1 on the frontier."},
    [FL_OUT_FRONTIER_ICER] = {
        .name = "frontier/icer", .group = FL_GROUP_DECISION, .stage = FL_STAGE_DECISION,
        .type = FL_F64, .dims = {ARM}, .unit = "currency per QALY", .modes = BOTH,
        .doc = "ICER of each frontier arm against the next cheaper frontier arm (increasing "
               "along the frontier); NaN for the cheapest frontier arm and for arms off it."},
    [FL_OUT_EVPI] = {
        .name = "value_of_information/evpi", .group = FL_GROUP_DECISION,
        .stage = FL_STAGE_DECISION, .type = FL_F64, .dims = {WTP}, .unit = "currency",
        .when = FL_WHEN_PSA, .modes = FL_IN_MC,
        .doc = "Expected value of perfect information about the drawn parameters, for the "
               "population simulated, at each willingness to pay: the mean over parameter "
               "draws of the largest block-mean net monetary benefit of any arm, minus the "
               "largest mean net monetary benefit (blocks of psa_inner replications share a "
               "draw; their chance noise biases it upwards, docs/output.md)."},
    [FL_OUT_EVPPI] = {
        .name = "value_of_information/evppi", .group = FL_GROUP_DECISION,
        .stage = FL_STAGE_DECISION, .type = FL_F64, .dims = {WTP}, .unit = "currency",
        .when = FL_WHEN_EVPPI, .modes = FL_IN_MC,
        .doc = "Expected value of partial perfect information about the parameters named by "
               "--evppi (the root attribute evppi_parameters), for the population simulated: "
               "each arm's block-mean net monetary benefit minus the baseline's regressed on "
               "their drawn values by a full quadratic (least squares), then the mean of the "
               "largest fitted value minus the largest mean (docs/output.md)."},
};

int fl_output_present(const fl_output_ctx *c, fl_output id, size_t arm) {
  const fl_output_def *d = &fl_outputs[id];
  const fl_model *m = c->m;
  if (!(d->modes & (c->expectation ? FL_IN_EXPECT : FL_IN_MC))) return 0;
  if (d->group == FL_GROUP_COMPARISON && arm == 0) return 0;
  if (d->group == FL_GROUP_DECISION && arm != 0) return 0;
  switch (d->when) {
  case FL_WHEN_LOCALITIES: return m->NLOC > 1;
  case FL_WHEN_INTERVENTIONS: return m->arms[arm].n_int > 0;
  case FL_WHEN_STATE_REACH: return fl_arm_needs_state_reach(&m->arms[arm]);
  case FL_WHEN_REACH_END: return m->arms[arm].n_int > 0 && m->reward_timing != FL_TIMING_START;
  case FL_WHEN_STATE_REACH_END:
    return fl_arm_needs_state_reach(&m->arms[arm]) && m->reward_timing != FL_TIMING_START;
  case FL_WHEN_HET_REWARDS: return m->het.dist != FL_HET_NONE && (m->het.costs || m->het.qol);
  case FL_WHEN_REWARD_CLASSES: return m->NRC > 0;
  case FL_WHEN_HET_REWARD_CLASSES:
    return m->NRC > 0 && m->het.dist != FL_HET_NONE && (m->het.costs || m->het.qol);
  case FL_WHEN_PSA_DRAWS: return arm == 0 && c->psa && m->n_unc > 0;
  case FL_WHEN_PSA_BLOCKS: return c->psa && c->psa_inner >= 2;
  case FL_WHEN_PSA: return c->psa;
  case FL_WHEN_EVPPI: return c->psa && c->n_evppi > 0;
  default: return 1;
  }
}

size_t fl_dim_size(const fl_output_ctx *c, fl_dim d, size_t arm) {
  const fl_model *m = c->m;
  switch (d) {
  case FL_DIM_REPLICATION: return c->R;
  case FL_DIM_TIME: return m->T + 1;
  case FL_DIM_STEP: return m->T;
  case FL_DIM_STATE:
  case FL_DIM_TO_STATE: return m->S;
  case FL_DIM_LEVEL: return m->L;
  case FL_DIM_HOLDER: return m->B;
  case FL_DIM_LOCALITY: return m->NLOC;
  case FL_DIM_SPELL_LENGTH: return FL_SPELL_BINS;
  case FL_DIM_MOVES: return FL_MOVE_BINS;
  case FL_DIM_INTERVENTION: return m->arms[arm].n_int;
  case FL_DIM_WTP: return m->n_wtp;
  case FL_DIM_YEAR: {
    const size_t per_year = m->step_months >= 12 ? 1 : (size_t)llround(12.0 / m->step_months);
    return (m->T + per_year - 1) / per_year;
  }
  case FL_DIM_COMPONENT: return 3;
  case FL_DIM_ONE: return 1;
  case FL_DIM_ARM: return m->n_arms;
  case FL_DIM_PARAMETER: return m->n_unc;
  case FL_DIM_REWARD_CLASS: return m->NRC;
  default: return 0;
  }
}

int fl_output_shape(const fl_output_ctx *c, fl_output id, size_t arm, size_t *dims) {
  const fl_output_def *d = &fl_outputs[id];
  int rank = 0;
  for (int k = 0; k < FL_MAX_RANK && d->dims[k] != FL_DIM_NONE; k++) {
    if (c->expectation && d->dims[k] == FL_DIM_REPLICATION) continue;
    dims[rank++] = fl_dim_size(c, d->dims[k], arm);
  }
  return rank;
}

fl_dtype fl_output_type(const fl_output_ctx *c, fl_output id) {
  return c->expectation ? FL_F64 : fl_outputs[id].type;
}

const char *fl_output_doc(const fl_output_ctx *c, fl_output id) {
  const fl_output_def *d = &fl_outputs[id];
  return c->expectation && d->doc_expect ? d->doc_expect : d->doc;
}

#define FL_LINE 64

void fl_tally_layout_init(fl_tally_layout *l, const fl_output_ctx *c, size_t arm) {
  size_t off = 0;
  l->n = 0;
  for (int id = 0; id < FL_N_OUTPUTS; id++) {
    const fl_output_def *d = &fl_outputs[id];
    if (d->stage != FL_STAGE_TALLY || !fl_output_present(c, (fl_output)id, arm)) continue;
    size_t n = 1; /* one replication's elements */
    for (int k = 0; k < FL_MAX_RANK && d->dims[k] != FL_DIM_NONE; k++)
      if (d->dims[k] != FL_DIM_REPLICATION) n *= fl_dim_size(c, d->dims[k], arm);
    l->id[l->n] = (fl_output)id;
    l->offset[l->n] = off;
    l->count[l->n] = n;
    off += (n * fl_dtype_size(fl_output_type(c, (fl_output)id)) + FL_LINE - 1) / FL_LINE * FL_LINE;
    l->n++;
  }
  l->bytes = off;
}

void fl_tally_bind(fl_tally *t, const fl_tally_layout *l, void *block) {
  for (int id = 0; id < FL_N_OUTPUTS; id++) t->at[id] = NULL;
  for (size_t k = 0; k < l->n; k++) t->at[l->id[k]] = (char *)block + l->offset[k];
}

/* The reference. */

static const char *when_text(fl_when w) {
  switch (w) {
  case FL_WHEN_LOCALITIES: return "with more than one locality";
  case FL_WHEN_INTERVENTIONS: return "arms with interventions";
  case FL_WHEN_STATE_REACH: return "arms with an intervention of a kind that changes costs";
  case FL_WHEN_REACH_END:
    return "arms with interventions, rewards.timing other than start (or rewards.points)";
  case FL_WHEN_STATE_REACH_END:
    return "arms with an intervention of a kind that changes costs, rewards.timing other than "
           "start (or rewards.points)";
  case FL_WHEN_HET_REWARDS: return "heterogeneity.costs or heterogeneity.qol true";
  case FL_WHEN_REWARD_CLASSES: return "a state cost or QoL weight by age or time in state";
  case FL_WHEN_HET_REWARD_CLASSES:
    return "heterogeneity.costs or heterogeneity.qol true, and a state cost or QoL weight by age "
           "or time in state";
  case FL_WHEN_PSA_DRAWS: return "the baseline, under --psa with an uncertainty section";
  case FL_WHEN_PSA_BLOCKS: return "under --psa with --psa-inner 2 or more";
  case FL_WHEN_PSA: return "under --psa";
  case FL_WHEN_EVPPI: return "under --psa with --evppi";
  default: return "always";
  }
}

void fl_outputs_print(int markdown, void (*write)(void *ctx, const char *text), void *ctx) {
  const fl_out o = {write, ctx};
  if (markdown)
    fl_outf(&o, "| group | dataset | type | dimensions | unit | present | modes | "
                    "summaries | description |\n|---|---|---|---|---|---|---|---|---|\n");
  for (int id = 0; id < FL_N_OUTPUTS; id++) {
    const fl_output_def *d = &fl_outputs[id];
    char dims[256] = "";
    size_t len = 0;
    for (int k = 0; k < FL_MAX_RANK && d->dims[k] != FL_DIM_NONE; k++)
      len += (size_t)snprintf(dims + len, sizeof dims - len, "%s%s", k ? ", " : "",
                              fl_dim_names[d->dims[k]]);
    const char *group = d->group == FL_GROUP_ARM          ? "arms/ARM"
                        : d->group == FL_GROUP_COMPARISON ? "comparisons/ARM"
                                                          : "(root)";
    const char *type = d->type == FL_I32 ? "int32" : "float64";
    const char *modes = d->modes == (FL_IN_MC | FL_IN_EXPECT) ? "run, expect" : "run";
    const char *summ = d->flags & FL_OUT_SUMMARISED ? "yes" : "no";
    const char *when = when_text(d->when);
    if (markdown)
      fl_outf(&o, "| %s | `%s` | %s | [%s] | %s | %s%s | %s | %s | %s |\n", group, d->name,
          type, dims, d->unit, when, d->flags & FL_OUT_OMITTABLE ? " (not with --no-flows)" : "",
          modes, summ, d->doc);
    else
      fl_outf(&o, "/%s%s%s  %s [%s], %s\n  %s\n  Present: %s%s; in %s; summaries: %s.\n\n",
          d->group == FL_GROUP_DECISION ? "" : group, d->group == FL_GROUP_DECISION ? "" : "/",
          d->name, type, dims, d->unit, d->doc, when,
          d->flags & FL_OUT_OMITTABLE ? " (not with --no-flows)" : "", modes, summ);
  }
}
