// llama-speed: prefill (pp) and generation (tg) tokens/s of one GGUF on the CPU, measured the way
// llama-bench measures its pp and tg tests, for bench/llama-cpp-speed.ts. Prints one JSON line:
//   {"pp":..,"tg":..,"speedPp":..,"speedTg":..,"reps":..,"nThreads":..,"systemInfo":"..", ...}
//
//   llama-speed -m MODEL.gguf [--pp 512] [--tg 128] [--reps 5] [-t THREADS] [--batch 2048] [--ubatch 512]
//
// pp test: a cleared KV cache, then `pp` random token ids (the first one BOS when the vocabulary has
// one) decoded in batches of n_batch. tg test: a cleared KV cache, then `tg` single-token decodes.
// Each test runs once untimed first (warm-up), then `reps` timed repetitions; speeds are medians.
// speedPp/speedTg are tokens per wall-clock second (what llama-bench prints); speedPpCpu/speedTgCpu
// are tokens per second of this process's CPU time (all threads, spinning included), which on a
// machine shared with other jobs does not count the time the process was waiting for a core.
#include "llama.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <ctime>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

namespace {

struct Options {
  std::string model;
  int pp = 512;
  int tg = 128;
  int reps = 5;
  int threads = 0;
  int batch = 2048;
  int ubatch = 512;
  bool verbose = false;
};

[[noreturn]] void usage(const char * why) {
  std::fprintf(stderr,
               "llama-speed: %s\nusage: llama-speed -m MODEL.gguf [--pp N] [--tg N] [--reps N] [-t THREADS] "
               "[--batch N] [--ubatch N] [--verbose]\n",
               why);
  std::exit(2);
}

int to_int(const char * s, const char * flag) {
  char * end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0 || v > 1 << 24) {
    usage((std::string("bad value for ") + flag).c_str());
  }
  return static_cast<int>(v);
}

Options parse(int argc, char ** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto next = [&]() -> const char * {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "-m" || a == "--model") o.model = next();
    else if (a == "--pp" || a == "-p") o.pp = to_int(next(), "--pp");
    else if (a == "--tg" || a == "-n") o.tg = to_int(next(), "--tg");
    else if (a == "--reps" || a == "-r") o.reps = to_int(next(), "--reps");
    else if (a == "-t" || a == "--threads") o.threads = to_int(next(), "--threads");
    else if (a == "--batch" || a == "-b") o.batch = to_int(next(), "--batch");
    else if (a == "--ubatch" || a == "-ub") o.ubatch = to_int(next(), "--ubatch");
    else if (a == "--verbose") o.verbose = true;
    else if (a == "-h" || a == "--help") usage("help");
    else usage(("unknown argument " + a).c_str());
  }
  if (o.model.empty()) usage("-m MODEL.gguf is required");
  if (o.reps < 1) usage("--reps must be at least 1");
  if (o.pp == 0 && o.tg == 0) usage("nothing to time: --pp and --tg are both 0");
  if (o.batch < 1 || o.ubatch < 1) usage("--batch and --ubatch must be positive");
  if (o.threads <= 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  return o;
}

