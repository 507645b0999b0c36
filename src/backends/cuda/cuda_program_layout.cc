// cuda_program_layout.cc — CudaProgram's storage choices and edge conversions: which values live NHWC, which
// image inputs are stored channel-padded or space-to-depth for their stem conv (conv_layout.h), and the uploads/
// downloads that convert between the API's FP32 NCHW host tensors and the device storage.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "backends/cuda/conv_layout.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_program.h"
#include "core/float_convert.h"

namespace ferry::cuda {

// NHWC for every 4-D value whose producer and readers all run NHWC (conv chains): union the layout-bearing
// tensors each op touches into classes; a class touched by any other op (Reshape, MatMul, Softmax, ...) stays
// NCHW. Transfers convert at the edges, so graph inputs and outputs keep the API's NCHW.
void CudaProgram::assign_layouts(const std::vector<std::vector<OpGroup>>& groups) {
  std::unordered_map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> find = [&](const std::string& v) -> std::string {
    auto it = parent.find(v);
    if (it == parent.end() || it->second == v) return v;
    return it->second = find(it->second);
  };
  std::unordered_set<std::string> bad;
  for (const auto& seg : groups)
    for (const OpGroup& grp : seg) {
      std::vector<std::string> touched;
      std::unordered_set<std::string> inside;
      bool capable = true;
      for (const Node* n : grp.nodes) {
        capable = capable && nhwc_capable(graph_, *n);
        for (const auto& in : n->inputs) {
          if (in.empty() || inside.count(in)) continue;
          auto v = vals_.find(in);
          if (v != vals_.end()) {
            if (layout_bearing(v->second)) touched.push_back(in);
            continue;
          }
          // A constant operand of an elementwise op must read the same in both layouts.
          Shape cs;
          if (static_shape(graph_, in, &cs) && n->op_type != "Conv" && n->op_type != "Clip") {
            while (cs.size() < 4) cs.insert(cs.begin(), 1);
            if (cs.size() != 4 || cs[2] * cs[3] > 1) capable = false;
          }
        }
        for (const auto& o : n->outputs) inside.insert(o);
      }
      for (const auto& o : grp.nodes.back()->outputs)
        if (auto v = vals_.find(o); v != vals_.end() && layout_bearing(v->second)) touched.push_back(o);
      for (const auto& t : touched) {
        if (!parent.count(t)) parent[t] = t;
        if (!capable) bad.insert(t);
      }
      for (size_t i = 1; i < touched.size(); ++i) parent[find(touched[i])] = find(touched[0]);
    }
  std::unordered_set<std::string> bad_roots;
  for (const auto& b : bad) bad_roots.insert(find(b));
  for (auto& [name, v] : vals_) v.nhwc = layout_bearing(v) && parent.count(name) && !bad_roots.count(find(name));
}

// Uploaded NHWC FP16/BF16 values with C < 8 whose every reader is an ungrouped Conv (the image input of a vision
// model) are stored with C padded to 8 zero-filled channels, so cuDNN runs the stem conv on tensor cores; when every
// reader is a stride-2 stem conv that fits space-to-depth (conv_layout.h), as 16 space-to-depth channels instead.
void CudaProgram::pad_conv_inputs(const std::vector<DeviceSegmentSpec>& specs, std::vector<PlanItem>* items) {
  if (const char* e = std::getenv("FERRY_CUDA_PAD_CHANNELS"); e && std::strcmp(e, "0") == 0) return;
  std::unordered_set<std::string> downloads;
  for (const auto& spec : specs) downloads.insert(spec.downloads.begin(), spec.downloads.end());
  for (const auto& spec : specs)
    for (const auto& name : spec.uploads) {
      Val& v = vals_[name];
      if (!v.nhwc || downloads.count(name)) continue;
      int64_t cs = 0;
      bool ok = true;
      for (const Node& n : graph_.nodes)
        for (size_t i = 0; i < n.inputs.size() && ok; ++i) {
          if (n.inputs[i] != name) continue;
          int64_t c = padded_conv_channels(v.shape[1], v.dtype, n.op_type == "Conv" ? n.attr_int("group", 1) : 0);
          ok = n.domain.empty() && n.op_type == "Conv" && i == 0 && c > v.shape[1] && cuda_supports(graph_, n);
          cs = c;
        }
      for (const auto& o : graph_.outputs) ok = ok && o != name;
      if (!ok || cs <= v.shape[1]) continue;
      int64_t s2d_pad = -1;  // every reader must take the same space-to-depth image
      for (const Node& n : graph_.nodes)
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          if (n.inputs[i] != name) continue;
          int64_t p = -1;
          const bool fits = conv_reads_s2d(graph_, n, v.shape, v.dtype, &p);
          s2d_pad = fits && (s2d_pad == -1 || s2d_pad == p) ? p : -2;
        }
      if (s2d_pad >= 0) {
        v.stored_c = kS2dChannels;
        v.s2d_pad = s2d_pad;
        const int64_t hs = (v.shape[2] + 2 * s2d_pad + 1) / 2, ws = (v.shape[3] + 2 * s2d_pad + 1) / 2;
        (*items)[static_cast<size_t>(v.item)].bytes =
            static_cast<size_t>(v.shape[0] * hs * ws * kS2dChannels) * dtype_size(v.dtype);
        continue;
      }
      v.stored_c = cs;
      (*items)[static_cast<size_t>(v.item)].bytes = static_cast<size_t>(shape_numel(v.shape) / v.shape[1] * cs) *
                                                    dtype_size(v.dtype);
    }
}

