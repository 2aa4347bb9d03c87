/* writer_params.c — what the scenarios of a run share (dimensions) and what they set (/params). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moatsim/config.h"
#include "moatsim/writer_h5.h"
#include "writer_internal.h"

static char *dup_text(const char *s) {
  size_t n = strlen(s ? s : "") + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s ? s : "", n);
  return d;
}

/* A whole number or decimal, nothing else ("true", "[0.05, 0.5]" and names are text). */
static int parse_number(const char *text, double *v) {
  char *end = NULL;
  *v = strtod(text, &end);
  return end != text && *end == '\0';
}

/* Visitor state over one scenario. */
typedef struct visit_ctx {
  moat_writer_scenarios_t *sc;
  const moat_writer_desc_t *desc;
  size_t k, i; /* scenario, parameter index */
  int status;
  char key[MOAT_KEY_MAX]; /* first key that did not match scenario 0's list */
} visit_ctx_t;

static int is_swept(const moat_writer_desc_t *desc, const char *key) {
  for (int a = 0; a < desc->n_swept; a++)
    if (strcmp(desc->swept[a], key) == 0) return 1;
  return 0;
}

/* Scenario 0 defines the list of parameters. */
static int add_param(visit_ctx_t *c, const char *key, const char *value, const char *unit,
                     const char *doc) {
  moat_writer_scenarios_t *sc = c->sc;
  if (sc->n_params == sc->cap_params) {
    size_t cap = sc->cap_params ? 2 * sc->cap_params : 128;
    moat_writer_param_t *p = realloc(sc->params, cap * sizeof *p);
    if (!p) return MOAT_ENOMEM;
    sc->params = p;
    sc->cap_params = cap;
  }
  moat_writer_param_t *p = &sc->params[sc->n_params];
  memset(p, 0, sizeof *p);
  sc->n_params++; /* counted now so that clear frees what was allocated */
  double v;
  p->numeric = parse_number(value, &v);
  p->swept = is_swept(c->desc, key);
  p->key = dup_text(key), p->unit = dup_text(unit), p->doc = dup_text(doc), p->text = dup_text(value);
  if (p->numeric) p->values = malloc((sc->n_scenarios ? sc->n_scenarios : 1) * sizeof *p->values);
  if (!p->key || !p->unit || !p->doc || !p->text || (p->numeric && !p->values)) return MOAT_ENOMEM;
  if (p->numeric) p->values[0] = v;
  return MOAT_OK;
}

/* FNV-1a, 64 bits, of `text` continuing from h. */
static uint64_t fnv1a(uint64_t h, const char *text) { return moat_h5_fnv1a(h, text, strlen(text)); }

static void visit(void *ctx, const char *key, const char *value, const char *unit, const char *doc) {
  visit_ctx_t *c = ctx;
  if (c->status != MOAT_OK) return;
  char index[32];
  snprintf(index, sizeof index, "%zu\t", c->k);
  c->sc->digest = fnv1a(fnv1a(fnv1a(fnv1a(c->sc->digest, index), key), "="), value);
  c->sc->digest = fnv1a(c->sc->digest, "\n");
  if (c->k == 0) {
    c->status = add_param(c, key, value, unit, doc);
    return;
  }
  moat_writer_param_t *p = c->i < c->sc->n_params ? &c->sc->params[c->i] : NULL;
  c->i++;
  if (!p || strcmp(p->key, key) != 0) {
    snprintf(c->key, sizeof c->key, "%s", key);
    c->status = MOAT_EINVAL;
    return;
  }
  double v;
  if (p->numeric) p->values[c->k] = parse_number(value, &v) ? v : NAN;
}

/* Scenario k must share scenario 0's time step, labs, clouds and quantile levels. */
static int check_shared(const moat_writer_scenarios_t *sc, const moat_scenario_t *s, size_t k,
                        char *err, size_t errlen) {
  const moat_scenario_t *f = &sc->first;
  const char *key = NULL;
  if (s->steps_per_year != f->steps_per_year) key = "steps_per_year";
  else if (s->n_labs != f->n_labs) key = "labs";
  else if (s->n_clouds != f->n_clouds) key = "clouds";
  else if (s->output.n_quantiles != f->output.n_quantiles ||
           memcmp(s->output.quantiles, f->output.quantiles,
                  (size_t)f->output.n_quantiles * sizeof(double)) != 0)
    key = "output.quantiles";
  for (int j = 0; !key && j < s->n_labs; j++)
    if (strcmp(s->labs[j].name, f->labs[j].name) != 0) key = "labs";
  for (int j = 0; !key && j < s->n_clouds; j++)
    if (strcmp(s->clouds[j].name, f->clouds[j].name) != 0) key = "clouds";
  if (!key) return MOAT_OK;
  snprintf(err, errlen,
           "scenario %zu differs from scenario 0 in %s: the scenarios of one results file share the "
           "time step, labs, clouds and quantile levels; sweep other parameters or run separately",
           k, key);
  return MOAT_EINVAL;
}

