// GroupNorm (Wu & He 2018), optionally followed by SiLU, for float32 NHWC activations, as XLA
// FFI custom calls for the CPU back-end: the forward pass (y, and each example's group mean and
// reciprocal standard deviation for the backward pass) and the backward pass (dx, dscale,
// dbias). XLA:CPU runs a GroupNorm as several single-threaded fusions over the activation; here
// each example is normalised in cache, with the batch split over XLA's threads (parts.h).
// Registered and called by jaxgen/kernels/normalization.py.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "parts.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Sums over positions are taken in float per channel over blocks of this many positions, then
// in double: float-fast, with the error of a 256-term float sum at most.
constexpr int64_t kBlock = 256;

// One call's shapes: N examples of P = H * W positions by C channels, in G groups.
struct Shape {
  int64_t n, p, c, g;
  int64_t group_size() const { return c / g; }
  int64_t example() const { return p * c; }
};

// exp(v) for v <= 0 (Cephes' expf polynomial; 1-2 ulp), written so the compiler vectorises the
// loops that call it. v below -87 gives exp(-87) instead of a denormal; NaN gives NaN.
inline float ExpNonPositive(float v) {
  float x = v < -87.0f ? -87.0f : v;
  float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = x - k * 0.693359375f - k * -2.12194440e-4f;
  float q = 1.9875691500e-4f;
  q = q * r + 1.3981999507e-3f;
  q = q * r + 8.3334519073e-3f;
  q = q * r + 4.1665795894e-2f;
  q = q * r + 1.6666665459e-1f;
  q = q * r + 5.0000001201e-1f;
  q = q * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return v == v ? q * scale : v;
}

// The logistic sigmoid 1 / (1 + exp(-z)), from exp of a non-positive argument only.
inline float Sigmoid(float z) {
  float e = ExpNonPositive(z < 0.0f ? z : -z);
  float s = 1.0f / (1.0f + e);
  return z < 0.0f ? e * s : s;
}

// Sums over the P positions of one example: body(p, acc) adds position p's terms into `acc`,
// k float accumulators per channel (acc[j * C + c]); they are added into out (k * C doubles,
// zeroed first) every kBlock positions.
template <class F>
void BlockedSums(const Shape& s, int64_t k, double* out, std::vector<float>& acc, F body) {
  acc.resize(k * s.c);
  for (int64_t j = 0; j < k * s.c; ++j) out[j] = 0.0;
  for (int64_t p0 = 0; p0 < s.p; p0 += kBlock) {
    for (int64_t j = 0; j < k * s.c; ++j) acc[j] = 0.0f;
    for (int64_t p = p0; p < std::min(s.p, p0 + kBlock); ++p) body(p, acc.data());
    for (int64_t j = 0; j < k * s.c; ++j) out[j] += acc[j];
  }
}

// Channel sums -> per-group sums, broadcast back per channel: out[c] = sum over c's group.
void GroupTotals(const Shape& s, const double* per_channel, double* out) {
  int64_t k = s.group_size();
  for (int64_t g = 0; g < s.g; ++g) {
    double t = 0.0;
    for (int64_t j = 0; j < k; ++j) t += per_channel[g * k + j];
    for (int64_t j = 0; j < k; ++j) out[g * k + j] = t;
  }
}

// Row kernels: the C channels of one position. Restrict-qualified so that they vectorise, and
// inlined into the callers below, which are compiled for AVX2 + FMA too (target_clones).
#define JAXGEN_ROW __attribute__((always_inline)) inline void

JAXGEN_ROW AddRow(int64_t n, const float* __restrict x, float* __restrict acc) {
  for (int64_t c = 0; c < n; ++c) acc[c] += x[c];
}

JAXGEN_ROW AddSquaredDeviationRow(int64_t n, const float* __restrict x,
                                  const float* __restrict mean, float* __restrict acc) {
  for (int64_t c = 0; c < n; ++c) {
    float d = x[c] - mean[c];
    acc[c] += d * d;
  }
}

// y = act(x * a + b), with a and b the normalisation and the affine folded together.
template <bool kSilu>
JAXGEN_ROW NormaliseRow(int64_t n, const float* __restrict x, const float* __restrict a,
                        const float* __restrict b, float* __restrict y) {
  for (int64_t c = 0; c < n; ++c) {
    float z = x[c] * a[c] + b[c];
    y[c] = kSilu ? z * Sigmoid(z) : z;
  }
}

