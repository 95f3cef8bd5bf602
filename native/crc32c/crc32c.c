// CRC-32C of many ranges of one buffer in one call, with the CPU's crc32 instruction (SSE4.2).
// The storage engine checksums every frame of a batch: table-driven code (WebAssembly or
// JavaScript) runs at ~1.6 GB/s, the instruction at several times that, and one call for the
// whole batch avoids a native call per frame. Loaded only when `hardware` is true; otherwise
// the JavaScript side keeps its own implementation (src/log/crc32c.ts).
//
//   ranges(data: Uint8Array, starts: Int32Array, ends: Int32Array, count: number,
//          out: Uint32Array): void   — out[i] = crc32c(data[starts[i], ends[i]))
#include <node_api.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_CRC32_INSTRUCTION 1

__attribute__((target("sse4.2"))) static uint32_t crc32c(const uint8_t* p, size_t n) {
  uint64_t crc = 0xffffffffu;
  while (n >= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    crc = _mm_crc32_u64(crc, word);
    p += 8;
    n -= 8;
  }
  uint32_t c = (uint32_t)crc;
  while (n > 0) {
    c = _mm_crc32_u8(c, *p++);
    n--;
  }
  return c ^ 0xffffffffu;
}

static int hardware_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#else
#define HAVE_CRC32_INSTRUCTION 0
static int hardware_supported(void) { return 0; }
#endif

static napi_value fail(napi_env env, const char* message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static int typed_array(napi_env env, napi_value value, napi_typedarray_type want, void** data,
                       size_t* length) {
  bool is;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) != napi_ok)
    return 0;
  return type == want;
}

static napi_value ranges(napi_env env, napi_callback_info info) {
#if HAVE_CRC32_INSTRUCTION
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5)
    return fail(env, "ranges(data, starts, ends, count, out)");
  void *data, *starts, *ends, *out;
  size_t data_length, starts_length, ends_length, out_length;
  if (!typed_array(env, argv[0], napi_uint8_array, &data, &data_length) ||
      !typed_array(env, argv[1], napi_int32_array, &starts, &starts_length) ||
      !typed_array(env, argv[2], napi_int32_array, &ends, &ends_length) ||
      !typed_array(env, argv[4], napi_uint32_array, &out, &out_length))
    return fail(env, "ranges: expected Uint8Array, Int32Array, Int32Array, number, Uint32Array");
  int64_t count;
  if (napi_get_value_int64(env, argv[3], &count) != napi_ok || count < 0 ||
      (size_t)count > starts_length || (size_t)count > ends_length || (size_t)count > out_length)
    return fail(env, "ranges: count out of range");
  const int32_t* s = (const int32_t*)starts;
  const int32_t* e = (const int32_t*)ends;
  for (int64_t i = 0; i < count; i++) {
    if (s[i] < 0 || e[i] < s[i] || (size_t)e[i] > data_length)
      return fail(env, "ranges: a range lies outside the data");
  }
  uint32_t* o = (uint32_t*)out;
  for (int64_t i = 0; i < count; i++)
    o[i] = crc32c((const uint8_t*)data + s[i], (size_t)(e[i] - s[i]));
  return NULL;
#else
  return fail(env, "ranges: no crc32 instruction on this platform");
#endif
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value hardware, fn;
  napi_get_boolean(env, HAVE_CRC32_INSTRUCTION && hardware_supported(), &hardware);
  napi_set_named_property(env, exports, "hardware", hardware);
  napi_create_function(env, "ranges", NAPI_AUTO_LENGTH, ranges, NULL, &fn);
  napi_set_named_property(env, exports, "ranges", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
