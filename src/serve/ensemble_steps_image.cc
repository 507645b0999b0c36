// ensemble_steps_image.cc — image built-in steps: decode (JPEG/PNG/... via ImageDecoder's codecs), bilinear resize
// + center crop, normalize (uint8 -> float, mean/std, HWC -> CHW).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backends/cpu/kernels/image_codecs.h"
#include "serve/ensemble_steps.h"
#include "serve/ensemble_steps_util.h"

namespace ferry::serve {

Tensor resize_bilinear_hwc(const Tensor& image, int64_t out_h, int64_t out_w) {
  const int64_t h = image.dim(0), w = image.dim(1), c = image.dim(2);
  Tensor out = Tensor::empty(DType::kUInt8, {out_h, out_w, c});
  const uint8_t* src = image.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  const double sy = static_cast<double>(h) / static_cast<double>(out_h);
  const double sx = static_cast<double>(w) / static_cast<double>(out_w);
  for (int64_t y = 0; y < out_h; ++y) {
    double fy = std::clamp((static_cast<double>(y) + 0.5) * sy - 0.5, 0.0, static_cast<double>(h - 1));
    int64_t y0 = static_cast<int64_t>(fy), y1 = std::min(y0 + 1, h - 1);
    double wy = fy - static_cast<double>(y0);
    for (int64_t x = 0; x < out_w; ++x) {
      double fx = std::clamp((static_cast<double>(x) + 0.5) * sx - 0.5, 0.0, static_cast<double>(w - 1));
      int64_t x0 = static_cast<int64_t>(fx), x1 = std::min(x0 + 1, w - 1);
      double wx = fx - static_cast<double>(x0);
      for (int64_t k = 0; k < c; ++k) {
        double a = src[(y0 * w + x0) * c + k], b = src[(y0 * w + x1) * c + k];
        double d = src[(y1 * w + x0) * c + k], e = src[(y1 * w + x1) * c + k];
        double v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
        dst[(y * out_w + x) * c + k] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return out;
}

Tensor center_crop_hwc(const Tensor& image, int64_t ch, int64_t cw) {
  const int64_t h = image.dim(0), w = image.dim(1), c = image.dim(2);
  ch = std::min(ch, h);
  cw = std::min(cw, w);
  int64_t top = (h - ch) / 2, left = (w - cw) / 2;
  Tensor out = Tensor::empty(DType::kUInt8, {ch, cw, c});
  for (int64_t y = 0; y < ch; ++y)
    std::memcpy(out.data<uint8_t>() + y * cw * c, image.data<uint8_t>() + ((top + y) * w + left) * c,
                static_cast<size_t>(cw * c));
  return out;
}

Tensor normalize_hwc(const Tensor& image, const std::vector<float>& mean, const std::vector<float>& std_dev,
                     float scale, bool chw) {
  const int64_t h = image.dim(0), w = image.dim(1), c = image.dim(2);
  Tensor out = Tensor::empty(DType::kFloat, chw ? Shape{c, h, w} : Shape{h, w, c});
  const uint8_t* src = image.data<uint8_t>();
  float* dst = out.data<float>();
  for (int64_t k = 0; k < c; ++k) {
    float m = mean.empty() ? 0.f : mean[static_cast<size_t>(k) % mean.size()];
    float s = std_dev.empty() ? 1.f : std_dev[static_cast<size_t>(k) % std_dev.size()];
    for (int64_t p = 0; p < h * w; ++p) {
      float v = (static_cast<float>(src[p * c + k]) / scale - m) / s;
      dst[chw ? k * h * w + p : p * c + k] = v;
    }
  }
  return out;
}

namespace {

class DecodeStep : public SimpleStep {
 public:
  explicit DecodeStep(std::string model) : SimpleStep(std::move(model)) {
    ins_ = {io("BYTES", DType::kString, {1})};
    outs_ = {io("IMAGE", DType::kUInt8, {-1, -1, 3})};
  }
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& in) override {
    const Tensor& t = in[0];
    if (t.numel() != 1) return invalid_argument(model_ + ": BYTES must hold one encoded image, got " + shape_to_string(t.shape()));
    const std::string& bytes = t.data<std::string>()[0];
    auto img = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    if (!img) return img.status().with_context(model_);
    if (img->height <= 0 || img->width <= 0) return invalid_argument(model_ + ": empty image");
    Tensor out = Tensor::empty(DType::kUInt8, {img->height, img->width, 3});
    uint8_t* dst = out.data<uint8_t>();
    const int64_t n = img->height * img->width;
    if (img->channels == 3) {
      std::memcpy(dst, img->pixels.data(), static_cast<size_t>(n * 3));
    } else if (img->channels == 1) {
      for (int64_t p = 0; p < n; ++p) dst[p * 3] = dst[p * 3 + 1] = dst[p * 3 + 2] = img->pixels[static_cast<size_t>(p)];
    } else {
      return unsupported(model_ + ": image with " + std::to_string(img->channels) + " channels");
    }
    return std::vector<Tensor>{std::move(out)};
  }
};

class ResizeStep : public SimpleStep {
 public:
  ResizeStep(std::string model, int64_t short_side, int64_t rh, int64_t rw, int64_t ch, int64_t cw)
      : SimpleStep(std::move(model)), short_(short_side), rh_(rh), rw_(rw), ch_(ch), cw_(cw) {
    int64_t oh = ch > 0 ? ch : (rh > 0 ? rh : -1), ow = cw > 0 ? cw : (rw > 0 ? rw : -1);
    ins_ = {io("IMAGE", DType::kUInt8, {-1, -1, -1})};
    outs_ = {io("RESIZED", DType::kUInt8, {oh, ow, -1})};
  }
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& in) override {
    const Tensor& t = in[0];
    if (t.rank() != 3 || t.dim(0) < 1 || t.dim(1) < 1 || t.dim(2) < 1)
      return invalid_argument(model_ + ": IMAGE must be [H,W,C] with H,W,C >= 1, got " + shape_to_string(t.shape()));
    int64_t h = t.dim(0), w = t.dim(1), oh = h, ow = w;
    if (rh_ > 0) {
      oh = rh_;
      ow = rw_;
    } else if (short_ > 0) {
      if (h <= w) {
        oh = short_;
        ow = std::max<int64_t>(1, (w * short_ + h / 2) / h);
      } else {
        ow = short_;
        oh = std::max<int64_t>(1, (h * short_ + w / 2) / w);
      }
    }
    Tensor r = (oh == h && ow == w) ? t : resize_bilinear_hwc(t, oh, ow);
    if (ch_ > 0) {
      if (ch_ > oh || cw_ > ow)
        return invalid_argument(model_ + ": crop " + std::to_string(ch_) + "x" + std::to_string(cw_) +
                                " is larger than the resized image " + std::to_string(oh) + "x" + std::to_string(ow));
      r = center_crop_hwc(r, ch_, cw_);
    }
    return std::vector<Tensor>{std::move(r)};
  }

 private:
  int64_t short_, rh_, rw_, ch_, cw_;
};

class NormalizeStep : public SimpleStep {
 public:
  NormalizeStep(std::string model, std::vector<float> mean, std::vector<float> sd, float scale, std::string layout)
      : SimpleStep(std::move(model)), mean_(std::move(mean)), std_(std::move(sd)), scale_(scale), layout_(std::move(layout)) {
    ins_ = {io("IMAGE", DType::kUInt8, {-1, -1, -1})};
    Shape o = layout_ == "NCHW" ? Shape{1, -1, -1, -1} : layout_ == "NHWC" ? Shape{1, -1, -1, -1} : Shape{-1, -1, -1};
    outs_ = {io("TENSOR", DType::kFloat, o)};
  }
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& in) override {
    const Tensor& t = in[0];
    if (t.rank() != 3) return invalid_argument(model_ + ": IMAGE must be [H,W,C], got " + shape_to_string(t.shape()));
    bool chw = layout_ == "NCHW" || layout_ == "CHW";
    Tensor out = normalize_hwc(t, mean_, std_, scale_, chw);
    if (layout_[0] == 'N') {
      Shape s = out.shape();
      s.insert(s.begin(), 1);
      out = out.reshaped(s);
    }
    return std::vector<Tensor>{std::move(out)};
  }

 private:
  std::vector<float> mean_, std_;
  float scale_;
  std::string layout_;
};

}  // namespace

Expected<std::unique_ptr<BuiltinStep>> make_image_step(const ModelConfig& cfg, const std::string& step) {
  const std::string who = "step model '" + cfg.name + "'";
  if (step == "image_decode") return std::unique_ptr<BuiltinStep>(new DecodeStep(step));
  if (step == "image_resize") {
    int64_t short_side = 0, rh = 0, rw = 0, ch = 0, cw = 0;
    if (auto s = param(cfg, "size"); !s.empty()) {
      if (s.find('x') != std::string::npos) {
        FERRY_RETURN_IF_ERROR(parse_hw(s, cfg, "size", &rh, &rw));
      } else {
        FERRY_RETURN_IF_ERROR(parse_int(s, cfg, "size", 1, 16384, &short_side));
      }
    }
    if (auto s = param(cfg, "crop"); !s.empty()) FERRY_RETURN_IF_ERROR(parse_hw(s, cfg, "crop", &ch, &cw));
    return std::unique_ptr<BuiltinStep>(new ResizeStep(step, short_side, rh, rw, ch, cw));
  }
  if (step == "image_normalize") {
    std::vector<float> mean, sd;
    FERRY_RETURN_IF_ERROR(parse_floats(param(cfg, "mean"), cfg, "mean", &mean));
    FERRY_RETURN_IF_ERROR(parse_floats(param(cfg, "std"), cfg, "std", &sd));
    for (float s : sd)
      if (s == 0.f) return invalid_argument(who + ": parameters.std has a zero");
    std::vector<float> scale{255.f};
    if (auto s = param(cfg, "scale"); !s.empty()) FERRY_RETURN_IF_ERROR(parse_floats(s, cfg, "scale", &scale));
    if (scale.size() != 1 || scale[0] <= 0.f) return invalid_argument(who + ": parameters.scale must be one positive number");
    std::string layout = param(cfg, "layout");
    if (layout.empty()) layout = "NCHW";
    if (layout != "NCHW" && layout != "NHWC" && layout != "CHW" && layout != "HWC")
      return invalid_argument(who + ": parameters.layout '" + layout + "' (NCHW, NHWC, CHW or HWC)");
    return std::unique_ptr<BuiltinStep>(new NormalizeStep(step, mean, sd, scale[0], layout));
  }
  return std::unique_ptr<BuiltinStep>();
}

}  // namespace ferry::serve