// dz, the gradient at the affine output z = xhat * scale + bias, and its sums with and without
// xhat into acc0, acc1.
template <bool kSilu>
JAXGEN_ROW DzRow(int64_t n, const float* __restrict x, const float* __restrict dy,
                 const float* __restrict mean, const float* __restrict rstd,
                 const float* __restrict scale, const float* __restrict bias,
                 float* __restrict dz, float* __restrict acc0, float* __restrict acc1) {
  for (int64_t c = 0; c < n; ++c) {
    float xhat = (x[c] - mean[c]) * rstd[c], g = dy[c];
    if (kSilu) {
      float z = xhat * scale[c] + bias[c], sig = Sigmoid(z);
      g *= sig * (1.0f + z * (1.0f - sig));
    }
    dz[c] = g;
    acc0[c] += g;
    acc1[c] += g * xhat;
  }
}

// dx = rstd * (dz * scale - m1 - xhat * m2), in place over dz.
JAXGEN_ROW DxRow(int64_t n, const float* __restrict x, const float* __restrict mean,
                 const float* __restrict rstd, const float* __restrict scale,
                 const float* __restrict m1, const float* __restrict m2, float* __restrict dx) {
  for (int64_t c = 0; c < n; ++c) {
    float xhat = (x[c] - mean[c]) * rstd[c];
    dx[c] = rstd[c] * (dx[c] * scale[c] - m1[c] - xhat * m2[c]);
  }
}

template <bool kSilu>
JAXGEN_ROW ForwardExample(const Shape& s, const float* x, const float* scale, const float* bias,
                          float eps, float* y, float* mean_out, float* rstd_out) {
  const int64_t C = s.c, k = s.group_size();
  std::vector<double> sums(C), totals(C);
  std::vector<float> block, mean(C), a(C), b(C);
  double count = static_cast<double>(s.p * k);
  BlockedSums(s, 1, sums.data(), block,
              [&](int64_t p, float* acc) { AddRow(C, x + p * C, acc); });
  GroupTotals(s, sums.data(), totals.data());
  for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(totals[c] / count);
  BlockedSums(s, 1, sums.data(), block, [&](int64_t p, float* acc) {
    AddSquaredDeviationRow(C, x + p * C, mean.data(), acc);
  });
  GroupTotals(s, sums.data(), totals.data());
  for (int64_t c = 0; c < C; ++c) {
    float rstd = static_cast<float>(1.0 / std::sqrt(totals[c] / count + eps));
    a[c] = rstd * scale[c];
    b[c] = bias[c] - mean[c] * a[c];
    if (c % k == 0) {
      mean_out[c / k] = mean[c];
      rstd_out[c / k] = rstd;
    }
  }
  for (int64_t p = 0; p < s.p; ++p) NormaliseRow<kSilu>(C, x + p * C, a.data(), b.data(), y + p * C);
}

// dx for one example, and its dscale / dbias terms added into dscale, dbias (double).
template <bool kSilu>
JAXGEN_ROW BackwardExample(const Shape& s, const float* x, const float* dy, const float* scale,
                           const float* bias, const float* mean_g, const float* rstd_g,
                           float* dx, double* dscale, double* dbias) {
  const int64_t C = s.c, k = s.group_size();
  std::vector<float> block, mean(C), rstd(C), m1(C), m2(C);
  std::vector<double> sums(2 * C), t(2 * C), totals(2 * C);
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = mean_g[c / k];
    rstd[c] = rstd_g[c / k];
  }
  BlockedSums(s, 2, sums.data(), block, [&](int64_t p, float* acc) {
    DzRow<kSilu>(C, x + p * C, dy + p * C, mean.data(), rstd.data(), scale, bias, dx + p * C,
                 acc, acc + C);
  });
  for (int64_t c = 0; c < C; ++c) {  // sums[c]: sum of dz; sums[C + c]: sum of dz * xhat
    dbias[c] += sums[c];
    dscale[c] += sums[C + c];
    t[c] = sums[c] * scale[c];
    t[C + c] = sums[C + c] * scale[c];
  }
  // m1, m2: the group means of dxhat = dz * scale and of dxhat * xhat.
  double count = static_cast<double>(s.p * k);
  GroupTotals(s, t.data(), totals.data());
  GroupTotals(s, t.data() + C, totals.data() + C);
  for (int64_t c = 0; c < C; ++c) {
    m1[c] = static_cast<float>(totals[c] / count);
    m2[c] = static_cast<float>(totals[C + c] / count);
  }
  for (int64_t p = 0; p < s.p; ++p) {
    DxRow(C, x + p * C, mean.data(), rstd.data(), scale, m1.data(), m2.data(), dx + p * C);
  }
}

// The examples [begin, end), compiled for AVX2 + FMA where the CPU has them.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void ForwardExamples(const Shape& s, int64_t begin, int64_t end, const float* x,
                     const float* scale, const float* bias, bool silu, float eps, float* y,
                     float* mean, float* rstd) {
  for (int64_t n = begin; n < end; ++n) {
    auto args = std::make_tuple(s, x + n * s.example(), scale, bias, eps, y + n * s.example(),
                                mean + n * s.g, rstd + n * s.g);
    silu ? std::apply(ForwardExample<true>, args) : std::apply(ForwardExample<false>, args);
  }
}

