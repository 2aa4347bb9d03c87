/* dump_state.c — one path's parameters, random draws, step-0 market and results as JSON, for the
 * NumPy reference (tests/bench/reference.py) and the differential test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moatsim/adoption.h"
#include "moatsim/config.h"
#include "moatsim/enterprises.h"
#include "moatsim/model.h"
#include "moatsim/offers.h"
#include "moatsim/pricing.h"
#include "moatsim/processes.h"
#include "moatsim/rng.h"

/*
 * usage: dump_state SCENARIO.cfg OUT.json [PATH_INDEX] [KEY=VALUE ...]
 *
 * The draws are recovered by replaying the path's generator streams (rng.h) in the order that
 * processes.h, adoption.h and enterprises.h document, on a copy of each stream taken before the
 * library call that really draws; after every step the copy and the stream must be in the same
 * state, so a change of draw order in the library is caught here rather than in a puzzling
 * mismatch of the reference. The processes take the active and distressed flags from the
 * path's own results (metrics `active` and `distressed` of step n - 1). The path is run with
 * scenario index 0, so its streams are the same with or without common random numbers.
 * Output (JSON): "params" (every effective parameter, as moatsim params spells its value),
 * "labs", "clouds", "attributes" (the drawn enterprise attributes), "shocks" (per step the
 * uniforms of the release, gap and war streams), "choice_uniforms" (per step 2 N uniforms: reviews,
 * then adoption), "step0" (the pricing kernel's market at step 0, its equilibrium and shares)
 * and "results" (moat_path_run's output with its layout).
 */

static FILE *out;

static void put_double(double x) {
  if (isnan(x)) fputs("NaN", out);
  else if (isinf(x)) fputs(x > 0 ? "Infinity" : "-Infinity", out);
  else fprintf(out, "%.17g", x);
}

static void put_doubles(const char *name, const double *x, size_t n, int last) {
  fprintf(out, "\"%s\": [", name);
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(',', out);
    put_double(x[i]);
  }
  fprintf(out, "]%s\n", last ? "" : ",");
}

static void put_bytes(const char *name, const unsigned char *x, size_t n, int last) {
  fprintf(out, "\"%s\": [", name);
  for (size_t i = 0; i < n; i++) fprintf(out, "%s%d", i ? "," : "", x[i]);
  fprintf(out, "]%s\n", last ? "" : ",");
}

