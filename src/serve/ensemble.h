// serve/ensemble.h — ensembles (platform "ensemble"): a DAG of steps wired by tensor names.
//
// Each ensemble_scheduling.step names a model of the repository (an ONNX model or a "ferry_builtin" step) and maps
// the step model's input/output names to ensemble tensor names (input_map: step input -> ensemble tensor,
// output_map: step output -> ensemble tensor). Ensemble inputs are the tensors every step can start from; every
// ensemble output must be produced by some step. Validation at load time (errors name the config file and the
// step): the step model is in the repository, every consumed tensor is an ensemble input or produced by exactly
// one step, every ensemble output is produced, and the steps form no cycle.
//
// Execution: a step runs as soon as every tensor it consumes exists, through ServerCore's normal infer path (so
// the step models' batching, statistics and lifecycle apply); independent steps run concurrently. A failing step
// fails the request with "ensemble 'e' step 2 ('model'): <error>".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "serve/model_config.h"
#include "serve/scheduler.h"
#include "serve/server_core.h"

namespace ferry::serve {

// Checks the DAG; `origin` names the config file in errors; `model_exists` says whether a step's model is in the
// repository. Returns the steps in a topological order (indices into cfg.ensemble_steps).
Expected<std::vector<size_t>> validate_ensemble(const ModelConfig& cfg, const std::string& origin,
                                                const std::function<bool(const std::string&)>& model_exists);

using InferFn = std::function<void(InferRequest, InferCallback)>;

// A Scheduler that runs the ensemble's steps through `infer` (ServerCore's own infer).
std::unique_ptr<Scheduler> make_ensemble_scheduler(std::shared_ptr<const ModelConfig> cfg, InferFn infer);

}  // namespace ferry::serve
