// serve/ensemble_steps.h — built-in pre/post-processing steps served as models (platform "ferry_builtin").
//
// A built-in step is a model directory whose config.pbtxt says `platform: "ferry_builtin"` and names the step in
// `parameters { key: "step" value { string_value: "image_decode" } }`; it needs no model file. ServerCore runs it
// through the normal path (scheduler, statistics, metadata), so an ensemble wires it like any other model.
//
//   step            inputs                         outputs                               parameters
//   image_decode    BYTES  STRING [1]              IMAGE   UINT8 [-1,-1,3] (HWC, RGB)    -
//   image_resize    IMAGE  UINT8 [-1,-1,C]         RESIZED UINT8 [H,W,C]                 size, crop
//   image_normalize IMAGE  UINT8 [H,W,C]           TENSOR  FP32 [1,C,H,W] (layout)       mean, std, scale, layout
//   softmax         LOGITS FP32 [...,C]            PROBS   FP32 [...,C]                  -
//   topk            SCORES FP32 [...,C]            INDICES INT64, VALUES FP32 [...,k]   k, labels, softmax
//                                                  (+ LABELS STRING [...,k] with labels)
//   nms             BOXES FP32 [N,4] / [1,N,4]     DETECTIONS FP32 [M,6]                 iou_threshold, score_threshold,
//                   SCORES FP32 [N,C] / [1,N,C]    (x1,y1,x2,y2,score,class)             max_detections, box_format
//
// Parameters: size = "256" (shorter side, aspect kept) or "HxW" (exact); crop = "224" or "HxW" (center crop after
// the resize; absent = none); mean/std = comma lists per channel (default 0 / 1), scale = divide the uint8 value
// first (default 255); layout = NCHW (default), NHWC, CHW or HWC; k (default 5); labels = a file in the model
// directory, one label per line; softmax = "true" to apply softmax before top-k; box_format = xyxy (default) or
// cxcywh; iou_threshold default 0.5, score_threshold default 0, max_detections default 100.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ferry/session.h"
#include "ferry/status.h"
#include "ferry/tensor.h"
#include "serve/model_config.h"

namespace ferry::serve {

class BuiltinStep {
 public:
  virtual ~BuiltinStep() = default;
  virtual const std::vector<IoInfo>& inputs() const = 0;
  virtual const std::vector<IoInfo>& outputs() const = 0;
  // Inputs and outputs in the order of inputs()/outputs(). Errors start with the step kind ("image_decode: ...");
  // the scheduler adds the model, the ensemble the step.
  virtual Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) = 0;
};

// The step `cfg.parameters["step"]` configured from cfg.parameters; `model_dir` resolves files (labels).
Expected<std::unique_ptr<BuiltinStep>> make_builtin_step(const ModelConfig& cfg, const std::string& model_dir);

// ----------------------------------------------------------------------- the computations (unit-tested)
// Bilinear resize of a uint8 HWC image (half-pixel centers, like ONNX Resize linear/half_pixel), rounded.
Tensor resize_bilinear_hwc(const Tensor& image, int64_t out_h, int64_t out_w);
// The centered [h, w] window of a uint8 HWC image (h/w clamped to the image).
Tensor center_crop_hwc(const Tensor& image, int64_t h, int64_t w);
// uint8 HWC -> float: (v / scale - mean[c]) / std[c]; chw = channel-major output ([C,H,W]) else [H,W,C].
Tensor normalize_hwc(const Tensor& image, const std::vector<float>& mean, const std::vector<float>& std_dev,
                     float scale, bool chw);
// Softmax over the last axis of a float tensor.
Tensor softmax_last_axis(const Tensor& logits);
// Top-k over the last axis: values descending (ties: lower index first).
void topk_last_axis(const Tensor& scores, int64_t k, Tensor* indices, Tensor* values);
// Greedy per-class NMS; boxes [N,4] xyxy, scores [N,C]; returns [M,6] rows (x1,y1,x2,y2,score,class) by score.
Tensor nms_detections(const Tensor& boxes_xyxy, const Tensor& scores, float iou_threshold, float score_threshold,
                      int64_t max_detections);

}  // namespace ferry::serve
