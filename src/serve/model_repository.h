// serve/model_repository.h — the model repository on disk:
//
//   <repo>/<model>/config.pbtxt          optional (completed from the model when absent)
//   <repo>/<model>/<version>/model.onnx  version = a positive integer directory; file name = default_model_filename
//
// Scanning never loads models; ServerCore decides what to load (version_policy picks the versions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "serve/model_config.h"

namespace ferry::serve {

// Model directory names in the repository, sorted. NotFound when `repo` is not a readable directory.
Expected<std::vector<std::string>> list_repository_models(const std::string& repo);
// True when <repo>/<name> is a model directory (a plain name, no '/', '.', '..').
bool is_model_dir(const std::string& repo, const std::string& name);
// config.pbtxt when present, else a default config named after the directory (from_file = false).
Expected<ModelConfig> read_model_config(const std::string& repo, const std::string& name);
// Versions present on disk (numeric directories; for ONNX models only those holding the model file), ascending;
// an ensemble or built-in step without a version directory is version 1.
std::vector<int64_t> versions_on_disk(const std::string& repo, const ModelConfig& cfg);
// The versions `cfg.version_policy` selects from `available`, ascending.
std::vector<int64_t> select_versions(const std::vector<int64_t>& available, const ModelConfig& cfg);
// A fingerprint of the model directory (names, sizes, mtimes of config and model files) for poll mode.
std::string model_fingerprint(const std::string& repo, const std::string& name);

}  // namespace ferry::serve
