/*
 * Peak f32 FMA rate of this CPU: independent FMA chains in registers, no memory traffic.
 * The widest vectors the compiler was told about (-march=native): AVX-512, AVX2 or SSE.
 *
 *   fma-peak THREADS SECONDS  ->  one JSON line {"threads":…,"gflops":…,"vector_bits":…}
 *
 * 12 accumulators hide the FMA latency (4 cycles) on two FMA ports. Each thread runs the same
 * loop; the rate is total FLOP (2 per lane per FMA) over the wall time of the slowest thread.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#else
#error "needs AVX2+FMA or AVX-512"
#endif

#define CHAINS 12
static volatile float sink;
static long iters_per_call = 1 << 20;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Named accumulators, not an array: the compiler must keep all twelve in registers. */
static void run(long iters) {
  const vec a = SET1(0.999999f), b = SET1(1e-7f);
  vec c0 = SET1(1.000f), c1 = SET1(1.001f), c2 = SET1(1.002f), c3 = SET1(1.003f);
  vec c4 = SET1(1.004f), c5 = SET1(1.005f), c6 = SET1(1.006f), c7 = SET1(1.007f);
  vec c8 = SET1(1.008f), c9 = SET1(1.009f), c10 = SET1(1.010f), c11 = SET1(1.011f);
  for (long i = 0; i < iters; i++) {
    c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b); c3 = FMA(c3, a, b);
    c4 = FMA(c4, a, b); c5 = FMA(c5, a, b); c6 = FMA(c6, a, b); c7 = FMA(c7, a, b);
    c8 = FMA(c8, a, b); c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);
  }
  vec s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));
  s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));
  float out[LANES];
  STORE(out, s);
  sink = out[0];
}

typedef struct { long calls; double seconds; } job;

static void *worker(void *p) {
  job *j = (job *)p;
  double t0 = now();
  for (long k = 0; k < j->calls; k++) run(iters_per_call);
  j->seconds = now() - t0;
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double target = argc > 2 ? atof(argv[2]) : 1.0;
  /* Size the work on one call, so each thread runs about `target` seconds. */
  double t0 = now();
  run(iters_per_call);
  double one = now() - t0;
  long calls = (long)(target / (one > 1e-6 ? one : 1e-6));
  if (calls < 1) calls = 1;
  pthread_t tid[256];
  job jobs[256];
  if (threads < 1 || threads > 256) return 2;
  for (int t = 0; t < threads; t++) { jobs[t].calls = calls; pthread_create(&tid[t], NULL, worker, &jobs[t]); }
  double slowest = 0;
  for (int t = 0; t < threads; t++) { pthread_join(tid[t], NULL); if (jobs[t].seconds > slowest) slowest = jobs[t].seconds; }
  double flop = 2.0 * LANES * CHAINS * (double)iters_per_call * (double)calls * threads;
  printf("{\"threads\":%d,\"gflops\":%.2f,\"vector_bits\":%d,\"seconds\":%.3f}\n", threads, flop / slowest / 1e9, LANES * 32, slowest);
  return 0;
}
