/* config_params.c — the parameter table as a listing (moatsim params, docs/parameters.md) and
 * the effective parameters of a scenario (moat_scenario_visit, stored with the results). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"

static const char *type_name(int type) {
  switch (type) {
  case MOAT_PT_INT: return "int";
  case MOAT_PT_INT64: return "int64";
  case MOAT_PT_DOUBLE: return "double";
  case MOAT_PT_BOOL: return "bool";
  case MOAT_PT_DLIST: return "double list";
  case MOAT_PT_SLIST: return "string list";
  default: return "string";
  }
}

static const char *kinds_name(const moat_param_t *p) {
  if (p->scope != MOAT_PS_LAB) return "";
  return p->kinds == MOAT_KINDS_BOTH ? "both" : p->kinds == MOAT_KINDS_OPEN ? "open" : "closed";
}

static void range_text(const moat_param_t *p, char *out, size_t outlen) {
  char lo[40], hi[40];
  int prec = p->type == MOAT_PT_INT || p->type == MOAT_PT_INT64 ? 17 : 15; /* 2^53 exactly */
  snprintf(lo, sizeof lo, "%.*g", prec, p->min);
  snprintf(hi, sizeof hi, "%.*g", prec, p->max);
  switch (p->type) {
  case MOAT_PT_STRING: snprintf(out, outlen, "length <= %s", hi); break;
  case MOAT_PT_CHOICE: moat_param_choice_text(p, 0, out, outlen); break;
  case MOAT_PT_BOOL: snprintf(out, outlen, "true, false"); break;
  case MOAT_PT_SLIST:
    snprintf(out, outlen, "<= %zu entries, length <= %zu", p->size, p->elem_size - 1);
    break;
  case MOAT_PT_DLIST: snprintf(out, outlen, "<= %zu entries in [%s, %s]", p->size, lo, hi); break;
  default: snprintf(out, outlen, "[%s, %s]", lo, hi); break;
  }
}

static const char *key_prefix(int scope) {
  return scope == MOAT_PS_LAB ? "labs.<name>." : scope == MOAT_PS_CLOUD ? "clouds.<name>." : "";
}

/* One row of the listing, formatted; the defaults come from structs filled by the table. */
typedef struct listing_row {
  char key[MOAT_KEY_MAX], def[160], range[128];
} listing_row_t;

static void listing_row(const moat_param_t *p, const void *defaults, listing_row_t *r) {
  snprintf(r->key, sizeof r->key, "%s%s", key_prefix(p->scope), p->key);
  if (p->required) snprintf(r->def, sizeof r->def, "(required)");
  else moat_param_format(p, defaults, r->def, sizeof r->def);
  range_text(p, r->range, sizeof r->range);
}

static const char markdown_intro[] =
    "# Scenario parameters\n"
    "\n"
    "Generated from the parameter table by `moatsim params --format markdown` (`make docs`);\n"
    "do not edit by hand. MODEL.md gives each parameter's role in the model.\n"
    "\n"
    "A scenario file (libconfig syntax) sets any of these keys; keys it leaves out take the\n"
    "default. Group keys sit in their group (`quality_gap = { initial = 0.04; };`). Labs and\n"
    "clouds are list entries (`labs = ( { name = \"closed-a\"; kind = \"closed\"; ... } );`) and\n"
    "are addressed as `labs.<name>.<field>` and `clouds.<name>.<field>` by `--set` and sweep\n"
    "axes. Ranges are inclusive. Integers are accepted where a double is expected, and whole\n"
    "numbers written as doubles (`1e6`) where an integer is. Unknown keys are errors. A lab key\n"
    "marked `closed` or `open` applies to labs of that kind only; giving it to the other kind\n"
    "is an error. A scenario needs at least one closed lab, one open lab and one cloud; names\n"
    "are unique. Also checked: `output.quantiles` strictly increasing inside (0, 1),\n"
    "round(horizon_years * steps_per_year) in [1, 10000], the memory the run needs (the sweep's\n"
    "largest scenario, and the parameters of every scenario of the sweep) against `--max-memory`\n"
    "(default 8 GiB), and the results file's size against the room for it (the free space of its\n"
    "directory, `ulimit -f`). Integers are exact up to 2^53; a larger one is refused, not rounded.\n"
    "A file may pull in others with `@include \"name.cfg\"` (names relative to the scenario\n"
    "file's directory); their text is part of the run's identity, which `--resume` compares.\n";

static const char sweep_intro[] =
    "\n## Sweep: `sweep = { ... }`\n"
    "\n"
    "An optional `sweep` group turns one scenario file into many scenarios: each axis varies one\n"
    "numeric parameter of the table above, and every scenario is the file's scenario with the\n"
    "axes' values applied (then checked against the same ranges). `moatsim validate` prints the\n"
    "number of scenarios; the results file holds them along its `scenario` dimension.\n"
    "\n"
    "```\n"
    "sweep = { method = \"grid\";   # 3 x 2 = 6 scenarios\n"
    "          axes = ( { param = \"quality_gap.long_run\"; values = [0.01, 0.03, 0.06]; },\n"
    "                   { param = \"labs.open-a.lag\"; values = [0.1, 0.3]; } ); };\n"
    "sweep = { method = \"lhs\"; samples = 64;\n"
    "          axes = ( { param = \"quality_gap.long_run\"; min = 0.005; max = 0.08; log = true; },\n"
    "                   { param = \"market.price_elasticity\"; low = 0.4; mid = 0.8; high = 1.4; } ); };\n"
    "```\n";

