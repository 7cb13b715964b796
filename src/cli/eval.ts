import { readFileSync } from 'node:fs';
import { CompactError } from '../errors.ts';
import { evaluateText, type TextEvalResult } from '../eval/text-eval.ts';
import { Progress } from '../report/progress.ts';
import { bool, num, parseArgs, str, type ParsedArgs } from './args.ts';

export const EVAL_USAGE = `usage: compact eval <model-dir> --text FILE [--seq-len 512] [--max-tokens N] [--json]
                        [--device cpu|webgpu] [--threads N] [--quiet]

  --text FILE      bits per byte (NLL in bits / UTF-8 bytes covered; compares models with different
                   vocabularies fairly) and token perplexity of a plain-text file, as one stream
                   [BOS or EOS] + tokens cut into windows of --seq-len without overlap`;

export const EVAL_FLAGS = {
  text: 'string', 'seq-len': 'number', 'max-tokens': 'number', json: 'boolean', device: 'string', threads: 'number', quiet: 'boolean', help: 'boolean',
} as const;

export async function runTextEval(a: ParsedArgs, model: string): Promise<TextEvalResult> {
  const file = str(a, 'text')!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CompactError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text.length === 0) throw new CompactError(`${file}: evaluation text is empty`);
  const device = str(a, 'device');
  if (device !== undefined && device !== 'cpu' && device !== 'webgpu') throw new CompactError(`--device must be cpu or webgpu, got ${device}`);
  let bar2: Progress | null = null;
  return evaluateText(model, text, {
    seqLen: num(a, 'seq-len'),
    maxTokens: num(a, 'max-tokens'),
    device: device as 'cpu' | 'webgpu' | undefined,
    threads: num(a, 'threads'),
    onProgress: (done, total, tokens) => {
      bar2 ??= new Progress('eval', total, 'tokens', process.stderr, bool(a, 'quiet'));
      bar2.update(done, (tokens * done) / total, `layer ${done}/${total}`);
    },
  });
}

export async function evalCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, EVAL_FLAGS, 'eval');
  if (bool(a, 'help')) {
    console.log(EVAL_USAGE);
    return 0;
  }
  if (a.positional.length !== 1 || !str(a, 'text')) {
    console.error(EVAL_USAGE);
    return 2;
  }
  const r = await runTextEval(a, a.positional[0]!);
  if (bool(a, 'json')) console.log(JSON.stringify(r, null, 2));
  else console.log(`${a.positional[0]}: ${r.bpb.toFixed(4)} bits/byte, perplexity ${r.ppl.toFixed(2)} over ${r.tokens} tokens (${r.bytes} bytes, windows of ${r.seq_len})`);
  return 0;
}
