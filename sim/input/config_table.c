/* config_table.c — the one table of scenario parameters (MODEL.md §11) and the operations on a row. */
#include "config_table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double default_quantiles[] = {0.05, 0.25, 0.5, 0.75, 0.95};
static const char *const default_origins[] = {"cn"};
static const char *const lab_kinds[] = {"closed", "open", NULL}; /* enum moat_lab_kind */
static const char *const terminals[] = {"mark", "multiple", NULL}; /* enum moat_terminal */
static const char *const samplings[] = {"weighted", "size_biased", "stratified", NULL}; /* enum moat_sampling */
static const char *const value_indices[] = {"paid", "frontier_cost", NULL}; /* enum moat_value_index */

#define ROW(scope_, type_, kinds_, key_, off_, def_, min_, max_, unit_, doc_)                     \
  {.key = key_, .scope = scope_, .type = type_, .kinds = kinds_, .offset = off_, .def = def_,     \
   .min = min_, .max = max_, .unit = unit_, .doc = doc_}
/* Globals: the key is the field's path in moat_scenario_t. */
#define GD(field, def, min, max, unit, doc)                                                       \
  ROW(MOAT_PS_GLOBAL, MOAT_PT_DOUBLE, MOAT_KINDS_BOTH, #field, offsetof(moat_scenario_t, field),   \
      def, min, max, unit, doc)
#define GI(field, def, min, max, unit, doc)                                                       \
  ROW(MOAT_PS_GLOBAL, MOAT_PT_INT, MOAT_KINDS_BOTH, #field, offsetof(moat_scenario_t, field), def, \
      min, max, unit, doc)
/* Lab fields, with the kinds that use them; cloud fields. */
#define LD(field, kinds, def, min, max, unit, doc)                                                \
  ROW(MOAT_PS_LAB, MOAT_PT_DOUBLE, kinds, #field, offsetof(moat_lab_t, field), def, min, max,      \
      unit, doc)
#define CD(field, def, min, max, unit, doc)                                                       \
  ROW(MOAT_PS_CLOUD, MOAT_PT_DOUBLE, MOAT_KINDS_BOTH, #field, offsetof(moat_cloud_t, field), def,  \
      min, max, unit, doc)
/* Strings: max is the longest length that fits the buffer. */
#define STR(scope_, type_, type_struct, field, required_, def_, doc_)                             \
  {.key = #field, .scope = scope_, .type = type_, .kinds = MOAT_KINDS_BOTH,                       \
   .required = required_, .offset = offsetof(type_struct, field),                                 \
   .size = sizeof(((type_struct *)0)->field), .min = 0,                                           \
   .max = (double)(sizeof(((type_struct *)0)->field) - 1), .def_str = def_, .unit = "",           \
   .doc = doc_}

#define FRACTION "fraction (0.25 = 25 %)"
#define GAP_DOC "as a fraction of frontier quality (0.04 = 4 %); kept in [1e-4, 0.9] by the model"

