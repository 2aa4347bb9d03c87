/* rng.c — xoshiro256** as a GSL generator type, seeded through splitmix64. */
#include "moatsim/rng.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t s[4];
} xoshiro_state_t;

uint64_t moat_rng_splitmix64(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

uint64_t moat_rng_key(uint64_t seed, uint64_t scenario_index, uint64_t path_index, uint64_t stream) {
  uint64_t st = seed;
  uint64_t k = moat_rng_splitmix64(&st);
  st = k ^ scenario_index;
  k = moat_rng_splitmix64(&st);
  st = k ^ path_index;
  k = moat_rng_splitmix64(&st);
  st = k ^ stream;
  return moat_rng_splitmix64(&st);
}

double moat_rng_uniform_pos(gsl_rng *r) {
  double u = gsl_rng_uniform(r);
  return u > 0.0 ? u : 0x1.0p-54;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* One xoshiro256** output (reference implementation, prng.di.unimi.it). */
static inline uint64_t xoshiro_next(xoshiro_state_t *x) {
  uint64_t *s = x->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

static void xoshiro_fill(xoshiro_state_t *x, uint64_t key) {
  uint64_t st = key;
  for (int i = 0; i < 4; i++) x->s[i] = moat_rng_splitmix64(&st);
  /* splitmix64 is a bijection of distinct counters, so four zero words cannot occur;
   * guard anyway: the all-zero state is xoshiro's only fixed point. */
  if ((x->s[0] | x->s[1] | x->s[2] | x->s[3]) == 0) x->s[0] = 1;
}

static void xoshiro_set(void *vstate, unsigned long int seed) {
  xoshiro_fill((xoshiro_state_t *)vstate, (uint64_t)seed);
}

static unsigned long int xoshiro_get(void *vstate) {
  return (unsigned long int)(xoshiro_next((xoshiro_state_t *)vstate) >> 32);
}

static double xoshiro_get_double(void *vstate) {
  return (double)(xoshiro_next((xoshiro_state_t *)vstate) >> 11) * 0x1.0p-53;
}

static const gsl_rng_type xoshiro_type = {"xoshiro256**", 0xFFFFFFFFUL, 0, sizeof(xoshiro_state_t),
                                          &xoshiro_set, &xoshiro_get, &xoshiro_get_double};

const gsl_rng_type *moat_rng_xoshiro256ss = &xoshiro_type;

gsl_rng *moat_rng_alloc(void) {
  /* gsl_rng_alloc calls the error handler on failure; allocate by hand to return NULL instead. */
  gsl_rng *r = malloc(sizeof *r);
  if (!r) return NULL;
  r->type = moat_rng_xoshiro256ss;
  r->state = malloc(sizeof(xoshiro_state_t));
  if (!r->state) {
    free(r);
    return NULL;
  }
  memset(r->state, 0, sizeof(xoshiro_state_t));
  xoshiro_set(r->state, 0);
  return r;
}

void moat_rng_seed(gsl_rng *r, uint64_t seed, uint64_t scenario_index, uint64_t path_index,
                   uint64_t stream) {
  xoshiro_fill((xoshiro_state_t *)r->state, moat_rng_key(seed, scenario_index, path_index, stream));
}
