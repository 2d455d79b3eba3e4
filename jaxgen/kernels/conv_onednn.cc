// 2-D convolutions (NHWC data, HWIO kernel, float32) on oneDNN, as XLA FFI custom calls for the
// CPU back-end: the forward pass, the input gradient and the weight gradient. Registered and
// called by jaxgen/kernels/onednn.py; built by `make onednn` against Debian's libdnnl (oneDNN
// 2.x, OpenMP threading).
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "parts.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

enum Pass { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One problem: the pass, oneDNN's logical dims (N C H W; O I H W), strides and paddings.
struct Problem {
  Pass pass;
  dims src, dst, weights, strides, pad_l, pad_r;

  std::vector<int64_t> Key() const {
    std::vector<int64_t> key = {pass};
    for (const dims* d : {&src, &dst, &weights, &strides, &pad_l, &pad_r}) {
      key.insert(key.end(), d->begin(), d->end());
    }
    return key;
  }
};

// The primitive, the kernel layout it wants (a reorder from / to the user's HWIO when it
// differs) and its scratchpad size. Data stay in the user's NHWC.
struct Plan {
  dnnl::primitive primitive;
  dnnl::memory::desc src, dst, user_weights, weights;
  std::unique_ptr<dnnl::reorder> weights_reorder;
  size_t scratchpad_bytes = 0;
};

template <class Primitive, class PrimitiveDesc>
void Fill(Plan& plan, const PrimitiveDesc& pd, const dnnl::memory::desc& weights) {
  plan.primitive = Primitive(pd);
  plan.weights = weights;
  plan.scratchpad_bytes = pd.scratchpad_desc().get_size();
}

std::unique_ptr<Plan> MakePlan(const Problem& p) {
  auto& engine = Engine();
  auto plan = std::make_unique<Plan>();
  plan->src = dnnl::memory::desc(p.src, dt::f32, tag::nhwc);
  plan->dst = dnnl::memory::desc(p.dst, dt::f32, tag::nhwc);
  plan->user_weights = dnnl::memory::desc(p.weights, dt::f32, tag::hwio);
  auto any = dnnl::memory::desc(p.weights, dt::f32, tag::any);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto algo = dnnl::algorithm::convolution_direct;
  auto fwd = dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, plan->src, any,
                                      plan->dst, p.strides, p.pad_l, p.pad_r),
      attr, engine);
  if (p.pass == kForward) {
    Fill<dnnl::convolution_forward>(*plan, fwd, fwd.weights_desc());
  } else if (p.pass == kBackwardData) {
    auto bwd = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(algo, plan->src, any, plan->dst, p.strides,
                                              p.pad_l, p.pad_r),
        attr, engine, fwd);
    Fill<dnnl::convolution_backward_data>(*plan, bwd, bwd.weights_desc());
  } else {
    auto bwd = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(algo, plan->src, any, plan->dst, p.strides,
                                                 p.pad_l, p.pad_r),
        attr, engine, fwd);
    Fill<dnnl::convolution_backward_weights>(*plan, bwd, bwd.diff_weights_desc());
  }
  if (plan->weights != plan->user_weights) {
    bool to_user = p.pass == kBackwardWeights;
    auto& from = to_user ? plan->weights : plan->user_weights;
    auto& to = to_user ? plan->user_weights : plan->weights;
    plan->weights_reorder = std::make_unique<dnnl::reorder>(
        dnnl::reorder::primitive_desc(engine, from, engine, to));
  }
  return plan;
}

const Plan& GetPlan(const Problem& p) {
  static std::mutex mu;
  static std::map<std::vector<int64_t>, std::unique_ptr<Plan>> plans;
  std::lock_guard<std::mutex> lock(mu);
  auto& plan = plans[p.Key()];
  if (!plan) plan = MakePlan(p);
  return *plan;
}

// One call: the pass, the user's buffers and the problem over the whole batch. x (N H W Ci),
// y (N Ho Wo Co) and w (KH KW Ci Co); which of them is the output depends on the pass.
struct Call {
  Problem problem;
  float *x, *y, *w;
};

// Runs the pass on the examples [begin, begin + count) on the calling thread (one OpenMP
// thread: the calls are spread over XLA's own threads instead), with the kernel (or, for the
// weight gradient, the part's output) at `w`.
void RunPart(const Call& call, int64_t begin, int64_t count, float* w) {
  omp_set_num_threads(1);
  Problem p = call.problem;
  p.src[0] = p.dst[0] = count;
  const Plan& plan = GetPlan(p);
  auto& engine = Engine();
  dnnl::stream stream(engine);
  thread_local std::vector<char> scratch, weights;
  if (scratch.size() < plan.scratchpad_bytes) scratch.resize(plan.scratchpad_bytes);
  dnnl::memory src(plan.src, engine, call.x + begin * p.src[1] * p.src[2] * p.src[3]);
  dnnl::memory dst(plan.dst, engine, call.y + begin * p.dst[1] * p.dst[2] * p.dst[3]);
  Pass pass = p.pass;
  dnnl::memory user_w(plan.user_weights, engine, w);
  dnnl::memory plan_w = user_w;
  if (plan.weights_reorder) {
    if (weights.size() < plan.weights.get_size()) weights.resize(plan.weights.get_size());
    plan_w = dnnl::memory(plan.weights, engine, weights.data());
    if (pass != kBackwardWeights) plan.weights_reorder->execute(stream, user_w, plan_w);
  }
  dnnl::memory pad(dnnl::memory::desc({static_cast<int64_t>(plan.scratchpad_bytes)}, dt::u8,
                                      tag::x),
                   engine, scratch.data());
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SCRATCHPAD, pad}};
  if (pass == kForward) {
    args.insert({{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, plan_w}, {DNNL_ARG_DST, dst}});
  } else if (pass == kBackwardData) {
    args.insert({{DNNL_ARG_DIFF_DST, dst}, {DNNL_ARG_WEIGHTS, plan_w}, {DNNL_ARG_DIFF_SRC, src}});
  } else {
    args.insert({{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dst}, {DNNL_ARG_DIFF_WEIGHTS, plan_w}});
  }
  plan.primitive.execute(stream, args);
  if (plan.weights_reorder && pass == kBackwardWeights) {
    plan.weights_reorder->execute(stream, plan_w, user_w);
  }
  stream.wait();
}