const moat_param_t moat_params[] = {
    /* Run */
    STR(MOAT_PS_GLOBAL, MOAT_PT_STRING, moat_scenario_t, name, 0, "scenario",
        "scenario name, written to the results"),
    {.key = "seed", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_INT64, .kinds = MOAT_KINDS_BOTH,
     .offset = offsetof(moat_scenario_t, seed), .def = 20261201, .min = 0,
     .max = 9007199254740992.0, .unit = "1",
     .doc = "master seed; path streams derive from (seed, scenario, path); at most 2^53"},
    GD(horizon_years, 10.0, 0.01, 100.0, "year", "simulated years; steps = round(horizon_years * steps_per_year) in [1, 10000]"),
    GI(steps_per_year, 12, 1, 366, "1/year", "steps per year (12 = monthly); dt = 1/steps_per_year"),
    GI(paths, 200, 1, 10000000, "1", "Monte Carlo paths per scenario"),
    /* §3, §5 market */
    GD(market.demand_mtok_per_month, 8.0e8, 1.0, 1.0e15, "Mtok/month", "total baseline token demand at t = 0"),
    GD(market.demand_growth_per_year, 1.0, -0.9, 10.0, "1/year", "g_0: growth of baseline demand at t = 0, fraction a year (1 = doubling)"),
    GD(market.demand_growth_long_run, 1.0, -0.9, 10.0, "1/year", "g_inf: long-run growth of baseline demand, fraction a year; used when the decay is > 0"),
    GD(market.demand_growth_decay_per_year, 0.0, 0.0, 20.0, "1/year", "lambda: ln(1 + growth) moves from g_0 to g_inf as exp(-lambda t) (0 = constant g_0)"),
    GD(market.price_elasticity, 0.8, 0.0, 5.0, "1", "epsilon: volume falls as (average price paid / initial)^-epsilon"),
    /* §4 quality gap */
    GD(quality_gap.initial, 0.04, 1e-4, 0.9, "1", "latent gap g(0) " GAP_DOC),
    GD(quality_gap.long_run, 0.03, 1e-4, 0.9, "1", "long-run gap g_inf the OU process in ln g reverts to, " GAP_DOC),
    GD(quality_gap.reversion_per_year, 0.5, 0.0, 20.0, "1/year", "kappa: mean reversion speed of ln g (0 = random walk)"),
    GD(quality_gap.volatility, 0.25, 0.0, 5.0, "1/sqrt(year)", "sigma: volatility of ln g"),
    /* §4 price compression */
    GD(price_compression.cost_decline_per_year, 0.4, 0.0, 0.99, "1/year", "decline of kappa_c, the serving cost of a model of fixed capability, " FRACTION " a year"),
    GD(price_compression.cost_per_quality_point, 0.0, 0.0, 5.0, "1/point", "beta: an offer's serving cost grows as exp(beta * (q(t) - q(0))) with its own quality (0 = cost independent of capability)"),
    GD(price_compression.price_war_rate_per_year, 0.3, 0.0, 12.0, "1/year", "Poisson rate at which price wars start"),
    GD(price_compression.price_war_depth, 0.75, 0.01, 0.99, "1", "mean price cut d of the aggressor, " FRACTION),
    GD(price_compression.price_war_months, 6.0, 0.0, 120.0, "month", "duration of a price war"),
    /* §4, §5 local inference */
    GD(local_inference.innovation, 0.01, 0.0, 10.0, "1/year", "Bass innovation coefficient p"),
    GD(local_inference.imitation, 0.35, 0.0, 10.0, "1/year", "Bass imitation coefficient q"),
    GD(local_inference.max_share, 0.3, 0.0, 1.0, "1", "local-inference pool: the most privacy-sensitive enterprises, " FRACTION),
    GD(local_inference.cost_per_mtok, 0.8, 0.0, 1.0e4, "USD/Mtok", "local inference cost at t = 0 (hardware, power, operations)"),
    GD(local_inference.cost_decline_per_year, 0.45, 0.0, 0.99, "1/year", "decline of the local cost, " FRACTION " a year"),
    GD(local_inference.quality_penalty, 0.06, 0.0, 0.9, "1", "lambda_L(0): local quality = q * (1 - penalty), " FRACTION),
    GD(local_inference.penalty_decline_per_year, 0.3, 0.0, 0.99, "1/year", "decline of the local quality penalty, " FRACTION " a year"),
    /* §3 enterprises */
    GI(enterprises.count, 160, 1, 1000000, "1", "N: enterprises, each a slice of the market (160 stratified draws are as precise as 1000 weighted ones: docs/performance.md, enterprise sampling)"),
    {.key = "enterprises.sampling", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_CHOICE,
     .kinds = MOAT_KINDS_BOTH, .offset = offsetof(moat_scenario_t, enterprises.sampling), .min = 0,
     .max = 2, .def_str = "stratified", .choices = samplings, .what = "scheme of enterprise sampling", .unit = "",
     .doc = "how the N enterprises sample the market: \"weighted\" = i.i.d. draws with lognormal volumes as demand weights; \"size_biased\" = the same draws, each enterprise 1/N of the volume (volume_sigma then unused); \"stratified\" = 1/N of the volume each and every attribute's uniforms stratified, one per 1/N stratum (docs/model.md)"},
    GD(enterprises.volume_sigma, 1.5, 0.0, 5.0, "1", "sigma of the lognormal baseline volumes (drawn by sampling \"weighted\"; the other schemes sample in proportion to volume and need no volumes)"),
    GD(enterprises.hard_share_mean, 0.1, 0.001, 0.999, "1", "mean share of volume in the hard segment (Beta mean)"),
    GD(enterprises.hard_share_concentration, 20.0, 0.01, 1.0e6, "1", "concentration (alpha + beta) of the hard-share Beta"),
    GD(enterprises.value_hard_median, 30.0, 0.001, 1.0e6, "USD/Mtok", "median value of hard work at frontier quality"),
    GD(enterprises.value_routine_median, 1.5, 0.001, 1.0e6, "USD/Mtok", "median value of routine work at frontier quality"),
    GD(enterprises.value_sigma, 0.8, 0.0, 5.0, "1", "sigma of the lognormal work values"),
    GD(enterprises.value_price_elasticity, 0.0, 0.0, 1.0, "1", "theta: a segment's value of work follows the price it pays, v(t) = v(0) (P(t - dt) / P(0))^theta (0 = fixed dollar value)"),
    {.key = "enterprises.value_index", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_CHOICE,
     .kinds = MOAT_KINDS_BOTH, .offset = offsetof(moat_scenario_t, enterprises.value_index), .min = 0,
     .max = 1, .def_str = "paid", .choices = value_indices, .what = "price level the value of work follows", .unit = "",
     .doc = "P of value follows price: \"paid\" = the segment's own price per token bought P_is (MODEL.md 5), \"frontier_cost\" = the frontier's serving cost now, kappa_c(t) exp(beta (F(t) - F(0))), the same for every segment"},
    GD(enterprises.gap_sensitivity_hard, 6.0, 0.0, 100.0, "1", "eta_hard: value lost per relative quality gap, hard work"),
    GD(enterprises.gap_sensitivity_routine, 0.5, 0.0, 100.0, "1", "eta_routine: value lost per relative quality gap, routine work"),
    GD(enterprises.privacy_mean, 0.1, 0.001, 0.999, "1", "mean privacy sensitivity pi (Beta mean)"),
    GD(enterprises.privacy_concentration, 10.0, 0.01, 1.0e6, "1", "concentration (alpha + beta) of the privacy Beta"),
    GD(enterprises.privacy_weight, 0.2, 0.0, 100.0, "1", "w_priv: weight of privacy exposure in utility"),
    GD(enterprises.finetune_gain_points, 3.0, 0.0, 100.0, "points", "scale of the fine-tuning gain phi on self-hosted open weights"),
    GD(enterprises.speed_value, 0.01, 0.0, 10.0, "1", "sigma_speed: value of ln(speed) in utility"),
    GD(enterprises.taste_dispersion, 0.12, 0.001, 10.0, "1", "rho: logit scale tau = rho * v"),
    GD(enterprises.review_per_year, 2.0, 0.0, 366.0, "1/year", "Poisson rate at which an enterprise re-routes its volume"),
    {.key = "enterprises.outside_option", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_BOOL,
     .kinds = MOAT_KINDS_BOTH, .offset = offsetof(moat_scenario_t, enterprises.outside_option), .def = 1,
     .min = 0, .max = 1, .unit = "",
     .doc = "enterprises may leave work undone (buy no tokens) when every offer is worth less than outside_value"},
    GD(enterprises.outside_value, 0.0, -10.0, 10.0, "1", "o: utility of buying nothing, as a fraction of the work's value (u_0 = o * v)"),
    GD(enterprises.host_similarity, 0.0, 0.0, 0.95, "1", "sigma: nested-logit similarity of the hosts of one open model's weights (nest lambda = 1 - sigma; 0 = plain logit)"),
    /* §3 governance */
    {.key = "governance.restricted_origins", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_SLIST,
     .kinds = MOAT_KINDS_BOTH, .offset = offsetof(moat_scenario_t, governance.restricted_origins),
     .size = MOAT_MAX_ORIGINS, .elem_size = MOAT_ORIGIN_MAX,
     .count_offset = offsetof(moat_scenario_t, governance.n_restricted_origins), .min = 0,
     .max = MOAT_ORIGIN_MAX - 1, .def_slist = default_origins, .def_n = 1, .unit = "",
     .doc = "origins restricted enterprises may not buy from (e.g. [\"cn\"]); at most 8"},
    GD(governance.restricted_share, 0.25, 0.0, 1.0, "1", "share of enterprises under the restriction, " FRACTION),
    /* §6 pricing */
    GD(pricing.tolerance, 1e-9, 1e-15, 0.1, "1", "convergence: max relative price change of a zeta iteration"),
    GI(pricing.max_iterations, 1000, 1, 1000000, "1", "zeta iterations per step before damping"),
    /* §7 finance */
    GD(finance.runway_months, 12.0, 0.0, 120.0, "month", "raise when cash covers fewer months of burn"),
    GD(finance.raise_months, 24.0, 0.0, 240.0, "month", "a raise covers this many months of burn"),
    GD(finance.max_raise_fraction, 0.25, 0.0, 1.0, "1", "cap on one raise as a fraction of V; capped labs are distressed"),
    /* §7 valuation */
    GD(valuation.growth_weight, 1.0, 0.0, 10.0, "year", "a_g: re-rating exp(a_g * (growth - growth(0)))"),
    GD(valuation.margin_weight, 1.0, 0.0, 10.0, "1", "a_m: re-rating exponent of GM / GM(0)"),
    GD(valuation.rerating_min, 0.02, 0.001, 1.0, "1", "lower clamp of the re-rating"),
    GD(valuation.rerating_max, 5.0, 1.0, 1000.0, "1", "upper clamp of the re-rating"),
    GD(valuation.discount_rate, 0.12, 0.0, 1.0, "1/year", "r: continuous discount rate of the DCF"),
    GD(valuation.terminal_multiple, 8.0, 0.0, 1000.0, "year", "DCF terminal value as a multiple of ARR_T"),
    GD(valuation.cloud_multiple, 10.0, 0.0, 1000.0, "year", "M(0): revenue multiple of clouds"),
    GD(valuation.infra_multiple, 20.0, 0.0, 1000.0, "year", "M(0): multiple of infrastructure on compute spend"),
    {.key = "valuation.terminal", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_CHOICE,
     .kinds = MOAT_KINDS_BOTH, .offset = offsetof(moat_scenario_t, valuation.terminal), .min = 0,
     .max = 1, .def_str = "mark", .choices = terminals, .what = "terminal value rule", .unit = "",
     .doc = "DCF terminal value: \"mark\" = the path's own valuation V_T (0 after an exit), \"multiple\" = terminal_multiple * ARR_T"},
    /* §9 sweep */
    {.key = "sweep.common_random_numbers", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_BOOL,
     .kinds = MOAT_KINDS_BOTH, .offset = offsetof(moat_scenario_t, sweep.common_random_numbers),
     .def = 1, .min = 0, .max = 1, .unit = "",
     .doc = "path p of every scenario of a sweep draws the same random numbers (streams keyed by seed, path and stream); false adds the scenario index to the key"},
    /* Output */
    STR(MOAT_PS_GLOBAL, MOAT_PT_STRING, moat_scenario_t, output.file, 0, "results/moatsim.h5",
        "results file (run -o overrides)"),
    {.key = "output.quantiles", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_DLIST,
     .kinds = MOAT_KINDS_BOTH, .offset = offsetof(moat_scenario_t, output.quantiles),
     .size = MOAT_MAX_QUANTILES, .count_offset = offsetof(moat_scenario_t, output.n_quantiles),
     .increasing = 1, .min = 0.0, .max = 1.0, .def_dlist = default_quantiles, .def_n = 5, .unit = "1",
     .doc = "quantiles summarized across paths, strictly increasing inside (0, 1); 1 to 16"},
    {.key = "output.keep_paths", .scope = MOAT_PS_GLOBAL, .type = MOAT_PT_BOOL,
     .kinds = MOAT_KINDS_BOTH, .offset = offsetof(moat_scenario_t, output.keep_paths), .def = 0,
     .min = 0, .max = 1, .unit = "", .doc = "also write every path's metrics"},
    /* Labs: labs.<name>.<field> (§2, §4, §7) */
    STR(MOAT_PS_LAB, MOAT_PT_STRING, moat_lab_t, name, 1, "",
        "unique lab name (letters, digits, '-', '_'); addresses the lab as labs.<name>.<field>"),
    {.key = "kind", .scope = MOAT_PS_LAB, .type = MOAT_PT_CHOICE, .kinds = MOAT_KINDS_BOTH,
     .required = 1, .offset = offsetof(moat_lab_t, kind), .min = 0, .max = 1, .def_str = "closed",
     .choices = lab_kinds, .what = "lab kind", .unit = "", .doc = "\"closed\" (flagship + mini through its API) or \"open\" (published weights)"},
    STR(MOAT_PS_LAB, MOAT_PT_STRING, moat_lab_t, origin, 0, "us",
        "origin tag matched against governance.restricted_origins, e.g. \"us\", \"cn\", \"eu\""),
    LD(quality, MOAT_KINDS_BOTH, 72.0, 1.0, 1000.0, "points", "initial flagship (closed) or model (open) quality"),
    LD(serve_cost_per_mtok, MOAT_KINDS_BOTH, 1.5, 1e-4, 1.0e4, "USD/Mtok", "base serving cost at t = 0"),
    LD(mini_quality_gap, MOAT_KINDS_CLOSED, 0.08, 0.0, 0.9, "1", "mini quality = quality * (1 - gap), " FRACTION),
    LD(mini_cost_factor, MOAT_KINDS_CLOSED, 0.1, 0.001, 1.0, "1", "mini cost = serving cost * factor"),
    LD(ecosystem_bonus, MOAT_KINDS_CLOSED, 0.1, 0.0, 2.0, "1", "b: multiplies the quality value by (1 + b)"),
    LD(hosting_risk, MOAT_KINDS_BOTH, 0.0, 0.0, 10.0, "1", "extra privacy exposure of the first-party API (x += risk)"),
    LD(lag, MOAT_KINDS_OPEN, 0.0, 0.0, 0.9, "1", "relative distance behind the best open model at a release, " FRACTION),
    LD(capture_share, MOAT_KINDS_OPEN, 0.15, 0.0, 1.0, "1", "share of clouds' revenue on its model the lab captures"),
    LD(release_rate_per_year, MOAT_KINDS_BOTH, 2.0, 0.0, 52.0, "1/year", "Poisson rate of releases"),
    LD(release_jump_points, MOAT_KINDS_CLOSED, 3.0, 0.0, 100.0, "points", "mean leapfrog jump J over the frontier"),
    LD(training_spend_per_year, MOAT_KINDS_BOTH, 2.0e10, 0.0, 1.0e13, "USD/year", "training spend at t = 0"),
    LD(training_cost_growth_per_year, MOAT_KINDS_BOTH, 1.4, -0.9, 10.0, "1/year", "growth of training spend, fraction a year"),
    LD(opex_ratio, MOAT_KINDS_BOTH, 0.3, 0.0, 5.0, "1", "operating cost as a fraction of revenue"),
    LD(fixed_opex_per_year, MOAT_KINDS_BOTH, 2.0e9, 0.0, 1.0e13, "USD/year", "fixed operating cost"),
    LD(cash_usd, MOAT_KINDS_BOTH, 4.0e10, 0.0, 1.0e14, "USD", "initial cash"),
    LD(shares, MOAT_KINDS_BOTH, 1.0e9, 1.0, 1.0e15, "1", "initial share count"),
    LD(valuation_usd, MOAT_KINDS_BOTH, 5.0e11, 1.0, 1.0e15, "USD", "valuation V(0); M(0) = V(0) / ARR(0)"),
    LD(initial_growth, MOAT_KINDS_BOTH, 1.0, -5.0, 10.0, "1/year", "revenue growth at t = 0 in log units a year"),
    LD(training_returns, MOAT_KINDS_CLOSED, 0.0, 0.0, 2.0, "1", "gamma: mean release jump = release_jump_points * (training spent / planned)^gamma (0 = jumps independent of funding)"),
    /* Clouds: clouds.<name>.<field> (§2) */
    STR(MOAT_PS_CLOUD, MOAT_PT_STRING, moat_cloud_t, name, 1, "",
        "unique cloud name (letters, digits, '-', '_'); addresses it as clouds.<name>.<field>"),
    CD(cost_factor, 1.0, 0.01, 100.0, "1", "serving cost = model cost * factor"),
    CD(speed, 1.0, 0.01, 1000.0, "1", "speed multiplier (1 = ordinary GPU serving; wafer-scale 10-15)"),
};
const size_t moat_n_params = sizeof moat_params / sizeof moat_params[0];

