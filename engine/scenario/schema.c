/* The scenario schema table and the generic validator driven by it. */
#include "scenario/schema.h"

#include "core/core.h"
#include "core/limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INF HUGE_VAL
#define BIG 1e15

/* The keys of a state's cost or QoL weight by single year of age or of time in state
 * (states.*.cost_by_age.*, states.*.qol_by_time_in_state, ...): P is the key path of the
 * vector, K the key naming the file's column of years and KD its default, W what the years
 * count, U the values' unit and [LO, HI] their bounds. */
#define REWARD_VEC_KEYS(P, K, KD, W, U, LO, HI)                                                    \
  {P ".from_years", FL_TY_NUM, 0, 0, 200, "0", NULL, "years",                                    \
   "The year of " W " of the first of values (a whole number); the k-th value is for " W        \
   " in [from_years + k, from_years + k + 1) years."},                                            \
  {P ".values", FL_TY_NUMS, 0, LO, HI, NULL, NULL, U, "Values by single year of " W "."},         \
  {P ".file", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,                                              \
   "A CSV file (relative to the scenario's folder) with a column of years of " W ", whole "       \
   "years one after another, and a column of values, instead of values."},                        \
  {P ".column", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,                                            \
   "The file's column of values (required with file)."},                                          \
  {P "." K, FL_TY_STR, 0, 0, 0, KD, NULL, NULL, "The file's column of years of " W "."}

/* The keys of entries of a table's rows that vary (transitions.tables[].vary and the same in
 * an arm's tables); P is the key path of the table list. */
#define VARY_KEYS(P)                                                                               \
  {P "[].vary", FL_TY_SEQ, 0, 1, 1000, NULL, NULL, NULL,                                         \
   "Entries of this table's rows that vary with age, time in state or time since the start of "  \
   "the run: each replaces the row's entry from -> to in every cell the table covers, the "      \
   "row's rest entry taking up the difference (so the row needs one). The tables are compiled "  \
   "with a band for every year of an age vector and every step of a parametric form's clock "    \
   "(at most 255 bands of each). See docs/scenario.md, entries that vary."},                      \
  {P "[].vary[].from", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,                                     \
   "The from-state: a row of this table."},                                                       \
  {P "[].vary[].to", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL, "The to-state of the entry."},         \
  {P "[].vary[].by_age", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,                                   \
   "The entry by single year of age: values, or a column of a CSV file. Ages before the first "  \
   "take the first value, ages past the last the last one."},                                     \
  {P "[].vary[].by_age.from_years", FL_TY_NUM, 0, 0, 200, "0", NULL, "years",                    \
   "The age of the first of values (a whole number of years); the k-th value is for ages "       \
   "[from_years + k, from_years + k + 1)."},                                                      \
  {P "[].vary[].by_age.values", FL_TY_NUMS, 0, 0, BIG, NULL, NULL, NULL,                         \
   "Probabilities (or rates) by single year of age, in the table's per_months."},                 \
  {P "[].vary[].by_age.file", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,                              \
   "A CSV file (relative to the scenario's folder) with a column of ages, whole years one after " \
   "another, and a column of values, instead of values."},                                        \
  {P "[].vary[].by_age.column", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,                            \
   "The file's column of values (required with file)."},                                          \
  {P "[].vary[].by_age.age_column", FL_TY_STR, 0, 0, 0, "age", NULL, NULL,                       \
   "The file's column of ages."},                                                                 \
  {P "[].vary[].weibull", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,                                  \
   "Weibull survival on the clock, t in years: S(t) = exp(-lambda t^shape), or with scale "      \
   "S(t) = exp(-(t / scale)^shape). Give lambda or scale."},                                      \
  {P "[].vary[].weibull.shape", FL_TY_NUM, 1, 1e-9, 1000, NULL, NULL, NULL, "Shape."},            \
  {P "[].vary[].weibull.lambda", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "per year^shape",             \
   "Rate parameter of the proportional-hazards form, H(t) = lambda t^shape."},                    \
  {P "[].vary[].weibull.scale", FL_TY_NUM, 0, 1e-9, BIG, NULL, NULL, "years",                    \
   "Scale of the accelerated-failure-time form, H(t) = (t / scale)^shape."},                      \
  {P "[].vary[].gompertz", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,                                 \
   "Gompertz survival on the clock, t in years: hazard rate e^(shape t), "                       \
   "S(t) = exp(-(rate / shape)(e^(shape t) - 1)) (exp(-rate t) for shape 0)."},                   \
  {P "[].vary[].gompertz.shape", FL_TY_NUM, 1, -1000, 1000, NULL, NULL, "per year", "Shape."},   \
  {P "[].vary[].gompertz.rate", FL_TY_NUM, 1, 0, BIG, NULL, NULL, "per year",                    \
   "Hazard at t = 0."},                                                                           \
  {P "[].vary[].loglogistic", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,                              \
   "Log-logistic survival on the clock, t in years: S(t) = 1 / (1 + (t / scale)^shape)."},       \
  {P "[].vary[].loglogistic.shape", FL_TY_NUM, 1, 1e-9, 1000, NULL, NULL, NULL, "Shape."},        \
  {P "[].vary[].loglogistic.scale", FL_TY_NUM, 1, 1e-9, BIG, NULL, NULL, "years",                \
   "Scale (the median)."},                                                                        \
  {P "[].vary[].clock", FL_TY_ENUM, 0, 0, 0, "time_in_state", "time_in_state|run|age", NULL,     \
   "The time t of a parametric form: the completed time in the from-state (or level), the time " \
   "since the start of the run, or age, at the start of the step."},                              \
  {P "[].vary[].hazard_ratio", FL_TY_NUM, 0, 0, BIG, "1", NULL, "factor",                        \
   "Multiplies the cumulative hazard of a parametric form (proportional hazards): the "          \
   "probability is 1 - (S(t + d) / S(t))^hazard_ratio."}

