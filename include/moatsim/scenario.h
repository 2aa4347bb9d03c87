/* scenario.h — the validated scenario: every parameter of MODEL.md, with units. */
#ifndef MOATSIM_SCENARIO_H
#define MOATSIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#define MOAT_MAX_LABS 16      /* labs in one scenario */
#define MOAT_MAX_CLOUDS 8     /* serving clouds in one scenario */
#define MOAT_MAX_ORIGINS 8    /* entries of governance.restricted_origins */
#define MOAT_MAX_QUANTILES 16 /* entries of output.quantiles */
#define MOAT_MAX_AXES 64      /* sweep axes (Sobol designs are limited to 40 by GSL) */
#define MOAT_NAME_MAX 48      /* lab, cloud and scenario names, with the NUL */
#define MOAT_ORIGIN_MAX 16    /* origin tags, with the NUL */
#define MOAT_PATH_MAX 1024    /* file names, with the NUL */
#define MOAT_KEY_MAX 128      /* a dotted parameter key, with the NUL */
/* Largest design accepted: a sweep is expanded lazily, but its size is written to every output
 * dataset's scenario dimension, so an absurd count is an input error, not an allocation failure. */
#define MOAT_SWEEP_MAX_SCENARIOS 10000000UL

/* Status codes: 0 success, negative failure. */
enum moat_status {
  MOAT_OK = 0,
  MOAT_EINVAL = -1,  /* bad scenario or argument: exit code 2 */
  MOAT_EIO = -2,     /* file could not be read or written: exit code 1 */
  MOAT_ENOMEM = -3,  /* allocation failed: exit code 1 */
  MOAT_ERUNTIME = -4, /* any other failure at run time: exit code 1 */
  MOAT_EINTR = -5     /* stopped by SIGINT / SIGTERM (moatsim/signals.h): exit code 128 + signal */
};

#define MOAT_ERR_MAX 1024 /* size of the error buffers passed around */

enum moat_lab_kind { MOAT_LAB_CLOSED = 0, MOAT_LAB_OPEN = 1 };

/* valuation.terminal (MODEL.md §7): the path's own mark V_T, or terminal_multiple x ARR_T. */
enum moat_terminal { MOAT_TERMINAL_MARK = 0, MOAT_TERMINAL_MULTIPLE = 1 };

/* enterprises.sampling (MODEL.md §3; docs/model.md, enterprise sampling): how the N enterprises
 * sample the market. "weighted": i.i.d. attributes, lognormal volumes as demand weights;
 * "size_biased": the same i.i.d. draws, each enterprise carrying 1/N of the volume;
 * "stratified": equal volume shares and each attribute's uniforms stratified (Latin hypercube). */
enum moat_sampling {
  MOAT_SAMPLING_WEIGHTED = 0,
  MOAT_SAMPLING_SIZE_BIASED = 1,
  MOAT_SAMPLING_STRATIFIED = 2
};
/* enterprises.value_index (value follows price, MODEL.md §5): the price level a segment's value
 * follows. PAID: the segment's own price per token bought P_is (MODEL.md §5 as written);
 * FRONTIER_COST: the serving cost of the frontier now, kappa_c(t) exp(beta (F(t) - F(0))), the
 * same for every segment and independent of its routing (docs/model.md says why). */
enum moat_value_index { MOAT_VALUE_INDEX_PAID = 0, MOAT_VALUE_INDEX_FRONTIER_COST = 1 };