#define XSTR(x) #x
#define STRINGIFY(x) XSTR(x)
_Static_assert(MOAT_SWEEP_MAX_SCENARIOS == 10000000UL, "sweep.samples' range text below");

const moat_sweep_key_t moat_sweep_keys[MOAT_N_SWEEP_KEYS] = {
    [MOAT_SK_METHOD] = {"method", "string", "grid, list, lhs, sobol, saltelli, morris",
                        "grid: every combination of the axes' values (last axis fastest); list: "
                        "scenario k takes the k-th value of every axis; lhs: a Latin hypercube of "
                        "`samples` points; sobol: the first `samples` points of the Sobol sequence; "
                        "saltelli and morris: designs for Sobol and Morris sensitivity indices (docs/analysis.md)"},
    [MOAT_SK_SAMPLES] = {"samples", "int", "[1, 10000000]",
                         "lhs and sobol: sample points; saltelli: base rows N; morris: trajectories r"},
    [MOAT_SK_LEVELS] = {"levels", "int", "even, [2, 1000]",
                        "morris: grid levels p of each parameter (default 4)"},
    [MOAT_SK_SECOND_ORDER] = {"second_order", "bool", "true, false",
                              "saltelli: also the matrices for second-order Sobol indices (default false)"},
    [MOAT_SK_CRN] = {"common_random_numbers", "bool", "true, false",
                     "path p of every scenario draws the same random numbers (default true; the parameter "
                     "sweep.common_random_numbers)"},
    [MOAT_SK_AXES] = {"axes", "list of groups", "1 to " STRINGIFY(MOAT_MAX_AXES) " (sobol: 40)",
                      "one group per swept parameter: `( { param = \"...\"; values = [...]; }, ... )`"},
};

