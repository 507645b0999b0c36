// elementwise.cu — unary/binary ops with numpy broadcasting and the fused elementwise chain.
//
// One kernel serves all three: a chain of up to kMaxChainSteps ops over up to kMaxChainInputs broadcast inputs,
// evaluated in FP32 registers. Each thread handles one 16-byte pack of the output's innermost dimension when every
// input is contiguous (stride 1) or broadcast (stride 0) there, else one element. Shapes are merged on the host so
// that a same-shape op is rank 1 and needs no index arithmetic beyond one multiply.
#include <algorithm>

#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace {

// Each op is applied to all N values of a thread at once, so the switch (an indirect branch) runs once per
// step and pack, not once per element: with per-element dispatch, FP16 Add reached only ~1.9 TB/s on an H100.
#define FERRY_EACH(expr)        \
  _Pragma("unroll") for (int j = 0; j < N; ++j) { \
    float x = v[j];             \
    v[j] = (expr);              \
  }                             \
  break;

template <int N>
__device__ __forceinline__ void apply_unary(uint8_t op, float (&v)[N], float alpha, float beta) {
  switch (static_cast<UnaryOp>(op)) {
    case UnaryOp::Identity: break;
    case UnaryOp::Relu: FERRY_EACH(fmaxf(x, 0.f))
    case UnaryOp::Sigmoid: FERRY_EACH(1.f / (1.f + __expf(-x)))
    case UnaryOp::SiLU: FERRY_EACH(x / (1.f + __expf(-x)))
    case UnaryOp::Tanh: FERRY_EACH(tanhf(x))
    case UnaryOp::GeluErf: FERRY_EACH(0.5f * x * (1.f + erff(x * 0.70710678118654752f)))
    case UnaryOp::GeluTanh: FERRY_EACH(0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x))))
    case UnaryOp::Clip: FERRY_EACH(fminf(fmaxf(x, alpha), beta))
    case UnaryOp::HardSigmoid: FERRY_EACH(fminf(fmaxf(alpha * x + beta, 0.f), 1.f))
    case UnaryOp::HardSwish: FERRY_EACH(x * fminf(fmaxf(x * (1.f / 6.f) + 0.5f, 0.f), 1.f))
    case UnaryOp::Exp: FERRY_EACH(expf(x))
    case UnaryOp::Log: FERRY_EACH(logf(x))
    case UnaryOp::Sqrt: FERRY_EACH(sqrtf(x))
    case UnaryOp::Erf: FERRY_EACH(erff(x))
    case UnaryOp::Neg: FERRY_EACH(-x)
    case UnaryOp::Abs: FERRY_EACH(fabsf(x))
    case UnaryOp::LeakyRelu: FERRY_EACH(x >= 0.f ? x : alpha * x)
  }
}
#undef FERRY_EACH

#define FERRY_EACH2(expr)                        \
  _Pragma("unroll") for (int j = 0; j < N; ++j) { \
    float a = rev ? o[j] : v[j], b = rev ? v[j] : o[j]; \
    v[j] = (expr);                               \
  }                                              \
  break;

// v = op(v, o), or op(o, v) when rev.
template <int N>
__device__ __forceinline__ void apply_binary(uint8_t op, float (&v)[N], const float (&o)[N], bool rev) {
  switch (static_cast<BinaryOp>(op)) {
    case BinaryOp::Add: FERRY_EACH2(a + b)
    case BinaryOp::Sub: FERRY_EACH2(a - b)
    case BinaryOp::Mul: FERRY_EACH2(a * b)
    case BinaryOp::Div: FERRY_EACH2(a / b)
    case BinaryOp::Pow: FERRY_EACH2(powf(a, b))
    case BinaryOp::Max: FERRY_EACH2(fmaxf(a, b))
    case BinaryOp::Min: FERRY_EACH2(fminf(a, b))
  }
}
#undef FERRY_EACH2

template <typename T>
struct ChainArgs {
  const T* in[kMaxChainInputs];
  T* y;
  ChainDesc d;
};

// Runs the chain on N values; vals[k] holds input k's values. The result is left in vals[0].
template <int N>
__device__ __forceinline__ void run_chain(const ChainDesc& d, float (&vals)[kMaxChainInputs][N]) {
  static_assert(kMaxChainInputs == 4, "operand selection below lists inputs 1..3");
#pragma unroll 1
  for (int s = 0; s < d.num_steps; ++s) {
    const ChainStep& st = d.steps[s];
    if (st.kind == ChainStep::kUnary) {
      apply_unary<N>(st.op, vals[0], st.alpha, st.beta);
    } else {
      float o[N];
      bool tensor = st.kind == ChainStep::kBinaryTensor || st.kind == ChainStep::kBinaryTensorRev;
#pragma unroll
      for (int j = 0; j < N; ++j) {  // selects, not an indexed load: keeps vals in registers
        float t = st.alpha;
        t = tensor && st.input == 1 ? vals[1][j] : t;
        t = tensor && st.input == 2 ? vals[2][j] : t;
        t = tensor && st.input == 3 ? vals[3][j] : t;
        o[j] = t;
      }
      bool rev = st.kind == ChainStep::kBinaryTensorRev || st.kind == ChainStep::kBinaryScalarRev;
      apply_binary<N>(st.op, vals[0], o, rev);
    }
  }
}