// Host FP32 NCHW bytes (already in pinned memory) -> the value's storage type and layout.
namespace {

// copy(a, b) over [begin, end) in pieces of 256K elements, spread over the pool's threads.
template <typename F>
void in_pieces(ThreadPool& pool, size_t begin, size_t end, const F& copy) {
  constexpr size_t kPiece = size_t{1} << 18;
  pool.parallel_for(static_cast<int64_t>((end - begin + kPiece - 1) / kPiece), [&](int64_t p0, int64_t p1) {
    copy(begin + static_cast<size_t>(p0) * kPiece, std::min(end, begin + static_cast<size_t>(p1) * kPiece));
  });
}

}  // namespace

DType CudaProgram::staged_type(const Val& v) const {
  return stage_narrow_ && (v.dtype == DType::kFloat16 || v.dtype == DType::kBFloat16) ? v.dtype : DType::kFloat;
}

// Host FP32 -> sl.pinned (in the staged type: FP16/BF16 values are converted here, with F16C, so half the bytes cross
// PCIe; FERRY_CUDA_STAGE_F32=1 stages FP32) -> sl.stage, on the slot's copy stream.
Status CudaProgram::stage_upload(const Transfer& t, const void* host, Slot& sl) {
  const DType staged = staged_type(*t.val);
  const size_t esize = staged == DType::kFloat ? sizeof(float) : sizeof(uint16_t);
  char* pinned = sl.pinned + t.pinned_offset;
  char* dst = sl.stage + t.pinned_offset;
  const float* src = static_cast<const float*>(host);
  auto stage = [&](size_t a, size_t b) {  // elements [a, b) into pinned staging
    if (staged == DType::kFloat16) floats_to_halves(src + a, reinterpret_cast<uint16_t*>(pinned) + a, b - a);
    else if (staged == DType::kBFloat16) floats_to_bf16s(src + a, reinterpret_cast<uint16_t*>(pinned) + a, b - a);
    else std::memcpy(pinned + a * sizeof(float), src + a, (b - a) * sizeof(float));
  };
  // One memcpy from pageable memory runs at ~6 GB/s (resnet50 b256's 154 MB: ~27 ms against 7 ms of compute), so
  // a large input is staged by copy_pool_'s threads, 4M elements at a time, each chunk's DMA queued once staged.
  const size_t n = t.count;
  const size_t chunk = copy_pool_ && n * sizeof(float) >= kParallelCopyBytes ? size_t{4} << 20 : n;
  for (size_t off = 0; off < n; off += chunk) {
    const size_t len = std::min(chunk, n - off);
    if (chunk == n) stage(0, n);
    else in_pieces(*copy_pool_, off, off + len, stage);
    FERRY_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(dst + off * esize, pinned + off * esize, len * esize, cudaMemcpyHostToDevice, sl.copy),
        where() + ": upload");
  }
  return Status::ok();
}