const moat_sweep_key_t moat_axis_keys[MOAT_N_AXIS_KEYS] = {
    [MOAT_AK_PARAM] = {"param", "string", "a numeric key",
                       "dotted key of the swept parameter (`quality_gap.long_run`, "
                       "`labs.open-a.lag`); each parameter on one axis only"},
    [MOAT_AK_VALUES] = {"values", "double list", "the parameter's range",
                        "grid and list: the values taken; a list sweep needs the same count on "
                        "every axis"},
    [MOAT_AK_MIN] = {"min", "double", "the parameter's range",
                     "lhs and sobol: lower end of a uniform range (give min and max, or a preset)"},
    [MOAT_AK_MAX] = {"max", "double", "the parameter's range, > min",
                     "lhs and sobol: upper end of the uniform range"},
    [MOAT_AK_LOG] = {"log", "bool", "true, false",
                     "lhs and sobol: sample uniformly in ln(value) (min, or low, must be > 0); "
                     "default false"},
    [MOAT_AK_LOW] = {"low", "double", "the parameter's range, < mid",
                     "lhs and sobol preset: 5th percentile of a two-piece normal whose 5th, 50th "
                     "and 95th percentiles are low, mid, high (in ln space with log = true)"},
    [MOAT_AK_MID] = {"mid", "double", "< high", "preset: 50th percentile (median)"},
    [MOAT_AK_HIGH] = {"high", "double", "the parameter's range", "preset: 95th percentile"},
};