// kVec: each item is a 16-byte pack of the innermost dimension (every input has inner stride 0 or 1).
template <typename T, bool kVec>
__global__ void chain_kernel(const ChainArgs<T> a, int64_t items) {
  constexpr int N = kVec ? Pack<T>::kN : 1;
  const ChainDesc& d = a.d;
  for (int64_t it = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; it < items; it += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = it * N, rem = e;
    int64_t off[kMaxChainInputs] = {};
#pragma unroll
    for (int k = kMaxDims - 1; k >= 0; --k) {
      if (k >= d.rank) continue;
      int64_t idx = rem;
      if (k > 0) {
        idx = rem % d.out_shape[k];
        rem /= d.out_shape[k];
      }
#pragma unroll
      for (int i = 0; i < kMaxChainInputs; ++i)
        if (i < d.num_inputs) off[i] += idx * d.strides[i][k];
    }
    float vals[kMaxChainInputs][N];
#pragma unroll
    for (int i = 0; i < kMaxChainInputs; ++i) {
      if (i >= d.num_inputs) {
#pragma unroll
        for (int j = 0; j < N; ++j) vals[i][j] = 0.f;
        continue;
      }
      if constexpr (kVec) {
        if (d.strides[i][d.rank - 1] == 1) {
          Pack<T> p = load_pack(a.in[i] + off[i]);
#pragma unroll
          for (int j = 0; j < N; ++j) vals[i][j] = to_f(p.v[j]);
        } else {
          float s = to_f(a.in[i][off[i]]);
#pragma unroll
          for (int j = 0; j < N; ++j) vals[i][j] = s;
        }
      } else {
        vals[i][0] = to_f(a.in[i][off[i]]);
      }
    }
    run_chain<N>(d, vals);
    if constexpr (kVec) {
      Pack<T> out;
#pragma unroll
      for (int j = 0; j < N; ++j) out.v[j] = from_f<T>(vals[0][j]);
      store_pack(a.y + e, out);
    } else {
      a.y[e] = from_f<T>(vals[0][0]);
    }
  }
}

// Broadcasts num contiguous shapes; merges dims; false if they do not broadcast or rank > kMaxDims after merging.
bool broadcast_layout(const int64_t* const* shapes, const int* ranks, int num, int* rank_out, int64_t* out_shape,
                      int64_t (*strides)[kMaxDims]) {
  constexpr int kWide = 16;
  int r = 0;
  for (int i = 0; i < num; ++i) {
    if (ranks[i] < 0 || ranks[i] > kWide) return false;
    r = std::max(r, ranks[i]);
  }
  int64_t shp[kWide], st[kMaxChainInputs][kWide];
  for (int k = 0; k < r; ++k) shp[k] = 1;
  for (int i = 0; i < num; ++i)
    for (int k = 0; k < ranks[i]; ++k) {
      int64_t s = shapes[i][k], &o = shp[r - ranks[i] + k];
      if (s < 0) return false;
      if (s != 1) {
        if (o != 1 && o != s) return false;
        o = s;
      }
    }
  for (int i = 0; i < num; ++i) {
    int64_t acc = 1;
    for (int k = r - 1; k >= 0; --k) {
      int ik = k - (r - ranks[i]);
      int64_t s = ik >= 0 ? shapes[i][ik] : 1;
      st[i][k] = (s == 1) ? 0 : acc;
      acc *= s;
    }
  }
  // Drop size-1 dims, merge dims k-1, k when every input is contiguous across them.
  int64_t mshp[kWide], mst[kMaxChainInputs][kWide];
  int m = 0;
  for (int k = 0; k < r; ++k) {
    if (shp[k] == 1) continue;
    bool merge = m > 0;
    for (int i = 0; i < num && merge; ++i) merge = mst[i][m - 1] == st[i][k] * shp[k];
    if (merge) {
      mshp[m - 1] *= shp[k];
      for (int i = 0; i < num; ++i) mst[i][m - 1] = st[i][k];
    } else {
      mshp[m] = shp[k];
      for (int i = 0; i < num; ++i) mst[i][m] = st[i][k];
      ++m;
    }
  }
  if (m == 0) {  // all scalars
    mshp[0] = 1;
    for (int i = 0; i < num; ++i) mst[i][0] = 0;
    m = 1;
  }
  if (m > kMaxDims) return false;
  *rank_out = m;
  for (int k = 0; k < m; ++k) {
    out_shape[k] = mshp[k];
    for (int i = 0; i < num; ++i) strides[i][k] = mst[i][k];
  }
  return true;
}

}  // namespace