/* Every key of the scenario format. The order is the order of the reference documentation. */
const fl_key fl_schema[] = {
    {"flourish", FL_TY_INT, 1, 1, 1, NULL, NULL, NULL,
     "Version of the scenario format. Must be 1."},
    {"name", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL, "Short title of the scenario."},
    {"description", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL, "Free text describing the scenario."},
    {"time", FL_TY_MAP, 1, 0, 0, NULL, NULL, NULL, "Time step and horizon."},
    {"time.step_months", FL_TY_NUM, 0, 1e-6, 1200, "1", NULL, "months",
     "Length of one simulation step. 1 for monthly steps, 12 for yearly cycles."},
    {"time.horizon_steps", FL_TY_INT, 0, 1, 65000, NULL, NULL, "steps",
     "Number of steps simulated (this or horizon_years is required)."},
    {"time.horizon_years", FL_TY_NUM, 0, 1e-6, 65000, NULL, NULL, "years",
     "The horizon in years, instead of horizon_steps: a whole number of steps (10 with monthly "
     "steps is 120 steps)."},
    {"time.start", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "Calendar label of the first step (e.g. 2025-04), used in reports."},
    {"time.time_in_state", FL_TY_ENUM, 0, 0, 0, "state", "state|level", NULL,
     "What time in state counts: time in the current state, or in the current level (a move "
     "within a level, such as a placement change, then keeps the clock running)."},
    {"levels", FL_TY_NAMES, 1, 1, FL_MAX_LEVELS, NULL, NULL, NULL,
     "Ordered levels, lowest first. A move to a higher level is an escalation, to a lower level "
     "a de-escalation."},
    {"level_labels", FL_TY_NAMED, 0, 1, FL_MAX_LEVELS, NULL, NULL, NULL,
     "Display names of levels in reports and tables, by level name (default: the name)."},
    {"level_labels.*", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "Display name of this level (e.g. Looked after)."},
    {"states", FL_TY_NAMED, 1, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "The states a child can be in, by name, in the order used in outputs."},
    {"states.*", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "One state."},
    {"states.*.level", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,
     "The level this state belongs to (a name from levels)."},
    {"states.*.label", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "Display name of the state in reports and tables (default: the name)."},
    {"states.*.absorbing", FL_TY_BOOL, 0, 0, 0, "false", NULL, NULL,
     "An absorbing state is never left (e.g. death). It has no transition row."},
    {"states.*.qol", FL_TY_NUM, 0, 0, 1, "1", NULL, "weight",
     "Quality-of-life weight of a child-year in this state (0 to 1)."},
    {"states.*.cost", FL_TY_NAMED, 0, 0, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "Cost of one child in this state, by budget holder (names from costs.budget_holders)."},
    {"states.*.cost.*", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "currency per costs.per",
     "Cost charged to this budget holder."},
    {"states.*.cost_by_age", FL_TY_NAMED, 0, 1, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "Cost of one child in this state by single year of the child's age, by budget holder (a "
     "holder's cost is given once: in cost, cost_by_age or cost_by_time_in_state). Every age a "
     "child of the scenario can have needs a value. See docs/scenario.md, costs and QoL by age "
     "and time in state."},
    {"states.*.cost_by_age.*", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,
     "The cost charged to this budget holder by age: values, or a column of a CSV file."},
    REWARD_VEC_KEYS("states.*.cost_by_age.*", "age_column", "age", "age",
                    "currency per costs.per", 0, BIG),
    {"states.*.cost_by_time_in_state", FL_TY_NAMED, 0, 1, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "Cost of one child in this state by whole years the child has been in it (time.time_in_state "
     "says in the state or its level), by budget holder (a holder's cost is given once). Times "
     "past the last value take the last one."},
    {"states.*.cost_by_time_in_state.*", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,
     "The cost charged to this budget holder by time in state: values, or a column of a CSV "
     "file."},
    REWARD_VEC_KEYS("states.*.cost_by_time_in_state.*", "years_column", "years",
                    "time in state", "currency per costs.per", 0, BIG),
    {"states.*.qol_by_age", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,
     "Quality-of-life weight in this state by single year of the child's age, instead of qol. "
     "Every age a child of the scenario can have needs a value."},
    REWARD_VEC_KEYS("states.*.qol_by_age", "age_column", "age", "age", "weight", 0, 1),
    {"states.*.qol_by_time_in_state", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,
     "Quality-of-life weight in this state by whole years in it (e.g. years since onset), "
     "instead of qol. Times past the last value take the last one."},
    REWARD_VEC_KEYS("states.*.qol_by_time_in_state", "years_column", "years", "time in state",
                    "weight", 0, 1),
    {"costs", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "Budget holders and cost units."},
    {"costs.budget_holders", FL_TY_NAMES, 1, 1, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "Names of the budgets that costs are split over."},
    {"costs.budget_holder_labels", FL_TY_NAMED, 0, 1, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "Display names of budget holders in reports and tables, by name (default: the name)."},
    {"costs.budget_holder_labels.*", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "Display name of this budget holder (e.g. Purchased placements)."},
    {"costs.per", FL_TY_ENUM, 0, 0, 0, "month", "month|year|step", NULL,
     "The period that state costs refer to; they are scaled to the step length."},
    {"costs.currency", FL_TY_STR, 0, 0, 0, "GBP", NULL, NULL, "Currency label for reports."},
    {"discount", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "Annual discount rates."},
    {"discount.costs", FL_TY_NUM, 0, 0, 1, "0.035", NULL, "per year",
     "Annual discount rate for costs; a step starting t years in is weighted 1/(1+r)^t."},
    {"discount.qol", FL_TY_NUM, 0, 0, 1, "0.035", NULL, "per year",
     "Annual discount rate for quality of life."},
    {"localities", FL_TY_NAMED, 0, 1, FL_MAX_LOCALITIES, NULL, NULL, NULL,
     "Areas of the population (e.g. locality planning partnership areas). Without this key the "
     "population is one locality named all."},
    {"localities.*", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "One locality."},
    {"localities.*.share", FL_TY_NUM, 1, 0, BIG, NULL, NULL, "relative",
     "Relative size of the locality (a count or a fraction): initial groups without a locality "
     "and entrants are split by these shares."},
    {"localities.*.label", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "Display name of the locality in reports and tables (default: the name)."},
    {"localities.*.escalation_multiplier", FL_TY_NUM, 0, 0, 1000, "1", NULL, "factor",
     "Multiplies every escalation probability of children in this locality; the difference "
     "goes to staying."},
    {"population", FL_TY_MAP, 1, 0, 0, NULL, NULL, NULL, "Who is simulated."},
    {"population.max_age_years", FL_TY_NUM, 0, 1e-6, 200, NULL, NULL, "years",
     "Children leave on reaching this age. Without it, nobody ages out."},
    {"population.out_migration_per_year", FL_TY_NUM, 0, 0, 0.999999, "0", NULL, "probability",
     "Probability that a child in a non-absorbing state leaves the area within a year."},
    {"population.initial", FL_TY_SEQ, 1, 0, 1e6, NULL, NULL, NULL,
     "Groups of children present at the start."},
    {"population.initial[].state", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL, "State of the group."},
    {"population.initial[].count", FL_TY_INT, 1, 0, 1e9, NULL, NULL, "children",
     "Number of children."},
    {"population.initial[].age_years", FL_TY_RANGE, 0, 0, 200, "[0, 0]", NULL, "years",
     "[lo, hi): ages uniform over the whole steps in the range; [a, a] means exactly a."},
    {"population.initial[].locality", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "Locality of the group; without it the group is split over localities by share."},
    {"population.initial[].time_in_state_months", FL_TY_RANGE, 0, 0, 1e5, "[0, 0]", NULL,
     "months", "[lo, hi): time already spent in the state, uniform over whole steps."},
    {"population.entries", FL_TY_NAMED, 0, 0, 64, NULL, NULL, NULL,
     "Streams of children entering (births, in-migration), by name."},
    {"population.entries.*", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "One stream of entrants."},
    {"population.entries.*.per_year", FL_TY_NUM, 1, 0, 1e9, NULL, NULL, "children per year",
     "Mean number of entrants a year; each step's number is Poisson."},
    {"population.entries.*.age_years", FL_TY_RANGE, 0, 0, 200, "[0, 0]", NULL, "years",
     "[lo, hi): age at entry, uniform over whole steps; [0, 0] for births."},
    {"population.entries.*.states", FL_TY_NAMED, 1, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "Relative shares of the states entrants start in."},
    {"population.entries.*.states.*", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "relative",
     "Share of entrants starting in this state."},
    {"population.entries.*.localities", FL_TY_NAMED, 0, 1, FL_MAX_LOCALITIES, NULL, NULL, NULL,
     "Relative shares of localities; defaults to the locality shares."},
    {"population.entries.*.localities.*", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "relative",
     "Share of entrants arriving in this locality."},
    {"transitions", FL_TY_MAP, 1, 0, 0, NULL, NULL, NULL, "How children move between states."},
    {"transitions.given_as", FL_TY_ENUM, 0, 0, 0, "probability", "probability|rate", NULL,
     "probability: each row holds the probabilities of ending a period of per_months in each "
     "state (converted to the step length assuming a constant hazard of leaving, split in "
     "proportion). rate: rows hold transition rates per per_months (a generator matrix Q; the "
     "step's matrix is exactly expm(Q * step / per_months))."},
    {"transitions.per_months", FL_TY_NUM, 0, 1e-6, 1200, NULL, NULL, "months",
     "Period the probabilities or rates refer to. Defaults to the step length."},
    {"transitions.tables", FL_TY_SEQ, 1, 1, 1e5, NULL, NULL, NULL,
     "Transition tables, applied in order: a later table replaces the rows it gives for the "
     "ages, times in state, periods and localities it covers."},
    {"transitions.tables[].age_years", FL_TY_RANGE, 0, 0, 200, "[0, .inf]", NULL, "years",
     "[lo, hi): ages the table applies to."},
    {"transitions.tables[].time_in_state_months", FL_TY_RANGE, 0, 0, 1e5, "[0, .inf]", NULL,
     "months", "[lo, hi): completed time in the current state (or level) it applies to."},
    {"transitions.tables[].period_months", FL_TY_RANGE, 0, 0, 1e7, "[0, .inf]", NULL, "months",
     "[lo, hi): months since the start of the run it applies to (calendar trends)."},
    {"transitions.tables[].localities", FL_TY_NAMES, 0, 1, FL_MAX_LOCALITIES, NULL, NULL, NULL,
     "Localities it applies to; all when absent."},
    {"transitions.tables[].rows", FL_TY_NAMED, 1, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "Rows by from-state: each maps to-states to values. One entry of a row may be the word "
     "rest (the value that makes the row valid); states left out get 0."},
    {"transitions.tables[].rows.*", FL_TY_NAMED, 0, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "One row: to-state -> probability (or rate)."},
    {"transitions.tables[].rows.*.*", FL_TY_PROB, 0, 0, BIG, NULL, NULL, NULL,
     "Probability (0 to 1) or rate (>= 0) of this move; or rest."},
    VARY_KEYS("transitions.tables"),
    {"transitions.tables[].counts", FL_TY_NAMED, 0, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "Observed transition counts behind the rows (written by flourish calibrate): from-state -> "
     "to-state -> child-months. Where a row has counts, its probabilities must be the counts' "
     "shares (within 1e-6)."},
    {"transitions.tables[].counts.*", FL_TY_NAMED, 0, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "Counts of moves from this state (to itself: staying)."},
    {"transitions.tables[].counts.*.*", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "child-months",
     "Observed count."},
    {"transition_costs", FL_TY_SEQ, 0, 1, 10000, NULL, NULL, NULL,
     "One-off costs and QoL changes of moves (e.g. assessment and court costs on becoming "
     "looked after), in every arm."},
    {"transition_costs[].from", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,
     "A state, or a level (every state in it)."},
    {"transition_costs[].to", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,
     "A state, or a level (every state in it); moves within one state are not moves."},
    {"transition_costs[].cost", FL_TY_NAMED, 0, 1, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "One-off cost of each such move, by budget holder, charged in the step of the move and "
     "discounted where the move lands (the step's end) under start and end timing, at the "
     "step's middle under half_cycle and simpson."},
    {"transition_costs[].cost.*", FL_TY_NUM, 0, -BIG, BIG, NULL, NULL, "currency", "Cost."},
    {"transition_costs[].qaly", FL_TY_NUM, 0, -10, 10, "0", NULL, "QALYs",
     "One-off change in quality-adjusted life years of each such move (discounted as its "
     "cost)."},
    {"rewards", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "When costs and QoL are counted."},
    {"rewards.timing", FL_TY_ENUM, 0, 0, 0, "start", "start|end|half_cycle|simpson", NULL,
     "start: children present at the start of a step (with its entrants), discounted from the "
     "step's start; end: children present at its end, discounted from its end; half_cycle: the "
     "mean of the two (trapezoid), discounted from the step's middle; simpson: Simpson's 1/3 rule "
     "over pairs of steps (trapezoid for a last odd step), discounted from the step's middle. "
     "State costs and QoL, intervention costs per child reached and state_cost changes count "
     "their children so; running spend and set-up costs are discounted with the step; one-off "
     "costs of moves where the move lands (the step's end) under start and end, at the step's "
     "middle under half_cycle and simpson."},
    {"rewards.points", FL_TY_ENUM, 0, 0, 0, NULL, "0..T|1..T|0..T-1", NULL,
     "Instead of timing: count the children present at these time points (T: the horizon in "
     "steps), each point's rewards weighted by rewards.weights (or weight_rule, weight_list) "
     "and discounted at the point itself. A point is reported in the step that starts there "
     "(the final point T in the last step; under 1..T, in the step that ends there). One-off "
     "costs of moves are discounted where the move lands, running spend and set-up costs at "
     "the step's start. See docs/scenario.md, time points and weights."},
    {"rewards.weights", FL_TY_ENUM, 0, 0, 0, NULL, "ones|trapezoid|simpson|simpson_2_4", NULL,
     "A named rule of weights over the counted points p_0..p_n (with rewards.points; default "
     "ones): ones, 1 each; trapezoid, 1/2 at both ends and 1 between; simpson, the composite "
     "Simpson's 1/3 rule (1, 4, 2, 4, ..., 4, 1)/3, which needs an even n; simpson_2_4, 1/3 at "
     "both ends and 2/3, 4/3, 2/3, ... between (the 'Simpson1/3' weights of darthtools' "
     "gen_wcc)."},
    {"rewards.weight_rule", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,
     "Weights by a rule instead of a named one: first at p_0, last at p_n, repeat cycled over "
     "the points between, all divided by divisor."},
    {"rewards.weight_rule.first", FL_TY_NUM, 1, -BIG, BIG, NULL, NULL, "weight",
     "Weight of the first counted point (of the only one, where one is counted)."},
    {"rewards.weight_rule.last", FL_TY_NUM, 1, -BIG, BIG, NULL, NULL, "weight",
     "Weight of the last counted point."},
    {"rewards.weight_rule.repeat", FL_TY_NUMS, 1, -BIG, BIG, NULL, NULL, "weights",
     "Weights of the points between, p_1, p_2, ..., taken in turn from this list."},
    {"rewards.weight_rule.divisor", FL_TY_NUM, 0, 1e-9, BIG, "1", NULL, NULL,
     "Every weight of the rule is divided by this (3 for thirds)."},
    {"rewards.weight_list", FL_TY_NUMS, 0, -BIG, BIG, NULL, NULL, "weights",
     "Weights given one by one, one for each counted point in order."},
    {"heterogeneity", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,
     "Per-child heterogeneity (frailty): a multiplier drawn once for each child when it is "
     "created, from its own random stream, so that every arm gives a child the same one. It "
     "multiplies the probabilities of the chosen moves of the child's row (staying takes up the "
     "difference) and, where asked, its state costs and QoL weight. One multiplier a child."},
    {"heterogeneity.distribution", FL_TY_ENUM, 1, 0, 0, NULL,
     "uniform|gamma|lognormal|beta|discrete", NULL,
     "uniform (low, high), gamma, lognormal or beta (mean, sd; beta on [0, 1]), or discrete "
     "(values, probabilities)."},
    {"heterogeneity.mean", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "factor",
     "Mean of the multiplier (gamma, lognormal, beta)."},
    {"heterogeneity.sd", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "factor",
     "Standard deviation of the multiplier (gamma, lognormal, beta)."},
    {"heterogeneity.low", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "factor",
     "Lower end of a uniform multiplier."},
    {"heterogeneity.high", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "factor",
     "Upper end of a uniform multiplier."},
    {"heterogeneity.values", FL_TY_NUMS, 0, 0, BIG, NULL, NULL, "factor",
     "The values of a discrete multiplier (rounded, like every multiplier, to a multiple of "
     "2^-16)."},
    {"heterogeneity.probabilities", FL_TY_NUMS, 0, 0, 1, NULL, NULL, "probability",
     "Probability of each value of a discrete multiplier (adding up to 1)."},
    {"heterogeneity.nodes", FL_TY_INT, 0, 1, 200, "16", NULL, "nodes",
     "Expectation mode: the number of sub-cohorts a continuous distribution is replaced by, the "
     "nodes of its Gauss rule (Gauss-Legendre for uniform, generalised Gauss-Laguerre for "
     "gamma, Gauss-Hermite in the log for lognormal, Gauss-Jacobi for beta). Where a gamma or "
     "lognormal multiplier fills some rows (more than 1e-9 of children reach a cap), the nodes "
     "are those of Gauss-Legendre on the quantile function between 0 and each cap, plus one "
     "node above the last (exact there). A discrete distribution is exact: one sub-cohort a "
     "value."},
    {"heterogeneity.transitions", FL_TY_SEQ, 0, 1, 10000, NULL, NULL, NULL,
     "The moves the multiplier applies to. A bounded distribution (uniform, beta, discrete) "
     "whose largest value would leave staying a negative probability in some row is an error; "
     "with gamma or lognormal a multiplier that large is capped there, so that the row's "
     "staying probability is 0 (validate says for which share of children)."},
    {"heterogeneity.transitions[].from", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,
     "A state, or a level (every state in it)."},
    {"heterogeneity.transitions[].to", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "A state, or a level (every state in it); without it, every move from `from` to another "
     "state (not leaving the area)."},
    {"heterogeneity.costs", FL_TY_BOOL, 0, 0, 0, "false", NULL, NULL,
     "The multiplier multiplies the child's state costs (every budget holder); not one-off move "
     "costs or intervention costs."},
    {"heterogeneity.qol", FL_TY_BOOL, 0, 0, 0, "false", NULL, NULL,
     "The multiplier multiplies the child's QoL weight; not one-off QALY changes of moves."},
    {"economics", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "Cost-effectiveness settings."},
    {"economics.willingness_to_pay", FL_TY_NUMS, 0, 0, BIG, "[0, 10000, 20000, 30000, 50000]",
     NULL, "currency per QALY",
     "Values of a QALY at which net monetary benefit and the probability of being cost-effective "
     "are reported."},
    {"posterior_draws", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "A CSV of posterior draws of transition probabilities and locality multipliers (flourish "
     "fit writes one beside the scenario it fits, with the posterior means in the file): a "
     "column a key path, a row a draw; a path relative to the scenario's folder. run --psa "
     "takes one draw for each block of replications; expectation mode and runs without --psa "
     "use the values in place."},
    {"uncertainty", FL_TY_SEQ, 0, 1, 10000, NULL, NULL, NULL,
     "Parameter distributions drawn with run --psa, once per block of replications: state "
     "costs, QoL weights and intervention multipliers. Expectation mode and runs without --psa "
     "use the values in place."},
    {"uncertainty[].key", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,
     "The parameter: states.S.cost.H, states.S.qol, or arms.A.interventions.I.P for a parameter "
     "P of the intervention's kind (transition: escalation, deescalation)."},
    {"uncertainty[].distribution", FL_TY_ENUM, 1, 0, 0, NULL, "gamma|beta|lognormal|fixed", NULL,
     "gamma for costs, beta for QoL weights, lognormal for multipliers; fixed: no draw."},
    {"uncertainty[].mean", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "the key's unit",
     "Mean of the distribution (default: the key's value)."},
    {"uncertainty[].sd", FL_TY_NUM, 0, 0, BIG, "0", NULL, "the key's unit",
     "Standard deviation of the distribution."},
    {"arms", FL_TY_NAMED, 0, 1, FL_MAX_ARMS - 1, NULL, NULL, NULL,
     "Alternatives to the baseline, by name. Each adds interventions and may change state "
     "costs, QoL weights, one-off move costs and transition rows; all arms of a replication "
     "share every child's random numbers, so differences from the baseline are paired."},
    {"arms.*", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "One arm."},
    {"arms.*.description", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL, "What the arm represents."},
    {"arms.*.label", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "Display name of the arm in reports and tables (default: the name)."},
    {"arms.*.interventions", FL_TY_NAMED, 0, 0, 32, NULL, NULL, NULL,
     "The arm's interventions, by name (none: an arm identical to the baseline)."},
    {"arms.*.interventions.*", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "One intervention."},
    {"arms.*.interventions.*.kind", FL_TY_ENUM, 0, 0, 0, "transition", "transition|state_cost",
     NULL,
     "What it does to the children it reaches. transition: multiplies their escalation and "
     "de-escalation probabilities and named moves (escalation, deescalation, moves). "
     "state_cost: multiplies the costs of their states (cost_multiplier), leaving their moves "
     "alone. Every kind shares the keys for when it runs, whom it reaches and what it costs."},
    {"arms.*.interventions.*.months", FL_TY_RANGE, 0, 0, 1e7, "[0, .inf]", NULL, "months",
     "[start, end): months since the start of the run during which it runs (and is paid for)."},
    {"arms.*.interventions.*.years", FL_TY_RANGE, 0, 0, 1e5, NULL, NULL, "years",
     "[start, end): the same as months, in years since the start of the run (give one of the "
     "two)."},
    {"arms.*.interventions.*.levels", FL_TY_NAMES, 0, 1, FL_MAX_LEVELS, NULL, NULL, NULL,
     "Children in these levels are reached (with states: either). Default: everyone."},
    {"arms.*.interventions.*.states", FL_TY_NAMES, 0, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "Children in these states are reached."},
    {"arms.*.interventions.*.localities", FL_TY_NAMES, 0, 1, FL_MAX_LOCALITIES, NULL, NULL,
     NULL, "Localities reached. Default: all."},
    {"arms.*.interventions.*.age_years", FL_TY_RANGE, 0, 0, 200, "[0, .inf]", NULL, "years",
     "[lo, hi): ages reached."},
    {"arms.*.interventions.*.escalation", FL_TY_NUM, 0, 0, 100, "1", NULL, "factor",
     "kind transition: multiplier on every escalation probability of children reached (0.8: a "
     "fifth fewer); the difference goes to staying."},
    {"arms.*.interventions.*.escalation_change_percent", FL_TY_NUM, 0, -100, 9900, NULL, NULL,
     "percent", "kind transition: escalation as a percentage change instead of a multiplier "
     "(-10: a tenth fewer, the same as escalation 0.9; give one of the two)."},
    {"arms.*.interventions.*.deescalation", FL_TY_NUM, 0, 0, 100, "1", NULL, "factor",
     "kind transition: multiplier on every de-escalation probability of children reached (1.2: "
     "a fifth more)."},
    {"arms.*.interventions.*.deescalation_change_percent", FL_TY_NUM, 0, -100, 9900, NULL,
     NULL, "percent", "kind transition: de-escalation as a percentage change instead of a "
     "multiplier (20: a fifth more, the same as deescalation 1.2; give one of the two)."},
    {"arms.*.interventions.*.moves", FL_TY_NAMED, 0, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "kind transition: multipliers on named moves, from-state -> to-state -> factor (with "
     "escalation and de-escalation, factors multiply)."},
    {"arms.*.interventions.*.moves.*", FL_TY_NAMED, 0, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "Moves from this state."},
    {"arms.*.interventions.*.moves.*.*", FL_TY_NUM, 0, 0, 100, NULL, NULL, "factor",
     "Multiplier on this move."},
    {"arms.*.interventions.*.cost_multiplier", FL_TY_NAMED, 0, 1, FL_MAX_HOLDERS, NULL, NULL,
     NULL,
     "kind state_cost: factors on the state costs of the children reached, by budget holder "
     "(0.8: a fifth cheaper), on the children reached counted as for cost_per_child_month."},
    {"arms.*.interventions.*.cost_multiplier.*", FL_TY_NUM, 0, 0, 100, NULL, NULL, "factor",
     "Factor on the state costs charged to this budget holder."},
    {"arms.*.interventions.*.ramp_months", FL_TY_NUM, 0, 0, 1e4, "0", NULL, "months",
     "Months from the start to full effect (0: full at once)."},
    {"arms.*.interventions.*.ramp", FL_TY_ENUM, 0, 0, 0, "linear", "linear|logistic|exponential",
     NULL, "Shape of the build-up (and of the decay after the end)."},
    {"arms.*.interventions.*.decay_months", FL_TY_NUM, 0, 0, 1e4, "0", NULL, "months",
     "After the end, months over which the effect reached fades to none (0: at once)."},
    {"arms.*.interventions.*.spend_per_month", FL_TY_NUM, 0, 0, BIG, "0", NULL,
     "currency per month",
     "Monthly spend while it runs: its running cost and, with a half_saturation, its dose."},
    {"arms.*.interventions.*.spend_per_year", FL_TY_NUM, 0, 0, BIG, NULL, NULL,
     "currency per year",
     "Yearly spend, instead of spend_per_month (a twelfth of it each month; give one of the "
     "two)."},
    {"arms.*.interventions.*.reference_spend_per_month", FL_TY_NUM, 0, 0, BIG, NULL, NULL,
     "currency per month",
     "The monthly spend at which the multipliers apply in full (default: spend_per_month). "
     "With a half_saturation, a spend_per_month other than this scales the effect; without "
     "one it must equal spend_per_month."},
    {"arms.*.interventions.*.half_saturation", FL_TY_NUM, 0, 0, BIG, "0", NULL,
     "currency per month",
     "Dose-response: at spend x the effect is scaled by h(x)/h(reference_spend_per_month), "
     "h(x) = x/(x + half_saturation). 0: no dose-response."},
    {"arms.*.interventions.*.setup_cost", FL_TY_NUM, 0, 0, BIG, "0", NULL, "currency",
     "One-off cost in its first month."},
    {"arms.*.interventions.*.cost_per_child_month", FL_TY_NUM, 0, 0, BIG, "0", NULL,
     "currency",
     "Cost per child reached per month, the children reached in a step counted as "
     "rewards.timing counts the children in each state (at its start, its end, or both)."},
    {"arms.*.interventions.*.budget_holder", FL_TY_STR, 0, 0, 0, NULL, NULL, NULL,
     "Budget holder charged (required when it costs anything)."},
    {"arms.*.reinvest", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,
     "Savings reinvested in an intervention: the feedback loop."},
    {"arms.*.reinvest.fraction", FL_TY_NUM, 1, 0, 1, NULL, NULL, "share",
     "Share of each month's realised saving against the baseline (same replication) added to the "
     "intervention's spend; 0: savings are absorbed elsewhere."},
    {"arms.*.reinvest.from", FL_TY_NAMES, 1, 1, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "Budget holders whose savings count."},
    {"arms.*.reinvest.delay_months", FL_TY_NUM, 0, 0, 1e4, "0", NULL, "months",
     "Months between a saving and its reinvestment."},
    {"arms.*.reinvest.into", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,
     "The intervention (of this arm) whose spend grows; it needs a half_saturation."},
    {"arms.*.states", FL_TY_NAMED, 0, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "State costs and QoL weights that differ in this arm (a treatment that improves quality of "
     "life, a drug cost), by state name. Each value given replaces the scenario's in this arm; "
     "what it leaves out stays. Children move exactly as in the baseline, so the comparison "
     "stays paired. Under --psa a value the arm gives is used as given, not drawn."},
    {"arms.*.states.*", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "One state's rewards in the arm."},
    {"arms.*.states.*.cost", FL_TY_NAMED, 0, 1, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "Cost of one child in this state in the arm, by budget holder; holders left out keep the "
     "scenario's cost."},
    {"arms.*.states.*.cost.*", FL_TY_NUM, 0, 0, BIG, NULL, NULL, "currency per costs.per",
     "Cost charged to this budget holder in the arm."},
    {"arms.*.states.*.qol", FL_TY_NUM, 0, 0, 1, NULL, NULL, "weight",
     "Quality-of-life weight of a child-year in this state in the arm."},
    {"arms.*.transition_costs", FL_TY_SEQ, 0, 1, 10000, NULL, NULL, NULL,
     "One-off costs and QoL changes of moves that differ in this arm: for the moves an entry "
     "covers, each cost and qaly it gives replaces the scenario's (entries covering the same "
     "move add up, as in transition_costs); what it leaves out stays."},
    {"arms.*.transition_costs[].from", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,
     "A state, or a level (every state in it)."},
    {"arms.*.transition_costs[].to", FL_TY_STR, 1, 0, 0, NULL, NULL, NULL,
     "A state, or a level (every state in it)."},
    {"arms.*.transition_costs[].cost", FL_TY_NAMED, 0, 1, FL_MAX_HOLDERS, NULL, NULL, NULL,
     "One-off cost of each such move in the arm, by budget holder."},
    {"arms.*.transition_costs[].cost.*", FL_TY_NUM, 0, -BIG, BIG, NULL, NULL, "currency",
     "Cost."},
    {"arms.*.transition_costs[].qaly", FL_TY_NUM, 0, -10, 10, NULL, NULL, "QALYs",
     "One-off change in quality-adjusted life years of each such move in the arm."},
    {"arms.*.transitions", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL,
     "Transition rows that differ in this arm. Every child keeps its own random numbers, so the "
     "comparison stays paired. Not with --psa."},
    {"arms.*.transitions.tables", FL_TY_SEQ, 1, 1, 1e5, NULL, NULL, NULL,
     "Tables as in transitions.tables (in its given_as and per_months), applied after the "
     "scenario's: a row given here replaces the scenario's for the ages, times in state, "
     "periods and localities its table covers (all of them by default); rows it leaves out "
     "stay. Interventions of the arm act on the result."},
    {"arms.*.transitions.tables[].age_years", FL_TY_RANGE, 0, 0, 200, "[0, .inf]", NULL,
     "years", "[lo, hi): ages the table applies to."},
    {"arms.*.transitions.tables[].time_in_state_months", FL_TY_RANGE, 0, 0, 1e5, "[0, .inf]",
     NULL, "months", "[lo, hi): completed time in the current state (or level) it applies to."},
    {"arms.*.transitions.tables[].period_months", FL_TY_RANGE, 0, 0, 1e7, "[0, .inf]", NULL,
     "months", "[lo, hi): months since the start of the run it applies to."},
    {"arms.*.transitions.tables[].localities", FL_TY_NAMES, 0, 1, FL_MAX_LOCALITIES, NULL, NULL,
     NULL, "Localities it applies to; all when absent."},
    {"arms.*.transitions.tables[].rows", FL_TY_NAMED, 1, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "Rows by from-state, as in transitions.tables[].rows (one entry may be rest)."},
    {"arms.*.transitions.tables[].rows.*", FL_TY_NAMED, 0, 1, FL_MAX_STATES, NULL, NULL, NULL,
     "One row: to-state -> probability (or rate)."},
    {"arms.*.transitions.tables[].rows.*.*", FL_TY_PROB, 0, 0, BIG, NULL, NULL, NULL,
     "Probability (0 to 1) or rate (>= 0) of this move; or rest."},
    VARY_KEYS("arms.*.transitions.tables"),
};
const size_t fl_schema_len = sizeof fl_schema / sizeof fl_schema[0];

