// run.cc — `ferry run MODEL [INPUT.pb ...] [--output-dir DIR] [--threads N]`: run once, write output_<i>.pb.
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <unordered_map>

#include "ferry/session.h"
#include "ir/onnx_import.h"
#include "passes/pass.h"
#include "tools/cli/cli.h"
#include "tools/cli/random_inputs.h"

namespace ferry::cli {

namespace {

struct RunArgs {
  std::string model;
  std::vector<std::string> input_files;
  std::string output_dir = ".";
  int threads = 0;
  std::string opt_level = "all";
  uint64_t seed = 0;
  std::vector<std::string> shapes;
  bool quiet = false;
  std::string device = "cpu";
  std::string precision = "fp32";
  bool cuda_graph = false;
  int repeat = 1;
};

// Compares run `k`'s outputs with the first run's, bit for bit; the error names the first output that differs.
Status compare_runs(const std::vector<Tensor>& first, const std::vector<Tensor>& again, int k,
                    const std::vector<IoInfo>& decl) {
  for (size_t i = 0; i < first.size() && i < again.size(); ++i) {
    const Tensor& a = first[i];
    const Tensor& b = again[i];
    if (a.dtype() != b.dtype() || a.shape() != b.shape())
      return internal_error("run " + std::to_string(k) + ": output '" + decl[i].name + "' changed type or shape");
    if (std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0) continue;
    int64_t differ = 0, first_at = -1;
    double max_diff = 0;
    if (a.dtype() == DType::kFloat) {
      for (int64_t e = 0; e < a.numel(); ++e) {
        if (std::memcmp(&a.data<float>()[e], &b.data<float>()[e], sizeof(float)) == 0) continue;  // NaN == NaN here
        const double d = std::fabs(static_cast<double>(a.data<float>()[e]) - b.data<float>()[e]);
        if (first_at < 0) first_at = e;
        ++differ;
        if (d > max_diff || std::isnan(d)) max_diff = d;
      }
    }
    const std::string count = a.dtype() == DType::kFloat
                                  ? std::to_string(differ) + " of " + std::to_string(a.numel()) +
                                        " values (first at element " + std::to_string(first_at) + ", max |diff| " +
                                        std::to_string(max_diff) + ")"
                                  : "bytes";
    return internal_error("run " + std::to_string(k) + " of the same inputs differs from run 1: output '" +
                          decl[i].name + "' " + count + "; random ops such as RandomNormal differ by design");
  }
  return Status::ok();
}

// Binds files to graph inputs: by tensor name when it matches an input, else by position among the rest.
Expected<std::vector<Tensor>> bind_inputs(const Session& session, const std::vector<std::string>& files) {
  const auto& decl = session.inputs();
  if (files.size() > decl.size())
    return invalid_argument("got " + std::to_string(files.size()) + " input files, but the model has " +
                            std::to_string(decl.size()) + " inputs");
  std::vector<NamedTensor> loaded;
  for (const auto& f : files) {
    auto t = read_tensor_file(f);
    if (!t) return t.status();
    loaded.push_back(std::move(t).value());
  }
  std::vector<Tensor> bound(decl.size());
  std::vector<bool> used(loaded.size(), false);
  for (size_t i = 0; i < decl.size(); ++i)
    for (size_t k = 0; k < loaded.size(); ++k)
      if (!used[k] && !loaded[k].name.empty() && loaded[k].name == decl[i].name) {
        bound[i] = loaded[k].tensor;
        used[k] = true;
        break;
      }
  size_t next = 0;
  for (size_t i = 0; i < decl.size(); ++i) {
    if (bound[i].defined()) continue;
    while (next < loaded.size() && used[next]) ++next;
    if (next == loaded.size())
      return invalid_argument("no input file given for graph input '" + decl[i].name + "' (input " +
                              std::to_string(i) + ")");
    bound[i] = loaded[next].tensor;
    used[next] = true;
  }
  return bound;
}

Status run_command(const RunArgs& a) {
  SessionOptions opts;
  opts.threads = a.threads;
  auto level = parse_opt_level(a.opt_level);
  if (!level) return level.status();
  opts.opt_level = static_cast<int>(*level);
  opts.device = a.device;
  opts.precision = a.precision;
  opts.cuda_graph = a.cuda_graph;
  auto t0 = std::chrono::steady_clock::now();
  auto session = Session::load(a.model, opts);
  if (!session) return session.status();
  auto t1 = std::chrono::steady_clock::now();
  std::vector<Tensor> inputs;
  if (a.input_files.empty() && !(*session)->inputs().empty()) {
    std::unordered_map<std::string, Shape> overrides;
    for (const auto& spec : a.shapes) {
      auto p = parse_shape_spec(spec);
      if (!p) return p.status();
      overrides[p->first] = p->second;
    }
    uint64_t seed = a.seed;
    for (const auto& info : (*session)->inputs()) {
      auto shape = resolve_input_shape(info, overrides);
      if (!shape) return shape.status();
      inputs.push_back(random_tensor(info.dtype, *shape, seed++));
      if (!a.quiet)
        std::cout << "no input files given: using seeded random input '" << info.name << "' "
                  << dtype_name(info.dtype) << " " << shape_to_string(*shape) << " (seed " << seed - 1 << ")\n";
    }
  } else {
    auto bound = bind_inputs(**session, a.input_files);
    if (!bound) return bound.status();
    inputs = std::move(bound).value();
  }
  auto outputs = (*session)->run(inputs);
  if (!outputs) return outputs.status();
  auto t2 = std::chrono::steady_clock::now();
  Status repeat_status = Status::ok();
  for (int k = 2; k <= a.repeat && repeat_status.is_ok(); ++k) {
    auto again = (*session)->run(inputs);
    if (!again) return again.status();
    repeat_status = compare_runs(*outputs, *again, k, (*session)->outputs());
  }
  std::error_code ec;
  std::filesystem::create_directories(a.output_dir, ec);
  const auto& decl = (*session)->outputs();
  for (size_t i = 0; i < outputs->size(); ++i) {
    const Tensor& t = (*outputs)[i];
    std::string path = (std::filesystem::path(a.output_dir) / ("output_" + std::to_string(i) + ".pb")).string();
    FERRY_RETURN_IF_ERROR(write_tensor_file(path, t, decl[i].name));
    if (!a.quiet)
      std::cout << "output " << i << " '" << decl[i].name << "': " << dtype_name(t.dtype()) << " "
                << shape_to_string(t.shape()) << " -> " << path << "\n";
  }
  if (!a.quiet) {
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::cout << "load " << ms(t1 - t0) << " ms, run " << ms(t2 - t1) << " ms, threads " << (*session)->threads()
              << "\n";
    if (a.device != "cpu") std::cout << "device: " << (*session)->device_summary() << "\n";
    if (a.repeat > 1 && repeat_status.is_ok())
      std::cout << a.repeat << " runs of the same inputs gave bit-identical outputs\n";
  }
  return repeat_status;
}

}  // namespace

void add_run_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model once on TensorProto inputs (or seeded random inputs)");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("inputs", args->input_files, "input TensorProto files, in graph-input order (or matched by name)");
  cmd->add_option("-o,--output-dir", args->output_dir, "where output_<i>.pb are written")->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "intra-op threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--opt-level", args->opt_level, "graph optimizations: none, basic, extended, all (or 0-3)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "seed of the random inputs")->capture_default_str();
  cmd->add_option("--shape", args->shapes, "input shape for random inputs, name:d1xd2x... (repeatable)");
  cmd->add_flag("-q,--quiet", args->quiet, "print nothing on success");
  cmd->add_option("--device", args->device, "cpu, cuda or cuda:N (unsupported nodes fall back to the CPU)")
      ->capture_default_str();
  cmd->add_option("--precision", args->precision, "device precision: fp32, fp16, bf16 (I/O stays fp32)")
      ->capture_default_str();
  cmd->add_flag("--cuda-graph", args->cuda_graph, "capture the device work into CUDA graphs");
  cmd->add_option("--repeat", args->repeat,
                  "run N times on the same inputs and fail unless every run's outputs equal the first's bit for bit "
                  "(outputs written are the first run's)")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->callback([args, exit_code] {
    Status s = run_command(*args);
    *exit_code = s.is_ok() ? 0 : report_error("run", s);
  });
}

}  // namespace ferry::cli