bool make_broadcast(const int64_t* a_shape, int a_rank, const int64_t* b_shape, int b_rank, BroadcastDesc* out) {
  const int64_t* shapes[2] = {a_shape, b_shape};
  int ranks[2] = {a_rank, b_rank};
  int64_t st[kMaxChainInputs][kMaxDims] = {};
  if (!broadcast_layout(shapes, ranks, 2, &out->rank, out->out_shape, st)) return false;
  for (int k = 0; k < kMaxDims; ++k) {
    out->a_strides[k] = st[0][k];
    out->b_strides[k] = st[1][k];
  }
  return true;
}

bool broadcast_strides(const int64_t* in_shape, int in_rank, const int64_t* out_shape, int out_rank,
                       int64_t* strides) {
  if (in_rank > out_rank) return false;
  int64_t acc = 1;
  for (int k = out_rank - 1; k >= 0; --k) {
    int ik = k - (out_rank - in_rank);
    int64_t s = ik >= 0 ? in_shape[ik] : 1;
    if (s != 1 && s != out_shape[k]) return false;
    strides[k] = (s == 1) ? 0 : acc;
    acc *= s;
  }
  return true;
}

bool make_chain_layout(const int64_t* const* in_shapes, const int* in_ranks, int num_inputs, ChainDesc* d) {
  if (num_inputs < 1 || num_inputs > kMaxChainInputs) return false;
  d->num_inputs = num_inputs;
  return broadcast_layout(in_shapes, in_ranks, num_inputs, &d->rank, d->out_shape, d->strides);
}

template <typename T>
cudaError_t elementwise_chain(const T* const* inputs, T* y, const ChainDesc& d, cudaStream_t stream) {
  if (d.rank < 1 || d.rank > kMaxDims || d.num_inputs < 1 || d.num_inputs > kMaxChainInputs || d.num_steps < 0 ||
      d.num_steps > kMaxChainSteps)
    return cudaErrorInvalidValue;
  int64_t total = 1;
  for (int k = 0; k < d.rank; ++k) total *= d.out_shape[k];
  if (total == 0) return cudaSuccess;
  ChainArgs<T> a;
  a.d = d;
  a.y = y;
  bool vec = aligned16(y) && d.out_shape[d.rank - 1] % Pack<T>::kN == 0;
  for (int i = 0; i < kMaxChainInputs; ++i) {
    a.in[i] = i < d.num_inputs ? inputs[i] : nullptr;
    if (i < d.num_inputs) {
      for (int s = 0; s < d.num_steps; ++s) {
        const ChainStep& st = d.steps[s];
        bool tensor = st.kind == ChainStep::kBinaryTensor || st.kind == ChainStep::kBinaryTensorRev;
        if (tensor && (st.input < 1 || st.input >= d.num_inputs)) return cudaErrorInvalidValue;
      }
      int64_t s = d.strides[i][d.rank - 1];
      vec = vec && (s == 0 || s == 1) && aligned16(inputs[i]);
    }
  }
  constexpr int kThreads = 256;
  if (vec) {
    int64_t items = total / Pack<T>::kN;
    chain_kernel<T, true><<<grid_for(items, kThreads), kThreads, 0, stream>>>(a, items);
  } else {
    chain_kernel<T, false><<<grid_for(total, kThreads), kThreads, 0, stream>>>(a, total);
  }
  return launch_result();
}

template <typename T>
cudaError_t unary(UnaryOp op, const T* x, T* y, int64_t n, float alpha, float beta, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  ChainDesc d;
  d.rank = 1;
  d.out_shape[0] = n;
  d.num_inputs = 1;
  d.strides[0][0] = 1;
  d.num_steps = 1;
  d.steps[0].kind = ChainStep::kUnary;
  d.steps[0].op = static_cast<uint8_t>(op);
  d.steps[0].alpha = alpha;
  d.steps[0].beta = beta;
  return elementwise_chain(&x, y, d, stream);
}

template <typename T>
cudaError_t binary(BinaryOp op, const T* a, const T* b, T* y, const BroadcastDesc& bd, cudaStream_t stream) {
  ChainDesc d;
  d.rank = bd.rank;
  d.num_inputs = 2;
  for (int k = 0; k < kMaxDims; ++k) {
    d.out_shape[k] = bd.out_shape[k];
    d.strides[0][k] = bd.a_strides[k];
    d.strides[1][k] = bd.b_strides[k];
  }
  d.num_steps = 1;
  d.steps[0].kind = ChainStep::kBinaryTensor;
  d.steps[0].op = static_cast<uint8_t>(op);
  d.steps[0].input = 1;
  const T* in[2] = {a, b};
  return elementwise_chain(in, y, d, stream);
}

#define FERRY_EW(T)                                                                                       \
  template cudaError_t elementwise_chain<T>(const T* const*, T*, const ChainDesc&, cudaStream_t);        \
  template cudaError_t unary<T>(UnaryOp, const T*, T*, int64_t, float, float, cudaStream_t);              \
  template cudaError_t binary<T>(BinaryOp, const T*, const T*, T*, const BroadcastDesc&, cudaStream_t);
FERRY_INSTANTIATE_T(FERRY_EW)

}  // namespace ferry::cuda::kernels
