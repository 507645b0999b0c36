// serve/model_config.h — a model's configuration: Triton's config.pbtxt (the subset in proto/model_config.proto)
// parsed with protobuf TextFormat into a plain struct, completed from the ONNX model when fields are missing
// (Triton's auto-complete), validated, and rendered back as Triton-shaped JSON for /v2/models/{m}/config.
//
//   auto cfg = ferry::serve::parse_model_config_file("repo/resnet/config.pbtxt", "resnet");
//   // Expected<ModelConfig>; an unknown field fails with "repo/resnet/config.pbtxt:3:1: ... no field named "foo""
//   FERRY_RETURN_IF_ERROR(ferry::serve::complete_model_config(*cfg, session->inputs(), session->outputs()));
//   std::string json = ferry::serve::model_config_json(*cfg);
//
// Dims exclude the batch dimension when max_batch_size > 0 (Triton's convention); -1 is a variable dim.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ferry/session.h"
#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry::serve {

struct TensorConfig {
  std::string name;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;   // without the batch dim when max_batch_size > 0
  std::string label_filename;  // outputs only (classification labels), relative to the model directory
};

// One instance_group entry (Triton semantics). kind is Triton's enum name: "KIND_AUTO", "KIND_GPU", "KIND_CPU",
// "KIND_MODEL" (served like KIND_CPU). GPU kinds: `count` instances on EACH listed GPU; no gpus = every visible
// GPU. KIND_AUTO = KIND_GPU when every listed GPU (or any, when none is listed) is visible, else KIND_CPU.
// After loading, the served config holds the resolved groups (kind KIND_GPU/KIND_CPU, gpus filled in).
struct InstanceGroupConfig {
  std::string name;       // "<model>_<index>" when the config gives none
  std::string kind = "KIND_AUTO";
  int count = 1;          // 0 in the file = 1
  std::vector<int> gpus;  // CUDA ordinals (cuda:K); CPU kinds must leave it empty
};

enum class VersionPolicyKind { kLatest, kAll, kSpecific };

struct EnsembleStep {
  std::string model_name;
  int64_t model_version = -1;                     // -1 = latest
  std::map<std::string, std::string> input_map;   // step model input -> ensemble tensor
  std::map<std::string, std::string> output_map;  // step model output -> ensemble tensor
};

struct ModelConfig {
  std::string name;
  std::string platform;  // "onnxruntime_onnx" (default), "ensemble", "ferry_builtin"
  std::string backend;   // "onnxruntime" / "ferry"; informational
  int max_batch_size = 0;
  std::vector<TensorConfig> inputs, outputs;
  // Version policy (default: latest 1).
  VersionPolicyKind version_policy = VersionPolicyKind::kLatest;
  uint32_t latest_num_versions = 1;
  std::vector<int64_t> specific_versions;
  // Scheduling. dynamic_batching present <=> the dynamic batcher merges requests.
  bool dynamic_batching = false;
  std::vector<int> preferred_batch_sizes;
  int64_t max_queue_delay_us = 0;
  int64_t queue_timeout_us = 0;  // default_queue_policy.default_timeout_microseconds (0 = none)
  bool allow_timeout_override = false;
  int64_t max_queue_size = 0;    // 0 = unbounded
  std::vector<EnsembleStep> ensemble_steps;
  // Instances. No instance_group = one CPU instance. Each instance gets `threads` intra-op threads (GPU
  // instances: for the nodes that fall back to the CPU). instance_count is the parsed count (a GPU group with
  // no gpus counts once per group here; serve/instance_placement.h resolves the real placement at load).
  std::vector<InstanceGroupConfig> instance_groups;
  int instance_count = 1;
  int threads = 0;  // parameters { key: "threads" value { string_value: "2" } }; 0 = server default
  // GPU instances: parameters "precision" (fp32 | fp16 | bf16; CPU instances always run fp32) and "cuda_graph"
  // ("true"/"false"), or Triton's optimization { cuda { graphs: true } }.
  std::string precision = "fp32";
  bool cuda_graph = false;
  int device_programs = 4;  // GPU instances: parameters "device_programs", input-shape programs kept compiled
  int inflight = 2;         // GPU instances: parameters "inflight", scheduler threads sharing the instance's Session
  std::string default_model_filename = "model.onnx";
  std::map<std::string, std::string> parameters;
  bool from_file = false;  // a config.pbtxt existed
};

// Parses a config.pbtxt. `model_name` is the directory name: an empty name is filled from it, a different one
// is an error. Errors name the file and, for syntax/unknown fields, line and column.
Expected<ModelConfig> parse_model_config_file(const std::string& path, const std::string& model_name);
Expected<ModelConfig> parse_model_config_text(const std::string& text, const std::string& origin,
                                              const std::string& model_name);

// Fills what the config leaves out from the model's declared inputs/outputs (names, dtypes, dims, and
// max_batch_size/dynamic batching when every input and output has a variable leading dim and no config file
// was given), then checks what the config states against the model (names exist, dtypes and fixed dims
// agree). Errors name the tensor and the model.
Status complete_model_config(ModelConfig& cfg, const std::vector<IoInfo>& model_inputs,
                             const std::vector<IoInfo>& model_outputs);

// Triton-shaped JSON of the (completed) configuration.
std::string model_config_json(const ModelConfig& cfg);

}  // namespace ferry::serve