bool g_verbose = false;
void log_cb(ggml_log_level level, const char * text, void *) {
  if (g_verbose || level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string json_escape(const char * s) {
  std::string out;
  for (; s && *s; s++) {
    const unsigned char c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c == '\n') out += "\\n";
    else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\u%04x", c); out += buf; }
    else out += static_cast<char>(c);
  }
  return out;
}

struct Bench {
  llama_context * ctx;
  const llama_vocab * vocab;
  int n_batch;
  std::mt19937 rng{42};

  llama_token random_token() {
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    return static_cast<llama_token>(rng() % static_cast<uint32_t>(n_vocab));
  }
  llama_token first_token() {
    const llama_token bos = llama_vocab_bos(vocab);
    return bos != LLAMA_TOKEN_NULL ? bos : random_token();
  }
  void clear() { llama_memory_clear(llama_get_memory(ctx), false); }

  // Decode `n` prompt tokens in batches of n_batch; false on a decode error.
  bool prompt(int n) {
    std::vector<llama_token> tokens(static_cast<size_t>(n_batch));
    for (int done = 0; done < n;) {
      const int n_tokens = std::min(n_batch, n - done);
      for (int i = 0; i < n_tokens; i++) tokens[i] = (done == 0 && i == 0) ? first_token() : random_token();
      if (llama_decode(ctx, llama_batch_get_one(tokens.data(), n_tokens)) != 0) return false;
      done += n_tokens;
    }
    llama_synchronize(ctx);
    return true;
  }
  // `n` single-token decodes, each waiting for the previous one.
  bool gen(int n) {
    llama_token token = first_token();
    for (int i = 0; i < n; i++) {
      if (llama_decode(ctx, llama_batch_get_one(&token, 1)) != 0) return false;
      llama_synchronize(ctx);
      token = random_token();
    }
    return true;
  }
};

// Peak resident set size of this process, MiB (0 where unknown).
double peak_rss_mib() {
#if defined(__APPLE__)
  rusage ru{};
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1048576.0 : 0.0;  // bytes
#elif defined(__unix__)
  rusage ru{};
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024.0 : 0.0;  // KiB
#else
  return 0.0;
#endif
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds used so far by every thread of this process (0 where unknown).
double process_cpu_seconds() {
#if defined(CLOCK_PROCESS_CPUTIME_ID)
  timespec ts{};
  return clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0 ? ts.tv_sec + ts.tv_nsec * 1e-9 : 0.0;
#else
  return 0.0;
#endif
}

}  // namespace

int main(int argc, char ** argv) {
  const Options o = parse(argc, argv);
  g_verbose = o.verbose;
  llama_log_set(log_cb, nullptr);
  llama_backend_init();

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model * model = llama_model_load_from_file(o.model.c_str(), mp);
  if (!model) {
    std::fprintf(stderr, "llama-speed: cannot load %s\n", o.model.c_str());
    return 1;
  }

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(std::max(o.pp, o.tg) + 1);
  cp.n_batch = static_cast<uint32_t>(std::min(o.batch, std::max(o.pp, 1)));
  cp.n_ubatch = static_cast<uint32_t>(std::min(o.ubatch, static_cast<int>(cp.n_batch)));
  cp.n_threads = o.threads;
  cp.n_threads_batch = o.threads;
  cp.no_perf = true;
  llama_context * ctx = llama_init_from_model(model, cp);
  if (!ctx) {
    std::fprintf(stderr, "llama-speed: cannot create a context for %s\n", o.model.c_str());
    llama_model_free(model);
    return 1;
  }

  Bench b{ctx, llama_model_get_vocab(model), static_cast<int>(cp.n_batch)};
  std::vector<double> pp_speeds, tg_speeds, pp_cpu_speeds, tg_cpu_speeds;
  bool ok = true;

  // llama-bench's method for each test: one warm-up, then `reps` timed runs from a cleared cache.
  auto timed = [&](auto run, int warmup, int n, std::vector<double> &speeds, std::vector<double> &cpu_speeds) {
    b.clear();
    ok = ok && run(warmup);
    for (int r = 0; ok && r < o.reps; r++) {
      b.clear();
      const double c0 = process_cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      ok = run(n);
      speeds.push_back(n / seconds_since(t0));
      const double cpu = process_cpu_seconds() - c0;
      cpu_speeds.push_back(cpu > 0 ? n / cpu : 0.0);
    }
  };
  if (o.pp > 0) timed([&](int n) { return b.prompt(n); }, std::min(static_cast<int>(cp.n_batch), o.pp), o.pp, pp_speeds, pp_cpu_speeds);
  if (ok && o.tg > 0) timed([&](int n) { return b.gen(n); }, 1, o.tg, tg_speeds, tg_cpu_speeds);
  if (!ok) {
    std::fprintf(stderr, "llama-speed: llama_decode failed\n");
    llama_free(ctx);
    llama_model_free(model);
    return 1;
  }

  auto list = [](const std::vector<double> & v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); i++) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.6g", i ? "," : "", v[i]);
      s += buf;
    }
    return s + "]";
  };
  std::printf(
      "{\"pp\":%d,\"tg\":%d,\"speedPp\":%.6g,\"speedTg\":%.6g,\"speedPpCpu\":%.6g,\"speedTgCpu\":%.6g,\"reps\":%d,\"nThreads\":%d,\"nBatch\":%u,\"nUBatch\":%u,"
      "\"speedsPp\":%s,\"speedsTg\":%s,\"speedsPpCpu\":%s,\"speedsTgCpu\":%s,\"nParams\":%llu,\"nVocab\":%d,\"maxRssMiB\":%.1f,\"systemInfo\":\"%s\"}\n",
      o.pp, o.tg, median(pp_speeds), median(tg_speeds), median(pp_cpu_speeds), median(tg_cpu_speeds), o.reps, o.threads, cp.n_batch,
      cp.n_ubatch, list(pp_speeds).c_str(), list(tg_speeds).c_str(), list(pp_cpu_speeds).c_str(), list(tg_cpu_speeds).c_str(),
      static_cast<unsigned long long>(llama_model_n_params(model)), llama_vocab_n_tokens(b.vocab), peak_rss_mib(), json_escape(llama_print_system_info()).c_str());
  std::fflush(stdout);

  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
