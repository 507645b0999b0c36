// calib_data.cc — loading calibration batches from folders of .pb / .npy files.
#include "quant/calib_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "ir/onnx_import.h"

namespace ferry::quant {

namespace fs = std::filesystem;

Expected<Tensor> read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open '" + path + "'");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& why) { return invalid_argument("'" + path + "' is not a valid .npy file: " + why); };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return bad("missing magic");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t hlen = 0, start = 0;
  if (major == 1) {
    hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad("truncated header");
    for (int k = 0; k < 4; ++k) hlen |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
    start = 12;
  } else {
    return bad("unknown version " + std::to_string(major));
  }
  if (start + hlen > bytes.size()) return bad("truncated header");
  std::string header = bytes.substr(start, hlen);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'"))) return bad("no descr");
  std::string descr = m[1];
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True"))) return unsupported("'" + path + "': Fortran-order arrays");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) return bad("no shape");
  Shape shape;
  std::string dims = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    shape.push_back(std::stoll(it->str()));
  DType dt = DType::kUndefined;
  if (descr == "<f4") dt = DType::kFloat;
  else if (descr == "<f8") dt = DType::kDouble;
  else if (descr == "<i8") dt = DType::kInt64;
  else if (descr == "<i4") dt = DType::kInt32;
  else if (descr == "|i1") dt = DType::kInt8;
  else if (descr == "|u1") dt = DType::kUInt8;
  else if (descr == "|b1") dt = DType::kBool;
  else return unsupported("'" + path + "': npy dtype '" + descr + "'");
  Tensor t = Tensor::empty(dt, shape);
  size_t data = start + hlen;
  if (bytes.size() - data != t.nbytes())
    return bad("data has " + std::to_string(bytes.size() - data) + " bytes, shape " + shape_to_string(shape) +
               " needs " + std::to_string(t.nbytes()));
  std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(data), bytes.end(), static_cast<char*>(t.raw_data()));
  return t;
}

namespace {

bool is_data_file(const fs::path& p) { return p.extension() == ".pb" || p.extension() == ".npy"; }

Expected<NamedTensor> read_any(const fs::path& p) {
  if (p.extension() == ".npy") {
    FERRY_ASSIGN_OR_RETURN(Tensor t, read_npy(p.string()));
    return NamedTensor{p.stem().string(), t};
  }
  return read_tensor_file(p.string());
}

Expected<std::vector<Tensor>> bind(const Graph& g, const std::vector<fs::path>& files, const std::string& what) {
  std::vector<NamedTensor> loaded;
  for (const auto& f : files) {
    auto t = read_any(f);
    if (!t) return t.status().with_context("calibration " + what);
    loaded.push_back(std::move(t).value());
  }
  if (loaded.size() != g.inputs.size())
    return invalid_argument("calibration " + what + ": " + std::to_string(loaded.size()) +
                            " tensor files, but the model has " + std::to_string(g.inputs.size()) + " inputs");
  std::vector<Tensor> bound(g.inputs.size());
  std::vector<bool> used(loaded.size(), false);
  for (size_t i = 0; i < g.inputs.size(); ++i)
    for (size_t k = 0; k < loaded.size(); ++k)
      if (!used[k] && loaded[k].name == g.inputs[i]) { bound[i] = loaded[k].tensor; used[k] = true; break; }
  size_t next = 0;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    if (bound[i].defined()) continue;
    while (next < loaded.size() && used[next]) ++next;
    bound[i] = loaded[next].tensor;
    used[next] = true;
  }
  return bound;
}

}  // namespace

Expected<CalibData> load_calibration_folder(const Graph& g, const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found("calibration folder '" + dir + "' does not exist");
  std::vector<fs::path> subdirs, files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory()) subdirs.push_back(e.path());
    else if (is_data_file(e.path())) files.push_back(e.path());
  }
  std::sort(subdirs.begin(), subdirs.end());
  std::sort(files.begin(), files.end());
  CalibData out;
  auto add = [&](const std::vector<fs::path>& batch_files, const std::string& what) -> Status {
    FERRY_ASSIGN_OR_RETURN(auto b, bind(g, batch_files, what));
    out.batches.push_back(std::move(b));
    out.names.push_back(what);
    return Status::ok();
  };
  if (!subdirs.empty()) {
    for (const auto& d : subdirs) {
      std::vector<fs::path> fl;
      for (const auto& e : fs::directory_iterator(d, ec))
        if (is_data_file(e.path())) fl.push_back(e.path());
      if (fl.empty()) continue;
      std::sort(fl.begin(), fl.end());
      FERRY_RETURN_IF_ERROR(add(fl, "batch '" + d.string() + "'"));
    }
  } else if (g.inputs.size() == 1) {
    for (const auto& f : files) FERRY_RETURN_IF_ERROR(add({f}, "batch '" + f.string() + "'"));
  } else if (!files.empty()) {
    FERRY_RETURN_IF_ERROR(add(files, "batch '" + dir + "'"));
  }
  if (out.batches.empty())
    return invalid_argument("calibration folder '" + dir + "' holds no batches (no .pb or .npy files, directly or in "
                            "subfolders)");
  return out;
}

}  // namespace ferry::quant
