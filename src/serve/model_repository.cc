// model_repository.cc — directory scanning and version policy.
#include "serve/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace ferry::serve {

namespace fs = std::filesystem;

namespace {

bool plain_name(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n[0] != '.' && n.size() < 256;
}

bool numeric(const std::string& n, int64_t* v) {
  if (n.empty() || n.size() > 18) return false;
  for (char c : n)
    if (c < '0' || c > '9') return false;
  *v = std::stoll(n);
  return *v > 0;
}

}  // namespace

Expected<std::vector<std::string>> list_repository_models(const std::string& repo) {
  std::error_code ec;
  if (!fs::is_directory(repo, ec)) return not_found("model repository '" + repo + "' is not a directory");
  std::vector<std::string> names;
  for (fs::directory_iterator it(repo, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (plain_name(n) && it->is_directory(ec)) names.push_back(n);
  }
  if (ec) return not_found("model repository '" + repo + "': " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

bool is_model_dir(const std::string& repo, const std::string& name) {
  std::error_code ec;
  return plain_name(name) && fs::is_directory(fs::path(repo) / name, ec);
}

Expected<ModelConfig> read_model_config(const std::string& repo, const std::string& name) {
  if (!is_model_dir(repo, name)) return not_found("model '" + name + "' is not in the repository");
  fs::path p = fs::path(repo) / name / "config.pbtxt";
  std::error_code ec;
  if (fs::exists(p, ec)) return parse_model_config_file(p.string(), name);
  ModelConfig c;
  c.name = name;
  c.platform = "onnxruntime_onnx";
  return c;
}

std::vector<int64_t> versions_on_disk(const std::string& repo, const ModelConfig& cfg) {
  std::vector<int64_t> out;
  std::error_code ec;
  fs::path dir = fs::path(repo) / cfg.name;
  bool needs_file = cfg.platform == "onnxruntime_onnx";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    int64_t v = 0;
    if (!numeric(it->path().filename().string(), &v) || !it->is_directory(ec)) continue;
    if (needs_file && !fs::is_regular_file(it->path() / cfg.default_model_filename, ec)) continue;
    out.push_back(v);
  }
  // Ensembles and built-in steps have no model file: without a version directory they are version 1.
  if (!needs_file && out.empty()) out.push_back(1);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> select_versions(const std::vector<int64_t>& available, const ModelConfig& cfg) {
  std::vector<int64_t> out;
  switch (cfg.version_policy) {
    case VersionPolicyKind::kAll: out = available; break;
    case VersionPolicyKind::kSpecific:
      for (int64_t v : available)
        if (std::find(cfg.specific_versions.begin(), cfg.specific_versions.end(), v) != cfg.specific_versions.end())
          out.push_back(v);
      break;
    case VersionPolicyKind::kLatest: {
      size_t n = std::min<size_t>(cfg.latest_num_versions, available.size());
      out.assign(available.end() - static_cast<std::ptrdiff_t>(n), available.end());
      break;
    }
  }
  return out;
}

std::string model_fingerprint(const std::string& repo, const std::string& name) {
  std::string fp;
  std::error_code ec;
  fs::path dir = fs::path(repo) / name;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() > 2) continue;
    if (!it->is_regular_file(ec)) continue;
    auto t = fs::last_write_time(it->path(), ec);
    fp += it->path().string() + ":" + std::to_string(it->file_size(ec)) + ":" +
          std::to_string(t.time_since_epoch().count()) + ";";
  }
  return fp;
}

}  // namespace ferry::serve
