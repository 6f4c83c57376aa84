// Scale searches shared by the K-quant and IQ4 quantisers: given a small group of values, find the
// scale (and min) that minimise the squared error once the values are rounded to integer levels.
// Each tries a few candidate scales around the obvious one (max / levels), rounds with each, then
// solves the least-squares scale for that rounding and keeps the best.
#pragma once

#include <cstdint>

namespace forge {

// Round to nearest, ties to even (the rounding every quantiser here uses after scaling).
int nearest_int(float v);

// The value with the largest magnitude in x[0..n), sign kept; the first one on ties; 0 if all are 0.
float signed_absmax(const float* x, int n);

// Symmetric levels -nmax..nmax-1: returns s minimising sum (x - s*q)^2 and writes q (in
// -nmax..nmax-1). s is negative when the largest-magnitude value is positive, so that value can use
// the extra level -nmax. Returns 0 (and q = 0) for an all-zero group.
float fit_symmetric(const float* x, int n, int nmax, int8_t* q);

// Affine levels 0..nmax: returns s >= 0 and writes min >= 0 and q (0..nmax) minimising
// sum (x - (s*q - min))^2. min is clamped at 0 when every value is positive (as ggml requires).
float fit_affine(const float* x, int n, int nmax, uint8_t* q, float* min);

// Non-linear levels (IQ4_NL's table, ascending): returns d minimising sum (x - d*levels[q])^2 and
// writes the level indices q.
float fit_levels(const float* x, int n, const int8_t* levels, int n_levels, uint8_t* q);

// Index of the level nearest to v.
uint8_t nearest_level(float v, const int8_t* levels, int n_levels);

}  // namespace forge
