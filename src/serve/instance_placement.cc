// instance_placement.cc — instance_group -> devices (Triton's KIND_GPU/KIND_CPU/KIND_AUTO rules).
#include "serve/instance_placement.h"

#include <algorithm>
#include <optional>

#include "runtime/device_executor.h"

namespace ferry::serve {

GpuInventory probe_gpus() {
  GpuInventory inv;
  for (int k = 0; k < 64; ++k) {
    auto b = create_device_backend("cuda:" + std::to_string(k), DeviceOptions{});
    if (!b) {
      if (k == 0) inv.reason = b.status().message();
      break;
    }
    inv.count = k + 1;
  }
  return inv;
}

Expected<std::vector<InstancePlacement>> place_instances(ModelConfig& cfg,
                                                         const std::function<GpuInventory()>& probe) {
  std::optional<GpuInventory> inv;
  auto gpus = [&]() -> const GpuInventory& {
    if (!inv) inv = probe();
    return *inv;
  };
  std::vector<InstanceGroupConfig> groups = cfg.instance_groups;
  if (groups.empty()) groups.push_back({cfg.name, "KIND_CPU", 1, {}});
  std::vector<InstancePlacement> out;
  for (InstanceGroupConfig& g : groups) {
    const std::string where = "model '" + cfg.name + "': instance group '" + g.name + "' (" + g.kind + ")";
    int count = std::max(1, g.count);
    if (g.kind == "KIND_AUTO") {
      const GpuInventory& inv_now = gpus();
      bool all_visible = inv_now.count > 0;
      for (int k : g.gpus) all_visible = all_visible && k < inv_now.count;
      g.kind = all_visible ? "KIND_GPU" : "KIND_CPU";
      if (!all_visible) g.gpus.clear();
    } else if (g.kind == "KIND_GPU") {
      const GpuInventory& inv_now = gpus();
      if (inv_now.count == 0) {
        std::string dev = g.gpus.empty() ? "cuda:0" : "cuda:" + std::to_string(g.gpus[0]);
        return unsupported(where + " needs a GPU for device " + dev + " and none is usable: " + inv_now.reason);
      }
      for (int k : g.gpus)
        if (k >= inv_now.count)
          return invalid_argument(where + ": device cuda:" + std::to_string(k) + " is not visible (this machine has " +
                           std::to_string(inv_now.count) + " GPU" + (inv_now.count == 1 ? ": cuda:0)" : "s: cuda:0 .. cuda:" + std::to_string(inv_now.count - 1) + ")"));
    } else {
      g.kind = "KIND_CPU";  // KIND_MODEL: ferry decides, and its instances run on the CPU
    }
    if (g.kind == "KIND_GPU") {
      if (g.gpus.empty())
        for (int k = 0; k < gpus().count; ++k) g.gpus.push_back(k);
      for (int k : g.gpus)
        for (int i = 0; i < count; ++i) out.push_back({g.name, "cuda:" + std::to_string(k)});
    } else {
      for (int i = 0; i < count; ++i) out.push_back({g.name, "cpu"});
    }
    g.count = count;
  }
  if (out.size() > 64)
    return invalid_argument("model '" + cfg.name + "': " + std::to_string(out.size()) + " instances, more than 64");
  cfg.instance_groups = std::move(groups);
  cfg.instance_count = static_cast<int>(out.size());
  return out;
}

}  // namespace ferry::serve
