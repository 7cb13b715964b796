// Total negative log-likelihood of a token stream in llama.cpp, for bits/byte of GGUF exports
// (bench/gguf-quality.ts). The stream is given as token ids — from the model's own tokenizer, the
// same ids llama.cpp's tokenizer gives (test/export checks that) — and scored exactly as
// src/eval/text-eval.ts does: windows of SEQ inputs without overlap, window k feeding
// stream[kL … kL+L) and predicting stream[kL+1 … kL+L], each from a cleared KV cache.
//
//   llama-nll MODEL.gguf IDS.bin SEQ [THREADS]     (IDS.bin: little-endian int32, start token first)
//   prints {"nll":<nats>,"tokens":<scored>}
#include "llama.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char ** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.gguf IDS.bin SEQ [THREADS]\n", argv[0]);
    return 2;
  }
  const int seq = std::atoi(argv[3]);
  const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
  std::vector<int32_t> ids;
  if (FILE * f = std::fopen(argv[2], "rb")) {
    int32_t v;
    while (std::fread(&v, 4, 1, f) == 1) ids.push_back(v);
    std::fclose(f);
  }
  if (ids.size() < 2 || seq < 1) {
    std::fprintf(stderr, "llama-nll: no tokens in %s\n", argv[2]);
    return 2;
  }
  llama_log_set([](ggml_log_level level, const char * text, void *) { if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr); }, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model * model = llama_model_load_from_file(argv[1], mp);
  if (!model) return 1;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = seq;
  cp.n_batch = seq;
  cp.n_ubatch = seq;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  cp.no_perf = true;
  cp.type_k = GGML_TYPE_F32;
  cp.type_v = GGML_TYPE_F32;
  llama_context * ctx = llama_init_from_model(model, cp);
  if (!ctx) return 1;
  const int nv = llama_vocab_n_tokens(llama_model_get_vocab(model));
  const size_t scored = ids.size() - 1;
  double nll = 0;
  llama_batch batch = llama_batch_init(seq, 0, 1);
  for (size_t s = 0; s < scored; s += seq) {
    const int n = (int) std::min<size_t>(seq, scored - s);
    llama_memory_clear(llama_get_memory(ctx), true);
    batch.n_tokens = n;
    for (int i = 0; i < n; i++) {
      batch.token[i] = ids[s + i];
      batch.pos[i] = i;
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = 1;
    }
    if (llama_decode(ctx, batch) != 0) {
      std::fprintf(stderr, "llama-nll: llama_decode failed\n");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      const float * lg = llama_get_logits_ith(ctx, i);
      double mx = lg[0];
      for (int j = 1; j < nv; j++) mx = std::max(mx, (double) lg[j]);
      double z = 0;
      for (int j = 0; j < nv; j++) z += std::exp((double) lg[j] - mx);
      nll -= (double) lg[ids[s + i + 1]] - mx - std::log(z);
    }
  }
  llama_batch_free(batch);
  std::printf("{\"nll\":%.10g,\"tokens\":%zu}\n", nll, scored);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