const moat_param_t *moat_param_find(int scope, const char *key) {
  for (size_t k = 0; k < moat_n_params; k++)
    if (moat_params[k].scope == scope && strcmp(moat_params[k].key, key) == 0) return &moat_params[k];
  return NULL;
}

size_t moat_edit_distance(const char *a, const char *b) {
  size_t la = strnlen(a, MOAT_KEY_MAX - 1), lb = strnlen(b, MOAT_KEY_MAX - 1);
  size_t row[MOAT_KEY_MAX];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* Close means at most a third of the word's letters changed (and at least 2 allowed). */
static size_t close_limit(const char *word) {
  size_t n = strlen(word) / 3;
  return n < 2 ? 2 : n;
}

const char *moat_nearest(const char *word, const char *const *candidates, size_t n) {
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  for (size_t k = 0; k < n; k++) {
    if (!candidates[k]) break;
    size_t d = moat_edit_distance(word, candidates[k]);
    if (d < best_d) best_d = d, best = candidates[k];
  }
  return best && best_d <= close_limit(word) ? best : NULL;
}

int moat_param_range(const char *key, double *min, double *max) {
  const moat_param_t *p = moat_param_find(MOAT_PS_GLOBAL, key);
  if (!p) return MOAT_EINVAL;
  *min = p->min, *max = p->max;
  return MOAT_OK;
}

/* Keep `cand` in best if it is closer to key than what best holds. */
static void consider(const char *key, const char *cand, char *best, size_t *best_d) {
  size_t d = moat_edit_distance(key, cand);
  if (d < *best_d) {
    *best_d = d;
    snprintf(best, MOAT_KEY_MAX, "%s", cand);
  }
}

void moat_param_suggest(const moat_scenario_t *sc, const char *key, char *out, size_t outlen) {
  char best[MOAT_KEY_MAX] = "", cand[2 * MOAT_KEY_MAX];
  size_t best_d = (size_t)-1;
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    if (p->scope == MOAT_PS_GLOBAL) {
      consider(key, p->key, best, &best_d);
    } else if (p->scope == MOAT_PS_LAB) {
      for (int l = 0; sc && l < sc->n_labs; l++) {
        if (!(p->kinds & (1 << sc->labs[l].kind))) continue;
        snprintf(cand, sizeof cand, "labs.%s.%s", sc->labs[l].name, p->key);
        if (strlen(cand) < MOAT_KEY_MAX) consider(key, cand, best, &best_d);
      }
    } else {
      for (int c = 0; sc && c < sc->n_clouds; c++) {
        snprintf(cand, sizeof cand, "clouds.%s.%s", sc->clouds[c].name, p->key);
        if (strlen(cand) < MOAT_KEY_MAX) consider(key, cand, best, &best_d);
      }
    }
  }
  if (best[0] && best_d <= close_limit(key)) snprintf(out, outlen, " (did you mean `%s`?)", best);
  else if (outlen) out[0] = '\0';
}

static int unknown_key(const moat_scenario_t *sc, const char *key, char *err, size_t errlen) {
  char hint[MOAT_KEY_MAX + 32];
  moat_param_suggest(sc, key, hint, sizeof hint);
  snprintf(err, errlen, "unknown parameter `%s`%s; `moatsim params` lists them all", key, hint);
  return MOAT_EINVAL;
}

