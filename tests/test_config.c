/* test_config.c — the parameter table: defaults, parsing of each type, every validation rule,
 * key suggestions, --set, set/get by key, the effective-parameter listing, run options. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../sim/input/config_table.h"
#include "fixtures.h"
#include "message_check.h"
#include "scenario_file.h"
#include "moatsim/cli.h"
#include "moatsim/config.h"
#include "moatsim/metrics.h"
#include "moatsim/sweep.h"

/* A minimal valid scenario: one lab of each kind and one cloud; everything else defaults. */
#define MINIMAL                                                                                   \
  "labs = ( { name = \"c1\"; kind = \"closed\"; },\n"                                             \
  "         { name = \"o1\"; kind = \"open\"; origin = \"cn\"; } );\n"                            \
  "clouds = ( { name = \"k1\"; } );\n"

static char tmp_path[64];
static char err[MOAT_ERR_MAX];

/* Write text to the test's scenario file: one name made by mkstemp, rewritten for each case, so
 * that expected messages can name it before the load. */
static const char *write_tmp(const char *text) {
  return write_scenario_file(tmp_path, sizeof tmp_path, "/tmp/moat_test_config_XXXXXX", text);
}

/* Load text with overrides; returns the status (cfg filled on success). */
static int load(const char *text, const char *const *sets, size_t n_sets, moat_config_t *cfg) {
  err[0] = '\0';
  return moat_config_load(cfg, write_tmp(text), sets, n_sets, err, sizeof err);
}

/* The load fails with MOAT_EINVAL and the message holds every `needles` entry. */
static void load_fails(const char *text, const char *const *sets, size_t n_sets, ...) {
  moat_config_t cfg;
  assert_int_equal(load(text, sets, n_sets, &cfg), MOAT_EINVAL);
  va_list ap;
  va_start(ap, n_sets);
  assert_message_has(err, ap);
  va_end(ap);
}

/* "<scenario file>:<line>:". */
static const char *at_line(int line) {
  static char buf[96];
  write_tmp(""); /* makes the name on first use */
  snprintf(buf, sizeof buf, "%s:%d:", tmp_path, line);
  return buf;
}

/* Defaults are the MODEL.md §11 sketch values (typed in from the document, not the table). */
static void defaults_are_the_sketch(void **state) {
  (void)state;
  moat_config_t cfg;
  assert_int_equal(load(MINIMAL, NULL, 0, &cfg), MOAT_OK);
  const moat_scenario_t *sc = &cfg.base;
  assert_int_equal(sc->seed, 20261201);
  assert_true(sc->horizon_years == 10.0 && sc->steps_per_year == 12 && sc->paths == 200);
  assert_true(sc->market.demand_mtok_per_month == 8.0e8 && sc->market.demand_growth_per_year == 1.0);
  assert_true(sc->market.price_elasticity == 0.8);
  assert_true(sc->quality_gap.initial == 0.04 && sc->quality_gap.long_run == 0.03);
  assert_true(sc->quality_gap.reversion_per_year == 0.5 && sc->quality_gap.volatility == 0.25);
  assert_true(sc->price_compression.cost_decline_per_year == 0.4);
  assert_true(sc->price_compression.price_war_rate_per_year == 0.3);
  assert_true(sc->price_compression.price_war_depth == 0.75);
  assert_true(sc->price_compression.price_war_months == 6.0);
  assert_true(sc->local_inference.innovation == 0.01 && sc->local_inference.imitation == 0.35);
  assert_true(sc->local_inference.max_share == 0.3 && sc->local_inference.cost_per_mtok == 0.8);
  assert_true(sc->local_inference.cost_decline_per_year == 0.45);
  assert_true(sc->local_inference.quality_penalty == 0.06);
  assert_true(sc->local_inference.penalty_decline_per_year == 0.3);
  /* N and the sampling scheme: the sampling study's choice (docs/performance.md), not §11's. */
  assert_int_equal(sc->enterprises.count, 160);
  assert_int_equal(sc->enterprises.sampling, MOAT_SAMPLING_STRATIFIED);
  assert_true(sc->enterprises.volume_sigma == 1.5 && sc->enterprises.hard_share_mean == 0.1);
  assert_true(sc->enterprises.hard_share_concentration == 20.0);
  assert_true(sc->enterprises.value_hard_median == 30.0 && sc->enterprises.value_routine_median == 1.5);
  assert_true(sc->enterprises.value_sigma == 0.8 && sc->enterprises.gap_sensitivity_hard == 6.0);
  assert_true(sc->enterprises.gap_sensitivity_routine == 0.5 && sc->enterprises.privacy_mean == 0.1);
  assert_true(sc->enterprises.privacy_concentration == 10.0 && sc->enterprises.privacy_weight == 0.2);
  assert_true(sc->enterprises.finetune_gain_points == 3.0 && sc->enterprises.speed_value == 0.01);
  assert_true(sc->enterprises.taste_dispersion == 0.12 && sc->enterprises.review_per_year == 2.0);
  assert_int_equal(sc->governance.n_restricted_origins, 1);
  assert_string_equal(sc->governance.restricted_origins[0], "cn");
  assert_true(sc->governance.restricted_share == 0.25);
  assert_true(sc->pricing.tolerance == 1e-9 && sc->pricing.max_iterations == 1000);
  assert_true(sc->finance.runway_months == 12.0 && sc->finance.raise_months == 24.0);
  assert_true(sc->finance.max_raise_fraction == 0.25);
  assert_true(sc->valuation.growth_weight == 1.0 && sc->valuation.margin_weight == 1.0);
  assert_true(sc->valuation.rerating_min == 0.02 && sc->valuation.rerating_max == 5.0);
  assert_true(sc->valuation.discount_rate == 0.12 && sc->valuation.terminal_multiple == 8.0);
  assert_true(sc->valuation.cloud_multiple == 10.0 && sc->valuation.infra_multiple == 20.0);
  const double q[5] = {0.05, 0.25, 0.5, 0.75, 0.95};
  assert_int_equal(sc->output.n_quantiles, 5);
  for (int k = 0; k < 5; k++) assert_true(sc->output.quantiles[k] == q[k]);
  assert_int_equal(sc->output.keep_paths, 0);
  /* Lab defaults: the sketch's closed-a; origin "us" unless given. */
  const moat_lab_t *c1 = &cfg.base.labs[0], *o1 = &cfg.base.labs[1];
  assert_int_equal(sc->n_labs, 2);
  assert_int_equal(c1->kind, MOAT_LAB_CLOSED);
  assert_int_equal(o1->kind, MOAT_LAB_OPEN);
  assert_string_equal(c1->origin, "us");
  assert_string_equal(o1->origin, "cn");
  assert_true(c1->quality == 72.0 && c1->serve_cost_per_mtok == 1.5 && c1->mini_cost_factor == 0.1);
  assert_true(o1->capture_share == 0.15 && o1->lag == 0.0);
  assert_int_equal(c1->line, 1);
  assert_int_equal(o1->line, 2);
  assert_int_equal(sc->n_clouds, 1);
  assert_true(sc->clouds[0].cost_factor == 1.0 && sc->clouds[0].speed == 1.0);
  assert_int_equal(cfg.sweep.method, MOAT_SWEEP_NONE);
  moat_config_clear(&cfg);
}