static void put_param(void *ctx, const char *key, const char *value, const char *unit, const char *doc) {
  int *first = ctx;
  (void)unit, (void)doc;
  fprintf(out, "%s\"%s\": \"", *first ? "" : ",\n", key);
  for (const char *c = value; *c; c++) fprintf(out, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
  fputc('"', out);
  *first = 0;
}

static void put_structure(const moat_scenario_t *sc) {
  int first = 1;
  fputs("\"params\": {\n", out);
  moat_scenario_visit(sc, put_param, &first);
  fputs("},\n\"labs\": [", out);
  for (int l = 0; l < sc->n_labs; l++)
    fprintf(out, "%s{\"name\": \"%s\", \"kind\": \"%s\", \"origin\": \"%s\"}", l ? ", " : "",
            sc->labs[l].name, sc->labs[l].kind == MOAT_LAB_OPEN ? "open" : "closed", sc->labs[l].origin);
  fputs("],\n\"clouds\": [", out);
  for (int k = 0; k < sc->n_clouds; k++) fprintf(out, "%s\"%s\"", k ? ", " : "", sc->clouds[k].name);
  fputs("],\n\"restricted_origins\": [", out);
  for (int k = 0; k < sc->governance.n_restricted_origins; k++)
    fprintf(out, "%s\"%s\"", k ? ", " : "", sc->governance.restricted_origins[k]);
  fputs("],\n", out);
}

static void put_attributes(const moat_enterprises_t *e) {
  fputs("\"attributes\": {\n", out);
  put_doubles("d0", e->d0, e->n, 0);
  put_doubles("hard", e->hard, e->n, 0);
  put_doubles("value", e->value, 2 * e->n, 0);
  put_doubles("privacy", e->privacy, e->n, 0);
  put_doubles("finetune", e->finetune, e->n, 0);
  put_bytes("restricted", e->restricted, e->n, 0);
  put_bytes("pool", e->pool, e->n, 1);
  fputs("},\n", out);
}

static int same_state(const gsl_rng *a, const gsl_rng *b) {
  return memcmp(gsl_rng_state(a), gsl_rng_state(b), gsl_rng_size(a)) == 0;
}

/* The uniforms moat_processes_step takes at step n (processes.h: a fixed number per stream and
 * step), drawn from copies of the streams: each lab's release uniform, each closed lab's jump
 * uniform (NaN for open labs), the gap's uniform and the three war uniforms. */
static void replay_shocks(const moat_scenario_t *sc, int n, gsl_rng *const *copy) {
  double u[MOAT_MAX_LABS], jump[MOAT_MAX_LABS], war[3];
  for (int l = 0; l < sc->n_labs; l++) {
    u[l] = gsl_rng_uniform(copy[MOAT_RNG_RELEASES]);
    jump[l] = sc->labs[l].kind == MOAT_LAB_CLOSED ? moat_rng_uniform_pos(copy[MOAT_RNG_RELEASES]) : NAN;
  }
  double z = moat_rng_uniform_pos(copy[MOAT_RNG_GAP]);
  for (int k = 0; k < 3; k++) war[k] = gsl_rng_uniform(copy[MOAT_RNG_WARS]);
  fprintf(out, "%s{\"u\": [", n > 1 ? ",\n" : "");
  for (int l = 0; l < sc->n_labs; l++) {
    fputs(l ? "," : "", out);
    put_double(u[l]);
  }
  fputs("], \"jump_u\": [", out);
  for (int l = 0; l < sc->n_labs; l++) {
    fputs(l ? "," : "", out);
    put_double(jump[l]);
  }
  fputs("], \"gap_u\": ", out);
  put_double(z);
  fputs(", \"war_u\": [", out);
  for (int k = 0; k < 3; k++) {
    fputs(k ? "," : "", out);
    put_double(war[k]);
  }
  fputs("]}", out);
}

/* Steps 1 .. T-1 of the shock and choice streams. Returns 0, or 1 if a replay went astray. */
static int put_draws(const moat_scenario_t *sc, uint64_t path, const double *res,
                     const moat_layout_t *lay, moat_enterprises_t *e, gsl_rng *real, gsl_rng *copy) {
  const int T = moat_scenario_steps(sc);
  moat_processes_t ps;
  moat_processes_init(sc, &ps);
  gsl_rng *reals[MOAT_RNG_N_STREAMS], *copies[MOAT_RNG_N_STREAMS];
  int bad = 0;
  for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) {
    reals[k] = moat_rng_alloc();
    copies[k] = moat_rng_alloc();
    bad |= !reals[k] || !copies[k];
    if (!bad) moat_rng_seed(reals[k], sc->seed, 0, path, (uint64_t)k);
  }
  fputs("\"shocks\": [null,\n", out); /* step 0 draws nothing */
  for (int n = 1; n < T && !bad; n++) {
    unsigned char active[MOAT_MAX_LABS], distressed[MOAT_MAX_LABS];
    for (int l = 0; l < sc->n_labs; l++) {
      active[l] = res[moat_at_lab(lay, MOAT_LM_ACTIVE, (size_t)l, (size_t)n - 1)] != 0.0;
      distressed[l] = res[moat_at_lab(lay, MOAT_LM_DISTRESSED, (size_t)l, (size_t)n - 1)] != 0.0;
    }
    for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) gsl_rng_memcpy(copies[k], reals[k]);
    replay_shocks(sc, n, copies);
    moat_processes_step(sc, n, active, distressed, reals, &ps);
    for (int k = 0; k < MOAT_RNG_N_STREAMS && !bad; k++)
      if (!same_state(copies[k], reals[k]))
        bad = fprintf(stderr, "dump_state: shock replay of stream %d differs at step %d\n", k, n) > 0;
  }
  for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) {
    if (reals[k]) gsl_rng_free(reals[k]);
    if (copies[k]) gsl_rng_free(copies[k]);
  }
  if (bad) return 1;
  fputs("],\n\"choice_uniforms\": [null", out);
  moat_rng_seed(real, sc->seed, 0, path, MOAT_RNG_CHOICE);
  unsigned char *review = malloc(e->n + 1), *adopted = calloc(e->n + 1, 1);
  double adopted_d0 = 0.0;
  bad = !review || !adopted;
  for (int n = 1; n < T && !bad; n++) {
    gsl_rng_memcpy(copy, real);
    fputs(",\n[", out);
    for (size_t i = 0; i < 2 * e->n; i++) {
      fputs(i ? "," : "", out);
      put_double(gsl_rng_uniform(copy));
    }
    fputc(']', out);
    moat_reviews_draw(sc, e, real, review);
    moat_adoption_step(sc, e, real, adopted, review, &adopted_d0);
    if (!same_state(copy, real)) bad = fprintf(stderr, "dump_state: choice replay differs at step %d\n", n);
  }
  fputs("],\n", out);
  free(review);
  free(adopted);
  return bad != 0;
}

