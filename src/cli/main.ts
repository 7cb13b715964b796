import { CompactError, UsageError } from '../errors.ts';
import { didYouMean } from '../suggest.ts';
export { interruptNote } from '../io/interrupt-note.ts';

/** Exit statuses (README, "Exit status"): usage mistakes, bad input or runtime failure; 130 on Ctrl-C (bin/compact.mjs). */
export const EXIT_USAGE = 2;
export const EXIT_ERROR = 1;
import { parseArgs, bool, num } from './args.ts';
import { formatInspect, inspectModel } from './inspect.ts';
import { packageVersion } from './version.ts';
import { clearProgressLine } from '../report/progress.ts';
import { HUB_FLAGS, HUB_USAGE, modelArg } from './hub-flags.ts';

const USAGE = `compact — make Hugging Face causal LMs smaller (COMPACT: vocabulary + FFN pruning)

usage:
  compact prune <model-dir> --out <dir> [--ratio R | --vocab V' --ffn I'] [--method M] [...]
  compact eval <model-dir> [--text FILE] [--tasks arc_easy,hellaswag,...|all] [--limit N] [--json]
  compact export <model-dir> --format gguf|onnx --out PATH [--dtype f32|f16|bf16] [--external-data] [--force]
  compact inspect <model-dir> [--json] [--vocab V'] [--ffn I']
  compact compare <model-dir> <model-dir> [...] [--text FILE] [--tasks LIST] [--json]
  compact generate <model-dir> --prompt "TEXT" [--max-new-tokens N] [--temperature T --top-p P --seed S]
  compact push <dir-or-file> --push-to-hub org/name [--private]
  compact experiments   regenerate docs/results.md (every method on wiki-28m)
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
  experiments: async (argv) => (await import('./experiments.ts')).experimentsCommand(argv),
  push: async (argv) => (await import('./push.ts')).pushCommand(argv),
  generate: async (argv) => (await import('./generate.ts')).generateCommand(argv),
  compare: async (argv) => (await import('./compare.ts')).compareCommand(argv),
  async inspect(argv) {
    const a = parseArgs(argv, { json: 'boolean', vocab: 'integer', ffn: 'integer', help: 'boolean', quiet: 'boolean', ...HUB_FLAGS }, 'inspect');
    if (bool(a, 'help') || a.positional.length !== 1) {
      console.log('usage: compact inspect <model-dir> [--json] [--vocab V\'] [--ffn I\']\n\n' +
        'Family, dimensions, dtype and the parameter breakdown (vocab 2VD or VD tied, FFN 3LDI, attention, norms),\n' +
        'cross-checked against the tensors on disk. --vocab/--ffn print the counts after such a pruning.\n' + HUB_USAGE);
      return a.positional.length === 1 || bool(a, 'help') ? 0 : 2;
    }
    const r = await inspectModel((await modelArg(a.positional[0]!, a)).dir, { vocab: num(a, 'vocab'), ffn: num(a, 'ffn') });
    console.log(bool(a, 'json') ? JSON.stringify(r, null, 2) : formatInspect(r));
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
