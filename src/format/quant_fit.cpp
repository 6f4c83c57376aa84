#include "format/quant_fit.h"

#include <algorithm>
#include <cmath>

namespace forge {

int nearest_int(float v) { return int(std::lrintf(v)); }

float signed_absmax(const float* x, int n) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i)
        if (amax < std::fabs(x[i])) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    return max;
}

float fit_symmetric(const float* x, int n, int nmax, int8_t* q) {
    const float max = signed_absmax(x, n);
    if (std::fabs(max) < 1e-30f) {
        std::fill(q, q + n, int8_t(0));
        return 0;
    }
    float best_err = INFINITY, best_scale = 0;
    int8_t trial[256];
    for (int step = -9; step <= 9; ++step) {
        const float iscale = -(float(nmax) + 0.1f * float(step)) / max;
        double sumxl = 0, suml2 = 0, sumx2 = 0;
        for (int i = 0; i < n; ++i) {
            trial[i] = int8_t(std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            sumxl += double(x[i]) * trial[i];
            suml2 += double(trial[i]) * trial[i];
            sumx2 += double(x[i]) * x[i];
        }
        if (suml2 <= 0) continue;
        const double err = sumx2 - sumxl * sumxl / suml2;  // residual of the least-squares scale
        if (err < best_err) {
            best_err = float(err);
            best_scale = float(sumxl / suml2);
            std::copy(trial, trial + n, q);
        }
    }
    return best_scale;
}

float fit_affine(const float* x, int n, int nmax, uint8_t* q, float* min) {
    float xmin = *std::min_element(x, x + n), xmax = *std::max_element(x, x + n);
    xmin = std::min(xmin, 0.0f);
    if (xmax <= xmin) {
        std::fill(q, q + n, uint8_t(0));
        *min = -xmin;
        return 0;
    }
    float best_err = INFINITY, best_scale = 0, best_min = -xmin;
    uint8_t trial[256];
    for (int step = -10; step <= 10; ++step) {
        const float iscale = (float(nmax) + 0.1f * float(step)) / (xmax - xmin);
        double sl = 0, sl2 = 0, sx = 0, sxl = 0;
        for (int i = 0; i < n; ++i) {
            trial[i] = uint8_t(std::clamp(nearest_int(iscale * (x[i] - xmin)), 0, nmax));
            sl += trial[i];
            sl2 += double(trial[i]) * trial[i];
            sx += x[i];
            sxl += double(x[i]) * trial[i];
        }
        // Least squares for x ~ s*q + b, then b is clamped to <= 0 (min >= 0).
        const double det = n * sl2 - sl * sl;
        if (det <= 0) continue;
        double s = (n * sxl - sx * sl) / det;
        double b = (sl2 * sx - sl * sxl) / det;
        if (b > 0) {
            b = 0;
            s = sxl / sl2;
        }
        if (s <= 0) continue;
        double err = 0;
        for (int i = 0; i < n; ++i) {
            const double e = s * trial[i] + b - x[i];
            err += e * e;
        }
        if (err < best_err) {
            best_err = float(err);
            best_scale = float(s);
            best_min = float(-b);
            std::copy(trial, trial + n, q);
        }
    }
    if (best_err == INFINITY) {  // every candidate degenerate: fall back to min/max scaling
        best_scale = (xmax - xmin) / float(nmax);
        for (int i = 0; i < n; ++i) q[i] = uint8_t(std::clamp(nearest_int((x[i] - xmin) / best_scale), 0, nmax));
    }
    *min = best_min;
    return best_scale;
}

uint8_t nearest_level(float v, const int8_t* levels, int n_levels) {
    int best = 0;
    float best_d = std::fabs(v - float(levels[0]));
    for (int i = 1; i < n_levels; ++i) {
        const float d = std::fabs(v - float(levels[i]));
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return uint8_t(best);
}

float fit_levels(const float* x, int n, const int8_t* levels, int n_levels, uint8_t* q) {
    const float max = signed_absmax(x, n);
    if (std::fabs(max) < 1e-30f) {
        std::fill(q, q + n, nearest_level(0, levels, n_levels));
        return 0;
    }
    float best_err = INFINITY, best_d = 0;
    uint8_t trial[256];
    // The largest-magnitude level is levels[0] (negative): map `max` near it, with a few steps.
    for (int step = -7; step <= 7; ++step) {
        const float id = (float(levels[0]) + float(step)) / max;
        double sxl = 0, sl2 = 0, sx2 = 0;
        for (int i = 0; i < n; ++i) {
            trial[i] = nearest_level(id * x[i], levels, n_levels);
            const double l = levels[trial[i]];
            sxl += x[i] * l;
            sl2 += l * l;
            sx2 += double(x[i]) * x[i];
        }
        if (sl2 <= 0) continue;
        const double err = sx2 - sxl * sxl / sl2;
        if (err < best_err) {
            best_err = float(err);
            best_d = float(sxl / sl2);
            std::copy(trial, trial + n, q);
        }
    }
    return best_d;
}

}  // namespace forge
