// model_config.cc — config.pbtxt through protobuf TextFormat (the only file that sees the config protobuf).
#include "serve/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model_config.pb.h"
#include "serve/server_core.h"

namespace ferry::serve {

namespace {

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(std::string origin) : origin_(std::move(origin)) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (!first_.empty()) return;
    first_ = origin_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string origin_;
  std::string first_;
};

Expected<TensorConfig> tensor_from(const std::string& name, inference::DataType dt,
                                   const google::protobuf::RepeatedField<int64_t>& dims,
                                   const std::string& origin, const char* what) {
  TensorConfig t;
  t.name = name;
  if (t.name.empty()) return invalid_argument(origin + ": an " + what + " has no name");
  if (dt != inference::TYPE_INVALID) {
    t.dtype = dtype_from_triton_config(inference::DataType_Name(dt));
    if (t.dtype == DType::kUndefined)
      return unsupported(origin + ": " + what + " '" + name + "': data_type " + inference::DataType_Name(dt));
  }
  for (int64_t d : dims) {
    if (d < -1) return invalid_argument(origin + ": " + what + " '" + name + "': bad dim " + std::to_string(d));
    t.dims.push_back(d);
  }
  return t;
}

Expected<ModelConfig> from_proto(const inference::ModelConfig& p, const std::string& origin,
                                 const std::string& model_name) {
  ModelConfig c;
  c.from_file = true;
  c.name = p.name().empty() ? model_name : p.name();
  if (c.name != model_name)
    return invalid_argument(origin + ": name '" + p.name() + "' differs from the model directory '" + model_name + "'");
  c.platform = p.platform();
  c.backend = p.backend();
  if (c.platform.empty()) c.platform = p.has_ensemble_scheduling() ? "ensemble" : "onnxruntime_onnx";
  if (c.platform != "onnxruntime_onnx" && c.platform != "ensemble" && c.platform != "ferry_builtin")
    return unsupported(origin + ": platform '" + c.platform + "' (ferry serves onnxruntime_onnx, ensemble, ferry_builtin)");
  if (!c.backend.empty() && c.backend != "onnxruntime" && c.backend != "ferry")
    return unsupported(origin + ": backend '" + c.backend + "' (ferry serves onnxruntime, ferry)");
  if (p.max_batch_size() < 0) return invalid_argument(origin + ": max_batch_size must be >= 0");
  c.max_batch_size = p.max_batch_size();
  for (const auto& in : p.input()) {
    if (in.has_reshape()) return unsupported(origin + ": input '" + in.name() + "': reshape");
    auto t = tensor_from(in.name(), in.data_type(), in.dims(), origin, "input");
    if (!t) return t.status();
    c.inputs.push_back(std::move(t).value());
  }
  for (const auto& out : p.output()) {
    if (out.has_reshape()) return unsupported(origin + ": output '" + out.name() + "': reshape");
    auto t = tensor_from(out.name(), out.data_type(), out.dims(), origin, "output");
    if (!t) return t.status();
    t->label_filename = out.label_filename();
    c.outputs.push_back(std::move(t).value());
  }
  if (p.has_version_policy()) {
    const auto& vp = p.version_policy();
    if (vp.has_all()) c.version_policy = VersionPolicyKind::kAll;
    else if (vp.has_specific()) {
      c.version_policy = VersionPolicyKind::kSpecific;
      for (int64_t v : vp.specific().versions()) c.specific_versions.push_back(v);
      if (c.specific_versions.empty()) return invalid_argument(origin + ": version_policy.specific lists no versions");
    } else if (vp.has_latest()) {
      c.latest_num_versions = vp.latest().num_versions();
      if (c.latest_num_versions == 0) return invalid_argument(origin + ": version_policy.latest.num_versions must be >= 1");
    }
  }
  if (p.has_dynamic_batching()) {
    const auto& db = p.dynamic_batching();
    c.dynamic_batching = true;
    for (int s : db.preferred_batch_size()) {
      if (s <= 0 || (c.max_batch_size > 0 && s > c.max_batch_size))
        return invalid_argument(origin + ": preferred_batch_size " + std::to_string(s) + " outside [1, max_batch_size]");
      c.preferred_batch_sizes.push_back(s);
    }
    c.max_queue_delay_us = static_cast<int64_t>(db.max_queue_delay_microseconds());
    if (db.has_default_queue_policy()) {
      const auto& qp = db.default_queue_policy();
      if (qp.timeout_action() != inference::ModelQueuePolicy::REJECT)
        return unsupported(origin + ": default_queue_policy.timeout_action DELAY");
      c.queue_timeout_us = static_cast<int64_t>(qp.default_timeout_microseconds());
      c.allow_timeout_override = qp.allow_timeout_override();
      c.max_queue_size = qp.max_queue_size();
    }
  }
  if (p.has_ensemble_scheduling()) {
    for (const auto& s : p.ensemble_scheduling().step()) {
      EnsembleStep st;
      st.model_name = s.model_name();
      st.model_version = s.model_version();
      if (st.model_name.empty()) return invalid_argument(origin + ": ensemble step without model_name");
      for (const auto& [k, v] : s.input_map()) st.input_map[k] = v;
      for (const auto& [k, v] : s.output_map()) st.output_map[k] = v;
      c.ensemble_steps.push_back(std::move(st));
    }
    if (c.ensemble_steps.empty()) return invalid_argument(origin + ": ensemble_scheduling has no step");
  }
  if (c.platform == "ensemble" && c.ensemble_steps.empty())
    return invalid_argument(origin + ": platform 'ensemble' needs ensemble_scheduling");
  if (p.instance_group_size() > 0) {
    c.instance_count = 0;
    int index = 0;
    for (const auto& g : p.instance_group()) {
      InstanceGroupConfig ig;
      ig.name = g.name().empty() ? c.name + "_" + std::to_string(index) : g.name();
      ig.kind = inference::ModelInstanceGroup::Kind_Name(g.kind());
      const std::string where = origin + ": instance_group '" + ig.name + "' (" + ig.kind + ")";
      ++index;
      if (g.count() < 0 || g.count() > 64) return invalid_argument(where + ": count " + std::to_string(g.count()) + " is not in [1, 64]");
      ig.count = g.count() > 0 ? g.count() : 1;
      bool gpu_kind = g.kind() == inference::ModelInstanceGroup::KIND_GPU || g.kind() == inference::ModelInstanceGroup::KIND_AUTO;
      if (!gpu_kind && g.gpus_size() > 0) return invalid_argument(where + ": gpus is only valid for KIND_GPU and KIND_AUTO");
      for (int k : g.gpus()) {
        if (k < 0) return invalid_argument(where + ": gpus lists " + std::to_string(k) + ", GPU indices are >= 0");
        if (std::find(ig.gpus.begin(), ig.gpus.end(), k) != ig.gpus.end())
          return invalid_argument(where + ": gpus lists " + std::to_string(k) + " twice");
        ig.gpus.push_back(k);
      }
      c.instance_count += ig.count * std::max<int>(1, static_cast<int>(ig.gpus.size()));
      c.instance_groups.push_back(std::move(ig));
    }
    if (c.instance_count > 64) return invalid_argument(origin + ": more than 64 instances");
  }
  if (!p.default_model_filename().empty()) c.default_model_filename = p.default_model_filename();
  if (c.default_model_filename.find('/') != std::string::npos || c.default_model_filename == "..")
    return invalid_argument(origin + ": default_model_filename must be a plain file name");
  for (const auto& [k, v] : p.parameters()) c.parameters[k] = v.string_value();
  // parameters.KEY as an integer in [lo, hi] into *out (left as is when the key is absent).
  auto int_parameter = [&](const char* key, long lo, long hi, int* out) -> Status {
    auto it = c.parameters.find(key);
    if (it == c.parameters.end()) return Status::ok();
    char* end = nullptr;
    long n = std::strtol(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || *end != '\0' || n < lo || n > hi)
      return invalid_argument(origin + ": parameters." + key + " '" + it->second + "' is not an integer in [" +
                              std::to_string(lo) + ", " + std::to_string(hi) + "]");
    *out = static_cast<int>(n);
    return Status::ok();
  };
  FERRY_RETURN_IF_ERROR(int_parameter("threads", 0, 256, &c.threads));
  if (auto it = c.parameters.find("precision"); it != c.parameters.end()) {
    if (it->second != "fp32" && it->second != "fp16" && it->second != "bf16")
      return invalid_argument(origin + ": parameters.precision '" + it->second + "' is not one of fp32, fp16, bf16");
    c.precision = it->second;
  }
  FERRY_RETURN_IF_ERROR(int_parameter("device_programs", 1, 64, &c.device_programs));
  FERRY_RETURN_IF_ERROR(int_parameter("inflight", 1, 8, &c.inflight));
  c.cuda_graph = p.has_optimization() && p.optimization().cuda().graphs();
  if (auto it = c.parameters.find("cuda_graph"); it != c.parameters.end()) {
    if (it->second == "true" || it->second == "1") c.cuda_graph = true;
    else if (it->second == "false" || it->second == "0") c.cuda_graph = false;
    else return invalid_argument(origin + ": parameters.cuda_graph '" + it->second + "' is not true or false");
  }
  return c;
}

}  // namespace

