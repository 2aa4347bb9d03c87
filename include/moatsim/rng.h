/* rng.h — the per-path random number generator: xoshiro256** behind a GSL gsl_rng interface. */
#ifndef MOATSIM_RNG_H
#define MOATSIM_RNG_H

#include <stdint.h>

#include <gsl/gsl_rng.h>

/*
 * xoshiro256** (Blackman & Vigna 2018) as a gsl_rng_type, so that every gsl_ran_* distribution
 * runs on it. Its 256-bit state is filled from splitmix64, never from a 32-bit seed.
 * get() returns the upper 32 bits of each output (max 2^32 - 1, portable to 32-bit longs);
 * get_double() uses the upper 53 bits: uniform on [0, 1) with the full double resolution.
 */
extern const gsl_rng_type *moat_rng_xoshiro256ss;

/* Named sub-streams of one path (MODEL.md §9). Each is an independent generator that takes
 * the same number of uniforms at every step whatever the parameters and the state, so that a
 * change in one process (the number of enterprises, the war rate) never shifts another's
 * draws. */
enum moat_rng_stream {
  MOAT_RNG_ATTRIBUTES = 0, /* enterprise attributes (§3), drawn once per path */
  MOAT_RNG_RELEASES = 1,   /* per step: releases and jumps (§4) */
  MOAT_RNG_GAP = 2,        /* per step: the latent gap's Gaussian (§4) */
  MOAT_RNG_WARS = 3,       /* per step: price-war start, aggressor, depth (§4) */
  MOAT_RNG_CHOICE = 4,     /* per step: reviews, then local adoption (§5) */
  MOAT_RNG_N_STREAMS
};

/* A uniform in (0, 1): gsl_rng_uniform's [0, 1) with 0 replaced by 2^-54, one draw either way,
 * so that inversions (ln U, Phi^-1(U)) stay finite. */
double moat_rng_uniform_pos(gsl_rng *r);

/* splitmix64 (Steele, Lea & Flood 2014): advances *state, returns the next output. */
uint64_t moat_rng_splitmix64(uint64_t *state);

/* The 64-bit key of a (seed, scenario, path, stream) quadruple: each component is folded in
 * with one splitmix64 finalization, so neighbouring indices give unrelated keys. With
 * sweep.common_random_numbers the model passes scenario index 0 for every scenario. */
uint64_t moat_rng_key(uint64_t seed, uint64_t scenario_index, uint64_t path_index, uint64_t stream);

/* Allocate a generator of type moat_rng_xoshiro256ss (NULL when out of memory). */
gsl_rng *moat_rng_alloc(void);

/* Seed r (of type moat_rng_xoshiro256ss) for stream `stream` of path (seed, scenario, path):
 * its four state words are four successive splitmix64 outputs from moat_rng_key(...). */
void moat_rng_seed(gsl_rng *r, uint64_t seed, uint64_t scenario_index, uint64_t path_index,
                   uint64_t stream);

#endif