static void take_first(moat_writer_scenarios_t *sc) {
  const moat_scenario_t *f = &sc->first;
  sc->steps_per_year = f->steps_per_year;
  sc->paths = f->paths;
  sc->seed = f->seed;
  sc->n_labs = f->n_labs;
  sc->n_clouds = f->n_clouds;
  sc->n_quantiles = f->output.n_quantiles;
  sc->quantiles = f->output.quantiles;
  for (int j = 0; j < f->n_labs; j++) sc->lab_names[j] = f->labs[j].name;
  for (int j = 0; j < f->n_clouds; j++) sc->cloud_names[j] = f->clouds[j].name;
}

int moat_writer_scenarios_scan(moat_writer_scenarios_t *sc, const moat_writer_desc_t *desc,
                               char *err, size_t errlen) {
  memset(sc, 0, sizeof *sc);
  sc->digest = fnv1a(MOAT_FNV1A_BASIS, desc->identity ? desc->identity : "");
  sc->n_scenarios = desc->n_scenarios;
  if (desc->n_scenarios == 0) {
    snprintf(err, errlen, "a results file needs at least one scenario");
    return MOAT_EINVAL;
  }
  moat_scenario_t *s = malloc(sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory reading the scenarios");
    return MOAT_ENOMEM;
  }
  int st = MOAT_OK;
  for (size_t k = 0; k < desc->n_scenarios && st == MOAT_OK; k++) {
    st = desc->scenario(desc->scenario_ctx, k, k == 0 ? &sc->first : s, err, errlen);
    if (st != MOAT_OK) break;
    const moat_scenario_t *cur = k == 0 ? &sc->first : s;
    if (k == 0) take_first(sc);
    else st = check_shared(sc, cur, k, err, errlen);
    if (st != MOAT_OK) break;
    int steps = moat_scenario_steps(cur);
    if (steps > sc->max_steps) sc->max_steps = steps;
    if (cur->paths > sc->max_paths) sc->max_paths = cur->paths;
    visit_ctx_t c = {sc, desc, k, 0, MOAT_OK, ""};
    moat_scenario_visit(cur, visit, &c);
    st = c.status;
    if (st == MOAT_ENOMEM) snprintf(err, errlen, "out of memory listing the parameters of scenario %zu", k);
    else if (st != MOAT_OK)
      snprintf(err, errlen, "scenario %zu lists parameter '%s' where scenario 0 does not", k, c.key);
  }
  free(s);
  if (st != MOAT_OK) moat_writer_scenarios_clear(sc);
  return st;
}

void moat_writer_scenarios_clear(moat_writer_scenarios_t *sc) {
  for (size_t i = 0; i < sc->n_params; i++) {
    moat_writer_param_t *p = &sc->params[i];
    free(p->key), free(p->unit), free(p->doc), free(p->text), free(p->values);
  }
  free(sc->params);
  memset(sc, 0, sizeof *sc);
}

int moat_writer_lab_names(hid_t g, hid_t lab_dim, const moat_writer_scenarios_t *sc) {
  const char *kind[MOAT_MAX_LABS], *origin[MOAT_MAX_LABS];
  for (int j = 0; j < sc->n_labs; j++) {
    kind[j] = sc->first.labs[j].kind == MOAT_LAB_OPEN ? "open" : "closed";
    origin[j] = sc->first.labs[j].origin;
  }
  hsize_t n = (hsize_t)sc->n_labs;
  hid_t a = moat_h5_strings_create(g, "lab_kind", lab_dim, n, kind, NULL, "closed or open weights");
  hid_t b = moat_h5_strings_create(g, "lab_origin", lab_dim, n, origin, NULL, "origin tag of the lab");
  int st = a >= 0 && b >= 0 ? MOAT_OK : MOAT_EIO;
  if (a >= 0) H5Dclose(a);
  if (b >= 0) H5Dclose(b);
  return st;
}

/* The variable name of parameter i: its key as a CF name (moat_h5_cf_name), with "_2", "_3", ...
 * when an earlier parameter took that name (keys differing only in '.', '-' or the like). */
static void param_name(const moat_writer_scenarios_t *sc, size_t i, char *buf, size_t len) {
  moat_h5_cf_name(sc->params[i].key, buf, len);
  int taken = 0;
  char other[MOAT_KEY_MAX];
  for (size_t j = 0; j < i; j++) {
    moat_h5_cf_name(sc->params[j].key, other, sizeof other);
    taken += strncmp(other, buf, strlen(buf)) == 0 && (other[strlen(buf)] == '\0');
  }
  if (taken) {
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, "_%d", taken + 1);
  }
}