Expected<ModelConfig> parse_model_config_text(const std::string& text, const std::string& origin,
                                              const std::string& model_name) {
  inference::ModelConfig proto;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors(origin);
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &proto))
    return invalid_argument(errors.first().empty() ? origin + ": cannot parse" : errors.first());
  return from_proto(proto, origin, model_name);
}

Expected<ModelConfig> parse_model_config_file(const std::string& path, const std::string& model_name) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found(path + ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  if (ss.str().size() > (1 << 20)) return invalid_argument(path + ": larger than 1 MiB");
  return parse_model_config_text(ss.str(), path, model_name);
}

namespace {

Status complete_tensors(std::vector<TensorConfig>& cfg, const std::vector<IoInfo>& model, bool batched,
                        const std::string& model_name, const char* what) {
  if (cfg.empty()) {
    for (const IoInfo& io : model) {
      TensorConfig t;
      t.name = io.name;
      t.dtype = io.dtype;
      if (!io.rank_known) return unsupported("model '" + model_name + "': " + what + " '" + io.name + "' has unknown rank; give dims in config.pbtxt");
      for (size_t i = batched ? 1 : 0; i < io.dims.size(); ++i) t.dims.push_back(io.dims[i] >= 0 ? io.dims[i] : -1);
      cfg.push_back(std::move(t));
    }
    return Status::ok();
  }
  for (TensorConfig& t : cfg) {
    const IoInfo* io = nullptr;
    for (const IoInfo& m : model)
      if (m.name == t.name) io = &m;
    if (!io) return not_found("model '" + model_name + "': config " + what + " '" + t.name + "' is not in the model");
    if (t.dtype == DType::kUndefined) t.dtype = io->dtype;
    if (io->dtype != DType::kUndefined && t.dtype != io->dtype)
      return invalid_argument("model '" + model_name + "': " + what + " '" + t.name + "' data_type " +
                              std::string(triton_config_dtype(t.dtype)) + ", model has " + dtype_name(io->dtype));
    if (!io->rank_known) continue;
    size_t off = batched ? 1 : 0;
    if (t.dims.size() + off != io->dims.size())
      return invalid_argument("model '" + model_name + "': " + what + " '" + t.name + "' has " + std::to_string(t.dims.size()) +
                              " dims in config" + (batched ? " (+ batch)" : "") + ", model shape " + io->shape_string());
    if (batched && io->dims[0] >= 0)
      return invalid_argument("model '" + model_name + "': max_batch_size > 0 but " + what + " '" + t.name +
                              "' has a fixed first dim " + io->shape_string());
    for (size_t i = 0; i < t.dims.size(); ++i) {
      int64_t m = io->dims[i + off];
      if (t.dims[i] >= 0 && m >= 0 && t.dims[i] != m)
        return invalid_argument("model '" + model_name + "': " + what + " '" + t.name + "' dims disagree with model shape " + io->shape_string());
      if (t.dims[i] < 0 && m >= 0) t.dims[i] = m;
    }
  }
  return Status::ok();
}

bool leading_dim_variable(const std::vector<IoInfo>& ios) {
  for (const IoInfo& io : ios)
    if (!io.rank_known || io.dims.empty() || io.dims[0] >= 0) return false;
  return !ios.empty();
}

}  // namespace

