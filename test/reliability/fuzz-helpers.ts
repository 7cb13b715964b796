/**
 * Shared rules for the fuzz tests. Every parser we own must answer every input with either a
 * correct parse or a CompactError whose message is one line; anything else (TypeError,
 * RangeError, a stack overflow, a hang) is a bug.
 *
 * CI runs a fixed number of inputs with a fixed seed, so a failure reproduces exactly and the
 * suite's time stays bounded. Locally, scale up:
 *   COMPACT_FUZZ_RUNS=20 node scripts/test.mjs test/reliability     (20× the inputs)
 *   COMPACT_FUZZ_SEED=123 …                                          (another part of the space)
 */
import assert from 'node:assert/strict';
import { CompactError } from '../../src/errors.ts';

const scale = Number(process.env.COMPACT_FUZZ_RUNS ?? '1');
if (!(scale > 0)) throw new Error(`COMPACT_FUZZ_RUNS must be a positive number, got ${process.env.COMPACT_FUZZ_RUNS}`);

/** Fixed unless COMPACT_FUZZ_SEED says otherwise: CI must see the same inputs on every run. */
export const FUZZ_SEED = Number(process.env.COMPACT_FUZZ_SEED ?? '20250906');

/** The CI input count `n`, times COMPACT_FUZZ_RUNS. */
export function runs(n: number): number {
  return Math.max(1, Math.round(n * scale));
}

/** Outcome counts, printed as test diagnostics so docs/reliability.md can quote them. */
export class Tally {
  ok = 0;
  refused = 0;
  readonly messages = new Map<string, number>();

  /** Groups messages by their shape (numbers and quoted names blanked) to show what was hit. */
  refuse(e: CompactError): void {
    this.refused++;
    const shape = e.message.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').replace(/^[^:]*:/, '<file>:').slice(0, 90);
    this.messages.set(shape, (this.messages.get(shape) ?? 0) + 1);
  }

  summary(): string {
    return `${this.ok + this.refused} inputs: ${this.ok} parsed, ${this.refused} refused with CompactError (${this.messages.size} distinct messages)`;
  }
}

/** The message contract of src/errors.ts: non-empty, one line. */
export function assertOneLine(e: CompactError, input: string): void {
  assert.ok(e.message.length > 0, `empty CompactError message for ${input}`);
  assert.ok(!/[\n\r\v\f\u0085\u2028\u2029]/.test(e.message), `CompactError message spans lines for ${input}: ${JSON.stringify(e.message)}`);
}

/**
 * Runs `fn` on one fuzz input. Returns the parse, or null after checking that the failure is a
 * one-line CompactError; any other exception fails the property with the input named.
 */
export async function parseOrRefuse<T>(tally: Tally, input: string, fn: () => T | Promise<T>): Promise<T | null> {
  try {
    const value = await fn();
    tally.ok++;
    return value;
  } catch (e) {
    if (!(e instanceof CompactError)) {
      const err = e as Error;
      assert.fail(`${input}: threw ${err?.name ?? typeof e} instead of CompactError: ${err?.message}\n${err?.stack ?? ''}`);
    }
    assertOneLine(e, input);
    tally.refuse(e);
    return null;
  }
}

/** Short printable description of a mutated text, for failure messages. */
export function describe(text: string, max = 300): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text);
}

/** fast-check options for a property of CI size `n`: fixed seed, the failure's message in the report. */
export function fuzzOptions(n: number): { numRuns: number; seed: number; includeErrorInReport: boolean } {
  return { numRuns: runs(n), seed: FUZZ_SEED, includeErrorInReport: true };
}