const fl_key *fl_schema_find(const char *path) {
  for (size_t i = 0; i < fl_schema_len; i++)
    if (strcmp(fl_schema[i].path, path) == 0) return &fl_schema[i];
  return NULL;
}

static const char *type_words(fl_type t) {
  switch (t) {
  case FL_TY_MAP: return "a mapping of keys";
  case FL_TY_NAMED: return "a mapping of names";
  case FL_TY_SEQ: return "a list of mappings";
  case FL_TY_STR: return "a string";
  case FL_TY_NAMES: return "a list of names";
  case FL_TY_NUM: return "a number";
  case FL_TY_INT: return "a whole number";
  case FL_TY_BOOL: return "true or false";
  case FL_TY_RANGE: return "a range [lo, hi]";
  case FL_TY_PROB: return "a number or the word rest";
  case FL_TY_ENUM: return "one of the listed words";
  case FL_TY_NUMS: return "a list of numbers";
  }
  return "?";
}

static const char *found_words(const fl_node *n) {
  return n->kind == FL_NODE_MAP ? "a mapping" : n->kind == FL_NODE_SEQ ? "a list" : "a scalar";
}

/* Strict number parsing: the whole scalar must be a finite decimal number, or .inf/.Inf. */
static int parse_number(const fl_node *n, double *out, int allow_inf) {
  const char *s = n->value;
  char *end;
  if (n->kind != FL_NODE_SCALAR || n->quoted || !*s) return 0;
  if (allow_inf && (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF") ||
                    !strcmp(s, "+.inf"))) {
    *out = INF;
    return 1;
  }
  /* Refuse hex floats, "nan", "inf" spelled by strtod and leading whitespace. */
  for (const char *p = s; *p; p++)
    if (!strchr("0123456789+-.eE_", *p)) return 0;
  *out = strtod(s, &end);
  return *end == '\0' && isfinite(*out);
}

