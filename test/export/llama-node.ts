/**
 * The slice of @fugood/llama.node that the tests and benches call, typed here.
 *
 * The package ships its TypeScript sources (lib/index.ts) as its types, and they do not compile
 * under this project's stricter flags (noUncheckedIndexedAccess, noUnusedLocals); importing them
 * would put them in our program. The option and result types come from lib/binding.ts, which does
 * compile; the module itself is imported by a non-literal specifier so its index.ts is not checked.
 */
import type { BenchResult, LlamaCompletionOptions, LlamaCompletionResult, LlamaModelOptions, TokenizeResult } from '@fugood/llama.node/lib/binding.js';

export type { BenchResult, LlamaCompletionOptions, LlamaCompletionResult, LlamaModelOptions, TokenizeResult };

export interface LlamaContext {
  completion(options: LlamaCompletionOptions, callback?: (token: unknown) => void): Promise<LlamaCompletionResult>;
  tokenize(text: string): Promise<TokenizeResult>;
  bench(pp: number, tg: number, pl: number, nr: number): Promise<BenchResult>;
  getSystemInfo(): string;
  release(): Promise<void>;
}

interface LlamaNode {
  loadModel(options: LlamaModelOptions & Record<string, unknown>): Promise<LlamaContext>;
  toggleNativeLog(enable: boolean): Promise<void>;
}

const SPECIFIER: string = '@fugood/llama.node';
const llama = (await import(SPECIFIER)) as LlamaNode;

export const loadModel = llama.loadModel;
export const toggleNativeLog = llama.toggleNativeLog;
