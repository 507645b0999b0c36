// serve/instance_placement.h — where a model's instances run: resolves config.pbtxt's instance_group entries
// (Triton's semantics, see model_config.h) into one device string per instance ("cpu", "cuda:K").
//
//   auto placed = ferry::serve::place_instances(cfg, ferry::serve::probe_gpus);   // cfg: ModelConfig&
//   if (!placed) return placed.status();   // "model 'm': instance group 'm_0' (KIND_GPU): ... cuda:3 ..."
//   for (const auto& p : *placed) { SessionOptions so; so.device = p.device; ... }
//
// The GPU probe runs only when a group may need a GPU (KIND_GPU / KIND_AUTO), so CPU-only configs never touch
// the CUDA runtime. A KIND_GPU group without a usable GPU, or listing an index that is not visible, fails
// with a reason naming the model, the group and the device; KIND_AUTO falls back to the CPU instead.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "serve/model_config.h"

namespace ferry::serve {

// Visible CUDA devices: `count` of them (cuda:0 .. cuda:count-1); when 0, `reason` says why (no driver, no
// device, a build without the CUDA backend).
struct GpuInventory {
  int count = 0;
  std::string reason;
};

// Opens the device backend on cuda:0, cuda:1, ... until one fails (at most 64). No device work is done.
GpuInventory probe_gpus();

struct InstancePlacement {
  std::string group;   // instance group name
  std::string device;  // "cpu" or "cuda:K"
};

// One entry per instance, groups in config order, `count` per listed GPU. Rewrites cfg.instance_groups to the
// resolved groups (KIND_AUTO -> KIND_GPU/KIND_CPU, KIND_MODEL -> KIND_CPU, empty gpus filled with every visible
// GPU; no group -> one KIND_CPU instance) and cfg.instance_count to the total.
Expected<std::vector<InstancePlacement>> place_instances(ModelConfig& cfg,
                                                         const std::function<GpuInventory()>& probe);

}  // namespace ferry::serve
