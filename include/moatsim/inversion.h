/* inversion.h — quantile functions for drawing by inversion (MODEL.md §3, §4, §9): one uniform
 * per draw, so that a parameter change moves each draw continuously and every stream takes the
 * same number of uniforms whatever the parameters. */
#ifndef MOATSIM_INVERSION_H
#define MOATSIM_INVERSION_H

/* Phi^-1(u), the standard normal quantile, for u in (0, 1). */
double moat_normal_quantile(double u);

/* The Beta(a, b) quantile at u in [0, 1), a, b > 0: the x in [0, 1] with I_x(a, b) = u, to a
 * relative accuracy of about 1e-14 in x (the smaller of x and 1 - x). Closed forms when a or b
 * is 1; otherwise Newton on ln I_x(a, b) in ln x, kept inside a bisection bracket, with the
 * incomplete beta from its continued fraction (Numerical Recipes §6.4), which never calls
 * GSL's error handler (gsl_cdf_beta_Pinv fails to converge for shapes below ~0.05 or
 * above ~1e4). Thread-safe: no global state. */
double moat_beta_quantile(double u, double a, double b);

/* Quantile of Beta(mean * concentration, (1 - mean) * concentration), MODEL.md's
 * parametrisation; the mean itself when a shape parameter would be 0 (mean 0 or 1). */
double moat_beta_mean_quantile(double u, double mean, double concentration);

/* ln I_x(a, b), the log of the regularized incomplete beta function, x in (0, 1), a, b > 0. */
double moat_log_beta_cdf(double x, double a, double b);

#endif
