// serve/ensemble_steps_util.h — internal helpers shared by the built-in step files (parameter parsing, IoInfo).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "serve/ensemble_steps.h"

namespace ferry::serve {

inline IoInfo io(std::string name, DType t, std::vector<int64_t> dims) {
  IoInfo i;
  i.name = std::move(name);
  i.dtype = t;
  i.rank_known = true;
  i.dims = std::move(dims);
  return i;
}

class SimpleStep : public BuiltinStep {
 public:
  explicit SimpleStep(std::string model) : model_(std::move(model)) {}
  const std::vector<IoInfo>& inputs() const override { return ins_; }
  const std::vector<IoInfo>& outputs() const override { return outs_; }

 protected:
  std::string model_;
  std::vector<IoInfo> ins_, outs_;
};

inline std::string param(const ModelConfig& cfg, const std::string& key) {
  auto it = cfg.parameters.find(key);
  return it == cfg.parameters.end() ? std::string() : it->second;
}

inline Status parse_int(const std::string& s, const ModelConfig& cfg, const char* key, int64_t lo, int64_t hi, int64_t* out) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < lo || v > hi)
    return invalid_argument("step model '" + cfg.name + "': parameters." + key + " '" + s + "' is not an integer in [" +
                            std::to_string(lo) + ", " + std::to_string(hi) + "]");
  *out = v;
  return Status::ok();
}

inline Status parse_float(const std::string& s, const ModelConfig& cfg, const char* key, float* out) {
  char* end = nullptr;
  float v = std::strtof(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(v == v))
    return invalid_argument("step model '" + cfg.name + "': parameters." + key + " '" + s + "' is not a number");
  *out = v;
  return Status::ok();
}

// "224" -> 224x224; "224x320" -> h=224, w=320.
inline Status parse_hw(const std::string& s, const ModelConfig& cfg, const char* key, int64_t* h, int64_t* w) {
  size_t x = s.find('x');
  if (x == std::string::npos) {
    FERRY_RETURN_IF_ERROR(parse_int(s, cfg, key, 1, 16384, h));
    *w = *h;
    return Status::ok();
  }
  FERRY_RETURN_IF_ERROR(parse_int(s.substr(0, x), cfg, key, 1, 16384, h));
  return parse_int(s.substr(x + 1), cfg, key, 1, 16384, w);
}

// "0.485, 0.456,0.406" -> floats; "" -> empty.
inline Status parse_floats(const std::string& s, const ModelConfig& cfg, const char* key, std::vector<float>* out) {
  out->clear();
  size_t p = 0;
  while (p < s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    std::string item = s.substr(p, q - p);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    float v = 0;
    FERRY_RETURN_IF_ERROR(parse_float(item, cfg, key, &v));
    out->push_back(v);
    p = q + 1;
  }
  return Status::ok();
}

// image_decode / image_resize / image_normalize (ensemble_steps_image.cc); null for another step name.
Expected<std::unique_ptr<BuiltinStep>> make_image_step(const ModelConfig& cfg, const std::string& step);

}  // namespace ferry::serve