/* The sweep section's keys, from the table the parser uses. */
static void print_sweep_markdown(FILE *out) {
  fputs(sweep_intro, out);
  const char *const titles[2] = {"sweep.<key>", "sweep.axes: each axis `{ <key> = ...; }`"};
  const moat_sweep_key_t *tables[2] = {moat_sweep_keys, moat_axis_keys};
  const size_t sizes[2] = {MOAT_N_SWEEP_KEYS, MOAT_N_AXIS_KEYS};
  for (int t = 0; t < 2; t++) {
    fprintf(out, "\n### %s\n\n| key | type | range | description |\n|---|---|---|---|\n", titles[t]);
    for (size_t k = 0; k < sizes[t]; k++)
      fprintf(out, "| `%s` | %s | %s | %s |\n", tables[t][k].key, tables[t][k].type,
              tables[t][k].range, tables[t][k].doc);
  }
}

static void print_markdown(FILE *out, const void *const defaults[3]) {
  static const char *const titles[3] = {"Scenario", "Labs: `labs.<name>.<field>`",
                                        "Clouds: `clouds.<name>.<field>`"};
  fputs(markdown_intro, out);
  for (int scope = MOAT_PS_GLOBAL; scope <= MOAT_PS_CLOUD; scope++) {
    fprintf(out, "\n## %s\n\n", titles[scope]);
    fprintf(out, "| key | type |%s default | range | unit | description |\n",
            scope == MOAT_PS_LAB ? " kinds |" : "");
    fprintf(out, "|---|---|%s---|---|---|---|\n", scope == MOAT_PS_LAB ? "---|" : "");
    for (size_t k = 0; k < moat_n_params; k++) {
      const moat_param_t *p = &moat_params[k];
      if (p->scope != scope) continue;
      listing_row_t r;
      listing_row(p, defaults[scope], &r);
      fprintf(out, "| `%s` | %s |", r.key, type_name(p->type));
      if (scope == MOAT_PS_LAB) fprintf(out, " %s |", kinds_name(p));
      fprintf(out, " `%s` | %s | %s | %s |\n", r.def, r.range, p->unit[0] ? p->unit : "-", p->doc);
    }
  }
  print_sweep_markdown(out);
}

static void print_text(FILE *out, const void *const defaults[3]) {
  fprintf(out, "%-42s %-11s %-6s %-22s %-30s %-12s %s\n", "KEY", "TYPE", "KINDS", "DEFAULT",
          "RANGE", "UNIT", "DESCRIPTION");
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    listing_row_t r;
    listing_row(p, defaults[p->scope], &r);
    fprintf(out, "%-42s %-11s %-6s %-22s %-30s %-12s %s\n", r.key, type_name(p->type),
            kinds_name(p), r.def, r.range, p->unit, p->doc);
  }
  const char *const prefixes[2] = {"sweep.", "sweep.axes[]."};
  const moat_sweep_key_t *tables[2] = {moat_sweep_keys, moat_axis_keys};
  const size_t sizes[2] = {MOAT_N_SWEEP_KEYS, MOAT_N_AXIS_KEYS};
  for (int t = 0; t < 2; t++)
    for (size_t k = 0; k < sizes[t]; k++) {
      char key[MOAT_KEY_MAX];
      snprintf(key, sizeof key, "%s%s", prefixes[t], tables[t][k].key);
      fprintf(out, "%-42s %-11s %-6s %-22s %-30s %-12s %s\n", key, tables[t][k].type, "", "",
              tables[t][k].range, "", tables[t][k].doc);
    }
}

int moat_params_print(FILE *out, const char *format) {
  int markdown = strcmp(format, "markdown") == 0;
  if (!markdown && strcmp(format, "text") != 0) return MOAT_EINVAL;
  moat_scenario_t *sc = calloc(1, sizeof *sc);
  if (!sc) return MOAT_ENOMEM;
  moat_param_defaults(MOAT_PS_GLOBAL, sc);
  moat_param_defaults(MOAT_PS_LAB, &sc->labs[0]);
  moat_param_defaults(MOAT_PS_CLOUD, &sc->clouds[0]);
  const void *const defaults[3] = {sc, &sc->labs[0], &sc->clouds[0]};
  if (markdown) print_markdown(out, defaults);
  else print_text(out, defaults);
  free(sc);
  return MOAT_OK;
}

/* Visit the rows of one scope in base, keys spelled with prefix; lab rows only for its kind. */
static void visit_scope(int scope, const void *base, const char *prefix, int kind,
                        moat_param_visit_fn fn, void *ctx) {
  char key[2 * MOAT_KEY_MAX], value[1024];
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    if (p->scope != scope || (scope == MOAT_PS_LAB && !(p->kinds & (1 << kind)))) continue;
    snprintf(key, sizeof key, "%s%s", prefix, p->key);
    moat_param_format(p, base, value, sizeof value);
    fn(ctx, key, value, p->unit, p->doc);
  }
}

void moat_scenario_visit(const moat_scenario_t *sc, moat_param_visit_fn fn, void *ctx) {
  char prefix[MOAT_KEY_MAX];
  visit_scope(MOAT_PS_GLOBAL, sc, "", 0, fn, ctx);
  for (int l = 0; l < sc->n_labs; l++) {
    snprintf(prefix, sizeof prefix, "labs.%s.", sc->labs[l].name);
    visit_scope(MOAT_PS_LAB, &sc->labs[l], prefix, sc->labs[l].kind, fn, ctx);
  }
  for (int c = 0; c < sc->n_clouds; c++) {
    snprintf(prefix, sizeof prefix, "clouds.%s.", sc->clouds[c].name);
    visit_scope(MOAT_PS_CLOUD, &sc->clouds[c], prefix, 0, fn, ctx);
  }
}