/* Every default of the table lies within its own range (a table typo would break defaults). */
static void table_defaults_in_range(void **state) {
  (void)state;
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    assert_non_null(p->doc);
    assert_true(strlen(p->key) < MOAT_KEY_MAX);
    if (p->type == MOAT_PT_INT || p->type == MOAT_PT_INT64 || p->type == MOAT_PT_DOUBLE) {
      if (!(p->min <= p->def && p->def <= p->max)) {
        print_error("%s: default %g outside [%g, %g]\n", p->key, p->def, p->min, p->max);
        fail();
      }
    }
  }
}

/* Each type is read; ints where doubles are expected; whole doubles where ints are. */
static void parses_each_type(void **state) {
  (void)state;
  moat_config_t cfg;
  const char *text = MINIMAL
      "name = \"types\"; seed = 1099511627776L; paths = 7;\n"
      "enterprises = { count = 2e3; };\n"       /* whole double for an int */
      "market = { price_elasticity = 1; };\n"   /* int for a double */
      "quality_gap = { initial = 0.05; };\n"
      "governance = { restricted_origins = [\"cn\", \"ru\"]; restricted_share = 0.5; };\n"
      "output = { keep_paths = true; quantiles = [0.1, 0.9]; file = \"out/x.h5\"; };\n";
  assert_int_equal(load(text, NULL, 0, &cfg), MOAT_OK);
  assert_string_equal(cfg.base.name, "types");
  assert_true(cfg.base.seed == ((uint64_t)1 << 40));
  assert_int_equal(cfg.base.paths, 7);
  assert_int_equal(cfg.base.enterprises.count, 2000);
  assert_true(cfg.base.market.price_elasticity == 1.0);
  assert_true(cfg.base.quality_gap.initial == 0.05);
  assert_int_equal(cfg.base.governance.n_restricted_origins, 2);
  assert_string_equal(cfg.base.governance.restricted_origins[1], "ru");
  assert_int_equal(cfg.base.output.keep_paths, 1);
  assert_int_equal(cfg.base.output.n_quantiles, 2);
  assert_true(cfg.base.output.quantiles[1] == 0.9);
  assert_string_equal(cfg.base.output.file, "out/x.h5");
  /* The text is the file's, byte for byte, without overrides. */
  assert_string_equal(cfg.text, text);
  moat_config_clear(&cfg);
}

static void file_errors(void **state) {
  (void)state;
  /* Missing file. */
  moat_config_t cfg;
  assert_int_equal(moat_config_load(&cfg, "/nonexistent/x.cfg", NULL, 0, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "/nonexistent/x.cfg: cannot open"));
  /* Syntax error: libconfig's line and text. */
  load_fails(MINIMAL "paths = 3\nseed = ;\n", NULL, 0, "syntax error", NULL);
  assert_non_null(strstr(err, tmp_path));
  load_fails(MINIMAL "\n\nseed = ;\n", NULL, 0, at_line(6), "syntax error", NULL);
  /* A bare string: libconfig's lexer leaks the token (suppressed for LeakSanitizer in
   * config.c, so the sanitizer build of this test passes only if nothing else leaks). */
  load_fails("\"\"", NULL, 0, at_line(1), "syntax error", "each setting is written key = value;", NULL);
}

static void unknown_keys_suggest(void **state) {
  (void)state;
  load_fails(MINIMAL "quality_gap = { long_rn = 0.02; };\n", NULL, 0, at_line(4),
             "unknown parameter `quality_gap.long_rn`", "did you mean `quality_gap.long_run`?", NULL);
  load_fails(MINIMAL "pathz = 3;\n", NULL, 0, at_line(4), "did you mean `paths`?", NULL);
  load_fails(MINIMAL "market = { nothing_like_this = 3; };\n", NULL, 0, "`market.nothing_like_this`",
             NULL);
  assert_null(strstr(err, "did you mean"));
  load_fails("labs = ( { name = \"c1\"; kind = \"closed\"; qualty = 70; },\n"
             "  { name = \"o1\"; kind = \"open\"; } );\nclouds = ( { name = \"k\"; } );\n",
             NULL, 0, at_line(1), "did you mean `labs.c1.quality`?", NULL);
  load_fails(MINIMAL "bogus = { x = 1; };\n", NULL, 0, "unknown parameter `bogus`", NULL);
  assert_int_equal(moat_edit_distance("kitten", "sitting"), 3); /* the textbook example */
  assert_int_equal(moat_edit_distance("", "abc"), 3);
  assert_int_equal(moat_edit_distance("long_rn", "long_run"), 1);
  /* moat_nearest: the closest candidate within max(2, len/3) edits, the first of equals. */
  static const char *const commands[] = {"run", "validate", "params", "info", "summary", "merge",
                                         "report", "version"};
  assert_string_equal(moat_nearest("rn", commands, 8), "run");           /* 1 insertion */
  assert_string_equal(moat_nearest("sumary", commands, 8), "summary");   /* 1 insertion */
  assert_string_equal(moat_nearest("reprot", commands, 8), "report");    /* 2 substitutions */
  assert_null(moat_nearest("frobnicate", commands, 8));                  /* >= 7 edits from all */
  assert_null(moat_nearest("vrsoin", commands, 8)); /* version: 3 edits > max(2, 6/3) */
  static const char *const ab[] = {"ab", "ac", NULL, "ax"};
  assert_string_equal(moat_nearest("a", ab, 4), "ab"); /* a tie: the first; NULL ends the list */
  double lo = 0, hi = 0;
  assert_int_equal(moat_param_range("paths", &lo, &hi), MOAT_OK);
  assert_true(lo == 1 && hi == 1e7); /* GI(paths, 200, 1, 10000000, ...) in config_table.c */
  assert_int_equal(moat_param_range("no.such.key", &lo, &hi), MOAT_EINVAL);
}