Status complete_model_config(ModelConfig& cfg, const std::vector<IoInfo>& model_inputs,
                             const std::vector<IoInfo>& model_outputs) {
  if (!cfg.from_file && cfg.max_batch_size == 0 && leading_dim_variable(model_inputs) && leading_dim_variable(model_outputs)) {
    cfg.max_batch_size = 4;  // Triton's default-max-batch-size for auto-completed configs
    cfg.dynamic_batching = true;
  }
  bool batched = cfg.max_batch_size > 0;
  FERRY_RETURN_IF_ERROR(complete_tensors(cfg.inputs, model_inputs, batched, cfg.name, "input"));
  FERRY_RETURN_IF_ERROR(complete_tensors(cfg.outputs, model_outputs, batched, cfg.name, "output"));
  if (cfg.inputs.size() != model_inputs.size())
    return invalid_argument("model '" + cfg.name + "': config lists " + std::to_string(cfg.inputs.size()) +
                            " inputs, the model has " + std::to_string(model_inputs.size()));
  return Status::ok();
}

std::string model_config_json(const ModelConfig& c) {
  using nlohmann::json;
  auto tensors = [](const std::vector<TensorConfig>& ts, bool output) {
    json a = json::array();
    for (const auto& t : ts) {
      json j = {{"name", t.name}, {"data_type", std::string(triton_config_dtype(t.dtype))}, {"dims", json::array()}};
      for (int64_t d : t.dims) j["dims"].push_back(std::to_string(d));  // int64 as string, like protobuf JSON
      if (output) j["label_filename"] = t.label_filename;
      a.push_back(std::move(j));
    }
    return a;
  };
  json j;
  j["name"] = c.name;
  j["platform"] = c.platform;
  j["backend"] = c.backend.empty() ? (c.platform == "ensemble" ? "" : "onnxruntime") : c.backend;
  j["max_batch_size"] = c.max_batch_size;
  j["input"] = tensors(c.inputs, false);
  j["output"] = tensors(c.outputs, true);
  if (c.version_policy == VersionPolicyKind::kAll) j["version_policy"] = {{"all", json::object()}};
  else if (c.version_policy == VersionPolicyKind::kSpecific) {
    json v = json::array();
    for (int64_t x : c.specific_versions) v.push_back(std::to_string(x));
    j["version_policy"] = {{"specific", {{"versions", v}}}};
  } else {
    j["version_policy"] = {{"latest", {{"num_versions", c.latest_num_versions}}}};
  }
  if (c.dynamic_batching) {
    j["dynamic_batching"] = {{"preferred_batch_size", c.preferred_batch_sizes},
                             {"max_queue_delay_microseconds", std::to_string(c.max_queue_delay_us)},
                             {"default_queue_policy",
                              {{"timeout_action", "REJECT"},
                               {"default_timeout_microseconds", std::to_string(c.queue_timeout_us)},
                               {"allow_timeout_override", c.allow_timeout_override},
                               {"max_queue_size", c.max_queue_size}}}};
  }
  if (!c.ensemble_steps.empty()) {
    json steps = json::array();
    for (const auto& s : c.ensemble_steps)
      steps.push_back({{"model_name", s.model_name}, {"model_version", std::to_string(s.model_version)},
                       {"input_map", s.input_map}, {"output_map", s.output_map}});
    j["ensemble_scheduling"] = {{"step", steps}};
  }
  if (c.platform != "ensemble") {
    json groups = json::array();
    for (const auto& g : c.instance_groups)
      groups.push_back({{"name", g.name}, {"kind", g.kind}, {"count", g.count}, {"gpus", g.gpus}});
    if (groups.empty()) groups.push_back({{"name", c.name}, {"kind", "KIND_CPU"}, {"count", 1}, {"gpus", json::array()}});
    j["instance_group"] = groups;
  }
  if (c.cuda_graph) j["optimization"] = {{"cuda", {{"graphs", true}}}};
  j["default_model_filename"] = c.default_model_filename;
  json params = json::object();
  for (const auto& [k, v] : c.parameters) params[k] = {{"string_value", v}};
  j["parameters"] = params;
  return j.dump();
}

}  // namespace ferry::serve
