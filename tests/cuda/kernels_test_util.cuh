// kernels_test_util.cuh — helpers of kernels_test.cu: element-type conversions, random inputs rounded to the type,
// poisoned device buffers, the relative-error report, and the double-precision references of the elementwise ops.
// Included once, by kernels_test.cu, inside its anonymous namespace.
#pragma once

int g_failures = 0, g_checks = 0;
std::mt19937 g_rng(12345);

#define CHECK_CUDA(call)                                                                          \
  do {                                                                                            \
    cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      std::printf("FAIL %s:%d %s -> %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));    \
      ++g_failures;                                                                               \
      return;                                                                                     \
    }                                                                                             \
  } while (0)

template <typename T> float to_float(T v);
template <> float to_float(float v) { return v; }
template <> float to_float(__half v) { return __half2float(v); }
template <> float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> T from_float(float v);
template <> float from_float(float v) { return v; }
template <> __half from_float(float v) { return __float2half_rn(v); }
template <> __nv_bfloat16 from_float(float v) { return __float2bfloat16_rn(v); }
template <typename T> const char* tname();
template <> const char* tname<float>() { return "f32"; }
template <> const char* tname<__half>() { return "f16"; }
template <> const char* tname<__nv_bfloat16>() { return "bf16"; }
template <typename T> double tol();
template <> double tol<float>() { return 2e-5; }
template <> double tol<__half>() { return 3e-3; }
template <> double tol<__nv_bfloat16>() { return 2e-2; }

// Random values rounded to T.
template <typename T>
Vec rnd(size_t n, float lo = -2.f, float hi = 2.f) {
  std::uniform_real_distribution<float> u(lo, hi);
  Vec v(n);
  for (auto& x : v) x = to_float(from_float<T>(u(g_rng)));
  return v;
}

// A device buffer of T; poisoned (all bytes 0xFF = NaN in all three types) on creation.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    if (cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)) != cudaSuccess) p = nullptr;
    else cudaMemset(p, 0xFF, std::max<size_t>(n, 1) * sizeof(T));
  }
  Dev(const Vec& v) : Dev(v.size()) {
    std::vector<T> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = from_float<T>(v[i]);
    if (p) cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Vec get() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    Vec v(n);
    for (size_t i = 0; i < n; ++i) v[i] = to_float(h[i]);
    return v;
  }
};

void report(const std::string& name, const Vec& out, const std::vector<double>& ref, double tolerance) {
  ++g_checks;
  double num = 0, den = 0;
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i]) && std::isfinite(ref[i])) ++bad;
    double d = double(out[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  double rel = std::sqrt(num / std::max(den, 1e-30));
  bool ok = bad == 0 && out.size() == ref.size() && rel <= tolerance;
  if (!ok) ++g_failures;
  std::printf("%s %-48s rel %.2e (tol %.0e)%s\n", ok ? "ok  " : "FAIL", name.c_str(), rel, tolerance,
              bad ? (" non-finite: " + std::to_string(bad)).c_str() : "");
}

double ref_unary(k::UnaryOp op, double x, double a, double b) {
  switch (op) {
    case k::UnaryOp::Identity: return x;
    case k::UnaryOp::Relu: return std::max(x, 0.0);
    case k::UnaryOp::Sigmoid: return 1 / (1 + std::exp(-x));
    case k::UnaryOp::SiLU: return x / (1 + std::exp(-x));
    case k::UnaryOp::Tanh: return std::tanh(x);
    case k::UnaryOp::GeluErf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case k::UnaryOp::GeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case k::UnaryOp::Clip: return std::min(std::max(x, a), b);
    case k::UnaryOp::HardSigmoid: return std::min(std::max(a * x + b, 0.0), 1.0);
    case k::UnaryOp::HardSwish: return x * std::min(std::max(x / 6 + 0.5, 0.0), 1.0);
    case k::UnaryOp::Exp: return std::exp(x);
    case k::UnaryOp::Log: return std::log(x);
    case k::UnaryOp::Sqrt: return std::sqrt(x);
    case k::UnaryOp::Erf: return std::erf(x);
    case k::UnaryOp::Neg: return -x;
    case k::UnaryOp::Abs: return std::fabs(x);
    case k::UnaryOp::LeakyRelu: return x >= 0 ? x : a * x;
  }
  return x;
}
double ref_binary(k::BinaryOp op, double a, double b) {
  switch (op) {
    case k::BinaryOp::Add: return a + b;
    case k::BinaryOp::Sub: return a - b;
    case k::BinaryOp::Mul: return a * b;
    case k::BinaryOp::Div: return a / b;
    case k::BinaryOp::Pow: return std::pow(a, b);
    case k::BinaryOp::Max: return std::max(a, b);
    case k::BinaryOp::Min: return std::min(a, b);
  }
  return a;
}

// Broadcast index of output element e into an input of `shape` right-aligned in `out`.
size_t bcast_index(size_t e, const std::vector<int64_t>& out, const std::vector<int64_t>& shape) {
  size_t idx = 0, stride = 1;
  for (int d = int(out.size()) - 1, s = int(shape.size()) - 1; d >= 0; --d, --s) {
    size_t i = e % out[d];
    e /= out[d];
    if (s >= 0) {
      if (shape[s] != 1) idx += i * stride;
      stride *= shape[s];
    }
  }
  return idx;
}
size_t numel(const std::vector<int64_t>& s) {
  size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