static void type_and_range_errors(void **state) {
  (void)state;
  load_fails(MINIMAL "paths = \"many\";\n", NULL, 0, at_line(4), "paths expects a whole number, got a string", NULL);
  load_fails(MINIMAL "paths = 2.5;\n", NULL, 0, at_line(4), "paths = 2.5 is not a whole number", NULL);
  load_fails(MINIMAL "output = { keep_paths = 1; };\n", NULL, 0, "keep_paths expects true or false", NULL);
  load_fails(MINIMAL "quality_gap = { initial = 1.7; };\n", NULL, 0, at_line(4),
             "quality_gap.initial = 1.7 is outside [0.0001, 0.9]", "fraction of frontier quality", NULL);
  load_fails(MINIMAL "enterprises = { count = -5; };\n", NULL, 0, "enterprises.count = -5 is outside [1, 1000000]", NULL);
  /* Overflowing counts are range errors, not wraparound (1e12 does not fit an int). */
  load_fails(MINIMAL "paths = 1000000000000L;\n", NULL, 0, "paths = 1000000000000 is outside [1, 10000000]", NULL);
  /* Without the L suffix libconfig would wrap it to 32 bits: caught before it reads the file. */
  load_fails(MINIMAL "\"# 99999999999\" /* 99999999999 */\npaths = 1000000000000;\n", NULL, 0, at_line(5),
             "paths = 1000000000000 does not fit a 32-bit integer", NULL);
  load_fails(MINIMAL "sweep = { method = \"list\"; axes = ( { param = \"paths\"; values = [0, 0.5]; } ); };\n",
             NULL, 0, "integers or all floats", NULL);
  load_fails(MINIMAL "paths = 4294967297L;\n", NULL, 0, "paths = 4294967297 is outside", NULL);
  load_fails(MINIMAL "seed = -1;\n", NULL, 0, "seed = -1 is outside [0, 9007199254740992]", NULL);
  /* Beyond 2^53 a double would round it to 2^53: compared as an integer, refused. */
  load_fails(MINIMAL "seed = 9007199254740993L;\n", NULL, 0, at_line(4),
             "seed = 9007199254740993 is outside [0, 9007199254740992]", NULL);
  load_fails(MINIMAL "seed = 9007199254740993.0;\n", NULL, 0, at_line(4),
             "seed = 9007199254740992 is written as a floating-point number", "write the integer itself", NULL);
  load_fails(MINIMAL "sweep = { method = \"list\"; axes = ( { param = \"seed\"; values = [1L, 9007199254740993L]; } ); };\n",
             NULL, 0, at_line(4), "sweep axis values = 9007199254740993 is outside [-9007199254740992, 9007199254740992]", NULL);
  load_fails(MINIMAL "output = { quantiles = (0.1, \"x\"); };\n", NULL, 0, "output.quantiles expects", NULL);
  load_fails(MINIMAL "paths = { n = 3; };\n", NULL, 0, at_line(4), "paths expects a whole number, got a group", NULL);
  load_fails(MINIMAL "market = 3;\n", NULL, 0, at_line(4), "market is a group of parameters", NULL);
  load_fails(MINIMAL "output = { quantiles = 0.5; };\n", NULL, 0, "output.quantiles expects a list", NULL);
  load_fails(MINIMAL "name = \"0123456789012345678901234567890123456789012345678\";\n", NULL, 0,
             "is 49 characters long; at most 47 fit", NULL);
  load_fails(MINIMAL "governance = { restricted_origins = [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]; };\n",
             NULL, 0, "governance.restricted_origins has 9 entries; at most 8", NULL);
}

static void lab_entry_errors(void **state) {
  (void)state;
  const char *clouds = "clouds = ( { name = \"k\"; } );\n";
  char text[4096];
  snprintf(text, sizeof text, "labs = ( { kind = \"closed\"; }, { name = \"o\"; kind = \"open\"; } );\n%s", clouds);
  load_fails(text, NULL, 0, at_line(1), "labs entry 1 has no `name`", NULL);
  snprintf(text, sizeof text, "labs = ( { name = \"c\"; }, { name = \"o\"; kind = \"open\"; } );\n%s", clouds);
  load_fails(text, NULL, 0, "labs entry 1 has no `kind`", NULL);
  snprintf(text, sizeof text, "labs = ( { name = \"c\"; kind = \"shut\"; } );\n%s", clouds);
  load_fails(text, NULL, 0, "is not a lab kind", NULL);
  snprintf(text, sizeof text, "labs = ();\n%s", clouds);
  load_fails(text, NULL, 0, at_line(1), "labs is empty", NULL);
  snprintf(text, sizeof text, "labs = ( { name = \"a.b\"; kind = \"open\"; } );\n%s", clouds);
  load_fails(text, NULL, 0, "letters, digits", NULL);
  snprintf(text, sizeof text,
           "labs = ( { name = \"c\"; kind = \"closed\"; },\n { name = \"o\"; kind = \"open\"; },\n"
           " { name = \"c\"; kind = \"open\"; } );\n%s", clouds);
  load_fails(text, NULL, 0, at_line(3), "duplicate lab name \"c\" (first at line 1)", NULL);
  snprintf(text, sizeof text,
           "labs = ( { name = \"c\"; kind = \"closed\"; lag = 0.1; }, { name = \"o\"; kind = \"open\"; } );\n%s", clouds);
  load_fails(text, NULL, 0, "labs.c.lag applies to open labs only", NULL);
  snprintf(text, sizeof text, "labs = ( { name = \"c\"; kind = \"closed\"; } );\n%s", clouds);
  load_fails(text, NULL, 0, "0 open labs", "at least one of each", NULL);
  load_fails("labs = ( { name = \"c\"; kind = \"closed\"; }, { name = \"o\"; kind = \"open\"; } );\n",
             NULL, 0, "0 clouds", NULL);
  load_fails(MINIMAL "clouds = ( { name = \"k\"; }, { name = \"k\"; } );\n", NULL, 0, "", NULL);
  /* 17 labs: one too many. */
  size_t used = (size_t)snprintf(text, sizeof text, "clouds = ( { name = \"k\"; } );\nlabs = (");
  for (int k = 0; k < MOAT_MAX_LABS + 1; k++)
    used += (size_t)snprintf(text + used, sizeof text - used, "%s{ name = \"l%d\"; kind = \"%s\"; }",
                             k ? "," : "", k, k % 2 ? "open" : "closed");
  snprintf(text + used, sizeof text - used, ");\n");
  load_fails(text, NULL, 0, "labs has 17 entries; at most 16", NULL);
}