double fl_scalar_num(const fl_node *n) {
  double v = NAN;
  if (!parse_number(n, &v, 1)) return NAN;
  return v;
}

int fl_scalar_is_rest(const fl_node *n) {
  return n && n->kind == FL_NODE_SCALAR && !n->quoted && strcmp(n->value, "rest") == 0;
}

typedef struct walker {
  const char *file;
  fl_error *err;
} walker;

static fl_status fail(walker *w, const fl_node *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static fl_status fail(walker *w, const fl_node *n, const char *key, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fl_error_set(w->err, FL_ESCHEMA, w->file, n ? n->line : 0, n ? n->col : 0, key, "%s", msg);
  return FL_ESCHEMA;
}

static void fmt_num(char *buf, size_t size, double v) {
  if (isinf(v)) snprintf(buf, size, "%s", v > 0 ? ".inf" : "-.inf");
  else snprintf(buf, size, "%.10g", v);
}

static fl_status check_number(walker *w, const fl_key *k, const fl_node *n, const char *key,
                              int allow_inf, double *out) {
  char lo[32], hi[32];
  if (!parse_number(n, out, allow_inf))
    return fail(w, n, key, "expected %s, found %s%s%s", type_words(k->type),
                n->kind == FL_NODE_SCALAR ? "'" : found_words(n),
                n->kind == FL_NODE_SCALAR ? n->value : "", n->kind == FL_NODE_SCALAR ? "'" : "");
  fmt_num(lo, sizeof lo, k->min);
  fmt_num(hi, sizeof hi, k->max);
  if (*out < k->min || (*out > k->max && !(allow_inf && isinf(*out))))
    return fail(w, n, key, "expected a value between %s and %s%s%s, found %s", lo, hi,
                k->unit ? " " : "", k->unit ? k->unit : "", n->value);
  if (k->type == FL_TY_INT && *out != floor(*out))
    return fail(w, n, key, "expected a whole number, found %s", n->value);
  return FL_OK;
}

static fl_status check_node(walker *w, const fl_node *n, const char *pattern, const char *key);

static fl_status check_children(walker *w, const fl_node *n, const fl_key *k, const char *pattern,
                                const char *key) {
  char cpat[256], ckey[256];
  size_t plen = strlen(pattern);
  fl_status st;
  static const fl_key item_key = {"", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "list item"};
  if (k->type == FL_TY_SEQ) {
    for (size_t i = 0; i < n->n; i++) {
      snprintf(cpat, sizeof cpat, "%s[]", pattern);
      snprintf(ckey, sizeof ckey, "%s[%zu]", key, i);
      if (n->items[i]->kind != FL_NODE_MAP)
        return fail(w, n->items[i], ckey, "expected a mapping of keys, found %s",
                    found_words(n->items[i]));
      if ((st = check_children(w, n->items[i], &item_key, cpat, ckey)) != FL_OK) return st;
    }
    return FL_OK;
  }
  for (size_t i = 0; i < n->n; i++) {
    const fl_node *kn = fl_map_key(n, i);
    snprintf(ckey, sizeof ckey, "%s%s%s", key, *key ? "." : "", kn->value);
    if (k->type == FL_TY_NAMED) {
      if (!kn->value[0] || strlen(kn->value) > 63 || strpbrk(kn->value, " \t\n/.,:[]{}\"'"))
        return fail(w, kn, ckey,
                    "names are 1 to 63 characters without spaces, dots, slashes, commas, "
                    "colons, brackets or quotes");
      snprintf(cpat, sizeof cpat, "%s%s*", pattern, plen ? "." : "");
    } else {
      snprintf(cpat, sizeof cpat, "%s%s%s", pattern, plen ? "." : "", kn->value);
      if (!fl_schema_find(cpat)) {
        /* List the keys that are allowed here, so the user can spot a typo. */
        char allowed[600] = "";
        const char *near = NULL;
        size_t used = 0, near_d = SIZE_MAX;
        for (size_t j = 0; j < fl_schema_len; j++) {
          const char *p = fl_schema[j].path;
          size_t len = strlen(p);
          if (plen ? (len > plen + 1 && !strncmp(p, pattern, plen) && p[plen] == '.' &&
                      !strpbrk(p + plen + 1, ".[*"))
                   : !strpbrk(p, ".[*")) {
            const char *leaf = p + (plen ? plen + 1 : 0);
            const size_t d = fl_edit_distance(kn->value, leaf);
            int m = snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? ", " : "",
                             leaf);
            if (m > 0 && (size_t)m < sizeof allowed - used) used += (size_t)m;
            if (d < near_d) near = leaf, near_d = d;
          }
        }
        if (near && fl_is_likely_typo(kn->value, near_d))
          return fail(w, kn, ckey, "unknown key; did you mean '%s'? expected one of: %s", near,
                      allowed);
        return fail(w, kn, ckey, "unknown key; expected one of: %s", allowed);
      }
    }
    if ((st = check_node(w, fl_map_val(n, i), cpat, ckey)) != FL_OK) return st;
  }
  /* Required keys of a fixed mapping. */
  if (k->type == FL_TY_MAP) {
    for (size_t j = 0; j < fl_schema_len; j++) {
      const char *p = fl_schema[j].path;
      size_t len = strlen(p);
      if (!fl_schema[j].required) continue;
      if (plen ? (len > plen + 1 && !strncmp(p, pattern, plen) && p[plen] == '.' &&
                  !strpbrk(p + plen + 1, ".[*"))
               : !strpbrk(p, ".[*")) {
        const char *leaf = p + (plen ? plen + 1 : 0);
        if (!fl_map_get(n, leaf)) {
          snprintf(ckey, sizeof ckey, "%s%s%s", key, *key ? "." : "", leaf);
          return fail(w, n, ckey, "required key is missing (%s)", fl_schema[j].doc);
        }
      }
    }
  }
  return FL_OK;
}