// Splits the batch over XLA's pool (parts.h). Weight gradients of parts 1.. go to scratch
// buffers and are summed into the output in a fixed order, so reruns give the same bits.
ffi::Error Execute(ffi::ThreadPool pool, const Call& call) {
  const Problem& p = call.problem;
  int64_t n = p.src[0];
  int64_t parts = jaxgen::NumParts(pool, n);
  size_t w_size = p.weights[0] * p.weights[1] * p.weights[2] * p.weights[3];
  std::vector<std::vector<float>> partial(p.pass == kBackwardWeights ? parts - 1 : 0,
                                          std::vector<float>(w_size));
  std::string error = jaxgen::RunParts(pool, parts, [&](int64_t i) {
    int64_t begin = jaxgen::PartBegin(n, i, parts), end = jaxgen::PartBegin(n, i + 1, parts);
    RunPart(call, begin, end - begin, i == 0 || partial.empty() ? call.w : partial[i - 1].data());
  });
  if (!error.empty()) return ffi::Error::Internal("oneDNN convolution: " + error);
  for (const auto& part : partial) {
    for (size_t j = 0; j < w_size; ++j) call.w[j] += part[j];
  }
  return ffi::Error::Success();
}

// x, y and w with their dims in NHWC / HWIO; which of them is the output depends on the pass.
ffi::Error Dispatch(ffi::ThreadPool pool, Pass pass, float* x, float* y, float* w,
                    ffi::Span<const int64_t> xd, ffi::Span<const int64_t> yd,
                    ffi::Span<const int64_t> wd, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                    int64_t pl, int64_t pr) {
  if (xd.size() != 4 || yd.size() != 4 || wd.size() != 4) {
    return ffi::Error::InvalidArgument("oneDNN convolution: expected 4-D NHWC / HWIO buffers");
  }
  Problem p{pass,
            {xd[0], xd[3], xd[1], xd[2]},
            {yd[0], yd[3], yd[1], yd[2]},
            {wd[3], wd[2], wd[0], wd[1]},
            {sh, sw},
            {pt, pl},
            {pb, pr}};
  return Execute(pool, Call{p, x, y, w});
}

using F32 = ffi::Buffer<ffi::F32>;
using OutF32 = ffi::ResultBuffer<ffi::F32>;

ffi::Error Forward(ffi::ThreadPool pool, F32 x, F32 w, OutF32 y, int64_t sh, int64_t sw,
                   int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  return Dispatch(pool, kForward, x.typed_data(), y->typed_data(), w.typed_data(),
                  x.dimensions(), y->dimensions(), w.dimensions(), sh, sw, pt, pb, pl, pr);
}

ffi::Error BackwardData(ffi::ThreadPool pool, F32 dy, F32 w, OutF32 dx, int64_t sh, int64_t sw,
                        int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  return Dispatch(pool, kBackwardData, dx->typed_data(), dy.typed_data(), w.typed_data(),
                  dx->dimensions(), dy.dimensions(), w.dimensions(), sh, sw, pt, pb, pl, pr);
}

ffi::Error BackwardWeights(ffi::ThreadPool pool, F32 x, F32 dy, OutF32 dw, int64_t sh,
                           int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  return Dispatch(pool, kBackwardWeights, x.typed_data(), dy.typed_data(), dw->typed_data(),
                  x.dimensions(), dy.dimensions(), dw->dimensions(), sh, sw, pt, pb, pl, pr);
}

}  // namespace

#define JAXGEN_CONV_HANDLER(name, fn)                                                   \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, fn,                                               \
                                ffi::Ffi::Bind()                                        \
                                    .Ctx<ffi::ThreadPool>()                             \
                                    .Arg<F32>()                                         \
                                    .Arg<F32>()                                         \
                                    .Ret<F32>()                                         \
                                    .Attr<int64_t>("stride_h")                          \
                                    .Attr<int64_t>("stride_w")                          \
                                    .Attr<int64_t>("pad_top")                           \
                                    .Attr<int64_t>("pad_bottom")                        \
                                    .Attr<int64_t>("pad_left")                          \
                                    .Attr<int64_t>("pad_right"));

JAXGEN_CONV_HANDLER(JaxgenConvForward, Forward)
JAXGEN_CONV_HANDLER(JaxgenConvBackwardData, BackwardData)
JAXGEN_CONV_HANDLER(JaxgenConvBackwardWeights, BackwardWeights)

// For the loader: the oneDNN version this library runs with.
extern "C" const char* JaxgenOnednnVersion() {
  static std::string text = [] {
    const dnnl_version_t* v = dnnl_version();
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%d.%d.%d", v->major, v->minor, v->patch);
    return std::string(buf);
  }();
  return text.c_str();
}