static void cross_field_rules(void **state) {
  (void)state;
  load_fails(MINIMAL "output = { quantiles = [0.5, 0.25]; };\n", NULL, 0, "strictly increasing", NULL);
  load_fails(MINIMAL "output = { quantiles = [0.0, 0.5]; };\n", NULL, 0, "inside (0, 1)", NULL);
  load_fails(MINIMAL "output = { quantiles = []; };\n", NULL, 0, "output.quantiles is empty", NULL);
  /* 100 years x 366 steps = 36600 steps > 10000. */
  load_fails(MINIMAL "horizon_years = 100.0; steps_per_year = 366;\n", NULL, 0, "= 36600 is outside [1, 10000]", NULL);
  /* 0.01 years x 12 = 0.12 steps -> 0. */
  load_fails(MINIMAL "horizon_years = 0.01;\n", NULL, 0, "= 0 is outside [1, 10000]", NULL);
  /* A restricted origin no lab has: a warning, not an error. */
  moat_config_t cfg;
  assert_int_equal(load(MINIMAL "governance = { restricted_origins = [\"cn\", \"xx\"]; };\n", NULL, 0, &cfg), MOAT_OK);
  assert_int_equal(cfg.warnings.n, 1);
  assert_non_null(strstr(cfg.warnings.text[0], "\"xx\""));
  moat_config_clear(&cfg);
  /* The memory check: workspaces = N x offers x 2 segments x 8 doubles x 8 bytes x threads. */
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  assert_int_equal(moat_scenario_validate(&sc, err, sizeof err), MOAT_OK);
  moat_estimate_t est;
  moat_scenario_estimate(&sc, 4, &est);
  assert_int_equal(est.offers, 21);
  assert_int_equal(est.steps, 120);
  assert_true(est.workspace_bytes == 1000.0 * 21 * 2 * 8 * 8 * 4);
  /* Path results per the layout comment of metrics.h: market, lab, cloud, lab_path, path. */
  double per_path = MOAT_N_MARKET * 120.0 + MOAT_N_LAB * 6.0 * 120 + MOAT_N_CLOUD * 3.0 * 120 +
                    MOAT_N_LAB_PATH * 6.0 + MOAT_N_PATH;
  assert_true(est.results_bytes == sc.paths * per_path * 8);
  moat_limits_t lim = {(uint64_t)est.total_bytes, 4};
  assert_int_equal(moat_scenario_validate_ex(&sc, &lim, NULL, err, sizeof err), MOAT_OK);
  lim.max_memory = (uint64_t)est.total_bytes - 1;
  assert_int_equal(moat_scenario_validate_ex(&sc, &lim, NULL, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "--max-memory"));
  /* Hand-made structs are range-checked too (a sweep or a caller could set anything). */
  sc.quality_gap.volatility = NAN;
  assert_int_equal(moat_scenario_validate(&sc, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "quality_gap.volatility = nan is not a finite number"));
}

static void set_overrides(void **state) {
  (void)state;
  const char *sets[] = {"paths=12", "labs.o1.lag=0.1", "clouds.k1.speed=12", "labs.c1.origin=eu",
                        "name=\"quoted\"", "output.quantiles=[0.2, 0.8]", "output.keep_paths=true",
                        "governance.restricted_origins=[\"eu\"]", "quality_gap.initial=5e-2"};
  moat_config_t cfg;
  assert_int_equal(load(MINIMAL "paths = 3;\n", sets, 9, &cfg), MOAT_OK);
  assert_int_equal(cfg.base.paths, 12); /* after the file */
  assert_true(cfg.base.labs[1].lag == 0.1);
  assert_true(cfg.base.clouds[0].speed == 12.0);
  assert_string_equal(cfg.base.labs[0].origin, "eu");
  assert_string_equal(cfg.base.name, "quoted");
  assert_true(cfg.base.output.n_quantiles == 2 && cfg.base.output.quantiles[0] == 0.2);
  assert_int_equal(cfg.base.output.keep_paths, 1);
  assert_string_equal(cfg.base.governance.restricted_origins[0], "eu");
  assert_true(cfg.base.quality_gap.initial == 0.05);
  assert_int_equal(cfg.warnings.n, 0);
  /* Provenance: the overrides follow the file's text as comments. */
  assert_non_null(strstr(cfg.text, "paths = 3;\n# --set overrides applied after the file:\n# --set paths=12\n"));
  moat_config_clear(&cfg);
  /* 2^53 itself is the largest seed, exact from the file and from --set. */
  const char *top[] = {"seed=9007199254740992"};
  assert_int_equal(load(MINIMAL "seed = 9007199254740991L;\n", NULL, 0, &cfg), MOAT_OK);
  assert_true(cfg.base.seed == 9007199254740991ULL);
  moat_config_clear(&cfg);
  assert_int_equal(load(MINIMAL, top, 1, &cfg), MOAT_OK);
  assert_true(cfg.base.seed == 9007199254740992ULL);
  moat_config_clear(&cfg);

  const char *bad[][2] = {
      {"quality_gap.initial=1.7", "--set quality_gap.initial=1.7: quality_gap.initial = 1.7 is outside"},
      {"quality_gap.long_rn=0.1", "did you mean `quality_gap.long_run`?"},
      {"labs.o1.lag=nan", "labs.o1.lag = nan is not a finite number"},
      {"labs.o1.lag=-inf", "is not a finite number"},
      {"labs.c1.lag=0.1", "lag applies to open labs only"},
      {"labs.zz.lag=0.1", "no lab is named \"zz\""},
      {"paths=lots", "`lots` is not a number"},
      {"paths=1e12", "paths = 1000000000000 is outside"},
      {"paths=2.5", "paths = 2.5 is not a whole number"},
      {"seed=9007199254740993", "--set seed=9007199254740993: seed = 9007199254740993 is outside [0, 9007199254740992]"},
      {"seed=-9223372036854775809", "seed = -9.22337203685478e+18 is outside [0, 9007199254740992]"},
      {"seed=9.007199254740993e15", "seed = 9007199254740992 is written as a floating-point number"},
      {"output.keep_paths=perhaps", "cannot read `perhaps` as true or false"},
      {"output.quantiles=[0.1,", "cannot read"},
      {"labs.o1.kind=half", "is not a lab kind"},
      {"paths", "expected key=value"},
      {"paths=", "no value after '='"},
      {"labs.o1.name=c1", "both named \"c1\""},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    const char *one[] = {bad[k][0]};
    load_fails(MINIMAL, one, 1, bad[k][1], NULL);
    if (strncmp(bad[k][0], "labs.o1.name", 12) != 0) {
      char prefix[96];
      snprintf(prefix, sizeof prefix, "--set %s:", bad[k][0]);
      assert_non_null(strstr(err, prefix));
    }
  }
}