static fl_status check_node(walker *w, const fl_node *n, const char *pattern, const char *key) {
  const fl_key *k = fl_schema_find(pattern);
  double v, lo, hi;
  fl_status st;
  if (!k) return fail(w, n, key, "unknown key");
  switch (k->type) {
  case FL_TY_MAP:
  case FL_TY_NAMED:
    if (n->kind != FL_NODE_MAP)
      return fail(w, n, key, "expected %s, found %s", type_words(k->type), found_words(n));
    if (k->type == FL_TY_NAMED && (n->n < k->min || n->n > k->max))
      return fail(w, n, key, "expected between %.0f and %.0f entries, found %zu", k->min, k->max,
                  n->n);
    return check_children(w, n, k, pattern, key);
  case FL_TY_SEQ:
    if (n->kind != FL_NODE_SEQ)
      return fail(w, n, key, "expected %s, found %s", type_words(k->type), found_words(n));
    if (n->n < k->min || n->n > k->max)
      return fail(w, n, key, "expected between %.0f and %.0f items, found %zu", k->min, k->max,
                  n->n);
    return check_children(w, n, k, pattern, key);
  case FL_TY_NAMES:
    if (n->kind != FL_NODE_SEQ)
      return fail(w, n, key, "expected %s, found %s", type_words(k->type), found_words(n));
    if (n->n < k->min || n->n > k->max)
      return fail(w, n, key, "expected between %.0f and %.0f names, found %zu", k->min, k->max,
                  n->n);
    for (size_t i = 0; i < n->n; i++) {
      const fl_node *it = n->items[i];
      if (it->kind != FL_NODE_SCALAR || !it->value[0] || strlen(it->value) > 63 ||
          strpbrk(it->value, " \t\n/.,:[]{}\"'"))
        return fail(w, it, key,
                    "item %zu: expected a name of 1 to 63 characters without spaces, dots, "
                    "slashes, commas, colons, brackets or quotes",
                    i + 1);
      for (size_t j = 0; j < i; j++)
        if (!strcmp(n->items[j]->value, it->value))
          return fail(w, it, key, "the name '%s' is listed twice", it->value);
    }
    return FL_OK;
  case FL_TY_STR:
    if (n->kind != FL_NODE_SCALAR)
      return fail(w, n, key, "expected a string, found %s", found_words(n));
    return FL_OK;
  case FL_TY_ENUM: {
    size_t len;
    const char *c = k->choices;
    if (n->kind != FL_NODE_SCALAR)
      return fail(w, n, key, "expected one of %s, found %s", k->choices, found_words(n));
    len = strlen(n->value);
    while (c && *c) {
      const char *bar = strchr(c, '|');
      size_t clen = bar ? (size_t)(bar - c) : strlen(c);
      if (clen == len && !strncmp(c, n->value, len)) return FL_OK;
      c = bar ? bar + 1 : NULL;
    }
    {
      /* The closest choice, when the word looks like a misspelling of one. */
      char choice[64], best[64] = "";
      size_t best_d = SIZE_MAX;
      for (c = k->choices; c && *c;) {
        const char *bar = strchr(c, '|');
        size_t clen = bar ? (size_t)(bar - c) : strlen(c);
        snprintf(choice, sizeof choice, "%.*s", (int)clen, c);
        const size_t d = fl_edit_distance(n->value, choice);
        if (d < best_d) best_d = d, memcpy(best, choice, sizeof best);
        c = bar ? bar + 1 : NULL;
      }
      if (best[0] && fl_is_likely_typo(n->value, best_d))
        return fail(w, n, key, "expected one of %s, found '%s'; did you mean '%s'?", k->choices,
                    n->value, best);
    }
    return fail(w, n, key, "expected one of %s, found '%s'", k->choices, n->value);
  }
  case FL_TY_BOOL:
    if (n->kind != FL_NODE_SCALAR || n->quoted ||
        (strcmp(n->value, "true") && strcmp(n->value, "false")))
      return fail(w, n, key, "expected true or false, found %s%s%s",
                  n->kind == FL_NODE_SCALAR ? "'" : found_words(n),
                  n->kind == FL_NODE_SCALAR ? n->value : "", n->kind == FL_NODE_SCALAR ? "'" : "");
    return FL_OK;
  case FL_TY_NUM:
  case FL_TY_INT:
    return check_number(w, k, n, key, 0, &v);
  case FL_TY_PROB:
    if (fl_scalar_is_rest(n)) return FL_OK;
    return check_number(w, k, n, key, 0, &v);
  case FL_TY_NUMS:
    if (n->kind != FL_NODE_SEQ || n->n < 1 || n->n > 1000)
      return fail(w, n, key, "expected a list of 1 to 1000 numbers, found %s", found_words(n));
    for (size_t i = 0; i < n->n; i++)
      if ((st = check_number(w, k, n->items[i], key, 0, &v)) != FL_OK) return st;
    return FL_OK;
  case FL_TY_RANGE:
    if (n->kind != FL_NODE_SEQ || n->n != 2)
      return fail(w, n, key, "expected a range [lo, hi], found %s%s",
                  n->kind == FL_NODE_SEQ ? "a list of length " : found_words(n),
                  n->kind == FL_NODE_SEQ ? (n->n == 0 ? "0" : n->n == 1 ? "1" : "more than 2")
                                          : "");
    if ((st = check_number(w, k, n->items[0], key, 0, &lo)) != FL_OK) return st;
    if ((st = check_number(w, k, n->items[1], key, 1, &hi)) != FL_OK) return st;
    if (hi < lo) return fail(w, n, key, "range [%g, %g] ends before it starts", lo, hi);
    return FL_OK;
  }
  return fail(w, n, key, "internal: unhandled schema type");
}