/* One lab (MODEL.md §2, §4, §7). Money in US dollars, costs in $/Mtok. */
typedef struct moat_lab {
  char name[MOAT_NAME_MAX];     /* unique; addresses the lab in --set and sweeps */
  int kind;                     /* enum moat_lab_kind */
  char origin[MOAT_ORIGIN_MAX]; /* origin tag, e.g. "us", "cn", "eu" */
  double quality;               /* initial flagship (closed) or model (open) quality, points */
  double serve_cost_per_mtok;   /* base serving cost at t = 0, $/Mtok */
  double mini_quality_gap;      /* closed: mini quality = q*(1 - gap), fraction */
  double mini_cost_factor;      /* closed: mini cost = c*factor */
  double ecosystem_bonus;       /* closed: b_j, multiplies quality value by (1 + b) */
  double hosting_risk;          /* extra privacy exposure of the first-party API, x_j += risk */
  double lag;                   /* open: relative distance behind the best open model, fraction */
  double capture_share;         /* open: share of cloud revenue on its model it captures */
  double release_rate_per_year; /* Poisson release rate, 1/year */
  double release_jump_points;   /* closed: mean leapfrog jump J, points */
  double training_spend_per_year;       /* $/year at t = 0 */
  double training_cost_growth_per_year; /* growth of training spend, fraction/year */
  double opex_ratio;                    /* operating cost as a fraction of revenue */
  double fixed_opex_per_year;           /* $/year */
  double cash_usd;                      /* initial cash, $ */
  double shares;                        /* initial share count */
  double valuation_usd;                 /* valuation at t = 0, $ */
  double initial_growth;                /* revenue growth at t = 0, log units/year */
  double training_returns;              /* closed: gamma, mean jump x (T / T_plan)^gamma */
  int line;                             /* line of the entry in the scenario file, 0 if none */
} moat_lab_t;

/* One serving cloud (MODEL.md §2). */
typedef struct moat_cloud {
  char name[MOAT_NAME_MAX];
  double cost_factor; /* serving cost = model cost * factor */
  double speed;       /* speed multiplier (1 = ordinary GPU serving) */
  int line;
} moat_cloud_t;

/* A full, validated scenario: one point of a sweep. Plain data, safe to copy by value. */
typedef struct moat_scenario {
  char name[MOAT_NAME_MAX];
  uint64_t seed;        /* master seed */
  double horizon_years; /* simulated years */
  int steps_per_year;   /* steps per year; dt = 1/steps_per_year */
  int paths;            /* Monte Carlo paths per scenario */

  struct {
    double demand_mtok_per_month;  /* total baseline demand at t = 0, Mtok/month */
    double demand_growth_per_year; /* g_0: growth at t = 0, fraction/year */
    double demand_growth_long_run; /* g_inf: long-run growth, fraction/year */
    double demand_growth_decay_per_year; /* lambda: ln(1 + g) moves from g_0 to g_inf, 1/year */
    double price_elasticity;       /* epsilon */
  } market;
  struct {
    double initial;            /* g(0), fraction of frontier quality */
    double long_run;           /* g_inf */
    double reversion_per_year; /* kappa, 1/year */
    double volatility;         /* sigma of ln g, 1/sqrt(year) */
  } quality_gap;
  struct {
    double cost_decline_per_year;   /* decline of the fixed-capability cost index, fraction/year */
    double cost_per_quality_point;  /* beta: cost x exp(beta (q(t) - q(0))), 1/point */
    double price_war_rate_per_year; /* Poisson rate of price-war starts, 1/year */
    double price_war_depth;         /* mean cut d, fraction */
    double price_war_months;        /* duration, months */
  } price_compression;
  struct {
    double innovation;               /* Bass p, 1/year */
    double imitation;                /* Bass q, 1/year */
    double max_share;                /* pool: fraction of enterprises */
    double cost_per_mtok;            /* local cost at t = 0, $/Mtok */
    double cost_decline_per_year;    /* fraction/year */
    double quality_penalty;          /* lambda_L(0), fraction */
    double penalty_decline_per_year; /* fraction/year */
  } local_inference;
  struct {
    int count;    /* N */
    int sampling; /* enum moat_sampling */
    double volume_sigma;
    double hard_share_mean;
    double hard_share_concentration;
    double value_hard_median;    /* $/Mtok */
    double value_routine_median; /* $/Mtok */
    double value_sigma;
    double gap_sensitivity_hard;    /* eta_hard */
    double gap_sensitivity_routine; /* eta_routine */
    double privacy_mean;
    double privacy_concentration;
    double privacy_weight;       /* w_priv */
    double finetune_gain_points; /* points */
    double speed_value;          /* sigma_speed */
    double taste_dispersion;     /* rho: tau = rho * v */
    double review_per_year;      /* 1/year */
    int outside_option;          /* boolean: enterprises may buy nothing (outside good) */
    double outside_value;        /* o: utility of buying nothing is o * v_is */
    double value_price_elasticity; /* theta: v_is(t) = v_is(0) (P_is(t - dt) / P_is(0))^theta */
    int value_index;             /* enum moat_value_index: which price level P the value follows */
    double host_similarity;      /* sigma: nested logit over each open model's hosts, lambda = 1 - sigma */
  } enterprises;
  struct {
    int n_restricted_origins;
    char restricted_origins[MOAT_MAX_ORIGINS][MOAT_ORIGIN_MAX];
    double restricted_share; /* fraction of enterprises */
  } governance;
  struct {
    double tolerance;   /* max relative price change at convergence */
    int max_iterations; /* zeta iterations per step before damping */
  } pricing;
  struct {
    double runway_months;      /* raise when cash < runway_months of burn */
    double raise_months;       /* raise this many months of burn */
    double max_raise_fraction; /* cap on a raise as a fraction of V */
  } finance;
  struct {
    double growth_weight; /* a_g */
    double margin_weight; /* a_m */
    double rerating_min;
    double rerating_max;
    double discount_rate;     /* r, 1/year */
    double terminal_multiple; /* on ARR_T */
    double cloud_multiple;    /* M(0) of clouds */
    double infra_multiple;    /* M(0) of infrastructure */
    int terminal;             /* enum moat_terminal: the DCF's terminal value */
  } valuation;
  struct {
    int common_random_numbers; /* boolean: path streams keyed without the scenario index */
  } sweep;
  struct {
    char file[MOAT_PATH_MAX];
    int n_quantiles;
    double quantiles[MOAT_MAX_QUANTILES]; /* strictly increasing in (0, 1) */
    int keep_paths;                       /* boolean */
  } output;

  int n_labs;
  moat_lab_t labs[MOAT_MAX_LABS];
  int n_clouds;
  moat_cloud_t clouds[MOAT_MAX_CLOUDS];
} moat_scenario_t;