/* The kernel's market at step 0 (as moat_path_run builds it: the offers, then the outside
 * option's column if it is on) and its equilibrium from 1.5 c. */
static int put_step0(const moat_scenario_t *sc, const moat_enterprises_t *e) {
  moat_offer_table_t ot;
  moat_processes_t ps;
  moat_offers_build(sc, &ot);
  moat_processes_init(sc, &ps);
  size_t rows = 2 * e->n, J = (size_t)ot.n_cols;
  double quality[MOAT_MAX_OFFERS], cost[MOAT_MAX_OFFERS], price[MOAT_MAX_OFFERS];
  unsigned char active[MOAT_MAX_OFFERS], fixed[MOAT_MAX_OFFERS];
  int seller[MOAT_MAX_OFFERS];
  double *base = malloc(rows * ot.stride * sizeof *base), *shares = malloc(rows * ot.stride * sizeof *shares);
  double *alpha = malloc(rows * sizeof *alpha), *weight = malloc(rows * sizeof *weight);
  unsigned char *adopted = calloc(e->n + 1, 1);
  moat_pricing_ws_t *pws = moat_pricing_ws_alloc(rows, ot.stride, (size_t)ot.n_sellers);
  int bad = !base || !shares || !alpha || !weight || !adopted || !pws;
  if (!bad) {
    moat_offers_update(&ot, sc, ps.quality, moat_cost_index(sc, 0.0), moat_local_cost(sc, 0.0),
                       moat_local_penalty(sc, 0.0), quality, cost);
    if (ot.outside >= 0) quality[ot.outside] = cost[ot.outside] = 0.0;
    for (size_t j = 0; j < J; j++) {
      seller[j] = (int)j == ot.outside ? -1 : ot.seller[j];
      active[j] = 1;
      fixed[j] = seller[j] < 0;
      price[j] = fixed[j] ? cost[j] : 1.5 * cost[j];
    }
    for (size_t r = 0; r < rows; r++) {
      for (size_t j = J; j < ot.stride; j++) base[r * ot.stride + j] = -INFINITY;
      alpha[r] = 1.0 / (sc->enterprises.taste_dispersion * e->value[r]);
      weight[r] = e->d0[r / 2] * (r % 2 == MOAT_SEG_HARD ? e->hard[r / 2] : 1.0 - e->hard[r / 2]);
    }
    moat_offers_fill_base(&ot, sc, e, quality, ps.frontier, active, adopted, 0, base);
    double lambda[MOAT_MAX_OFFERS];
    moat_offers_nest_lambda(&ot, sc, lambda);
    moat_market_t m = {rows, J, ot.stride, base, alpha, weight, cost, seller, fixed,
                       (size_t)ot.n_sellers, ot.nest, lambda, (size_t)ot.n_nests};
    moat_pricing_result_t res;
    moat_pricing_solve(&m, price, sc->pricing.tolerance, sc->pricing.max_iterations, pws, &res);
    moat_choice_shares(&m, price, shares);
    for (size_t r = 0; r < rows; r++) { /* compact rows: drop the padding columns */
      memmove(base + r * J, base + r * ot.stride, J * sizeof *base);
      memmove(shares + r * J, shares + r * ot.stride, J * sizeof *shares);
    }
    fprintf(out, "\"step0\": {\"iterations\": %d, \"converged\": %d,\n", res.iterations, res.converged);
    fprintf(out, "\"seller\": [");
    for (size_t j = 0; j < J; j++) fprintf(out, "%s%d", j ? "," : "", seller[j]);
    fputs("],\n", out);
    put_doubles("cost", cost, J, 0);
    put_doubles("quality", quality, J, 0);
    put_doubles("alpha", alpha, rows, 0);
    put_doubles("weight", weight, rows, 0);
    put_doubles("base", base, rows * J, 0);
    put_doubles("price", price, J, 0);
    put_doubles("shares", shares, rows * J, 1);
    fputs("},\n", out);
  }
  free(base), free(shares), free(alpha), free(weight), free(adopted);
  moat_pricing_ws_free(pws);
  return bad;
}

