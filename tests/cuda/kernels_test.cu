// kernels_test.cu — checks every launch function of src/backends/cuda/kernels/launch.h against a CPU reference in
// double precision, for float, __half and __nv_bfloat16, on fresh random data and odd shapes.
//
// Method: inputs are drawn at random and rounded to the element type first (the reference sees the same values);
// outputs are poisoned with NaN bytes before each launch, so an unwritten element fails; the score is
// ||out - ref|| / ||ref|| against a per-type tolerance, and any NaN/Inf fails. Every CUDA call and launch is checked.
//
//   ferry_cuda_kernels_test            run all checks; prints one line per check, exits 1 on any failure
//   ferry_cuda_kernels_test --bench    also time a few model-sized cases (CUDA events, median of 50)
//   ferry_cuda_kernels_test --bench-only   the timings alone (e.g. under ncu)
// Without a CUDA device it prints "SKIP: ..." and exits 0 (ctest marks it skipped).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/kernels/launch.h"

namespace k = ferry::cuda::kernels;
using Vec = std::vector<float>;

namespace {

#include "kernels_test_util.cuh"

template <typename T>
void test_unary() {
  const char* names[] = {"Identity", "Relu", "Sigmoid", "SiLU", "Tanh", "GeluErf", "GeluTanh", "Clip", "HardSigmoid",
                         "HardSwish", "Exp", "Log", "Sqrt", "Erf", "Neg", "Abs", "LeakyRelu"};
  for (int op = 0; op <= int(k::UnaryOp::LeakyRelu); ++op) {
    for (size_t n : {size_t(4096 * 37), size_t(1001)}) {
      auto u = k::UnaryOp(op);
      bool pos = u == k::UnaryOp::Log || u == k::UnaryOp::Sqrt;
      Vec x = rnd<T>(n, pos ? 0.05f : -3.f, 3.f);
      float a = u == k::UnaryOp::Clip ? -0.5f : u == k::UnaryOp::LeakyRelu ? 0.1f : 0.2f;
      float b = u == k::UnaryOp::Clip ? 0.7f : 0.5f;
      Dev<T> dx(x), dy(n);
      CHECK_CUDA(k::unary(u, dx.p, dy.p, int64_t(n), a, b, nullptr));
      CHECK_CUDA(cudaDeviceSynchronize());
      std::vector<double> ref(n);
      for (size_t i = 0; i < n; ++i) ref[i] = ref_unary(u, x[i], a, b);
      report(std::string("unary ") + names[op] + " n=" + std::to_string(n) + " " + tname<T>(), dy.get(), ref, tol<T>());
    }
  }
}

template <typename T>
void test_binary() {
  struct Case { std::vector<int64_t> a, b; };
  std::vector<Case> cases = {{{2, 3, 4, 5}, {3, 1, 5}}, {{8, 64, 33}, {8, 64, 33}}, {{4, 7, 64}, {64}},
                             {{5, 1, 6}, {1, 3, 1}}, {{9, 13}, {1}}, {{2, 1, 3, 1, 5, 1, 2}, {1, 3, 4, 5, 6, 1}}};
  const char* names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"};
  for (int op = 0; op <= int(k::BinaryOp::Min); ++op) {
    for (auto& c : cases) {
      auto bo = k::BinaryOp(op);
      size_t rank = std::max(c.a.size(), c.b.size());
      std::vector<int64_t> out(rank);
      for (size_t d = 0; d < rank; ++d) {
        int64_t da = d + c.a.size() >= rank ? c.a[d + c.a.size() - rank] : 1;
        int64_t db = d + c.b.size() >= rank ? c.b[d + c.b.size() - rank] : 1;
        out[d] = std::max(da, db);
      }
      bool pos = bo == k::BinaryOp::Pow || bo == k::BinaryOp::Div;
      Vec a = rnd<T>(numel(c.a), pos ? 0.5f : -2.f, 2.f), b = rnd<T>(numel(c.b), pos ? 0.5f : -2.f, 2.f);
      Dev<T> da(a), db(b), dy(numel(out));
      k::BroadcastDesc d;
      if (!k::make_broadcast(c.a.data(), int(c.a.size()), c.b.data(), int(c.b.size()), &d)) {
        std::printf("FAIL make_broadcast\n");
        ++g_failures;
        continue;
      }
      CHECK_CUDA(k::binary(bo, da.p, db.p, dy.p, d, nullptr));
      CHECK_CUDA(cudaDeviceSynchronize());
      std::vector<double> ref(numel(out));
      for (size_t e = 0; e < ref.size(); ++e)
        ref[e] = ref_binary(bo, a[bcast_index(e, out, c.a)], b[bcast_index(e, out, c.b)]);
      report(std::string("binary ") + names[op] + " rank" + std::to_string(rank) + " n=" + std::to_string(ref.size()) +
                 " " + tname<T>(), dy.get(), ref, tol<T>());
    }
  }
  // Shapes that do not broadcast are refused.
  int64_t s1[] = {3, 4}, s2[] = {5, 4};
  k::BroadcastDesc d;
  ++g_checks;
  if (k::make_broadcast(s1, 2, s2, 2, &d)) {
    std::printf("FAIL make_broadcast accepted [3,4] vs [5,4]\n");
    ++g_failures;
  }
}

template <typename T>
void test_chain() {
  for (int64_t inner : {64, 63}) {
    std::vector<int64_t> xs = {2, 16, 9, inner}, bs = {inner};
    size_t n = numel(xs);
    Vec x = rnd<T>(n), bias = rnd<T>(inner), res = rnd<T>(n);
    Dev<T> dx(x), db(bias), dr(res), dy(n);
    const int64_t* shapes[] = {xs.data(), bs.data(), xs.data()};
    int ranks[] = {4, 1, 4};
    k::ChainDesc d;
    if (!k::make_chain_layout(shapes, ranks, 3, &d)) {
      std::printf("FAIL make_chain_layout\n");
      ++g_failures;
      return;
    }
    auto step = [](k::ChainStep::Kind kind, uint8_t op, uint8_t in, float a, float b) {
      k::ChainStep s;
      s.kind = kind; s.op = op; s.input = in; s.alpha = a; s.beta = b;
      return s;
    };
    d.steps[0] = step(k::ChainStep::kBinaryTensor, uint8_t(k::BinaryOp::Mul), 1, 0, 0);       // x * scale[c]
    d.steps[1] = step(k::ChainStep::kBinaryTensor, uint8_t(k::BinaryOp::Add), 2, 0, 0);       // + residual
    d.steps[2] = step(k::ChainStep::kUnary, uint8_t(k::UnaryOp::SiLU), 0, 0, 0);              // SiLU
    d.steps[3] = step(k::ChainStep::kUnary, uint8_t(k::UnaryOp::Clip), 0, -1.f, 1.5f);        // Clip
    d.steps[4] = step(k::ChainStep::kBinaryScalarRev, uint8_t(k::BinaryOp::Sub), 0, 1.f, 0);  // 1 - v
    d.num_steps = 5;
    const T* in[] = {dx.p, db.p, dr.p};
    CHECK_CUDA(k::elementwise_chain(in, dy.p, d, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref(n);
    for (size_t e = 0; e < n; ++e) {
      double v = double(x[e]) * bias[e % inner] + res[e];
      v = v / (1 + std::exp(-v));
      v = std::min(std::max(v, -1.0), 1.5);
      ref[e] = 1 - v;
    }
    report("chain mul/add/silu/clip/rsub inner=" + std::to_string(inner) + " " + tname<T>(), dy.get(), ref, tol<T>());
  }
}

template <typename S, typename D>
void test_cast_pair() {
  for (size_t n : {size_t(1 << 16), size_t(1003)}) {
    Vec x = rnd<S>(n, -100.f, 100.f);
    Dev<S> dx(x);
    Dev<D> dy(n);
    CHECK_CUDA(k::cast(dx.p, dy.p, int64_t(n), nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref(x.begin(), x.end());
    report(std::string("cast ") + tname<S>() + "->" + tname<D>() + " n=" + std::to_string(n), dy.get(), ref,
           std::max(tol<S>(), tol<D>()));
  }
}

void test_cast() {
  test_cast_pair<float, __half>();
  test_cast_pair<float, __nv_bfloat16>();
  test_cast_pair<__half, float>();
  test_cast_pair<__nv_bfloat16, float>();
  test_cast_pair<__half, __nv_bfloat16>();
  // FP32 beyond the FP16 range saturates instead of becoming Inf.
  Vec big = {1e6f, -1e6f, 70000.f};
  Dev<float> dx(big);
  Dev<__half> dy(3);
  CHECK_CUDA(k::cast(dx.p, dy.p, 3, nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());
  report("cast f32->f16 saturates", dy.get(), {65504.0, -65504.0, 65504.0}, 1e-6);
}

template <typename S, typename D>
void test_layout_pair() {
  int64_t n = 2, c = 19, hw = 50 * 37;
  Vec x = rnd<S>(n * c * hw);
  Dev<S> dx(x);
  Dev<D> dy(x.size());
  CHECK_CUDA(k::nchw_to_nhwc(dx.p, dy.p, n, c, hw, nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> ref(x.size());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p) ref[(b * hw + p) * c + ch] = x[(b * c + ch) * hw + p];
  report(std::string("nchw_to_nhwc ") + tname<S>() + "->" + tname<D>(), dy.get(), ref, std::max(tol<S>(), tol<D>()));
  Dev<D> dz(x.size());
  CHECK_CUDA(k::nhwc_to_nchw(dy.p, dz.p, n, c, hw, nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> back(x.begin(), x.end());
  report(std::string("nhwc_to_nchw round trip ") + tname<D>(), dz.get(), back, std::max(tol<S>(), tol<D>()));
}

template <typename T>
void test_permute() {
  // The second shape's last dim (16) makes 16-byte rows: perms keeping it last take the row-copy kernel.
  for (std::vector<int64_t> shape : {std::vector<int64_t>{2, 3, 4, 5, 6}, std::vector<int64_t>{3, 5, 2, 4, 16}}) {
  std::vector<std::vector<int>> perms = {{0, 2, 3, 4, 1}, {4, 1, 0, 3, 2}, {1, 0, 2, 3, 4}, {0, 1, 2, 3, 4},
                                         {3, 4, 0, 1, 2}, {2, 0, 3, 1, 4}, {3, 1, 2, 0, 4}};
  Vec x = rnd<T>(numel(shape));
  Dev<T> dx(x);
  for (auto& perm : perms) {
    Dev<T> dy(x.size());
    CHECK_CUDA(k::permute(dx.p, dy.p, 5, shape.data(), perm.data(), nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<int64_t> os(5), is(5);
    int64_t acc = 1;
    for (int d = 4; d >= 0; --d) { is[d] = acc; acc *= shape[d]; }
    for (int d = 0; d < 5; ++d) os[d] = shape[perm[d]];
    std::vector<double> ref(x.size());
    for (size_t e = 0; e < ref.size(); ++e) {
      size_t rem = e, off = 0;
      for (int d = 4; d >= 0; --d) { off += (rem % os[d]) * is[perm[d]]; rem /= os[d]; }
      ref[e] = x[off];
    }
    std::string p;
    for (int v : perm) p += std::to_string(v);
    report("permute " + p + " last " + std::to_string(shape[4]) + " " + tname<T>(), dy.get(), ref, tol<T>());
  }
  }
}

template <typename T>
void test_layer_norm() {
  for (int64_t cols : {256, 768, 100, 1024, 2000}) {
    for (bool with_res : {false, true}) {
      int64_t rows = 131;
      Vec x = rnd<T>(rows * cols), r = rnd<T>(rows * cols), g = rnd<T>(cols, 0.5f, 1.5f), b = rnd<T>(cols);
      // Large offsets test the FP32 statistics: FP16 x^2 would overflow near 300.
      for (int64_t i = 0; i < cols; ++i) x[i] = to_float(from_float<T>(x[i] * 50 + 1000));
      Dev<T> dx(x), dr(r), dg(g), db(b), dy(x.size()), ds(x.size());
      CHECK_CUDA(k::layer_norm(dx.p, with_res ? dr.p : (T*)nullptr, dg.p, with_res ? db.p : (T*)nullptr, dy.p,
                               with_res ? ds.p : (T*)nullptr, rows, cols, 1e-5f, nullptr));
      CHECK_CUDA(cudaDeviceSynchronize());
      std::vector<double> ref(x.size()), sum(x.size());
      for (int64_t i = 0; i < rows; ++i) {
        double m = 0, v = 0;
        for (int64_t j = 0; j < cols; ++j) {
          size_t e = i * cols + j;
          sum[e] = double(x[e]) + (with_res ? r[e] : 0.0);
          m += sum[e];
        }
        m /= cols;
        for (int64_t j = 0; j < cols; ++j) v += (sum[i * cols + j] - m) * (sum[i * cols + j] - m);
        v /= cols;
        for (int64_t j = 0; j < cols; ++j)
          ref[i * cols + j] = (sum[i * cols + j] - m) / std::sqrt(v + 1e-5) * g[j] + (with_res ? b[j] : 0.0);
      }
      std::string nm = "layer_norm cols=" + std::to_string(cols) + (with_res ? " +res+beta " : " ") + tname<T>();
      report(nm, dy.get(), ref, tol<T>());
      if (with_res) report(nm + " sum_out", ds.get(), sum, tol<T>());
    }
  }
}

template <typename T>
void test_batch_norm() {
  for (bool nhwc : {false, true}) {
    int64_t n = 3, c = 24, hw = 77;
    Vec x = rnd<T>(n * c * hw), sc = rnd<float>(c), bi = rnd<float>(c), mu = rnd<float>(c), var = rnd<float>(c, 0.1f, 2.f);
    Dev<T> dx(x), dy(x.size());
    Dev<float> ds(sc), db(bi), dm(mu), dv(var);
    CHECK_CUDA(k::batch_norm(dx.p, ds.p, db.p, dm.p, dv.p, dy.p, n, c, hw, 1e-5f, nhwc, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref(x.size());
    for (size_t e = 0; e < ref.size(); ++e) {
      size_t ch = nhwc ? e % c : (e / hw) % c;
      ref[e] = (x[e] - mu[ch]) * sc[ch] / std::sqrt(var[ch] + 1e-5) + bi[ch];
    }
    report(std::string("batch_norm ") + (nhwc ? "nhwc " : "nchw ") + tname<T>(), dy.get(), ref, tol<T>());
  }
}

template <typename T>
void test_softmax() {
  for (int64_t cols : {197, 128, 1000, 3000, 7, 1024}) {
    int64_t rows = 77;
    Vec x = rnd<T>(rows * cols, -8.f, 8.f);
    Dev<T> dx(x), dy(x.size());
    CHECK_CUDA(k::softmax(dx.p, dy.p, rows, cols, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref(x.size());
    for (int64_t i = 0; i < rows; ++i) {
      double m = -1e300, s = 0;
      for (int64_t j = 0; j < cols; ++j) m = std::max(m, double(x[i * cols + j]));
      for (int64_t j = 0; j < cols; ++j) s += std::exp(x[i * cols + j] - m);
      for (int64_t j = 0; j < cols; ++j) ref[i * cols + j] = std::exp(x[i * cols + j] - m) / s;
    }
    report("softmax cols=" + std::to_string(cols) + " " + tname<T>(), dy.get(), ref, tol<T>());
  }
}

// q, k, v in [B, S, H, D] (as a fused projection gives them), out in [B, H, S, D]; mask [B, 1, 1, S].
template <typename T>
void test_attention() {
  struct Case { int b, h, s, dim; bool mask; };
  for (Case c : {Case{2, 3, 197, 64, true}, Case{2, 4, 128, 64, false}, Case{1, 2, 50, 32, true}, Case{1, 2, 33, 128, false},
                 Case{1, 2, 300, 64, true}, Case{1, 1, 700, 64, false},
                 Case{66, 4, 70, 64, true}}) {
    size_t n = size_t(c.b) * c.s * c.h * c.dim;
    Vec q = rnd<T>(n), kk = rnd<T>(n), v = rnd<T>(n), mask(size_t(c.b) * c.s);
    for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i % 7 == 3) ? -INFINITY : float(int(i % 5)) * -0.5f;
    Dev<T> dq(q), dk(kk), dv(v), dout(n);
    Dev<float> dm(mask);
    k::AttentionDesc d;
    d.batch = c.b; d.heads = c.h; d.seq_q = c.s; d.seq_k = c.s; d.head_dim = c.dim;
    d.scale = 1.f / std::sqrt(float(c.dim));
    int64_t in_st[3] = {int64_t(c.s) * c.h * c.dim, c.dim, int64_t(c.h) * c.dim};
    int64_t out_st[3] = {int64_t(c.h) * c.s * c.dim, int64_t(c.s) * c.dim, c.dim};
    for (int i = 0; i < 3; ++i) { d.q_strides[i] = d.k_strides[i] = d.v_strides[i] = in_st[i]; d.o_strides[i] = out_st[i]; }
    d.mask_strides[0] = c.s; d.mask_strides[3] = 1;
    cudaError_t e = k::attention(dq.p, dk.p, dv.p, c.mask ? dm.p : nullptr, dout.p, d, nullptr);
    if (sizeof(T) == 4 && c.s == 700) {  // FP32 K and V of 700 keys exceed shared memory: refused, not launched
      ++g_checks;
      if (e != cudaErrorInvalidValue) {
        std::printf("FAIL attention f32 s700 not refused\n");
        ++g_failures;
      }
      continue;
    }
    CHECK_CUDA(e);
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref(n), p(c.s);
    for (int b = 0; b < c.b; ++b)
      for (int h = 0; h < c.h; ++h)
        for (int i = 0; i < c.s; ++i) {
          double m = -1e300, sum = 0;
          for (int j = 0; j < c.s; ++j) {
            double s = 0;
            for (int e = 0; e < c.dim; ++e)
              s += double(q[b * in_st[0] + h * in_st[1] + i * in_st[2] + e]) * kk[b * in_st[0] + h * in_st[1] + j * in_st[2] + e];
            p[j] = s * d.scale + (c.mask ? mask[b * c.s + j] : 0.0);
            m = std::max(m, p[j]);
          }
          for (int j = 0; j < c.s; ++j) { p[j] = std::exp(p[j] - m); sum += p[j]; }
          for (int e = 0; e < c.dim; ++e) {
            double o = 0;
            for (int j = 0; j < c.s; ++j) o += p[j] * v[b * in_st[0] + h * in_st[1] + j * in_st[2] + e];
            ref[b * out_st[0] + h * out_st[1] + i * out_st[2] + e] = o / sum;
          }
        }
    report("attention b" + std::to_string(c.b) + " h" + std::to_string(c.h) + " s" + std::to_string(c.s) + " d" +
               std::to_string(c.dim) + (c.mask ? " mask " : " ") + tname<T>(), dout.get(), ref, tol<T>());
  }
}

template <typename T>
void test_pool() {
  for (bool nhwc : {false, true}) {
    for (int64_t c : {16, 5}) {
      k::PoolDesc d;
      d.n = 2; d.c = c; d.h = 17; d.w = 19; d.nhwc = nhwc;
      struct P { int k, s, p; bool avg, incl; };
      for (P pc : {P{3, 2, 1, false, false}, P{3, 1, 1, true, false}, P{3, 1, 1, true, true}, P{2, 2, 0, true, false}}) {
        d.kernel_h = d.kernel_w = pc.k; d.stride_h = d.stride_w = pc.s; d.pad_top = d.pad_left = pc.p;
        d.count_include_pad = pc.incl;
        d.out_h = (d.h + 2 * pc.p - pc.k) / pc.s + 1;
        d.out_w = (d.w + 2 * pc.p - pc.k) / pc.s + 1;
        Vec x = rnd<T>(d.n * c * d.h * d.w);
        Dev<T> dx(x), dy(d.n * c * d.out_h * d.out_w);
        CHECK_CUDA(pc.avg ? k::avg_pool(dx.p, dy.p, d, nullptr) : k::max_pool(dx.p, dy.p, d, nullptr));
        CHECK_CUDA(cudaDeviceSynchronize());
        std::vector<double> ref(dy.n);
        auto xi = [&](int64_t b, int64_t ch, int64_t i, int64_t j) {
          return nhwc ? x[((b * d.h + i) * d.w + j) * c + ch] : x[((b * c + ch) * d.h + i) * d.w + j];
        };
        for (int64_t b = 0; b < d.n; ++b)
          for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t oh = 0; oh < d.out_h; ++oh)
              for (int64_t ow = 0; ow < d.out_w; ++ow) {
                double acc = pc.avg ? 0 : -1e300;
                int cnt = 0;
                for (int i = 0; i < pc.k; ++i)
                  for (int j = 0; j < pc.k; ++j) {
                    int64_t ih = oh * pc.s - pc.p + i, iw = ow * pc.s - pc.p + j;
                    if (ih < 0 || iw < 0 || ih >= d.h || iw >= d.w) continue;
                    ++cnt;
                    acc = pc.avg ? acc + xi(b, ch, ih, iw) : std::max(acc, double(xi(b, ch, ih, iw)));
                  }
                if (pc.avg) acc /= pc.incl ? pc.k * pc.k : cnt;
                size_t o = nhwc ? ((b * d.out_h + oh) * d.out_w + ow) * c + ch : ((b * c + ch) * d.out_h + oh) * d.out_w + ow;
                ref[o] = acc;
              }
        report(std::string(pc.avg ? "avg_pool" : "max_pool") + " k" + std::to_string(pc.k) + "s" + std::to_string(pc.s) +
                   "p" + std::to_string(pc.p) + (pc.incl ? " incl" : "") + " c" + std::to_string(c) +
                   (nhwc ? " nhwc " : " nchw ") + tname<T>(), dy.get(), ref, tol<T>());
      }
    }
    int64_t n = 3, c = 40, hw = 49;
    Vec x = rnd<T>(n * c * hw);
    Dev<T> dx(x), dy(n * c);
    CHECK_CUDA(k::global_avg_pool(dx.p, dy.p, n, c, hw, nhwc, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref(n * c, 0.0);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t p = 0; p < hw; ++p) ref[b * c + ch] += nhwc ? x[(b * hw + p) * c + ch] : x[(b * c + ch) * hw + p];
        ref[b * c + ch] /= hw;
      }
    report(std::string("global_avg_pool ") + (nhwc ? "nhwc " : "nchw ") + tname<T>(), dy.get(), ref, tol<T>());
  }
}

template <typename T>
void test_reduce_mean() {
  struct C { int64_t o, r, i; };
  for (C c : {C{7, 300, 1}, C{5, 5000, 1}, C{3, 50, 40}, C{1, 197, 768}}) {
    Vec x = rnd<T>(c.o * c.r * c.i, 0.f, 2.f);
    Dev<T> dx(x), dy(c.o * c.i);
    CHECK_CUDA(k::reduce_mean(dx.p, dy.p, c.o, c.r, c.i, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref(c.o * c.i, 0.0);
    for (int64_t o = 0; o < c.o; ++o)
      for (int64_t r = 0; r < c.r; ++r)
        for (int64_t i = 0; i < c.i; ++i) ref[o * c.i + i] += x[(o * c.r + r) * c.i + i] / double(c.r);
    report("reduce_mean " + std::to_string(c.o) + "x" + std::to_string(c.r) + "x" + std::to_string(c.i) + " " + tname<T>(),
           dy.get(), ref, tol<T>());
  }
}

template <typename T>
void test_data_movement() {
  for (int64_t inner : {16, 3}) {
    int64_t outer = 5, len[3] = {3, 5, 8}, tot = 16;
    std::vector<Vec> xs;
    for (int i = 0; i < 3; ++i) xs.push_back(rnd<T>(outer * len[i] * inner));
    Dev<T> d0(xs[0]), d1(xs[1]), d2(xs[2]), dy(outer * tot * inner);
    const T* in[] = {d0.p, d1.p, d2.p};
    CHECK_CUDA(k::concat(in, len, 3, dy.p, outer, inner, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref;
    for (int64_t o = 0; o < outer; ++o)
      for (int i = 0; i < 3; ++i)
        for (int64_t j = 0; j < len[i] * inner; ++j) ref.push_back(xs[i][o * len[i] * inner + j]);
    report("concat inner=" + std::to_string(inner) + " " + tname<T>(), dy.get(), ref, tol<T>());
  }
  {  // Slice x[1:, ::-2, 2:5] of [4, 9, 7]
    Vec x = rnd<T>(4 * 9 * 7);
    k::StridedDesc d;
    d.rank = 3;
    int64_t os[3] = {3, 5, 3};
    int64_t st[3] = {63, -14, 1};
    for (int i = 0; i < 3; ++i) { d.out_shape[i] = os[i]; d.in_strides[i] = st[i]; }
    d.offset = 1 * 63 + 8 * 7 + 2;
    Dev<T> dx(x), dy(45);
    CHECK_CUDA(k::strided_copy(dx.p, dy.p, d, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref;
    for (int a = 1; a < 4; ++a)
      for (int b = 8; b >= 0; b -= 2)
        for (int c = 2; c < 5; ++c) ref.push_back(x[a * 63 + b * 7 + c]);
    report(std::string("strided_copy slice ") + tname<T>(), dy.get(), ref, tol<T>());
  }
  for (int64_t inner : {64, 5}) {
    int64_t outer = 3, axis = 11;
    std::vector<int64_t> idx = {0, 10, -1, 4, 4, -11};
    Vec x = rnd<T>(outer * axis * inner);
    Dev<T> dx(x), dy(outer * idx.size() * inner);
    int64_t* di = nullptr;
    int* flag = nullptr;
    CHECK_CUDA(cudaMalloc(&di, idx.size() * sizeof(int64_t)));
    CHECK_CUDA(cudaMalloc(&flag, sizeof(int)));
    CHECK_CUDA(cudaMemcpy(di, idx.data(), idx.size() * sizeof(int64_t), cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemset(flag, 0, sizeof(int)));
    CHECK_CUDA(k::gather(dx.p, di, dy.p, outer, axis, int64_t(idx.size()), inner, flag, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> ref;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j : idx)
        for (int64_t i = 0; i < inner; ++i) ref.push_back(x[(o * axis + (j < 0 ? j + axis : j)) * inner + i]);
    report("gather inner=" + std::to_string(inner) + " " + tname<T>(), dy.get(), ref, tol<T>());
    // An out-of-range index writes zeros and raises the flag instead of faulting.
    int64_t badi = 11;
    int h_flag = 0;
    CHECK_CUDA(cudaMemcpy(di, &badi, sizeof(int64_t), cudaMemcpyHostToDevice));
    CHECK_CUDA(k::gather(dx.p, di, dy.p, outer, axis, 1, inner, flag, nullptr));
    CHECK_CUDA(cudaMemcpy(&h_flag, flag, sizeof(int), cudaMemcpyDeviceToHost));
    ++g_checks;
    if (h_flag != 1) {
      std::printf("FAIL gather out-of-range flag not set\n");
      ++g_failures;
    }
    cudaFree(di);
    cudaFree(flag);
  }
}

void test_bad_arguments() {
  // Unsupported descriptors are refused with cudaErrorInvalidValue, launching nothing.
  k::AttentionDesc d;
  d.batch = 1; d.heads = 1; d.seq_q = 4; d.seq_k = 4; d.head_dim = 48;
  ++g_checks;
  if (k::attention<__half>(nullptr, nullptr, nullptr, nullptr, nullptr, d, nullptr) != cudaErrorInvalidValue) {
    std::printf("FAIL attention accepted head_dim 48\n");
    ++g_failures;
  }
  d.head_dim = 64; d.seq_k = 100000;
  ++g_checks;
  if (k::attention<float>(nullptr, nullptr, nullptr, nullptr, nullptr, d, nullptr) != cudaErrorInvalidValue) {
    std::printf("FAIL attention accepted seq_k 100000\n");
    ++g_failures;
  }
  k::StridedDesc s;
  s.rank = 7;
  ++g_checks;
  if (k::strided_copy<float>(nullptr, nullptr, s, nullptr) != cudaErrorInvalidValue) {
    std::printf("FAIL strided_copy accepted rank 7\n");
    ++g_failures;
  }
  std::printf("ok   bad-argument checks\n");
}

template <typename T>
void run_all() {
  test_unary<T>();
  test_binary<T>();
  test_chain<T>();
  test_permute<T>();
  test_layer_norm<T>();
  test_batch_norm<T>();
  test_softmax<T>();
  test_attention<T>();
  test_pool<T>();
  test_reduce_mean<T>();
  test_data_movement<T>();
}

#include "kernels_bench.cuh"

}  // namespace

int main(int argc, char** argv) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("SKIP: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "count 0");
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "--bench-only") == 0) {  // timings alone (for profilers)
    bench();
    return 0;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s, sm_%d%d, %d SMs\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  run_all<float>();
  run_all<__half>();
  run_all<__nv_bfloat16>();
  test_cast();
  test_layout_pair<float, float>();
  test_layout_pair<float, __half>();
  test_layout_pair<__half, __half>();
  test_layout_pair<float, __nv_bfloat16>();
  test_bad_arguments();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) bench();
  return g_failures ? 1 : 0;
}
