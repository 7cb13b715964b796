// llama.cpp's own quantizer, for the byte-identity test of compact's quantized GGUF export
// (test/export/gguf-quant.test.ts): llama-quantize's default path — llama_model_quantize() with
// default parameters, no imatrix — on one file.
//
//   llama-quantize-ref IN.gguf OUT.gguf FTYPE      (FTYPE: llama_ftype number, e.g. 15 = Q4_K_M)
#include "llama.h"

#include <cstdio>
#include <cstdlib>

int main(int argc, char ** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s IN.gguf OUT.gguf FTYPE\n", argv[0]);
        return 2;
    }
    llama_backend_init();
    llama_log_set([](ggml_log_level level, const char * text, void *) { if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr); }, nullptr);
    llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = (llama_ftype) std::atoi(argv[3]);
    p.nthread = 2;
    const uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
    llama_backend_free();
    return rc == 0 ? 0 : 1;
}