fl_status fl_schema_check(const char *file, const fl_node *root, fl_error *err) {
  walker w = {file, err};
  static const fl_key root_key = {"", FL_TY_MAP, 1, 0, 0, NULL, NULL, NULL, "scenario"};
  if (root->kind != FL_NODE_MAP)
    return fail(&w, root, NULL,
                "a scenario is a YAML mapping of keys (flourish, name, time, levels, states, "
                "population, transitions), found %s",
                found_words(root));
  return check_children(&w, root, &root_key, "", "");
}

static const fl_node *leaf_node(const fl_node *map, const char *pattern) {
  const char *leaf = strrchr(pattern, '.');
  return fl_map_get(map, leaf ? leaf + 1 : pattern);
}

double fl_get_num(const fl_node *map, const char *pattern) {
  const fl_node *n = leaf_node(map, pattern);
  const fl_key *k;
  if (n) return fl_scalar_num(n);
  k = fl_schema_find(pattern);
  return k && k->def ? strtod(k->def, NULL) : NAN;
}

const char *fl_get_str(const fl_node *map, const char *pattern) {
  const fl_node *n = leaf_node(map, pattern);
  const fl_key *k;
  if (n && n->kind == FL_NODE_SCALAR) return n->value;
  k = fl_schema_find(pattern);
  return k ? k->def : NULL;
}

