// image_codecs.cc — see image_codecs.h. Every reader checks sizes against the buffer before touching it.
#include "backends/cpu/kernels/image_codecs.h"

#include <dlfcn.h>

#include <csetjmp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <jpeglib.h>

namespace ferry {

namespace {

constexpr int64_t kMaxSide = 1 << 15;

Status corrupt(const std::string& fmt, const std::string& why) { return invalid_argument(fmt + " image: " + why); }

struct Reader {
  const uint8_t* p;
  size_t n;
  bool big_endian = false;
  bool has(size_t off, size_t len) const { return off <= n && len <= n - off; }
  uint32_t u16(size_t off) const {
    return big_endian ? (uint32_t{p[off]} << 8) | p[off + 1] : uint32_t{p[off]} | (uint32_t{p[off + 1]} << 8);
  }
  uint32_t u32(size_t off) const {
    return big_endian ? (uint32_t{p[off]} << 24) | (uint32_t{p[off + 1]} << 16) | (uint32_t{p[off + 2]} << 8) | p[off + 3]
                      : uint32_t{p[off]} | (uint32_t{p[off + 1]} << 8) | (uint32_t{p[off + 2]} << 16) |
                            (uint32_t{p[off + 3]} << 24);
  }
};

Status check_dims(const std::string& fmt, int64_t w, int64_t h) {
  if (w <= 0 || h <= 0 || w > kMaxSide || h > kMaxSide)
    return corrupt(fmt, "bad dimensions " + std::to_string(w) + "x" + std::to_string(h));
  return Status::ok();
}

DecodedImage make(int64_t h, int64_t w, int c) {
  DecodedImage img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.assign(static_cast<size_t>(h * w * c), 0);
  return img;
}

// ---------------- BMP (BITMAPINFOHEADER and later; 1/4/8-bit palette, 24/32-bit) ----------------
Expected<DecodedImage> decode_bmp(const uint8_t* d, size_t n) {
  Reader r{d, n};
  if (!r.has(0, 54)) return corrupt("BMP", "truncated header");
  uint32_t off = r.u32(10), dib = r.u32(14), comp = r.u32(30);
  int64_t w = static_cast<int32_t>(r.u32(18)), h = static_cast<int32_t>(r.u32(22));
  int bpp = static_cast<int>(r.u16(28));
  if (dib < 40) return unsupported("BMP: OS/2 core headers are not supported");
  bool top_down = h < 0;
  if (top_down) h = -h;
  FERRY_RETURN_IF_ERROR(check_dims("BMP", w, h));
  bool paletted = bpp == 1 || bpp == 4 || bpp == 8;
  if (!(paletted || bpp == 24 || bpp == 32) || !(comp == 0 || (comp == 3 && bpp == 32)))
    return unsupported("BMP: " + std::to_string(bpp) + "-bit / compression " + std::to_string(comp) + " not supported");
  size_t stride = static_cast<size_t>((bpp * w + 31) / 32 * 4);
  if (!r.has(off, stride * static_cast<size_t>(h))) return corrupt("BMP", "pixel data truncated");
  uint32_t colors = r.has(46, 4) ? r.u32(46) : 0;
  if (paletted && (colors == 0 || colors > (1u << bpp))) colors = 1u << bpp;
  size_t pal = 14 + dib;
  if (paletted && !r.has(pal, colors * 4)) return corrupt("BMP", "palette truncated");
  DecodedImage img = make(h, w, 3);
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = d + off + stride * static_cast<size_t>(top_down ? y : h - 1 - y);
    uint8_t* out = img.pixels.data() + y * w * 3;
    for (int64_t x = 0; x < w; ++x) {
      const uint8_t* bgr;
      if (paletted) {
        int64_t bit = x * bpp;
        uint32_t idx = (row[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
        if (idx >= colors) return corrupt("BMP", "palette index out of range");
        bgr = d + pal + idx * 4;
      } else {
        bgr = row + x * (bpp / 8);
      }
      out[x * 3] = bgr[2];
      out[x * 3 + 1] = bgr[1];
      out[x * 3 + 2] = bgr[0];
    }
  }
  return img;
}

// ---------------- PNM (P2, P3 ASCII; P5, P6 binary) ----------------
Expected<DecodedImage> decode_pnm(const uint8_t* d, size_t n) {
  char kind = static_cast<char>(d[1]);
  size_t pos = 2;
  auto token = [&](int64_t* v) -> bool {
    while (pos < n) {
      if (d[pos] == '#') {
        while (pos < n && d[pos] != '\n') ++pos;
      } else if (std::isspace(d[pos])) {
        ++pos;
      } else {
        break;
      }
    }
    if (pos >= n || !std::isdigit(d[pos])) return false;
    *v = 0;
    while (pos < n && std::isdigit(d[pos]) && *v < (int64_t{1} << 20)) *v = *v * 10 + (d[pos++] - '0');
    return true;
  };
  int64_t w, h, maxval;
  if (!token(&w) || !token(&h) || !token(&maxval)) return corrupt("PNM", "bad header");
  FERRY_RETURN_IF_ERROR(check_dims("PNM", w, h));
  if (maxval <= 0 || maxval > 65535) return corrupt("PNM", "bad maxval");
  int c = (kind == '3' || kind == '6') ? 3 : 1;
  DecodedImage img = make(h, w, c);
  size_t count = img.pixels.size();
  auto scale = [&](int64_t v) { return static_cast<uint8_t>(maxval == 255 ? v : (std::min(v, maxval) * 255 + maxval / 2) / maxval); };
  if (kind == '5' || kind == '6') {
    ++pos;  // the single whitespace after maxval
    size_t bps = maxval < 256 ? 1 : 2;
    if (pos > n || (n - pos) / bps < count) return corrupt("PNM", "pixel data truncated");
    for (size_t i = 0; i < count; ++i)
      img.pixels[i] = scale(bps == 1 ? d[pos + i] : (d[pos + 2 * i] << 8) | d[pos + 2 * i + 1]);
  } else {
    for (size_t i = 0; i < count; ++i) {
      int64_t v;
      if (!token(&v)) return corrupt("PNM", "pixel data truncated");
      img.pixels[i] = scale(v);
    }
  }
  return img;
}

// ---------------- TIFF (baseline, uncompressed, chunky 8-bit gray/RGB/RGBA, strips) ----------------
Expected<DecodedImage> decode_tiff(const uint8_t* d, size_t n) {
  Reader r{d, n, d[0] == 'M'};
  if (!r.has(0, 8) || r.u16(2) != 42) return corrupt("TIFF", "bad header");
  size_t ifd = r.u32(4);
  if (!r.has(ifd, 2)) return corrupt("TIFF", "IFD out of range");
  uint32_t entries = r.u16(ifd);
  if (!r.has(ifd + 2, size_t{entries} * 12)) return corrupt("TIFF", "IFD truncated");
  int64_t w = 0, h = 0, spp = 1, comp = 1, photo = 2, planar = 1;
  std::vector<uint32_t> offsets, counts, bits;
  for (uint32_t e = 0; e < entries; ++e) {
    size_t at = ifd + 2 + e * 12;
    uint32_t tag = r.u16(at), type = r.u16(at + 2), cnt = r.u32(at + 4);
    size_t sz = type == 3 ? 2 : type == 4 ? 4 : 0;
    if (sz == 0) continue;
    if (cnt > (1u << 20)) return corrupt("TIFF", "tag count too large");
    size_t vals = size_t{cnt} * sz <= 4 ? at + 8 : r.u32(at + 8);
    if (!r.has(vals, size_t{cnt} * sz)) return corrupt("TIFF", "tag data out of range");
    std::vector<uint32_t> v;
    for (uint32_t i = 0; i < cnt; ++i) v.push_back(sz == 2 ? r.u16(vals + i * 2) : r.u32(vals + i * 4));
    if (v.empty()) continue;
    switch (tag) {
      case 256: w = v[0]; break;
      case 257: h = v[0]; break;
      case 258: bits = v; break;
      case 259: comp = v[0]; break;
      case 262: photo = v[0]; break;
      case 273: offsets = v; break;
      case 277: spp = v[0]; break;
      case 279: counts = v; break;
      case 284: planar = v[0]; break;
      default: break;
    }
  }
  FERRY_RETURN_IF_ERROR(check_dims("TIFF", w, h));
  for (uint32_t b : bits)
    if (b != 8) return unsupported("TIFF: only 8-bit samples are supported");
  if (comp != 1 || planar != 1 || photo > 2 || !(spp == 1 || spp == 3 || spp == 4) || (photo == 2) != (spp >= 3))
    return unsupported("TIFF: only uncompressed chunky gray/RGB(A) is supported");
  if (offsets.size() != counts.size() || offsets.empty()) return corrupt("TIFF", "strip tags missing");
  std::vector<uint8_t> raw;
  size_t need = static_cast<size_t>(w * h * spp);
  for (size_t s = 0; s < offsets.size() && raw.size() < need; ++s) {
    if (!r.has(offsets[s], counts[s])) return corrupt("TIFF", "strip out of range");
    raw.insert(raw.end(), d + offsets[s], d + offsets[s] + counts[s]);
  }
  if (raw.size() < need) return corrupt("TIFF", "pixel data truncated");
  DecodedImage img = make(h, w, spp == 1 ? 1 : 3);
  for (int64_t i = 0; i < w * h; ++i)
    for (int k = 0; k < img.channels; ++k) {
      uint8_t v = raw[static_cast<size_t>(i * spp + k)];
      img.pixels[static_cast<size_t>(i * img.channels + k)] = photo == 0 ? static_cast<uint8_t>(255 - v) : v;
    }
  return img;
}

// ---------------- PNG (8-bit, non-interlaced; zlib from the system via dlopen) ----------------
using UncompressFn = int (*)(uint8_t*, unsigned long*, const uint8_t*, unsigned long);
UncompressFn zlib_uncompress() {
  static const UncompressFn fn = [] {
    void* h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    return h ? reinterpret_cast<UncompressFn>(dlsym(h, "uncompress")) : nullptr;
  }();
  return fn;
}

uint8_t paeth(int a, int b, int c) {
  int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

Expected<DecodedImage> decode_png(const uint8_t* d, size_t n) {
  Reader r{d, n, true};
  size_t pos = 8;
  int64_t w = 0, h = 0;
  int depth = 0, ctype = -1, interlace = 0;
  std::vector<uint8_t> idat, plte;
  while (r.has(pos, 12)) {
    uint32_t len = r.u32(pos);
    if (!r.has(pos + 8, len + size_t{4})) return corrupt("PNG", "chunk truncated");
    const uint8_t* t = d + pos + 4;
    const uint8_t* body = d + pos + 8;
    if (!std::memcmp(t, "IHDR", 4) && len >= 13) {
      Reader b{body, len, true};
      w = b.u32(0);
      h = b.u32(4);
      depth = body[8];
      ctype = body[9];
      interlace = body[12];
    } else if (!std::memcmp(t, "PLTE", 4)) {
      plte.assign(body, body + len);
    } else if (!std::memcmp(t, "IDAT", 4)) {
      idat.insert(idat.end(), body, body + len);
    } else if (!std::memcmp(t, "IEND", 4)) {
      break;
    }
    pos += 12 + size_t{len};
  }
  FERRY_RETURN_IF_ERROR(check_dims("PNG", w, h));
  int chans = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
  if (chans == 0) return corrupt("PNG", "bad color type");
  if (depth != 8 || interlace != 0) return unsupported("PNG: only 8-bit non-interlaced images are supported");
  UncompressFn inflate = zlib_uncompress();
  if (!inflate) return unsupported("PNG: zlib (libz.so.1) is not available");
  size_t stride = static_cast<size_t>(w * chans);
  unsigned long raw_len = static_cast<unsigned long>((stride + 1) * static_cast<size_t>(h));
  std::vector<uint8_t> raw(raw_len);
  unsigned long got = raw_len;
  if (inflate(raw.data(), &got, idat.data(), idat.size()) != 0 || got != raw_len)
    return corrupt("PNG", "bad compressed data");
  std::vector<uint8_t> px(stride * static_cast<size_t>(h));
  for (int64_t y = 0; y < h; ++y) {
    uint8_t f = raw[static_cast<size_t>(y) * (stride + 1)];
    const uint8_t* in = raw.data() + static_cast<size_t>(y) * (stride + 1) + 1;
    uint8_t* out = px.data() + static_cast<size_t>(y) * stride;
    const uint8_t* up = y > 0 ? out - stride : nullptr;
    for (size_t i = 0; i < stride; ++i) {
      int a = i >= static_cast<size_t>(chans) ? out[i - chans] : 0, b = up ? up[i] : 0;
      int c = up && i >= static_cast<size_t>(chans) ? up[i - chans] : 0;
      int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : f == 4 ? paeth(a, b, c) : -1;
      if (pred < 0) return corrupt("PNG", "bad filter type");
      out[i] = static_cast<uint8_t>(in[i] + pred);
    }
  }
  bool gray = ctype == 0 || ctype == 4;
  DecodedImage img = make(h, w, gray ? 1 : 3);
  for (int64_t i = 0; i < w * h; ++i) {
    const uint8_t* s = px.data() + i * chans;
    uint8_t* o = img.pixels.data() + i * img.channels;
    if (ctype == 3) {
      if (size_t{s[0]} * 3 + 3 > plte.size()) return corrupt("PNG", "palette index out of range");
      std::memcpy(o, plte.data() + s[0] * 3, 3);
    } else {
      std::memcpy(o, s, static_cast<size_t>(img.channels));  // drops alpha
    }
  }
  return img;
}

// ---------------- JPEG (libjpeg from the system via dlopen) ----------------
struct JpegApi {
  decltype(&jpeg_std_error) std_error = nullptr;
  decltype(&jpeg_CreateDecompress) create = nullptr;
  decltype(&jpeg_mem_src) mem_src = nullptr;
  decltype(&jpeg_read_header) read_header = nullptr;
  decltype(&jpeg_start_decompress) start = nullptr;
  decltype(&jpeg_read_scanlines) read_scanlines = nullptr;
  decltype(&jpeg_finish_decompress) finish = nullptr;
  decltype(&jpeg_destroy_decompress) destroy = nullptr;
};

const JpegApi* jpeg_api() {
  static const JpegApi api = [] {
    JpegApi a;
    void* h = dlopen("libjpeg.so.62", RTLD_NOW | RTLD_LOCAL);
    if (!h) return a;
    a.std_error = reinterpret_cast<decltype(a.std_error)>(dlsym(h, "jpeg_std_error"));
    a.create = reinterpret_cast<decltype(a.create)>(dlsym(h, "jpeg_CreateDecompress"));
    a.mem_src = reinterpret_cast<decltype(a.mem_src)>(dlsym(h, "jpeg_mem_src"));
    a.read_header = reinterpret_cast<decltype(a.read_header)>(dlsym(h, "jpeg_read_header"));
    a.start = reinterpret_cast<decltype(a.start)>(dlsym(h, "jpeg_start_decompress"));
    a.read_scanlines = reinterpret_cast<decltype(a.read_scanlines)>(dlsym(h, "jpeg_read_scanlines"));
    a.finish = reinterpret_cast<decltype(a.finish)>(dlsym(h, "jpeg_finish_decompress"));
    a.destroy = reinterpret_cast<decltype(a.destroy)>(dlsym(h, "jpeg_destroy_decompress"));
    return a;
  }();
  bool ok = api.std_error && api.create && api.mem_src && api.read_header && api.start && api.read_scanlines &&
            api.finish && api.destroy;
  return ok ? &api : nullptr;
}

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
};
void jpeg_fail(j_common_ptr c) { longjmp(reinterpret_cast<JpegError*>(c->err)->jump, 1); }
void jpeg_quiet(j_common_ptr) {}

// Plain-C decode (no C++ objects live across setjmp): pass 1 (out == nullptr) reads the size, pass 2 decodes.
// Returns 0 on success, 1 on a libjpeg error.
int jpeg_run(const JpegApi& api, const uint8_t* d, size_t n, uint8_t* out, int64_t* w, int64_t* h, int* c) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = api.std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.output_message = jpeg_quiet;
  if (setjmp(err.jump)) {
    api.destroy(&cinfo);
    return 1;
  }
  api.create(&cinfo, JPEG_LIB_VERSION, sizeof(cinfo));
  api.mem_src(&cinfo, d, static_cast<unsigned long>(n));
  api.read_header(&cinfo, TRUE);
  bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  *w = cinfo.image_width;
  *h = cinfo.image_height;
  *c = gray ? 1 : 3;
  if (out) {
    api.start(&cinfo);
    size_t stride = static_cast<size_t>(*w * *c);
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = out + cinfo.output_scanline * stride;
      api.read_scanlines(&cinfo, &row, 1);
    }
    api.finish(&cinfo);
  }
  api.destroy(&cinfo);
  return 0;
}

Expected<DecodedImage> decode_jpeg(const uint8_t* d, size_t n) {
  const JpegApi* api = jpeg_api();
  if (!api) return unsupported("JPEG: libjpeg (libjpeg.so.62) is not available");
  int64_t w = 0, h = 0;
  int c = 0;
  if (jpeg_run(*api, d, n, nullptr, &w, &h, &c)) return corrupt("JPEG", "cannot read header");
  FERRY_RETURN_IF_ERROR(check_dims("JPEG", w, h));
  DecodedImage img = make(h, w, c);
  if (jpeg_run(*api, d, n, img.pixels.data(), &w, &h, &c) || img.channels != c || img.width != w || img.height != h)
    return corrupt("JPEG", "decoding failed");
  return img;
}

// ---------------- WebP (libwebp's simple decoding API via dlopen) ----------------
struct WebpApi {
  int (*get_info)(const uint8_t*, size_t, int*, int*) = nullptr;
  uint8_t* (*decode_rgb)(const uint8_t*, size_t, int*, int*) = nullptr;
  void (*free_fn)(void*) = nullptr;
};

const WebpApi* webp_api() {
  static const WebpApi api = [] {
    WebpApi a;
    void* h = dlopen("libwebp.so.7", RTLD_NOW | RTLD_LOCAL);
    if (!h) return a;
    a.get_info = reinterpret_cast<decltype(a.get_info)>(dlsym(h, "WebPGetInfo"));
    a.decode_rgb = reinterpret_cast<decltype(a.decode_rgb)>(dlsym(h, "WebPDecodeRGB"));
    a.free_fn = reinterpret_cast<decltype(a.free_fn)>(dlsym(h, "WebPFree"));
    return a;
  }();
  return api.get_info && api.decode_rgb && api.free_fn ? &api : nullptr;
}

Expected<DecodedImage> decode_webp(const uint8_t* d, size_t n) {
  const WebpApi* api = webp_api();
  if (!api) return unsupported("WebP: libwebp (libwebp.so.7) is not available");
  int w = 0, h = 0;
  if (!api->get_info(d, n, &w, &h)) return corrupt("WebP", "cannot read header");
  FERRY_RETURN_IF_ERROR(check_dims("WebP", w, h));
  uint8_t* rgb = api->decode_rgb(d, n, &w, &h);
  if (!rgb) return corrupt("WebP", "decoding failed");
  DecodedImage img = make(h, w, 3);
  std::memcpy(img.pixels.data(), rgb, img.pixels.size());
  api->free_fn(rgb);
  return img;
}

}  // namespace

Expected<DecodedImage> decode_image(const uint8_t* d, size_t n) {
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return decode_bmp(d, n);
  if (n >= 3 && d[0] == 'P' && (d[1] == '2' || d[1] == '3' || d[1] == '5' || d[1] == '6') && std::isspace(d[2]))
    return decode_pnm(d, n);
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return decode_png(d, n);
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return decode_jpeg(d, n);
  if (n >= 4 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0)) return decode_tiff(d, n);
  if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0)
    return decode_webp(d, n);
  if ((n >= 12 && std::memcmp(d + 4, "jP  ", 4) == 0) || (n >= 4 && std::memcmp(d, "\xFF\x4F\xFF\x51", 4) == 0))
    return decode_jpeg2000(d, n);
  return unsupported("unrecognized image format");
}

}  // namespace ferry
