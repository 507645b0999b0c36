// image_jpeg2k.cc — JPEG 2000 (JP2 files and raw J2K codestreams) through the system's OpenJPEG 2.x library,
// loaded with dlopen. The system has the runtime library but no headers, so the few entry points and the two
// image structs read here are declared below; they follow OpenJPEG 2.x's public openjpeg.h, whose ABI (soname
// libopenjp2.so.7) keeps these layouts. Everything else is handled through opaque pointers.
#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "backends/cpu/kernels/image_codecs.h"

namespace ferry {

namespace {

struct OpjImageComp {  // opj_image_comp_t
  uint32_t dx, dy, w, h, x0, y0, prec, bpp, sgnd, resno_decoded, factor;
  int32_t* data;
  uint16_t alpha;
};
struct OpjImage {  // opj_image_t
  uint32_t x0, y0, x1, y1, numcomps;
  int32_t color_space;
  OpjImageComp* comps;
  uint8_t* icc_profile_buf;
  uint32_t icc_profile_len;
};

using ReadFn = size_t (*)(void*, size_t, void*);
using SkipFn = int64_t (*)(int64_t, void*);
using SeekFn = int (*)(int64_t, void*);

struct OpjApi {
  void (*set_default_params)(void*) = nullptr;
  void* (*create_decompress)(int) = nullptr;
  int (*setup_decoder)(void*, void*) = nullptr;
  void* (*stream_create)(size_t, int) = nullptr;
  void (*set_read)(void*, ReadFn) = nullptr;
  void (*set_skip)(void*, SkipFn) = nullptr;
  void (*set_seek)(void*, SeekFn) = nullptr;
  void (*set_user_data)(void*, void*, void (*)(void*)) = nullptr;
  void (*set_user_data_length)(void*, uint64_t) = nullptr;
  int (*read_header)(void*, void*, OpjImage**) = nullptr;
  int (*decode)(void*, void*, OpjImage*) = nullptr;
  int (*end_decompress)(void*, void*) = nullptr;
  void (*destroy_codec)(void*) = nullptr;
  void (*stream_destroy)(void*) = nullptr;
  void (*image_destroy)(OpjImage*) = nullptr;
};

template <typename F>
bool bind(void* h, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(h, name));
  return *fn != nullptr;
}

const OpjApi* opj_api() {
  static const OpjApi* api = []() -> const OpjApi* {
    void* h = dlopen("libopenjp2.so.7", RTLD_NOW | RTLD_LOCAL);
    if (!h) return nullptr;
    static OpjApi a;
    bool ok = bind(h, "opj_set_default_decoder_parameters", &a.set_default_params) &&
              bind(h, "opj_create_decompress", &a.create_decompress) && bind(h, "opj_setup_decoder", &a.setup_decoder) &&
              bind(h, "opj_stream_create", &a.stream_create) && bind(h, "opj_stream_set_read_function", &a.set_read) &&
              bind(h, "opj_stream_set_skip_function", &a.set_skip) &&
              bind(h, "opj_stream_set_seek_function", &a.set_seek) &&
              bind(h, "opj_stream_set_user_data", &a.set_user_data) &&
              bind(h, "opj_stream_set_user_data_length", &a.set_user_data_length) &&
              bind(h, "opj_read_header", &a.read_header) && bind(h, "opj_decode", &a.decode) &&
              bind(h, "opj_end_decompress", &a.end_decompress) && bind(h, "opj_destroy_codec", &a.destroy_codec) &&
              bind(h, "opj_stream_destroy", &a.stream_destroy) && bind(h, "opj_image_destroy", &a.image_destroy);
    return ok ? &a : nullptr;
  }();
  return api;
}

struct MemStream {
  const uint8_t* data;
  size_t size, pos;
};
size_t mem_read(void* buf, size_t n, void* user) {
  auto* s = static_cast<MemStream*>(user);
  if (s->pos >= s->size) return static_cast<size_t>(-1);
  n = std::min(n, s->size - s->pos);
  std::memcpy(buf, s->data + s->pos, n);
  s->pos += n;
  return n;
}
int64_t mem_skip(int64_t n, void* user) {
  auto* s = static_cast<MemStream*>(user);
  int64_t to = std::clamp<int64_t>(static_cast<int64_t>(s->pos) + n, 0, static_cast<int64_t>(s->size));
  int64_t moved = to - static_cast<int64_t>(s->pos);
  s->pos = static_cast<size_t>(to);
  return moved;
}
int mem_seek(int64_t to, void* user) {
  auto* s = static_cast<MemStream*>(user);
  if (to < 0 || static_cast<uint64_t>(to) > s->size) return 0;
  s->pos = static_cast<size_t>(to);
  return 1;
}

}  // namespace

