import { CompactError, UsageError } from '../errors.ts';
import { didYouMean } from '../suggest.ts';
export { interruptNote } from '../io/interrupt-note.ts';

/** Exit statuses (README, "Exit status"): usage mistakes, bad input or runtime failure; 130 on Ctrl-C (bin/compact.mjs). */
export const EXIT_USAGE = 2;
export const EXIT_ERROR = 1;
import { parseArgs, bool, num, str } from './args.ts';
import { formatInspect, inspectModel } from './inspect.ts';
import { packageVersion } from './version.ts';
import { clearProgressLine } from '../report/progress.ts';
import { HUB_FLAGS, HUB_USAGE, modelArg } from './hub-flags.ts';

const USAGE = `compact — make Hugging Face causal LMs smaller (COMPACT: vocabulary + FFN pruning)

usage:
  compact prune <model-dir> --out <dir> [--ratio R | --vocab V' --ffn I'] [--method M] [...]
  compact eval <model-dir> [--text FILE] [--tasks arc_easy,hellaswag,...|all] [--limit N] [--json]
  compact export <model-dir> --format gguf|onnx --out PATH [--dtype f32|f16|bf16|q8_0|q4_0|q6_k|q4_k_m|q5_k_m] [--external-data] [--force]
  compact inspect <model-dir> [--json] [--vocab V'] [--ffn I'] [--gguf-plan q4_k_m]
  compact compare <model-dir> <model-dir> [...] [--text FILE] [--tasks LIST] [--json]
  compact generate <model-dir> --prompt "TEXT" [--max-new-tokens N] [--temperature T --top-p P --seed S]
  compact push <dir-or-file> --push-to-hub org/name [--private]
  compact help | --version

<model-dir> may be a Hugging Face id: org/name, org/name@revision (downloaded into the HF cache).
Run \`compact <command> --help\` for a command's flags.`;

type Command = (argv: string[]) => Promise<number>;

// Loaded on first use: the engine (onnxruntime-node's native library) costs more start-up time
// than everything else together, and `--help`, `--version` and `inspect` never need it.
const commands: Record<string, Command> = {
  prune: async (argv) => (await import('./prune.ts')).pruneCommand(argv),
  eval: async (argv) => (await import('./eval.ts')).evalCommand(argv),
  export: async (argv) => (await import('./export.ts')).exportCommand(argv),
  push: async (argv) => (await import('./push.ts')).pushCommand(argv),
  generate: async (argv) => (await import('./generate.ts')).generateCommand(argv),
  compare: async (argv) => (await import('./compare.ts')).compareCommand(argv),
  async inspect(argv) {
    const a = parseArgs(argv, { json: 'boolean', vocab: 'integer', ffn: 'integer', 'gguf-plan': 'string', help: 'boolean', quiet: 'boolean', ...HUB_FLAGS }, 'inspect');
    if (bool(a, 'help') || a.positional.length !== 1) {
      console.log('usage: compact inspect <model-dir> [--json] [--vocab V\'] [--ffn I\'] [--gguf-plan TYPE]\n\n' +
        'Family, dimensions, dtype and the parameter breakdown (vocab 2VD or VD tied, FFN 3LDI, attention, norms),\n' +
        'cross-checked against the tensors on disk. --vocab/--ffn print the counts after such a pruning.\n' +
        '--gguf-plan q8_0|q4_0|q6_k|q4_k_m|q5_k_m: each tensor\'s type in that quantized GGUF export (llama.cpp\'s\n' +
        'rules), the row-length fallbacks, bytes and bits per weight; writes nothing.\n' + HUB_USAGE);
      return a.positional.length === 1 || bool(a, 'help') ? 0 : 2;
    }
    const planType = str(a, 'gguf-plan');
    const { formatGgufPlan, ggufPlan, ggufTypeOption } = await import('./gguf-plan.ts');
    if (planType !== undefined) ggufTypeOption(planType, '--gguf-plan');
    const dir = (await modelArg(a.positional[0]!, a)).dir;
    const r = await inspectModel(dir, { vocab: num(a, 'vocab'), ffn: num(a, 'ffn') });
    const plan = planType !== undefined ? await ggufPlan(dir, planType) : null;
    if (bool(a, 'json')) console.log(JSON.stringify(plan ? { ...r, gguf_plan: plan } : r, null, 2));
    else console.log(formatInspect(r) + (plan ? `\n\n${formatGgufPlan(plan)}` : ''));
    return 0;
  },
};

export { clearProgressLine };

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    console.log(packageVersion());
    return 0;
  }
  const run = commands[cmd];
  if (!run) {
    const hint = didYouMean(cmd, Object.keys(commands));
    console.error(`error: unknown command "${cmd}"${hint || ` (known: ${Object.keys(commands).join(', ')})`}`);
    return EXIT_USAGE;
  }
  try {
    return await run(rest);
  } catch (e) {
    clearProgressLine();
    if (e instanceof CompactError) {
      console.error(`error: ${e.message}`);
      return e instanceof UsageError ? EXIT_USAGE : EXIT_ERROR;
    }
    throw e;
  }
}
