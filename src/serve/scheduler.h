// serve/scheduler.h — how requests reach a model instance: the Scheduler interface (Triton's shape:
// enqueue / inflight / stop) and the dynamic batcher, its one implementation.
//
//   std::vector<std::unique_ptr<ModelRunner>> instances = ...;          // one per instance_group count
//   auto sched = make_dynamic_batcher(options, std::move(instances), stats);
//   std::unique_ptr<Job> job = ...;                                    // validated by ServerCore
//   if (Status s = sched->enqueue(job); !s.is_ok()) fail_job(std::move(job), s, /*unavailable=*/true);
//   ...
//   sched->stop();   // runs what is queued, joins the instance threads
//
// Every instance has its own thread and its own ModelRunner (its own Session and intra-op thread budget); an
// idle instance takes the oldest queued request and, when batching, every queued request whose non-batch
// shapes and dtypes equal it, waiting up to max_queue_delay for a preferred batch size to fill; it then takes
// the largest preferred size those requests reach (else all of them, up to max_batch_size samples), gathers
// them into per-instance reusable 64-byte aligned buffers and, after the run, answers every request and goes
// straight to the next batch (callbacks only post to the frontends' threads). Requests past their queue deadline are answered unavailable without running.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"
#include "serve/server_core.h"
#include "serve/stats.h"

namespace ferry::serve {

// One instance of a model version: runs inputs in model order and returns every output in model order.
// Called from one thread at a time (its instance thread).
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) = 0;
};

// A validated request on its way through a scheduler.
struct Job {
  std::string model_name, model_version, id;
  std::vector<Tensor> inputs;             // model input order
  std::vector<int> outputs;               // model output indices, in the order requested
  std::vector<std::string> output_names;  // names of `outputs`
  int64_t batch = 1;                      // samples (leading dim when the model batches)
  int64_t received_ns = 0;                // frontend receipt (success.ns starts here)
  int64_t enqueue_ns = 0;
  int64_t deadline_ns = 0;                // queue deadline; 0 = none
  InferCallback done;
  std::shared_ptr<ModelStats> stats;
};

// Answers `job` with an error and records it as a failure.
void fail_job(std::unique_ptr<Job> job, const Status& status, bool unavailable);

struct SchedulerOptions {
  bool batching = false;           // merge requests (max_batch_size > 0 and dynamic_batching)
  int max_batch_size = 0;
  std::vector<int> preferred_batch_sizes;
  int64_t max_queue_delay_us = 0;
  int64_t max_queue_size = 0;      // 0 = unbounded
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Takes ownership of the job (job becomes null) or returns an error leaving it untouched: queue full or
  // stopping (both are "unavailable").
  virtual Status enqueue(std::unique_ptr<Job>& job) = 0;
  // Requests queued or running.
  virtual int64_t inflight() const = 0;
  // Stops accepting, finishes every queued request, joins the instance threads. Idempotent.
  virtual void stop() = 0;
};

std::unique_ptr<Scheduler> make_dynamic_batcher(const SchedulerOptions& options,
                                                std::vector<std::unique_ptr<ModelRunner>> instances);

}  // namespace ferry::serve