/* One parameter: a numeric one as a variable over scenario, a text one (names, kinds, lists;
 * never swept) as a scalar string with scenario 0's value. Both carry the dotted key as `key`. */
static int param_var(hid_t g, hid_t dim, const moat_writer_param_t *p, const char *name, hsize_t n) {
  hid_t ds;
  if (p->numeric) {
    moat_h5_var_t v = {name, H5T_NATIVE_DOUBLE, 1, &n, NULL, 0, p->unit[0] ? p->unit : "1", p->doc};
    ds = moat_h5_var_create(g, &v, &dim);
    if (ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->values) < 0) {
      H5Dclose(ds);
      ds = -1;
    }
  } else {
    ds = moat_h5_text_scalar(g, name, p->text, p->doc);
  }
  if (ds < 0) return MOAT_EIO;
  int bad = moat_h5_attr_text(ds, "key", p->key) < 0 || (p->swept && moat_h5_attr_int(ds, "swept", 1) < 0);
  H5Dclose(ds);
  return bad ? MOAT_EIO : MOAT_OK;
}

/* The design the scenarios come from (docs/output.md `/params`): what `moatsim sensitivity`
 * needs to find A, B and A_B^(i), or the Morris trajectories, among the scenarios. */
static int design_attrs(hid_t g, const moat_writer_desc_t *desc) {
  const char *method = desc->sweep_method ? desc->sweep_method : "none";
  return moat_h5_attr_text(g, "sweep_method", method) < 0 ||
                 moat_h5_attr_int(g, "sweep_samples", desc->sweep_samples) < 0 ||
                 moat_h5_attr_int(g, "sweep_levels", desc->sweep_levels) < 0 ||
                 moat_h5_attr_int(g, "sweep_second_order", desc->sweep_second_order) < 0 ||
                 moat_h5_attr_int(g, "sweep_common_random_numbers",
                                  desc->sweep_common_random_numbers) < 0
             ? -1
             : 0;
}

/* Space-separated list of the swept keys (cf = 0) or of their variable names (cf = 1), in axis
 * order, malloc'ed. */
static char *swept_list(const moat_writer_desc_t *desc, const moat_writer_scenarios_t *sc, int cf) {
  size_t len = 1;
  for (int a = 0; a < desc->n_swept; a++) len += strlen(desc->swept[a]) + 8;
  char *list = malloc(len), name[MOAT_KEY_MAX];
  if (!list) return NULL;
  list[0] = '\0';
  for (int a = 0; a < desc->n_swept; a++) {
    snprintf(name, sizeof name, "%s", desc->swept[a]);
    for (size_t i = 0; cf && i < sc->n_params; i++)
      if (strcmp(sc->params[i].key, desc->swept[a]) == 0) param_name(sc, i, name, sizeof name);
    if (a) strcat(list, " ");
    strncat(list, name, len - strlen(list) - 1);
  }
  return list;
}

int moat_writer_params(hid_t file, const moat_writer_desc_t *desc, const moat_writer_scenarios_t *sc,
                       char *err, size_t errlen) {
  hsize_t n = (hsize_t)sc->n_scenarios;
  hid_t g = moat_h5_group_create(file, "params");
  int32_t *idx = malloc((size_t)n * sizeof *idx);
  char *swept = swept_list(desc, sc, 0), *swept_vars = swept_list(desc, sc, 1);
  hid_t dim = -1;
  int st = g >= 0 && idx && swept && swept_vars ? MOAT_OK : MOAT_EIO;
  if (st == MOAT_OK) {
    for (hsize_t k = 0; k < n; k++) idx[k] = (int32_t)k;
    dim = moat_h5_dim_create(g, "scenario", H5T_NATIVE_INT32, n, idx, NULL, "1",
                             "scenario index, in sweep order");
    if (dim < 0 || moat_h5_attr_text(g, "swept_params", swept) < 0 ||
        moat_h5_attr_text(g, "swept_variables", swept_vars) < 0 || design_attrs(g, desc) < 0)
      st = MOAT_EIO;
  }
  for (size_t i = 0; i < sc->n_params && st == MOAT_OK; i++) {
    char name[MOAT_KEY_MAX];
    param_name(sc, i, name, sizeof name);
    st = param_var(g, dim, &sc->params[i], name, n);
  }
  if (st != MOAT_OK) moat_h5_error(err, errlen, "cannot write the parameters to", "/params");
  if (dim >= 0) H5Dclose(dim);
  if (g >= 0) H5Gclose(g);
  free(idx);
  free(swept);
  free(swept_vars);
  return st;
}
