import { CompactError, UsageError } from '../errors.ts';
import { exportGguf, GGUF_SUPPORT_TEXT, type GgufExportReport } from '../export/gguf-export.ts';
import { exportOnnx, ONNX_SUPPORT, type OnnxExportReport } from '../export/onnx-export.ts';
import { fmtBytes } from '../report/format.ts';
import { bool, parseArgs, str } from './args.ts';
import { didYouMean } from '../suggest.ts';
import { notAModelFolder } from '../families/model-config.ts';
import { HUB_FLAGS, HUB_USAGE, modelArg, push, pushTarget, PUSH_FLAGS, PUSH_USAGE } from './hub-flags.ts';

export const EXPORT_USAGE = `usage: compact export <model-dir> --format gguf|onnx --out PATH [--dtype f32|f16|bf16] [--external-data[=false]]
                      [--force] [--json]

  --format gguf   one .gguf file for llama.cpp (--out names the file). Architectures:
                  ${GGUF_SUPPORT_TEXT}. --dtype sets the type of 2-D tensors
                  (default: the checkpoint's; norms and biases stay F32). An existing file is replaced
                  only with --force, and only if it is a GGUF (or empty).
  --format onnx   a folder for transformers.js (--out names the folder): onnx/model.onnx (decoder with
                  KV cache, f32) + config.json, generation_config.json, tokenizer.json,
                  tokenizer_config.json. Model types: ${Object.values(ONNX_SUPPORT).join(', ')}.
                  Models over 2 GiB (f32) are written with ONNX external data: the weights go to
                  onnx/model.onnx_data and config.json tells transformers.js to load it.
  --external-data always write onnx/model.onnx_data (onnx); --external-data=false never (models over
                  2 GiB are then refused). Default: only when the weights do not fit inline.
  --force         replace an existing --out: a GGUF file, or a folder compact wrote (with its
                  compact-export.json or compact-report.json) or an empty one; nothing else
  --json          print the report as JSON
${HUB_USAGE}
${PUSH_USAGE.replace(/result/, 'GGUF file (at its name) or the ONNX folder')}

Outputs appear whole or not at all: they are written beside --out and renamed into place.`;

export const GGUF_DTYPES: Record<string, 'F32' | 'F16' | 'BF16'> = { f32: 'F32', float32: 'F32', f16: 'F16', float16: 'F16', bf16: 'BF16', bfloat16: 'BF16' };

export async function exportCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { format: 'string', out: 'string', dtype: 'string', 'external-data': 'boolean', force: 'boolean', json: 'boolean', help: 'boolean', quiet: 'boolean', ...HUB_FLAGS, ...PUSH_FLAGS }, 'export');
  if (bool(a, 'help')) {
    console.log(EXPORT_USAGE);
    return 0;
  }
  const format = str(a, 'format');
  const out = str(a, 'out');
  if (a.positional.length !== 1) throw new UsageError(a.positional.length === 0 ? 'compact export: give the model folder (compact export <model-dir> --format gguf|onnx --out PATH; see compact export --help)' : `compact export: one model folder, got ${a.positional.length}: ${a.positional.join(' ')}`);
  if (!format) throw new UsageError('compact export: --format gguf|onnx is required');
  if (!out) throw new UsageError(`compact export: --out ${format === 'onnx' ? '<dir>' : '<file.gguf>'} is required`);
  let report: GgufExportReport | OnnxExportReport;
  const externalData = a.flags['external-data'] as boolean | undefined;
  if (format !== 'gguf' && format !== 'onnx') throw new UsageError(`--format must be gguf or onnx, got ${format}${didYouMean(format, ['gguf', 'onnx'])}`);
  if (externalData !== undefined && format !== 'onnx') throw new UsageError('--external-data applies to --format onnx only');
  const dt = str(a, 'dtype');
  if (format === 'gguf' && dt !== undefined && !GGUF_DTYPES[dt.toLowerCase()]) throw new UsageError(`--dtype must be f32, f16 or bf16, got ${dt}`);
  if (format === 'onnx' && dt !== undefined && dt.toLowerCase() !== 'f32') throw new UsageError('--dtype: the ONNX export writes f32 only');
  const pushRepo = await pushTarget(a);
  const model = (await modelArg(a.positional[0]!, a)).dir;
  const notModel = notAModelFolder(model);
  if (notModel) throw new CompactError(notModel);
  if (format === 'gguf') {
    report = await exportGguf(model, out, { dtype: dt ? GGUF_DTYPES[dt.toLowerCase()] : undefined, force: bool(a, 'force') });
  } else {
    report = await exportOnnx(model, out, { force: bool(a, 'force'), externalData: externalData ?? 'auto' });
  }
  const pushed = pushRepo ? await push(report.output, pushRepo, a, `compact export (${format}) of ${a.positional[0]}`) : null;
  if (bool(a, 'json')) console.log(JSON.stringify(pushed ? { ...report, push: pushed } : report, null, 2));
  else console.log(formatExportReport(report) + (pushed ? `\npushed to ${pushed.repo}: ${pushed.url}` : ''));
  return 0;
}

export function formatExportReport(r: GgufExportReport | OnnxExportReport): string {
  if ('architecture' in r) {
    return [
      `exported ${r.input} → ${r.output} (GGUF, ${r.architecture}, ${r.dtype}, ${r.tensors} tensors, ${fmtBytes(r.bytes)})`,
      `  tokenizer ${r.tokenizer.model}${r.tokenizer.pre ? ` (pre-tokenizer ${r.tokenizer.pre})` : ''}, ${r.vocab} tokens`,
      ...r.notes.map((n) => `  note: ${n}`),
    ].join('\n');
  }
  return `exported ${r.input} → ${r.output} (ONNX for transformers.js, model_type ${r.modelType}, ${fmtBytes(r.bytes)}${r.externalData ? ', weights as external data' : ''}): ${r.files.join(', ')}`;
}
