// Reference quantizer for the byte-identity tests (test/export/gguf-quant.test.ts): ggml-quants.c's
// quantize_<type>() entry points — what ggml_quantize_chunk, and so llama_model_quantize, call when no
// importance matrix is given — and GGML_FP32_TO_FP16 for F16.
//
// stdin: records of u32 ggml_type · u32 values per row · u32 rows · f32 values (little-endian);
// stdout: each record's quantized rows, back to back.
#include "ggml.h"
#include "ggml-impl.h"
#include "ggml-quants.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// The few ggml.c functions ggml-quants.c links against, for the types this driver handles.
static const struct { int type; int64_t blck; size_t size; const char * name; } TYPES[] = {
    { GGML_TYPE_F16, 1, 2, "f16" },          { GGML_TYPE_Q4_0, 32, 18, "q4_0" },  { GGML_TYPE_Q5_0, 32, 22, "q5_0" },
    { GGML_TYPE_Q5_1, 32, 24, "q5_1" },      { GGML_TYPE_Q8_0, 32, 34, "q8_0" },  { GGML_TYPE_Q4_K, 256, 144, "q4_K" },
    { GGML_TYPE_Q5_K, 256, 176, "q5_K" },    { GGML_TYPE_Q6_K, 256, 210, "q6_K" },
};
static int find(int type) {
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++) if (TYPES[i].type == type) return (int)i;
    fprintf(stderr, "quant-ref: unsupported type %d\n", type);
    exit(2);
}
size_t ggml_type_size(enum ggml_type type) { return TYPES[find(type)].size; }
size_t ggml_row_size(enum ggml_type type, int64_t ne) { return TYPES[find(type)].size * ne / TYPES[find(type)].blck; }
const char * ggml_type_name(enum ggml_type type) { return TYPES[find(type)].name; }
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "quant-ref: abort at %s:%d\n", file, line); abort(); }

static size_t quantize(int type, const float * x, void * y, int64_t rows, int64_t cols) {
    switch (type) {
        case GGML_TYPE_Q4_0: return quantize_q4_0(x, y, rows, cols, NULL);
        case GGML_TYPE_Q5_0: return quantize_q5_0(x, y, rows, cols, NULL);
        case GGML_TYPE_Q5_1: return quantize_q5_1(x, y, rows, cols, NULL);
        case GGML_TYPE_Q8_0: return quantize_q8_0(x, y, rows, cols, NULL);
        case GGML_TYPE_Q4_K: return quantize_q4_K(x, y, rows, cols, NULL);
        case GGML_TYPE_Q5_K: return quantize_q5_K(x, y, rows, cols, NULL);
        case GGML_TYPE_Q6_K: return quantize_q6_K(x, y, rows, cols, NULL);
        case GGML_TYPE_F16: {
            ggml_fp16_t * h = y;
            for (int64_t i = 0; i < rows * cols; i++) h[i] = GGML_FP32_TO_FP16(x[i]);
            return (size_t)(rows * cols) * 2;
        }
    }
    fprintf(stderr, "quant-ref: unsupported type %d\n", type);
    exit(2);
}

int main(void) {
    uint32_t hdr[3];
    while (fread(hdr, 4, 3, stdin) == 3) {
        const int type = (int)hdr[0];
        const int64_t cols = hdr[1], rows = hdr[2];
        const int t = find(type);
        if (cols % TYPES[t].blck != 0) { fprintf(stderr, "quant-ref: %lld values per row is not a multiple of %lld\n", (long long)cols, (long long)TYPES[t].blck); return 2; }
        float * x = malloc((size_t)(rows * cols) * sizeof(float));
        void * y = malloc(ggml_row_size(type, cols) * (size_t)rows);
        if (!x || !y) { fprintf(stderr, "quant-ref: out of memory\n"); return 2; }
        if (fread(x, sizeof(float), (size_t)(rows * cols), stdin) != (size_t)(rows * cols)) { fprintf(stderr, "quant-ref: short input\n"); return 2; }
        const size_t n = quantize(type, x, y, rows, cols);
        if (fwrite(y, 1, n, stdout) != n) return 2;
        free(x);
        free(y);
    }
    return 0;
}