__attribute__((target_clones("arch=x86-64-v3", "default")))
void BackwardExamples(const Shape& s, int64_t begin, int64_t end, const float* x,
                      const float* dy, const float* scale, const float* bias, const float* mean,
                      const float* rstd, bool silu, float* dx, double* dscale, double* dbias) {
  for (int64_t n = begin; n < end; ++n) {
    int64_t at = n * s.example();
    auto args = std::make_tuple(s, x + at, dy + at, scale, bias, mean + n * s.g, rstd + n * s.g,
                                dx + at, dscale, dbias);
    silu ? std::apply(BackwardExample<true>, args) : std::apply(BackwardExample<false>, args);
  }
}

ffi::Error CheckShape(ffi::Span<const int64_t> d, int64_t groups, Shape* s) {
  if (d.size() < 2 || groups < 1 || d.back() % groups != 0) {
    return ffi::Error::InvalidArgument("GroupNorm: expected (N, ..., C) with C divisible by groups");
  }
  int64_t p = 1;
  for (size_t i = 1; i + 1 < d.size(); ++i) p *= d[i];
  *s = Shape{d[0], p, d.back(), groups};
  return ffi::Error::Success();
}

using F32 = ffi::Buffer<ffi::F32>;
using OutF32 = ffi::ResultBuffer<ffi::F32>;

ffi::Error Forward(ffi::ThreadPool pool, F32 x, F32 scale, F32 bias, OutF32 y, OutF32 mean,
                   OutF32 rstd, int64_t groups, float eps, bool silu) {
  Shape s;
  if (auto e = CheckShape(x.dimensions(), groups, &s); e.failure()) return e;
  int64_t parts = jaxgen::NumParts(pool, s.n);
  std::string error = jaxgen::RunParts(pool, parts, [&](int64_t i) {
    ForwardExamples(s, jaxgen::PartBegin(s.n, i, parts), jaxgen::PartBegin(s.n, i + 1, parts),
                    x.typed_data(), scale.typed_data(), bias.typed_data(), silu, eps,
                    y->typed_data(), mean->typed_data(), rstd->typed_data());
  });
  return error.empty() ? ffi::Error::Success() : ffi::Error::Internal("GroupNorm: " + error);
}

ffi::Error Backward(ffi::ThreadPool pool, F32 x, F32 scale, F32 bias, F32 mean, F32 rstd, F32 dy,
                    OutF32 dx, OutF32 dscale, OutF32 dbias, int64_t groups, bool silu) {
  Shape s;
  if (auto e = CheckShape(x.dimensions(), groups, &s); e.failure()) return e;
  int64_t parts = jaxgen::NumParts(pool, s.n);
  // Each part's parameter gradients, summed in a fixed order so reruns give the same bits.
  std::vector<std::vector<double>> ds(parts, std::vector<double>(s.c)), db = ds;
  std::string error = jaxgen::RunParts(pool, parts, [&](int64_t i) {
    BackwardExamples(s, jaxgen::PartBegin(s.n, i, parts), jaxgen::PartBegin(s.n, i + 1, parts),
                     x.typed_data(), dy.typed_data(), scale.typed_data(), bias.typed_data(),
                     mean.typed_data(), rstd.typed_data(), silu, dx->typed_data(), ds[i].data(),
                     db[i].data());
  });
  if (!error.empty()) return ffi::Error::Internal("GroupNorm: " + error);
  for (int64_t c = 0; c < s.c; ++c) {
    double a = 0.0, b = 0.0;
    for (int64_t i = 0; i < parts; ++i) {
      a += ds[i][c];
      b += db[i][c];
    }
    dscale->typed_data()[c] = static_cast<float>(a);
    dbias->typed_data()[c] = static_cast<float>(b);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxgenGroupNormForward, Forward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()  // x (N, ..., C)
                                  .Arg<F32>()  // scale (C,)
                                  .Arg<F32>()  // bias (C,)
                                  .Ret<F32>()  // y, x's shape
                                  .Ret<F32>()  // mean (N, G)
                                  .Ret<F32>()  // rstd (N, G)
                                  .Attr<int64_t>("groups")
                                  .Attr<float>("eps")
                                  .Attr<bool>("silu"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxgenGroupNormBackward, Backward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()  // x
                                  .Arg<F32>()  // scale
                                  .Arg<F32>()  // bias
                                  .Arg<F32>()  // mean (N, G)
                                  .Arg<F32>()  // rstd (N, G)
                                  .Arg<F32>()  // dy
                                  .Ret<F32>()  // dx
                                  .Ret<F32>()  // dscale
                                  .Ret<F32>()  // dbias
                                  .Attr<int64_t>("groups")
                                  .Attr<bool>("silu"));