Expected<DecodedImage> decode_jpeg2000(const uint8_t* d, size_t n) {
  const OpjApi* api = opj_api();
  if (!api) return unsupported("JPEG 2000: OpenJPEG (libopenjp2.so.7) is not available");
  bool raw = n >= 4 && d[0] == 0xFF && d[1] == 0x4F && d[2] == 0xFF && d[3] == 0x51;
  MemStream ms{d, n, 0};
  // opj_dparameters_t is written by the library only; a generous zeroed block covers its ~8.5 KB.
  auto params = std::make_unique<uint64_t[]>(8192);
  std::unique_ptr<void, void (*)(void*)> codec(api->create_decompress(raw ? 0 : 2), api->destroy_codec);
  std::unique_ptr<void, void (*)(void*)> stream(api->stream_create(size_t{1} << 16, 1), api->stream_destroy);
  if (!codec || !stream) return out_of_memory("JPEG 2000: cannot create decoder");
  api->set_default_params(params.get());
  api->set_read(stream.get(), mem_read);
  api->set_skip(stream.get(), mem_skip);
  api->set_seek(stream.get(), mem_seek);
  api->set_user_data(stream.get(), &ms, nullptr);
  api->set_user_data_length(stream.get(), n);
  OpjImage* raw_img = nullptr;
  if (!api->setup_decoder(codec.get(), params.get()) || !api->read_header(stream.get(), codec.get(), &raw_img)) {
    if (raw_img) api->image_destroy(raw_img);
    return invalid_argument("JPEG 2000 image: cannot read header");
  }
  std::unique_ptr<OpjImage, void (*)(OpjImage*)> img(raw_img, api->image_destroy);
  if (!api->decode(codec.get(), stream.get(), img.get()) || !api->end_decompress(codec.get(), stream.get()))
    return invalid_argument("JPEG 2000 image: decoding failed");
  uint32_t nc = img->numcomps;
  if (nc == 0 || !img->comps) return invalid_argument("JPEG 2000 image: no components");
  const OpjImageComp& c0 = img->comps[0];
  int channels = nc >= 3 ? 3 : 1;  // alpha / extra components are dropped
  for (int k = 0; k < channels; ++k) {
    const OpjImageComp& c = img->comps[k];
    if (!c.data || c.w != c0.w || c.h != c0.h || c.dx != 1 || c.dy != 1)
      return unsupported("JPEG 2000: subsampled or missing components are not supported");
    if (c.prec != 8 || c.sgnd) return unsupported("JPEG 2000: only unsigned 8-bit components are supported");
  }
  if (c0.w == 0 || c0.h == 0 || c0.w > (1u << 15) || c0.h > (1u << 15))
    return invalid_argument("JPEG 2000 image: bad dimensions");
  DecodedImage out;
  out.height = c0.h;
  out.width = c0.w;
  out.channels = channels;
  size_t px = static_cast<size_t>(c0.w) * c0.h;
  out.pixels.resize(px * static_cast<size_t>(channels));
  for (size_t i = 0; i < px; ++i)
    for (int k = 0; k < channels; ++k)
      out.pixels[i * static_cast<size_t>(channels) + static_cast<size_t>(k)] =
          static_cast<uint8_t>(std::clamp(img->comps[k].data[i], 0, 255));
  return out;
}

}  // namespace ferry