/* Steps T = round(horizon_years * steps_per_year). */
int moat_scenario_steps(const moat_scenario_t *sc);
/* Offers: 2 per closed lab, (2 + clouds) per open lab. */
int moat_scenario_offers(const moat_scenario_t *sc);
/* Columns of the choice matrices: the offers, plus one for the outside option if it is on. */
int moat_scenario_columns(const moat_scenario_t *sc);

/* Sweep designs (MODEL.md §11 `sweep`). */
enum moat_sweep_method {
  MOAT_SWEEP_NONE = 0, /* no sweep section: one scenario */
  MOAT_SWEEP_GRID,     /* Cartesian product of each axis's values; last axis fastest */
  MOAT_SWEEP_LIST,     /* zipped: scenario k takes values[k] of every axis */
  MOAT_SWEEP_LHS,      /* Latin hypercube of `samples` points */
  MOAT_SWEEP_SOBOL,    /* first `samples` points of the Sobol sequence */
  MOAT_SWEEP_SALTELLI, /* Saltelli design: `samples` base rows of a 2k-dim Sobol sequence, each
                          giving A, the k matrices A_B^(i) (and B_A^(i)), B (MODEL.md §13) */
  MOAT_SWEEP_MORRIS    /* Morris: `samples` trajectories of k + 1 points on a `levels`-level grid */
};

typedef struct moat_sweep_axis {
  char param[MOAT_KEY_MAX]; /* dotted key, e.g. "quality_gap.long_run", "labs.closed-a.quality" */
  int line;                 /* line in the scenario file */
  int n_values;             /* grid and list */
  double *values;           /* owned, n_values entries */
  int has_range;            /* lhs/sobol: min and max given */
  double min, max;
  int log;                  /* sample uniformly in log space */
  int has_preset;           /* lhs/sobol: low/mid/high given instead of min/max */
  double low, mid, high;    /* 5th, 50th, 95th percentiles */
} moat_sweep_axis_t;

typedef struct moat_sweep {
  int method;       /* enum moat_sweep_method */
  int samples;      /* lhs/sobol: points; saltelli: base rows N; morris: trajectories r */
  int levels;       /* morris: grid levels p (even, >= 2; 0 in the file means 4) */
  int second_order; /* saltelli: also the k matrices B_A^(i), for second-order indices */
  int line;
  int n_axes;
  moat_sweep_axis_t axes[MOAT_MAX_AXES];
} moat_sweep_t;

#endif