static void sweep_section(void **state) {
  (void)state;
  moat_config_t cfg;
  assert_int_equal(load(MINIMAL "sweep = { method = \"grid\";\n axes = (\n"
                                "  { param = \"quality_gap.long_run\"; values = [0.005, 0.03, 0.08]; },\n"
                                "  { param = \"enterprises.count\"; values = [500, 1000]; } ); };\n",
                        NULL, 0, &cfg),
                   MOAT_OK);
  assert_int_equal(cfg.sweep.method, MOAT_SWEEP_GRID);
  assert_int_equal(cfg.sweep.line, 4);
  assert_int_equal(cfg.sweep.n_axes, 2);
  assert_int_equal(cfg.sweep.axes[0].line, 6);
  assert_int_equal(cfg.sweep.axes[0].n_values, 3);
  assert_true(cfg.sweep.axes[0].values[2] == 0.08);
  assert_true(cfg.sweep.axes[1].values[1] == 1000.0); /* ints where doubles are expected */
  assert_string_equal(cfg.sweep.axes[1].param, "enterprises.count");
  assert_int_equal(moat_sweep_count(&cfg), 6);
  moat_config_clear(&cfg);

  assert_int_equal(load(MINIMAL "sweep = { method = \"lhs\"; samples = 16; axes = (\n"
                                "  { param = \"paths\"; min = 10; max = 1000; log = true; },\n"
                                "  { param = \"quality_gap.volatility\"; low = 0.1; mid = 0.25; high = 0.5; } ); };\n",
                        NULL, 0, &cfg),
                   MOAT_OK);
  assert_int_equal(cfg.sweep.method, MOAT_SWEEP_LHS);
  assert_int_equal(cfg.sweep.samples, 16);
  assert_true(cfg.sweep.axes[0].has_range && !cfg.sweep.axes[0].has_preset && cfg.sweep.axes[0].log);
  assert_true(cfg.sweep.axes[0].min == 10.0 && cfg.sweep.axes[0].max == 1000.0);
  assert_true(cfg.sweep.axes[1].has_preset && cfg.sweep.axes[1].mid == 0.25);
  moat_config_clear(&cfg);

  load_fails(MINIMAL "sweep = { method = \"grid\"; axez = (); };\n", NULL, 0, at_line(4),
             "did you mean `sweep.axes`?", NULL);
  load_fails(MINIMAL "sweep = { method = \"random\"; };\n", NULL, 0, "\"grid\", \"list\", \"lhs\", \"sobol\", \"saltelli\" or \"morris\"", NULL);
  load_fails(MINIMAL "sweep = { axes = (); };\n", NULL, 0, "sweep.method is missing", NULL);
  load_fails(MINIMAL "sweep = { method = \"lhs\"; samples = 4; axes = ( { param = \"paths\"; min = 1; } ); };\n",
             NULL, 0, "only one of min and max", NULL);
  load_fails(MINIMAL "sweep = { method = \"grid\"; axes = ( { param = \"paths\"; valus = [1]; } ); };\n",
             NULL, 0, "did you mean `sweep.axes.values`?", NULL);
  /* Keys and values are checked against the table (by moat_sweep_check). */
  load_fails(MINIMAL "sweep = { method = \"grid\";\n axes = ( { param = \"quality_gap.long_rn\"; values = [0.1]; } ); };\n",
             NULL, 0, at_line(5), "did you mean `quality_gap.long_run`?", NULL);
  load_fails(MINIMAL "sweep = { method = \"grid\";\n axes = ( { param = \"quality_gap.long_run\"; values = [0.1, 2.0]; } ); };\n",
             NULL, 0, "quality_gap.long_run = 2 is outside", NULL);
}

/* set_number / get_number through the same keys and ranges as files. */
static void set_get_number(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  double v = 0;
  assert_int_equal(moat_scenario_set_number(&sc, "quality_gap.long_run", 0.005, err, sizeof err), MOAT_OK);
  assert_int_equal(moat_scenario_get_number(&sc, "quality_gap.long_run", &v, err, sizeof err), MOAT_OK);
  assert_true(v == 0.005 && sc.quality_gap.long_run == 0.005);
  assert_int_equal(moat_scenario_set_number(&sc, "labs.closed-b.quality", 70.5, err, sizeof err), MOAT_OK);
  assert_true(sc.labs[1].quality == 70.5);
  assert_int_equal(moat_scenario_set_number(&sc, "clouds.wafer-scale.speed", 15, err, sizeof err), MOAT_OK);
  assert_int_equal(moat_scenario_get_number(&sc, "clouds.wafer-scale.speed", &v, err, sizeof err), MOAT_OK);
  assert_true(v == 15.0);
  /* Whole-number keys take the nearest whole number. */
  assert_int_equal(moat_scenario_set_number(&sc, "enterprises.count", 1234.6, err, sizeof err), MOAT_OK);
  assert_int_equal(sc.enterprises.count, 1235);
  assert_int_equal(moat_scenario_set_number(&sc, "seed", 9007199254740992.0, err, sizeof err), MOAT_OK);
  assert_true(sc.seed == ((uint64_t)1 << 53));
  assert_int_equal(moat_scenario_get_number(&sc, "seed", &v, err, sizeof err), MOAT_OK);
  assert_true(v == 9007199254740992.0);
  /* Errors leave the scenario unchanged. */
  assert_int_equal(moat_scenario_set_number(&sc, "quality_gap.long_run", 0.95, err, sizeof err), MOAT_EINVAL);
  assert_true(sc.quality_gap.long_run == 0.005);
  assert_non_null(strstr(err, "quality_gap.long_run = 0.95 is outside [0.0001, 0.9]"));
  assert_int_equal(moat_scenario_set_number(&sc, "paths", NAN, err, sizeof err), MOAT_EINVAL);
  assert_int_equal(moat_scenario_set_number(&sc, "paths", 1e12, err, sizeof err), MOAT_EINVAL);
  assert_int_equal(moat_scenario_set_number(&sc, "quality_gap.long_rn", 0.1, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "did you mean `quality_gap.long_run`?"));
  assert_int_equal(moat_scenario_get_number(&sc, "name", &v, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "is not a number"));
  assert_int_equal(moat_scenario_get_number(&sc, "output.keep_paths", &v, err, sizeof err), MOAT_EINVAL);
  assert_int_equal(moat_scenario_get_number(&sc, "labs.closed-a.lag", &v, err, sizeof err), MOAT_EINVAL);
  assert_int_equal(moat_scenario_get_number(&sc, "labs.nobody.quality", &v, err, sizeof err), MOAT_EINVAL);
  assert_int_equal(moat_scenario_get_number(&sc, "labs.closed-a", &v, err, sizeof err), MOAT_EINVAL);
}

/* Round trip of every numeric key: set a value inside its range, read it back. */
static void collect_keys(void *ctx, const char *key, const char *value, const char *unit, const char *doc) {
  (void)unit, (void)doc;
  char **out = ctx;
  size_t n = strlen(*out);
  snprintf(*out + n, 65536 - n, "%s=%s\n", key, value);
}

