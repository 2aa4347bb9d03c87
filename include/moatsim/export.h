/* export.h — `moatsim export`: a results file as flat CF netCDF files (docs/output.md). */
#ifndef MOATSIM_EXPORT_H
#define MOATSIM_EXPORT_H

/* NC_FILL_DOUBLE: missing values in exported files. A finite value, because CDO and NCO compare
 * values with the fill value, and NaN equals nothing. */
#define MOAT_EXPORT_FILL 9.9692099683868690e+36

/* `moatsim export FILE.h5 -o DIR [--force]`: every group of FILE (market, labs, clouds, params and,
 * with kept paths, paths/market, ...) as DIR/<stem>_<group>.nc (stem: FILE's name without .h5),
 * one flat netCDF-4 file each, time the leading and unlimited dimension. Exit code 0, 1 (cannot
 * read or write) or 2 (usage, missing file, outputs exist without --force). */
int moat_cmd_export(int argc, char **argv);

#endif