/* Split "labs.<name>.<field>": the entry's index and the field's row. */
static int resolve_entry(const moat_scenario_t *sc, const char *key, int scope,
                         moat_param_ref_t *ref, char *err, size_t errlen) {
  const char *prefix = scope == MOAT_PS_LAB ? "labs." : "clouds.";
  const char *name = key + strlen(prefix);
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name) return unknown_key(sc, key, err, errlen);
  size_t nlen = (size_t)(dot - name);
  int n = scope == MOAT_PS_LAB ? sc->n_labs : sc->n_clouds;
  for (int k = 0; k < n; k++) {
    const char *ename = scope == MOAT_PS_LAB ? sc->labs[k].name : sc->clouds[k].name;
    if (strlen(ename) != nlen || strncmp(ename, name, nlen) != 0) continue;
    const moat_param_t *p = moat_param_find(scope, dot + 1);
    if (!p) return unknown_key(sc, key, err, errlen);
    if (scope == MOAT_PS_LAB && !(p->kinds & (1 << sc->labs[k].kind))) {
      snprintf(err, errlen, "`%s`: %s applies to %s labs only and %.*s is %s", key, p->key,
               p->kinds == MOAT_KINDS_OPEN ? "open" : "closed", (int)nlen, name,
               sc->labs[k].kind == MOAT_LAB_OPEN ? "open" : "closed");
      return MOAT_EINVAL;
    }
    ref->param = p;
    ref->entry = k;
    ref->base = scope == MOAT_PS_LAB ? (void *)&sc->labs[k] : (void *)&sc->clouds[k];
    return MOAT_OK;
  }
  char names[MOAT_ERR_MAX / 2] = "";
  size_t used = 0;
  for (int k = 0; k < n && used < sizeof names; k++) {
    const char *ename = scope == MOAT_PS_LAB ? sc->labs[k].name : sc->clouds[k].name;
    int w = snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "", ename);
    if (w > 0) used += (size_t)w;
  }
  char hint[MOAT_KEY_MAX + 32];
  moat_param_suggest(sc, key, hint, sizeof hint);
  snprintf(err, errlen, "`%s`: no %s is named \"%.*s\"%s; the scenario has: %s", key,
           scope == MOAT_PS_LAB ? "lab" : "cloud", (int)nlen, name, hint, n ? names : "none");
  return MOAT_EINVAL;
}

int moat_param_resolve(const moat_scenario_t *sc, const char *key, moat_param_ref_t *ref,
                       char *err, size_t errlen) {
  if (strncmp(key, "labs.", 5) == 0) return resolve_entry(sc, key, MOAT_PS_LAB, ref, err, errlen);
  if (strncmp(key, "clouds.", 7) == 0)
    return resolve_entry(sc, key, MOAT_PS_CLOUD, ref, err, errlen);
  const moat_param_t *p = moat_param_find(MOAT_PS_GLOBAL, key);
  if (!p) return unknown_key(sc, key, err, errlen);
  ref->param = p;
  ref->base = (void *)sc;
  ref->entry = -1;
  return MOAT_OK;
}

void moat_param_defaults(int scope, void *base) {
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    if (p->scope != scope) continue;
    char *field = (char *)base + p->offset;
    switch (p->type) {
    case MOAT_PT_STRING: snprintf(field, p->size, "%s", p->def_str); break;
    case MOAT_PT_CHOICE: *(int *)(void *)field = moat_param_choice_index(p, p->def_str); break;
    case MOAT_PT_DLIST:
      memcpy(field, p->def_dlist, (size_t)p->def_n * sizeof(double));
      *(int *)(void *)((char *)base + p->count_offset) = p->def_n;
      break;
    case MOAT_PT_SLIST:
      for (int i = 0; i < p->def_n; i++)
        snprintf(field + (size_t)i * p->elem_size, p->elem_size, "%s", p->def_slist[i]);
      *(int *)(void *)((char *)base + p->count_offset) = p->def_n;
      break;
    default: moat_param_store_number(p, base, p->def); break;
    }
  }
}

void moat_format_double(double v, char *out, size_t outlen) {
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(out, outlen, "%.*g", prec, v);
    if (strtod(out, NULL) == v) break;
  }
  /* libconfig reads "3" as an integer; the text stays a valid double setting with ".0". */
  if (isfinite(v) && !strpbrk(out, ".eE") && strlen(out) + 2 < outlen) strcat(out, ".0");
}

static int is_integer_type(int type) {
  return type == MOAT_PT_INT || type == MOAT_PT_INT64 || type == MOAT_PT_BOOL;
}

static void format_bound(const moat_param_t *p, double v, char *out, size_t outlen) {
  if (is_integer_type(p->type)) snprintf(out, outlen, "%.0f", v);
  else snprintf(out, outlen, "%.15g", v);
}