static void visit_round_trip(void **state) {
  (void)state;
  moat_config_t a, b;
  assert_int_equal(load(MINIMAL, NULL, 0, &a), MOAT_OK);
  /* Change values away from the defaults, through the table. */
  assert_int_equal(moat_scenario_set_number(&a.base, "labs.o1.lag", 0.1 + 0.2, err, sizeof err), MOAT_OK);
  assert_int_equal(moat_scenario_set_number(&a.base, "market.demand_mtok_per_month", 1.0 / 3.0 * 1e9, err, sizeof err), MOAT_OK);
  a.base.output.keep_paths = 1;
  char *listing = calloc(1, 65536), *again = calloc(1, 65536);
  assert_non_null(listing);
  assert_non_null(again);
  moat_scenario_visit(&a.base, collect_keys, &listing);
  /* One line per global key, per key of each lab's kind, per cloud key. */
  size_t lines = 0, expected = 0;
  for (const char *c = listing; *c; c++) lines += *c == '\n';
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    if (p->scope == MOAT_PS_GLOBAL || p->scope == MOAT_PS_CLOUD) expected++;
    else expected += (size_t)((p->kinds & 1) + ((p->kinds & 2) >> 1));
  }
  assert_int_equal(lines, expected);
  assert_non_null(strstr(listing, "labs.o1.lag=0.30000000000000004\n"));
  assert_non_null(strstr(listing, "output.keep_paths=true\n"));
  assert_non_null(strstr(listing, "labs.c1.kind=\"closed\"\n"));
  assert_null(strstr(listing, "labs.c1.lag"));
  /* Feed every value back as --set (names last, as they address the entries). */
  const char *sets[256];
  size_t n = 0;
  char *copy = strdup(listing);
  for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n"))
    if (!strstr(line, ".name=")) sets[n++] = line;
  assert_int_equal(load(MINIMAL, sets, n, &b), MOAT_OK);
  moat_scenario_visit(&b.base, collect_keys, &again);
  assert_string_equal(listing, again);
  free(copy);
  free(listing);
  free(again);
  moat_config_clear(&a);
  moat_config_clear(&b);
}

static void params_listing(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_int_equal(moat_params_print(f, "markdown"), MOAT_OK);
  fclose(f);
  /* Every row appears once with its key. */
  for (size_t k = 0; k < moat_n_params; k++) {
    char cell[MOAT_KEY_MAX + 32];
    const char *prefix = moat_params[k].scope == MOAT_PS_LAB ? "labs.<name>."
                         : moat_params[k].scope == MOAT_PS_CLOUD ? "clouds.<name>." : "";
    snprintf(cell, sizeof cell, "| `%s%s` |", prefix, moat_params[k].key);
    assert_non_null(strstr(buf, cell));
  }
  free(buf);
  f = fopen("/dev/null", "w");
  assert_int_equal(moat_params_print(f, "yaml"), MOAT_EINVAL);
  assert_int_equal(moat_params_print(f, "text"), MOAT_OK);
  fclose(f);
}

static void cli_options(void **state) {
  (void)state;
  uint64_t bytes = 0;
  assert_int_equal(moat_cli_parse_bytes("8G", &bytes), 0);
  assert_true(bytes == (uint64_t)8 << 30);
  assert_int_equal(moat_cli_parse_bytes("512MiB", &bytes), 0);
  assert_true(bytes == (uint64_t)512 << 20);
  assert_int_equal(moat_cli_parse_bytes("1000", &bytes), 0);
  assert_true(bytes == 1000);
  assert_int_equal(moat_cli_parse_bytes("1.5G", &bytes), MOAT_EINVAL);
  assert_int_equal(moat_cli_parse_bytes("0", &bytes), MOAT_EINVAL);
  assert_int_equal(moat_cli_parse_bytes("99999999999T", &bytes), MOAT_EINVAL);
  assert_int_equal(moat_cli_parse_bytes("-1", &bytes), MOAT_EINVAL);

  moat_run_options_t opt;
  char *argv[] = {"run", "s.cfg", "-o", "out.h5", "--paths", "50", "--set", "a.b=1", "--seed", "7",
                  "--keep-paths", "--shard", "2/4", "--max-memory", "1G", "--threads", "3", NULL};
  assert_int_equal(moat_cli_parse_run(17, argv, MOAT_CLI_RUN, &opt, err, sizeof err), MOAT_OK);
  assert_string_equal(opt.scenario, "s.cfg");
  assert_string_equal(opt.output, "out.h5");
  assert_true(opt.paths == 50 && opt.threads == 3 && opt.has_seed && opt.seed == 7);
  assert_true(opt.shard_index == 2 && opt.shard_count == 4 && opt.max_memory == (uint64_t)1 << 30);
  /* --set first, then the sets --paths, --seed and --keep-paths stand for. */
  assert_int_equal(opt.n_sets, 4);
  assert_string_equal(opt.sets[0], "a.b=1");
  assert_string_equal(opt.sets[1], "paths=50");
  assert_string_equal(opt.sets[2], "seed=7");
  assert_string_equal(opt.sets[3], "output.keep_paths=true");

  char *bad_shard[] = {"run", "s.cfg", "--shard", "4/4", NULL};
  assert_int_equal(moat_cli_parse_run(4, bad_shard, MOAT_CLI_RUN, &opt, err, sizeof err), MOAT_EINVAL);
  char *no_file[] = {"run", "--force", NULL};
  assert_int_equal(moat_cli_parse_run(2, no_file, MOAT_CLI_RUN, &opt, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "missing the scenario file"));
  char *validate_o[] = {"validate", "s.cfg", "-o", "x.h5", NULL};
  assert_int_equal(moat_cli_parse_run(4, validate_o, MOAT_CLI_VALIDATE, &opt, err, sizeof err), MOAT_EINVAL);
  char *help[] = {"validate", "--help", NULL};
  assert_int_equal(moat_cli_parse_run(2, help, MOAT_CLI_VALIDATE, &opt, err, sizeof err), MOAT_CLI_HELP);
  char *no_value[] = {"run", "s.cfg", "--paths", NULL};
  assert_int_equal(moat_cli_parse_run(3, no_value, MOAT_CLI_RUN, &opt, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "needs a value"));
}

/* The checked-in baseline loads cleanly and is the shape the brief asks for. */
static void baseline_file(void **state) {
  (void)state;
  moat_config_t cfg;
  int st = moat_config_load(&cfg, "scenarios/baseline.cfg", NULL, 0, err, sizeof err);
  if (st == MOAT_EINVAL && strstr(err, "cannot open")) skip(); /* run from elsewhere */
  assert_int_equal(st, MOAT_OK);
  assert_int_equal(cfg.base.n_labs, 6);
  assert_int_equal(cfg.base.n_clouds, 3);
  assert_int_equal(moat_scenario_offers(&cfg.base), 21);
  assert_int_equal(cfg.base.paths, 160); /* sized for `make run` < 30 s on 2 cores */
  assert_int_equal(cfg.sweep.method, MOAT_SWEEP_NONE);
  assert_int_equal(cfg.warnings.n, 0);
  moat_config_clear(&cfg);
}