// sl.stage -> the value's storage (type and layout), on the compute stream.
Status CudaProgram::convert_upload(const Transfer& t, const Slot& sl) {
  Val& v = *t.val;
  const DType staged = staged_type(v);
  const void* src = sl.stage + t.pinned_offset;
  const float* src32 = static_cast<const float*>(src);
  cudaStream_t s = stream_;
  cudaError_t e;
  if (v.s2d_pad >= 0) {
    e = nchw_to_space_to_depth(src, staged, v.ptr, v.dtype, v.shape[0], v.shape[1], v.shape[2], v.shape[3], v.s2d_pad,
                               v.stored_c, s);
  } else if (v.stored_c > 0) {
    e = nchw_to_nhwc_padded(src, staged, v.ptr, v.dtype, v.shape[0], v.shape[1], v.shape[2] * v.shape[3], v.stored_c,
                            s);
  } else if (v.nhwc) {
    e = nchw_to_nhwc_typed(src, staged, v.ptr, v.dtype, v.shape[0], v.shape[1], v.shape[2] * v.shape[3], s);
  } else if (staged != v.dtype) {
    e = convert_from_f32(src32, v.ptr, v.dtype, t.count, s);  // FP32 staging into an FP16/BF16 value (STAGE_F32)
  } else {
    e = cudaMemcpyAsync(v.ptr, src, staged_bytes(t), cudaMemcpyDeviceToDevice, s);
  }
  return cuda_status(e, where() + ": input conversion");
}

// The value's storage -> NCHW in the staged type at sl.stage, on the compute stream (FP16/BF16 stay narrow over PCIe
// and are widened on the host by finish_download; FERRY_CUDA_STAGE_F32=1 converts to FP32 here).
Status CudaProgram::convert_download(const Transfer& t, const Slot& sl) {
  Val& v = *t.val;
  const DType staged = staged_type(v);
  void* dst = sl.stage + t.pinned_offset;
  float* dst32 = static_cast<float*>(dst);
  cudaStream_t s = stream_;
  cudaError_t e;
  if (v.nhwc) {
    e = nhwc_to_nchw_typed(v.ptr, v.dtype, dst, staged, v.shape[0], v.shape[1], v.shape[2] * v.shape[3], s);
  } else if (staged != v.dtype) {
    e = convert_to_f32(v.ptr, v.dtype, dst32, t.count, s);
  } else {
    e = cudaMemcpyAsync(dst, v.ptr, staged_bytes(t), cudaMemcpyDeviceToDevice, s);
  }
  return cuda_status(e, where() + ": output conversion");
}

// After the slot's download finished: sl.pinned -> the caller's FP32 tensor, widened from FP16/BF16 on the host; a
// large output is split over copy_pool_ (which also spreads the first-touch page faults of a fresh tensor).
void CudaProgram::finish_download(const Transfer& t, const Slot& sl, float* out) {
  const DType staged = staged_type(*t.val);
  const char* pinned = sl.pinned + t.pinned_offset;
  auto copy = [&](size_t a, size_t b) {
    const uint16_t* narrow = reinterpret_cast<const uint16_t*>(pinned);
    if (staged == DType::kFloat16) halves_to_floats(narrow + a, out + a, b - a);
    else if (staged == DType::kBFloat16) bf16s_to_floats(narrow + a, out + a, b - a);
    else std::memcpy(out + a, pinned + a * sizeof(float), (b - a) * sizeof(float));
  };
  const size_t n = t.count;
  if (!copy_pool_ || n * sizeof(float) < kParallelCopyBytes) return copy(0, n);
  in_pieces(*copy_pool_, 0, n, copy);
}

}  // namespace ferry::cuda