int fl_get_bool(const fl_node *map, const char *pattern) {
  const char *s = fl_get_str(map, pattern);
  return s && !strcmp(s, "true");
}

int fl_get_range(const fl_node *map, const char *pattern, double *lo, double *hi) {
  const fl_node *n = leaf_node(map, pattern);
  if (!n || n->kind != FL_NODE_SEQ || n->n != 2) return 0;
  *lo = fl_scalar_num(n->items[0]);
  *hi = fl_scalar_num(n->items[1]);
  return 1;
}

void fl_schema_print(int markdown, void (*write)(void *ctx, const char *text), void *ctx) {
  char line[2048], range[96];
  if (markdown) write(ctx, "| key | type | required | default | unit | meaning |\n|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < fl_schema_len; i++) {
    const fl_key *k = &fl_schema[i];
    range[0] = '\0';
    if (k->type == FL_TY_NUM || k->type == FL_TY_INT || k->type == FL_TY_RANGE ||
        k->type == FL_TY_PROB || k->type == FL_TY_NUMS) {
      char lo[32], hi[32];
      fmt_num(lo, sizeof lo, k->min);
      fmt_num(hi, sizeof hi, k->max);
      snprintf(range, sizeof range, " in [%s, %s]", lo, hi);
    } else if (k->type == FL_TY_ENUM) {
      /* In a Markdown table a bare | would start a new column. */
      size_t used = (size_t)snprintf(range, sizeof range, ": ");
      for (const char *p = k->choices; *p && used + 3 < sizeof range; p++) {
        if (*p == '|' && markdown) range[used++] = '\\';
        range[used++] = *p;
      }
      range[used] = '\0';
    }
    if (markdown)
      snprintf(line, sizeof line, "| `%s` | %s%s | %s | %s | %s | %s |\n", k->path,
               type_words(k->type), range, k->required ? "yes" : "no", k->def ? k->def : "",
               k->unit ? k->unit : "", k->doc);
    else
      snprintf(line, sizeof line, "%s\n    %s%s%s%s%s%s%s.\n    %s\n", k->path,
               type_words(k->type), range, k->required ? ", required" : "",
               k->def ? ", default " : "", k->def ? k->def : "", k->unit ? ", unit: " : "",
               k->unit ? k->unit : "", k->doc);
    write(ctx, line);
  }
}