/* ---- the run's identity: scenario file, included files, effective parameters ---- */

static char id_dir[64];

/* Write text to id_dir/name (id_dir made by mkdtemp on first use); returns the path. */
static const char *id_file(const char *name, const char *text) {
  static char path[128];
  if (!id_dir[0]) {
    snprintf(id_dir, sizeof id_dir, "/tmp/moat_test_identity_XXXXXX");
    assert_non_null(mkdtemp(id_dir));
  }
  snprintf(path, sizeof path, "%s/%s", id_dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  fclose(f);
  return path;
}

/* Load id_dir/main.cfg (spelled through `via`, e.g. "/./") with overrides; returns its identity
 * (owned by the caller). */
static char *identity_of(const char *via, const char *const *sets, size_t n_sets) {
  char path[160];
  snprintf(path, sizeof path, "%s%smain.cfg", id_dir, via);
  moat_config_t cfg;
  if (moat_config_load(&cfg, path, sets, n_sets, err, sizeof err) != MOAT_OK) {
    print_error("%s\n", err);
    fail();
  }
  char *id = strdup(cfg.identity_text);
  assert_non_null(id);
  moat_config_clear(&cfg);
  return id;
}

/* The canonical listing part of an identity. */
static const char *listing_of(const char *id) {
  const char *p = strstr(id, "== effective parameters ==\n");
  assert_non_null(p);
  return p;
}

#define ID_MAIN MINIMAL "paths = 3;\n@include \"inc.cfg\"\n"
#define ID_INC "quality_gap = { volatility = 0.25; };\n@include \"inc2.cfg\"\n"
#define ID_INC2 "seed = 7;\n"

static void identity_text(void **state) {
  (void)state;
  id_file("main.cfg", ID_MAIN);
  id_file("inc.cfg", ID_INC);
  id_file("inc2.cfg", ID_INC2);
  char *base = identity_of("/", NULL, 0);
  /* The layout, by hand from the three texts: each under a header with its length, nested
   * includes in the order first included, then the listing of every key. */
  char head[1024];
  snprintf(head, sizeof head,
           "== scenario file (%zu bytes) ==\n" ID_MAIN "\n== @include \"inc.cfg\" (%zu bytes) ==\n" ID_INC
           "\n== @include \"inc2.cfg\" (%zu bytes) ==\n" ID_INC2 "\n== effective parameters ==\n"
           "name = \"scenario\";\nseed = 7;\nhorizon_years = 10.0;\n",
           strlen(ID_MAIN), strlen(ID_INC), strlen(ID_INC2));
  assert_memory_equal(base, head, strlen(head));
  assert_non_null(strstr(base, "\npaths = 3;\n"));
  assert_non_null(strstr(base, "\nquality_gap.volatility = 0.25;\n"));
  assert_non_null(strstr(base, "\nlabs.o1.origin = \"cn\";\nlabs.o1.quality = 72.0;\n"));
  assert_non_null(strstr(base, "\nclouds.k1.speed = 1.0;\n== sweep ==\nsweep.method = \"none\";\n"));
  size_t n_keys = 0; /* one line per row: globals, 2 labs by their kinds' rows, 1 cloud */
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    if (p->scope != MOAT_PS_LAB) n_keys++;
    else n_keys += (p->kinds & MOAT_KINDS_CLOSED ? 1u : 0u) + (p->kinds & MOAT_KINDS_OPEN ? 1u : 0u);
  }
  size_t lines = 0;
  for (const char *p = listing_of(base); (p = strchr(p, '\n')) != NULL; p++) lines++;
  assert_int_equal(lines, 1 + n_keys + 2); /* header, keys, sweep header and method */

  /* The text stored with the results shows the included files as comments, and reads back to
   * the same parameters. */
  char path[160];
  snprintf(path, sizeof path, "%s/main.cfg", id_dir);
  moat_config_t cfg;
  assert_int_equal(moat_config_load(&cfg, path, NULL, 0, err, sizeof err), MOAT_OK);
  assert_string_equal(cfg.text, ID_MAIN "# files pulled in by @include, as read:\n"
                                "# @include \"inc.cfg\" (58 bytes):\n"
                                "# quality_gap = { volatility = 0.25; };\n# @include \"inc2.cfg\"\n"
                                "# @include \"inc2.cfg\" (10 bytes):\n# seed = 7;\n");
  char *stored = strdup(cfg.text);
  assert_non_null(stored);
  moat_config_clear(&cfg);
  id_file("stored.cfg", stored);
  free(stored);
  snprintf(path, sizeof path, "%s/stored.cfg", id_dir);
  assert_int_equal(moat_config_load(&cfg, path, NULL, 0, err, sizeof err), MOAT_OK);
  assert_string_equal(listing_of(cfg.identity_text), listing_of(base));
  moat_config_clear(&cfg);

  /* Not changed: the path the file is reached by; an override equal to the file's value, however
   * spelled; the order of overrides that set different keys. */
  char *same = identity_of("/./", NULL, 0);
  assert_string_equal(same, base);
  free(same);
  const char *equal_sets[] = {"quality_gap.volatility=2.5e-1", "paths=3.0", "seed=7"};
  same = identity_of("/", equal_sets, 3);
  assert_string_equal(same, base);
  free(same);
  const char *ab[] = {"paths=9", "seed=8"}, *ba[] = {"seed=8", "paths=9"};
  char *one = identity_of("/", ab, 2), *two = identity_of("/", ba, 2);
  assert_string_equal(one, two);
  assert_string_not_equal(one, base);
  free(one);
  free(two);

  /* Changed: an override that changes a value (only the listing differs) ... */
  const char *vol[] = {"quality_gap.volatility=0.5"};
  char *set = identity_of("/", vol, 1);
  assert_memory_equal(set, base, (size_t)(listing_of(base) - base));
  assert_non_null(strstr(set, "\nquality_gap.volatility = 0.5;\n"));
  assert_string_not_equal(listing_of(set), listing_of(base));
  free(set);
  /* ... a value in an included file, nested or not (text and listing differ) ... */
  id_file("inc2.cfg", "seed = 8;\n");
  char *edited = identity_of("/", NULL, 0);
  assert_non_null(strstr(edited, "\nseed = 8;\n"));
  assert_string_not_equal(listing_of(edited), listing_of(base));
  free(edited);
  id_file("inc2.cfg", ID_INC2);
  id_file("inc.cfg", "quality_gap = { volatility = 2.0; };\n@include \"inc2.cfg\"\n");
  edited = identity_of("/", NULL, 0);
  assert_non_null(strstr(edited, "\nquality_gap.volatility = 2.0;\n"));
  assert_string_not_equal(edited, base);
  free(edited);
  /* ... and whitespace or a comment in an included file: the same effective parameters, but
   * not the same text, and the text is what the results file stores. */
  id_file("inc.cfg", "quality_gap = {  volatility = 0.25; }; # reformatted\n@include \"inc2.cfg\"\n");
  edited = identity_of("/", NULL, 0);
  assert_string_equal(listing_of(edited), listing_of(base));
  assert_string_not_equal(edited, base);
  free(edited);
  id_file("inc.cfg", ID_INC);
  same = identity_of("/", NULL, 0);
  assert_string_equal(same, base);
  free(same);
  free(base);
}