int moat_param_check_number(const moat_param_t *p, const char *key, double v, char *err,
                            size_t errlen) {
  char lo[40], hi[40], val[40];
  format_bound(p, p->min, lo, sizeof lo);
  format_bound(p, p->max, hi, sizeof hi);
  snprintf(val, sizeof val, "%.15g", v);
  if (!isfinite(v)) {
    snprintf(err, errlen, "%s = %s is not a finite number: give a value in [%s, %s]: %s", key, val,
             lo, hi, p->doc);
    return MOAT_EINVAL;
  }
  if (v < p->min || v > p->max) {
    snprintf(err, errlen, "%s = %s is outside [%s, %s]: %s", key, val, lo, hi, p->doc);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

/* 2^53: above it a double no longer holds every integer, so integer rows stop there. */
#define EXACT_INTEGER_MAX 9007199254740992.0

int moat_param_check_integer(const moat_param_t *p, const char *key, long long v, char *err,
                             size_t errlen) {
  if (!is_integer_type(p->type) || (v >= (long long)p->min && v <= (long long)p->max))
    return moat_param_check_number(p, key, (double)v, err, errlen);
  char lo[40], hi[40];
  format_bound(p, p->min, lo, sizeof lo);
  format_bound(p, p->max, hi, sizeof hi);
  snprintf(err, errlen, "%s = %lld is outside [%s, %s]: %s", key, v, lo, hi, p->doc);
  return MOAT_EINVAL;
}

int moat_param_check_float(const moat_param_t *p, const char *key, double v, char *err,
                           size_t errlen) {
  if (is_integer_type(p->type) && isfinite(v) && v != floor(v)) {
    snprintf(err, errlen, "%s = %.15g is not a whole number: %s", key, v, p->doc);
    return MOAT_EINVAL;
  }
  int st = moat_param_check_number(p, key, v, err, errlen);
  if (!st && is_integer_type(p->type) && fabs(v) >= EXACT_INTEGER_MAX) {
    snprintf(err, errlen, "%s = %.17g is written as a floating-point number, which cannot tell "
             "integers from 2^53 on apart (9007199254740993 reads as 9007199254740992): write "
             "the integer itself", key, v);
    return MOAT_EINVAL;
  }
  return st;
}

void moat_param_store_number(const moat_param_t *p, void *base, double v) {
  void *field = (char *)base + p->offset;
  switch (p->type) {
  case MOAT_PT_INT: *(int *)field = (int)lround(v); break;
  case MOAT_PT_BOOL: *(int *)field = v != 0.0; break;
  case MOAT_PT_INT64: *(uint64_t *)field = (uint64_t)llround(v); break;
  default: *(double *)field = v; break;
  }
}

double moat_param_load_number(const moat_param_t *p, const void *base) {
  const void *field = (const char *)base + p->offset;
  switch (p->type) {
  case MOAT_PT_INT:
  case MOAT_PT_BOOL:
  case MOAT_PT_CHOICE: return (double)*(const int *)field;
  case MOAT_PT_INT64: return (double)*(const uint64_t *)field;
  default: return *(const double *)field;
  }
}

/* Append a libconfig string literal (quotes and backslashes escaped). */
static size_t put_string(char *out, size_t outlen, size_t used, const char *s) {
  if (used < outlen) out[used++] = '"';
  for (; *s && used + 2 < outlen; s++) {
    if (*s == '"' || *s == '\\') out[used++] = '\\';
    out[used++] = *s;
  }
  if (used < outlen) out[used++] = '"';
  if (used < outlen) out[used] = '\0';
  else if (outlen) out[outlen - 1] = '\0';
  return used;
}

static void format_list(const moat_param_t *p, const void *base, char *out, size_t outlen) {
  const char *field = (const char *)base + p->offset;
  int n = *(const int *)(const void *)((const char *)base + p->count_offset);
  size_t used = (size_t)snprintf(out, outlen, "[");
  for (int i = 0; i < n && used + 1 < outlen; i++) {
    if (i) used += (size_t)snprintf(out + used, outlen - used, ", ");
    if (used >= outlen) break;
    if (p->type == MOAT_PT_DLIST) {
      moat_format_double(((const double *)(const void *)field)[i], out + used, outlen - used);
      used += strlen(out + used);
    } else {
      used = put_string(out, outlen, used, field + (size_t)i * p->elem_size);
    }
  }
  if (used + 1 < outlen) snprintf(out + used, outlen - used, "]");
}

void moat_param_format(const moat_param_t *p, const void *base, char *out, size_t outlen) {
  const char *field = (const char *)base + p->offset;
  switch (p->type) {
  case MOAT_PT_INT: snprintf(out, outlen, "%d", *(const int *)(const void *)field); break;
  case MOAT_PT_INT64:
    snprintf(out, outlen, "%llu", (unsigned long long)*(const uint64_t *)(const void *)field);
    break;
  case MOAT_PT_BOOL: snprintf(out, outlen, "%s", *(const int *)(const void *)field ? "true" : "false"); break;
  case MOAT_PT_STRING: put_string(out, outlen, 0, field); break;
  case MOAT_PT_CHOICE: put_string(out, outlen, 0, p->choices[*(const int *)(const void *)field]); break;
  case MOAT_PT_DLIST:
  case MOAT_PT_SLIST: format_list(p, base, out, outlen); break;
  default: moat_format_double(*(const double *)(const void *)field, out, outlen); break;
  }
}

int moat_param_check_list(const moat_param_t *p, const char *key, const double *v, int n,
                          char *err, size_t errlen) {
  for (int i = 0; i < n; i++)
    if (moat_param_check_number(p, key, v[i], err, errlen)) return MOAT_EINVAL;
  if (!p->increasing) return MOAT_OK;
  if (n < 1) {
    snprintf(err, errlen, "%s is empty: %s", key, p->doc);
    return MOAT_EINVAL;
  }
  for (int i = 0; i < n; i++) {
    if (!(v[i] > p->min && v[i] < p->max) || (i > 0 && !(v[i] > v[i - 1]))) {
      snprintf(err, errlen, "%s entry %d = %.15g: entries must be strictly increasing inside (%g, %g)",
               key, i + 1, v[i], p->min, p->max);
      return MOAT_EINVAL;
    }
  }
  return MOAT_OK;
}

int moat_param_choice_index(const moat_param_t *p, const char *s) {
  for (int i = 0; p->choices[i]; i++)
    if (strcmp(p->choices[i], s) == 0) return i;
  return -1;
}

void moat_param_choice_text(const moat_param_t *p, int quoted, char *out, size_t outlen) {
  size_t used = 0;
  if (outlen) out[0] = '\0';
  for (int i = 0; p->choices[i] && used < outlen; i++) {
    const char *sep = i == 0 ? "" : !quoted ? ", " : p->choices[i + 1] ? ", " : " or ";
    const char *q = quoted ? "\"" : "";
    used += (size_t)snprintf(out + used, outlen - used, "%s%s%s%s", sep, q, p->choices[i], q);
  }
}

int moat_param_check_string(const moat_param_t *p, const char *key, const char *s, char *err,
                            size_t errlen) {
  size_t len = strlen(s);
  if (p->type != MOAT_PT_CHOICE && (double)len > p->max) {
    snprintf(err, errlen, "%s = \"%.40s...\" is %zu characters long; at most %.0f fit", key, s, len,
             p->max);
    return MOAT_EINVAL;
  }
  if (p->type == MOAT_PT_CHOICE && moat_param_choice_index(p, s) < 0) {
    char allowed[256];
    moat_param_choice_text(p, 1, allowed, sizeof allowed);
    snprintf(err, errlen, "%s = \"%.40s\" is not a %s: use %s", key, s, p->what, allowed);
    return MOAT_EINVAL;
  }
  if (!p->required || p->type != MOAT_PT_STRING) return MOAT_OK;
  /* Entry names become part of dotted keys: no dots, spaces or '='. */
  if (len == 0 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != len) {
    snprintf(err, errlen, "%s = \"%s\": %s", key, s, p->doc);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

/* Check one row's value in base; key is the full dotted key for messages. */
static int check_row(const moat_param_t *p, const void *base, const char *key, char *err,
                     size_t errlen) {
  const char *field = (const char *)base + p->offset;
  if (p->type == MOAT_PT_STRING) {
    if (!memchr(field, '\0', p->size)) {
      snprintf(err, errlen, "%s is longer than %zu characters", key, p->size - 1);
      return MOAT_EINVAL;
    }
    return moat_param_check_string(p, key, field, err, errlen);
  }
  if (p->type == MOAT_PT_DLIST || p->type == MOAT_PT_SLIST) {
    int n = *(const int *)(const void *)((const char *)base + p->count_offset);
    if (n < 0 || (size_t)n > p->size) {
      snprintf(err, errlen, "%s has %d entries; at most %zu", key, n, p->size);
      return MOAT_EINVAL;
    }
    for (int i = 0; i < n; i++) {
      if (p->type == MOAT_PT_SLIST) {
        if (!memchr(field + (size_t)i * p->elem_size, '\0', p->elem_size)) {
          snprintf(err, errlen, "%s entry %d is longer than %zu characters", key, i + 1, p->elem_size - 1);
          return MOAT_EINVAL;
        }
      }
    }
    if (p->type == MOAT_PT_DLIST) return moat_param_check_list(p, key, (const double *)(const void *)field, n, err, errlen);
    return MOAT_OK;
  }
  if (p->type == MOAT_PT_CHOICE) {
    int v = *(const int *)(const void *)field;
    if (v >= 0 && v <= (int)p->max) return MOAT_OK;
    char allowed[256];
    moat_param_choice_text(p, 1, allowed, sizeof allowed);
    snprintf(err, errlen, "%s = %d is not a %s: use %s", key, v, p->what, allowed);
    return MOAT_EINVAL;
  }
  return moat_param_check_number(p, key, moat_param_load_number(p, base), err, errlen);
}

/* Check every row of `scope` in one struct; lab rows only for the lab's kind. */
static int check_scope(int scope, const void *base, const char *prefix, int kind, char *err,
                       size_t errlen) {
  char key[2 * MOAT_KEY_MAX];
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    if (p->scope != scope || (scope == MOAT_PS_LAB && !(p->kinds & (1 << kind)))) continue;
    snprintf(key, sizeof key, "%s%s", prefix, p->key);
    if (check_row(p, base, key, err, errlen)) return MOAT_EINVAL;
  }
  return MOAT_OK;
}

int moat_param_check_all(const moat_scenario_t *sc, const char *where, char *err, size_t errlen) {
  char inner[MOAT_ERR_MAX], prefix[MOAT_KEY_MAX];
  int st = check_scope(MOAT_PS_GLOBAL, sc, "", 0, inner, sizeof inner);
  for (int l = 0; !st && l < sc->n_labs && l < MOAT_MAX_LABS; l++) {
    int kind = sc->labs[l].kind == MOAT_LAB_OPEN ? MOAT_LAB_OPEN : MOAT_LAB_CLOSED;
    snprintf(prefix, sizeof prefix, "labs.%.*s.", MOAT_NAME_MAX - 1, sc->labs[l].name);
    st = check_scope(MOAT_PS_LAB, &sc->labs[l], prefix, kind, inner, sizeof inner);
  }
  for (int c = 0; !st && c < sc->n_clouds && c < MOAT_MAX_CLOUDS; c++) {
    snprintf(prefix, sizeof prefix, "clouds.%.*s.", MOAT_NAME_MAX - 1, sc->clouds[c].name);
    st = check_scope(MOAT_PS_CLOUD, &sc->clouds[c], prefix, 0, inner, sizeof inner);
  }
  if (st) snprintf(err, errlen, "%s%s%s", where ? where : "", where ? ": " : "", inner);
  return st;
}

/* Types that sweeps and moat_scenario_set_number can address. */
static int is_numeric(int type) {
  return type == MOAT_PT_INT || type == MOAT_PT_INT64 || type == MOAT_PT_DOUBLE;
}

static int numeric_ref(const moat_scenario_t *sc, const char *key, moat_param_ref_t *ref, char *err,
                       size_t errlen) {
  if (moat_param_resolve(sc, key, ref, err, errlen)) return MOAT_EINVAL;
  if (!is_numeric(ref->param->type)) {
    snprintf(err, errlen, "`%s` is not a number and cannot be set or swept as one", key);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

int moat_scenario_set_number(moat_scenario_t *sc, const char *key, double value, char *err,
                             size_t errlen) {
  moat_param_ref_t ref;
  if (numeric_ref(sc, key, &ref, err, errlen)) return MOAT_EINVAL;
  /* Whole-number keys take the nearest whole number (an lhs axis over a count). */
  double v = ref.param->type == MOAT_PT_DOUBLE || !isfinite(value) ? value : nearbyint(value);
  if (moat_param_check_number(ref.param, key, v, err, errlen)) return MOAT_EINVAL;
  moat_param_store_number(ref.param, ref.base, v);
  return MOAT_OK;
}

int moat_scenario_get_number(const moat_scenario_t *sc, const char *key, double *value, char *err,
                             size_t errlen) {
  moat_param_ref_t ref;
  if (numeric_ref(sc, key, &ref, err, errlen)) return MOAT_EINVAL;
  *value = moat_param_load_number(ref.param, ref.base);
  return MOAT_OK;
}
