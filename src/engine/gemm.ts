/**
 * Dense matrix products on onnxruntime's CPU GEMM (MLAS, multi-threaded), for the work outside the
 * model graphs that is too big for scalar JavaScript: the Gram tiles of the refit's calibration
 * (f32) and its least-squares solve (f64). One session per (dtype, transposition), with symbolic
 * dims, so any shape reuses it; inputs are fed zero-copy (typed-array views included) and the
 * product is written into a caller's buffer, so a loop of products allocates nothing.
 */
import ort from './ort.ts';
import { attr, DataType, GraphBuilder, OPSET } from './onnx-proto.ts';
import { sessionOptions } from './session-options.ts';

export type GemmType = 'float32' | 'float64';
type Arr<T extends GemmType> = T extends 'float64' ? Float64Array : Float32Array;

export interface GemmShape {
  /** op(A) is M × K, op(B) K × N; A is stored M × K, or K × M with transA. */
  M: number;
  K: number;
  N: number;
  transA?: boolean;
  transB?: boolean;
}

export class Gemm<T extends GemmType> {
  readonly #sessions = new Map<string, Promise<ort.InferenceSession>>();
  readonly #options: ort.InferenceSession.SessionOptions;
  constructor(
    readonly type: T,
    threads?: number,
  ) {
    this.#options = sessionOptions({ threads });
  }

  /** out (M × N, row-major) = op(A)·op(B). `out` must not overlap A or B. */
  async mul(a: Arr<T>, b: Arr<T>, s: GemmShape, out: Arr<T>): Promise<Arr<T>> {
    const { M, K, N } = s;
    if (a.length < M * K || b.length < K * N || out.length < M * N) throw new Error(`gemm: buffers too small for ${M}×${K}·${K}×${N}`);
    if (M === 0 || N === 0) return out;
    if (K === 0) return out.fill(0, 0, M * N) as Arr<T>;
    const session = await this.#session(!!s.transA, !!s.transB);
    const ta = new ort.Tensor(this.type, a.subarray(0, M * K), s.transA ? [K, M] : [M, K]);
    const tb = new ort.Tensor(this.type, b.subarray(0, K * N), s.transB ? [N, K] : [K, N]);
    const tc = new ort.Tensor(this.type, out.subarray(0, M * N), [M, N]);
    await session.run({ a: ta, b: tb }, { c: tc });
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.#sessions.values()) await (await s).release();
    this.#sessions.clear();
  }

  #session(transA: boolean, transB: boolean): Promise<ort.InferenceSession> {
    const key = `${transA}:${transB}`;
    let s = this.#sessions.get(key);
    if (!s) {
      const code = this.type === 'float64' ? DataType.DOUBLE : DataType.FLOAT;
      const g = new GraphBuilder('gemm');
      g.input('a', code, transA ? ['K', 'M'] : ['M', 'K']);
      g.input('b', code, transB ? ['N', 'K'] : ['K', 'N']);
      g.node('Gemm', ['a', 'b'], { transA: attr.int(transA ? 1 : 0), transB: attr.int(transB ? 1 : 0) }, { outputs: ['c'] });
      g.output('c', code, ['M', 'N']);
      s = ort.InferenceSession.create(g.toModel(OPSET), this.#options);
      this.#sessions.set(key, s);
    }
    return s;
  }
}
