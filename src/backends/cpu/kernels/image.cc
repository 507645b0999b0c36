// image.cc — CPU reference kernel of ImageDecoder: decodes (image_codecs.h) and converts to the requested
// pixel format. Grayscale from color uses ITU-R 601-2 luma with the same integer rounding as Pillow's
// convert("L"), which the ONNX reference implementation uses.
#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/image_codecs.h"

namespace ferry {

namespace {

Status image_decoder(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.dtype() != DType::kUInt8 || x.rank() != 1) return ctx.error("encoded_stream must be a 1-D uint8 tensor");
  std::string fmt = ctx.node().attr_string("pixel_format", "RGB");
  auto img = decode_image(x.data<uint8_t>(), static_cast<size_t>(x.numel()));
  if (!img) return img.status().with_context("node " + ctx.node().display_name());
  int64_t n = img->height * img->width;
  int oc = fmt == "Grayscale" ? 1 : 3;
  Tensor* y = ctx.output(0, DType::kUInt8, {img->height, img->width, oc});
  uint8_t* out = y->data<uint8_t>();
  const uint8_t* in = img->pixels.data();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = in + i * img->channels;
    uint8_t* o = out + i * oc;
    if (oc == 1) {
      o[0] = img->channels == 1 ? p[0]
                                : static_cast<uint8_t>((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
    } else {
      uint8_t r = p[0], g = img->channels == 1 ? p[0] : p[1], b = img->channels == 1 ? p[0] : p[2];
      bool bgr = fmt == "BGR";
      o[0] = bgr ? b : r;
      o[1] = g;
      o[2] = bgr ? r : b;
    }
  }
  return Status::ok();
}

}  // namespace

void register_image_kernels(KernelRegistry& r) { r.add_fn("", "ImageDecoder", image_decoder); }

}  // namespace ferry