static void put_results(const moat_layout_t *lay, const double *res, const moat_path_stats_t *st) {
  fprintf(out, "\"results\": {\"n_steps\": %zu, \"n_labs\": %zu, \"n_clouds\": %zu,\n", lay->n_steps,
          lay->n_labs, lay->n_clouds);
  const struct {
    const char *name;
    const moat_metric_info_t *info;
    int n;
  } groups[] = {{"market", moat_market_metrics, MOAT_N_MARKET}, {"lab", moat_lab_metrics, MOAT_N_LAB},
                {"cloud", moat_cloud_metrics, MOAT_N_CLOUD}, {"lab_path", moat_lab_path_metrics, MOAT_N_LAB_PATH},
                {"path", moat_path_metrics, MOAT_N_PATH}};
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    fprintf(out, "\"%s_names\": [", groups[g].name);
    for (int k = 0; k < groups[g].n; k++) fprintf(out, "%s\"%s\"", k ? "," : "", groups[g].info[k].name);
    fputs("],\n", out);
  }
  fprintf(out, "\"pricing_iterations\": %ld, \"nonconverged_steps\": %d,\n", st->pricing_iterations,
          st->nonconverged_steps);
  put_doubles("values", res, lay->per_path, 1);
  fputs("}\n", out);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: dump_state SCENARIO.cfg OUT.json [PATH_INDEX] [KEY=VALUE ...]\n");
    return 2;
  }
  char err[MOAT_ERR_MAX];
  uint64_t path = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
  moat_config_t cfg;
  int nsets = argc > 4 ? argc - 4 : 0;
  if (moat_config_load(&cfg, argv[1], (const char *const *)(argv + 4), (size_t)nsets, err, sizeof err)) {
    fprintf(stderr, "dump_state: %s\n", err);
    return 2;
  }
  const moat_scenario_t *sc = &cfg.base;
  moat_layout_t lay;
  moat_scenario_layout(sc, &lay);
  moat_workspace_t *ws = moat_workspace_alloc();
  double *res = malloc(lay.per_path * sizeof *res);
  moat_enterprises_t *e = moat_enterprises_alloc((size_t)sc->enterprises.count);
  gsl_rng *real = moat_rng_alloc(), *copy = moat_rng_alloc();
  moat_path_stats_t st;
  int bad = !ws || !res || !e || !real || !copy || moat_workspace_reserve(ws, sc, err, sizeof err) ||
            moat_path_run(sc, 0, path, ws, res, &st);
  out = bad ? NULL : fopen(argv[2], "w");
  if (!out) {
    fprintf(stderr, "dump_state: cannot run the path or open %s\n", argv[2]);
    return 1;
  }
  fprintf(out, "{\"path_index\": %llu,\n", (unsigned long long)path);
  put_structure(sc);
  moat_rng_seed(real, sc->seed, 0, path, MOAT_RNG_ATTRIBUTES);
  moat_enterprises_draw(sc, real, e);
  put_attributes(e);
  bad = put_draws(sc, path, res, &lay, e, real, copy) || put_step0(sc, e);
  put_results(&lay, res, &st);
  fputs("}\n", out);
  bad |= fclose(out) != 0;
  gsl_rng_free(real), gsl_rng_free(copy);
  moat_enterprises_free(e);
  free(res);
  moat_workspace_free(ws);
  moat_config_clear(&cfg);
  return bad;
}
