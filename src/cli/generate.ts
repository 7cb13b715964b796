import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { readModelConfig } from '../families/model-config.ts';
import { KvDecoder } from '../engine/kv-decoder.ts';
import { checkSampling, picker, streamGenerate, type SamplingOptions } from '../engine/sampling.ts';
import { loadTokenizer } from '../tokenizer/tokenize.ts';
import { bool, num, parseArgs, str } from './args.ts';

export const DEFAULT_MAX_NEW_TOKENS = 64;

export const GENERATE_USAGE = `usage: compact generate <model-dir> --prompt "TEXT" [--max-new-tokens ${DEFAULT_MAX_NEW_TOKENS}]
                        [--temperature T [--top-p P] [--seed S]] [--threads N] [--json]

Continues TEXT with the model on the KV-cache decoder (the whole model in memory, f32) and streams
the prompt and the new text to stdout. The prompt is tokenized as compact eval scores text: after
the model's BOS (EOS for GPT-2-style tokenizers). Stops at an end-of-sequence token (config.json
and generation_config.json eos_token_id) or after --max-new-tokens.

  --max-new-tokens N  at most N new tokens (default ${DEFAULT_MAX_NEW_TOKENS})
  --temperature T     sample with temperature T > 0 (default: greedy, the most likely token each step)
  --top-p P           with --temperature: sample from the smallest set of tokens holding P of the
                      probability (default 1)
  --seed S            with --temperature: seed of the sampler (default 0; the same seed, the same text)
  --json              no streaming: {"prompt", "prompt_ids", "ids", "text", "stop"} on stdout`;

export interface GenerateOutput {
  model: string;
  prompt: string;
  /** The ids fed to the model: start token + the prompt's. */
  prompt_ids: number[];
  /** The generated ids. */
  ids: number[];
  /** The generated text (what follows the prompt). */
  text: string;
  stop: 'eos' | 'max-new-tokens';
  seconds: number;
}

function stopIdsOf(dir: string, raw: Record<string, unknown>, eos: number | null): number[] {
  const ids = new Set<number>();
  const add = (v: unknown) => {
    for (const x of Array.isArray(v) ? v : [v]) if (Number.isInteger(x)) ids.add(x as number);
  };
  add(raw.eos_token_id);
  const gc = join(dir, 'generation_config.json');
  if (existsSync(gc)) {
    try {
      add((JSON.parse(readFileSync(gc, 'utf8')) as Record<string, unknown>).eos_token_id);
    } catch {
      throw new CompactError(`${gc}: not valid JSON`);
    }
  }
  if (eos !== null) ids.add(eos);
  return [...ids].sort((a, b) => a - b);
}

/**
 * Generates after `prompt`; `write` receives text as soon as it is complete (a token that ends
 * inside a multi-byte character is held until the character is whole).
 */
export async function generateText(model: string, prompt: string, opts: SamplingOptions & { maxNew?: number; threads?: number; write?: (s: string) => void }): Promise<GenerateOutput> {
  const maxNew = opts.maxNew ?? DEFAULT_MAX_NEW_TOKENS;
  if (!(Number.isInteger(maxNew) && maxNew >= 1)) throw new CompactError(`--max-new-tokens must be a positive integer, got ${opts.maxNew}`);
  if (prompt.length === 0) throw new CompactError('--prompt is empty');
  checkSampling(opts);
  const { spec, raw } = readModelConfig(model);
  const tok = loadTokenizer(model);
  const promptIds = Int32Array.from([tok.streamStartId, ...tok.encode(prompt)]);
  if (promptIds.length + maxNew > spec.maxPositions) {
    throw new CompactError(`the prompt (${promptIds.length} tokens) + --max-new-tokens ${maxNew} exceed the model's max_position_embeddings ${spec.maxPositions}`);
  }
  const t0 = performance.now();
  const dec = await KvDecoder.open(model, { threads: opts.threads, capacity: promptIds.length + maxNew });
  try {
    // Text is cut from the decode of prompt + generated ids, so tokenizers whose decode depends on
    // the neighbours (SentencePiece's leading space) read as they would in one piece.
    const head = tok.decode(promptIds);
    const gen: number[] = [];
    let shown = 0;
    const res = await streamGenerate(dec, promptIds, {
      maxNew,
      stopIds: stopIdsOf(model, raw, tok.eosId),
      pick: picker(opts),
      onToken: (id) => {
        gen.push(id);
        const text = tok.decode([...promptIds, ...gen]).slice(head.length);
        if (text.endsWith('\uFFFD')) return;
        opts.write?.(text.slice(shown));
        shown = text.length;
      },
    });
    const text = tok.decode([...promptIds, ...res.ids]).slice(head.length);
    if (text.length > shown) opts.write?.(text.slice(shown));
    return { model, prompt, prompt_ids: [...promptIds], ids: res.ids, text, stop: res.stop, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await dec.close();
  }
}

export async function generateCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { prompt: 'string', 'max-new-tokens': 'number', temperature: 'number', 'top-p': 'number', seed: 'number', threads: 'number', json: 'boolean', help: 'boolean' }, 'generate');
  if (bool(a, 'help')) {
    console.log(GENERATE_USAGE);
    return 0;
  }
  if (a.positional.length !== 1 || str(a, 'prompt') === undefined) {
    console.error(GENERATE_USAGE);
    return 2;
  }
  const prompt = str(a, 'prompt')!;
  const json = bool(a, 'json');
  let started = false;
  const out = await generateText(a.positional[0]!, prompt, {
    maxNew: num(a, 'max-new-tokens'),
    temperature: num(a, 'temperature'),
    topP: num(a, 'top-p'),
    seed: num(a, 'seed'),
    threads: num(a, 'threads'),
    write: json
      ? undefined
      : (s) => {
          if (!started) process.stdout.write(prompt);
          started = true;
          process.stdout.write(s);
        },
  });
  if (json) console.log(JSON.stringify(out, null, 2));
  else process.stdout.write(`${started ? '' : prompt}\n`);
  return 0;
}