/* The sweep's part of the listing: what each design uses, numbers exact. */
static void identity_sweep(void **state) {
  (void)state;
  moat_config_t cfg;
  assert_int_equal(load(MINIMAL "sweep = { method = \"lhs\"; samples = 8; axes = (\n"
                                "  { param = \"quality_gap.long_run\"; min = 0.01; max = 0.1; log = true; },\n"
                                "  { param = \"paths\"; low = 10; mid = 20; high = 40; } ); };\n",
                        NULL, 0, &cfg),
                   MOAT_OK);
  assert_non_null(strstr(cfg.identity_text,
                         "\n== sweep ==\nsweep.method = \"lhs\";\nsweep.samples = 8;\n"
                         "sweep.axes.1.param = \"quality_gap.long_run\";\nsweep.axes.1.log = true;\n"
                         "sweep.axes.1.min = 0.01;\nsweep.axes.1.max = 0.1;\n"
                         "sweep.axes.2.param = \"paths\";\nsweep.axes.2.log = false;\n"
                         "sweep.axes.2.low = 10.0;\nsweep.axes.2.mid = 20.0;\nsweep.axes.2.high = 40.0;\n"));
  moat_config_clear(&cfg);
  assert_int_equal(load(MINIMAL "sweep = { method = \"grid\"; axes = (\n"
                                "  { param = \"quality_gap.long_run\"; values = [0.1, 0.30000000000000004]; } ); };\n",
                        NULL, 0, &cfg),
                   MOAT_OK);
  const char *tail = "\n== sweep ==\nsweep.method = \"grid\";\nsweep.axes.1.param = \"quality_gap.long_run\";\n"
                     "sweep.axes.1.value = 0.1;\nsweep.axes.1.value = 0.30000000000000004;\n";
  size_t n = strlen(cfg.identity_text);
  assert_true(n > strlen(tail));
  assert_string_equal(cfg.identity_text + n - strlen(tail), tail);
  moat_config_clear(&cfg);
  /* Morris: its levels (4 when the file does not say); Saltelli: second order or not. */
  assert_int_equal(load(MINIMAL "sweep = { method = \"morris\"; samples = 3; axes = (\n"
                                "  { param = \"quality_gap.long_run\"; min = 0.01; max = 0.1; } ); };\n",
                        NULL, 0, &cfg),
                   MOAT_OK);
  assert_non_null(strstr(cfg.identity_text, "\nsweep.method = \"morris\";\nsweep.samples = 3;\nsweep.levels = 4;\n"));
  moat_config_clear(&cfg);
  assert_int_equal(load(MINIMAL "sweep = { method = \"saltelli\"; samples = 4; axes = (\n"
                                "  { param = \"quality_gap.long_run\"; min = 0.01; max = 0.1; } ); };\n",
                        NULL, 0, &cfg),
                   MOAT_OK);
  assert_non_null(strstr(cfg.identity_text, "\nsweep.method = \"saltelli\";\nsweep.samples = 4;\nsweep.second_order = false;\n"));
  moat_config_clear(&cfg);
}

/* Errors inside an included file name that file and line. */
static void include_errors(void **state) {
  (void)state;
  id_file("main.cfg", ID_MAIN);
  id_file("inc2.cfg", ID_INC2);
  char main_path[160], inc_path[160];
  snprintf(main_path, sizeof main_path, "%s/main.cfg", id_dir);
  snprintf(inc_path, sizeof inc_path, "%s/inc.cfg", id_dir);
  const char *cases[][3] = {
      {"\n\nquality_gap = { volatility = 9.0; };\n", ":3:", "quality_gap.volatility = 9 is outside [0, 5]"},
      {"horizon_years = 5;\nsteps_per_year = ;\n", ":2:", "syntax error"},
      {"\nseed = 9007199254740993;\n", ":2:", "seed = 9007199254740993 does not fit a 32-bit integer"},
      {"@include \"missing.cfg\"\n", ":1:", "cannot open include file"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    id_file("inc.cfg", cases[k][0]);
    moat_config_t cfg;
    assert_int_equal(moat_config_load(&cfg, main_path, NULL, 0, err, sizeof err), MOAT_EINVAL);
    char where_[200];
    snprintf(where_, sizeof where_, "%s%s", inc_path, cases[k][1]);
    if (!strstr(err, where_) || !strstr(err, cases[k][2])) {
      print_error("case %zu: \"%s\" lacks \"%s\" or \"%s\"\n", k, err, where_, cases[k][2]);
      fail();
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_are_the_sketch), cmocka_unit_test(table_defaults_in_range),
      cmocka_unit_test(parses_each_type),        cmocka_unit_test(file_errors),
      cmocka_unit_test(unknown_keys_suggest),    cmocka_unit_test(type_and_range_errors),
      cmocka_unit_test(lab_entry_errors),        cmocka_unit_test(cross_field_rules),
      cmocka_unit_test(set_overrides),           cmocka_unit_test(sweep_section),
      cmocka_unit_test(set_get_number),          cmocka_unit_test(visit_round_trip),
      cmocka_unit_test(params_listing),          cmocka_unit_test(cli_options),
      cmocka_unit_test(baseline_file),           cmocka_unit_test(identity_text),
      cmocka_unit_test(identity_sweep),          cmocka_unit_test(include_errors),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  if (tmp_path[0]) unlink(tmp_path);
  if (id_dir[0]) {
    const char *names[] = {"main.cfg", "inc.cfg", "inc2.cfg", "stored.cfg"};
    char path[128];
    for (size_t k = 0; k < 4; k++) {
      snprintf(path, sizeof path, "%s/%s", id_dir, names[k]);
      unlink(path);
    }
    rmdir(id_dir);
  }
  return failed;
}
