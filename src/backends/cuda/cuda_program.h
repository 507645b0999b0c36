// cuda_program.h — internal to the CUDA backend: the compiled CudaProgram (device values, transfers, segments),
// shared by cuda_program.cc (resources, planning, the run loop) and cuda_program_layout.cc (NHWC/stem storage
// choices and the conversions at segment edges). Not a public header: make_cuda_backend (cuda_backend.h) is.
#pragma once

#include <cudnn.h>
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/cuda_ops.h"
#include "backends/device_backend.h"
#include "core/threadpool.h"
#include "runtime/memory_plan.h"

namespace ferry::cuda {

inline constexpr size_t kAlign = 256;
// Inputs at least this large are copied into pinned staging by copy_pool_ in chunks (upload()).
inline constexpr size_t kParallelCopyBytes = size_t{8} << 20;
inline constexpr size_t kWorkspaceBytes = size_t{256} << 20;

inline size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

inline const char* precision_name(DType t) {
  return t == DType::kFloat16 ? "fp16" : t == DType::kBFloat16 ? "bf16" : "fp32";
}

struct Val {
  DType dtype = DType::kUndefined;
  Shape shape;
  int item = -1;
  void* ptr = nullptr;
  bool nhwc = false;
  int64_t stored_c = 0;  // > shape[1]: NHWC with zero channels up to stored_c (conv inputs, conv_layout.h)
  int64_t s2d_pad = -1;  // >= 0: stored space-to-depth for stride-2 stem convs (conv_layout.h)
};

// A 4-D value whose bytes depend on the layout (H*W > 1).
inline bool layout_bearing(const Val& v) { return v.shape.size() == 4 && v.shape[2] * v.shape[3] > 1; }

struct Transfer {
  Val* val = nullptr;
  size_t pinned_offset = 0;
  size_t count = 0;  // elements (FP32 on the host)
};

// One request in flight: its host (pinned) and device staging, each transfer at Transfer::pinned_offset in both,
// the stream of its H2D and D2H copies, and its events. run_segment() takes a free slot for a call, so a second
// call's transfers run on its own copy stream while the first one's kernels run on the compute stream.
struct Slot {
  char* pinned = nullptr;
  char* stage = nullptr;
  cudaStream_t copy = nullptr;
  cudaEvent_t up_start = nullptr, up_done = nullptr, compute_start = nullptr, compute_done = nullptr,
              down_done = nullptr;
  bool busy = false;
};

struct Segment {
  std::vector<std::unique_ptr<CudaOp>> ops;
  std::vector<std::string> op_names, op_types;  // for FERRY_CUDA_PROFILE
  std::vector<cudaEvent_t> marks;               // ops + 1 events when profiling
  std::vector<Transfer> up, down;
  cudaGraphExec_t exec = nullptr;
};

class CudaProgram final : public DeviceProgram, public BuildContext {
 public:
  CudaProgram(const Graph& g, const DeviceOptions& o) : graph_(g), opt_(o) {}
  ~CudaProgram() override;
  Status init(const std::vector<DeviceSegmentSpec>& specs);

  Status run_segment(size_t k, const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs,
                     DeviceTimings* timings) override;
  std::string summary() const override;

  const Graph& graph() const override { return graph_; }
  DType precision() const override { return opt_.precision; }
  cudnnHandle_t cudnn() const override { return cudnn_; }
  cublasLtHandle_t lt() const override { return lt_; }
  size_t workspace_bytes() const override { return kWorkspaceBytes; }
  void* workspace() const override { return workspace_; }
  Expected<DevTensor> value(const std::string& name) override;
  Expected<void*> upload_constant(const Tensor& host, DType dtype) override;
  std::shared_ptr<void>& cached(const std::string& key) override { return cache_[key]; }

 private:
  std::string where() const { return "cuda:" + std::to_string(opt_.device); }
  Status create_resources();
  Status plan(const std::vector<DeviceSegmentSpec>& specs, std::vector<std::vector<OpGroup>>* groups);
  void assign_layouts(const std::vector<std::vector<OpGroup>>& groups);
  void pad_conv_inputs(const std::vector<DeviceSegmentSpec>& specs, std::vector<PlanItem>* items);
  Status create_slots(size_t staging_bytes);
  Slot& acquire_slot();
  void release_slot(Slot& s);
  Status run_on_slot(Segment& seg, const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs,
                     DeviceTimings* timings, Slot& s);
  // Transfers (cuda_program_layout.cc): host -> s.pinned -> s.stage on s.copy (stage_upload), s.stage -> the value
  // on the compute stream (convert_upload); the value -> s.stage on the compute stream (convert_download), then
  // s.stage -> s.pinned on s.copy, then s.pinned -> the host tensor (finish_download, after the copy finished).
  Status stage_upload(const Transfer& t, const void* host, Slot& s);
  Status convert_upload(const Transfer& t, const Slot& s);
  Status convert_download(const Transfer& t, const Slot& s);
  void finish_download(const Transfer& t, const Slot& s, float* out);
  DType staged_type(const Val& v) const;  // the host<->device staging type of a transfer
  size_t staged_bytes(const Transfer& t) const {
    return t.count * (staged_type(*t.val) == DType::kFloat ? sizeof(float) : sizeof(uint16_t));
  }
  Status enqueue_ops(Segment& seg);
  Status enqueue_fenced(Segment& seg, size_t i, const RunContext& rc);

  const Graph& graph_;
  DeviceOptions opt_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  void* arena_ = nullptr;
  size_t arena_bytes_ = 0, intermediate_bytes_ = 0;
  char* weights_ = nullptr;
  size_t weights_used_ = 0, weights_cap_ = 0;
  std::vector<void*> extra_weights_;  // constants past the estimated weight buffer (own allocations, at compile)
  size_t extra_weight_bytes_ = 0;
  void* workspace_ = nullptr;
  std::vector<Slot> slots_;  // FERRY_CUDA_INFLIGHT (default 2) requests in flight at once; 1 when profiling
  std::mutex slot_mu_;
  std::condition_variable slot_freed_;
  std::mutex stage_mu_;    // host staging through copy_pool_, one request at a time
  std::mutex compute_mu_;  // the compute stream's part of one request at a time (and CUDA graph capture)
  std::unique_ptr<ThreadPool> copy_pool_;  // host <-> pinned copies of large transfers (cuda_program_layout.cc)
  std::unordered_map<std::string, Val> vals_;
  std::unordered_map<std::string, void*> consts_;
  std::unordered_map<std::string, std::shared_ptr<void>> cache_;  // ops' shared build products (cuDNN plans)
  std::vector<Segment> segs_;
  int fused_nodes_ = 0, ops_ = 0;
  // FERRY_CUDA_PROFILE=1: per-op device time (events around every op, CUDA graphs off), printed at destruction.
  bool profile_ = false;
  bool stage_narrow_ = true;  // FP16/BF16 inputs converted on the host while staged (FERRY_CUDA_STAGE_F32=1: off)
  bool sync_ops_ = false;  // FERRY_CUDA_SYNC_OPS=1: a host wait after every op (diagnostics, init())
  enum class Fence { kNone, kResidual, kGraph, kAll };
  Fence fence_ = Fence::kResidual;  // FERRY_CUDA_FENCE: where enqueue_fenced() puts ordering points
  std::unordered_map<std::string, double> op_ms_, type_ms_;
  int profiled_runs_ = 0;
  void print_profile() const;
};

}  // namespace ferry::cuda
