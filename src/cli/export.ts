import { CompactError } from '../errors.ts';
import { exportGguf, GGUF_SUPPORT_TEXT, type GgufExportReport } from '../export/gguf-export.ts';
import { exportOnnx, ONNX_SUPPORT, type OnnxExportReport } from '../export/onnx-export.ts';
import { fmtBytes } from '../report/format.ts';
import { bool, parseArgs, str } from './args.ts';
import { HUB_FLAGS, HUB_USAGE, modelArg, push, pushTarget, PUSH_FLAGS, PUSH_USAGE } from './hub-flags.ts';

export const EXPORT_USAGE = `usage: compact export <model-dir> --format gguf|onnx --out PATH [--dtype f32|f16|bf16] [--external-data[=false]]
                      [--force] [--json]

  --format gguf   one .gguf file for llama.cpp (--out names the file). Architectures:
                  ${GGUF_SUPPORT_TEXT}. --dtype sets the type of 2-D tensors
                  (default: the checkpoint's; norms and biases stay F32). Replaces an existing file.
  --format onnx   a folder for transformers.js (--out names the folder): onnx/model.onnx (decoder with
                  KV cache, f32) + config.json, generation_config.json, tokenizer.json,
                  tokenizer_config.json. Model types: ${Object.values(ONNX_SUPPORT).join(', ')}.
                  Models over 2 GiB (f32) are written with ONNX external data: the weights go to
                  onnx/model.onnx_data and config.json tells transformers.js to load it.
  --external-data always write onnx/model.onnx_data (onnx); --external-data=false never (models over
                  2 GiB are then refused). Default: only when the weights do not fit inline.
  --force         replace an existing --out folder (onnx)
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
  if (a.positional.length !== 1 || !format || !out) {
    console.error(EXPORT_USAGE);
    return 2;
  }
  let report: GgufExportReport | OnnxExportReport;
  const externalData = a.flags['external-data'] as boolean | undefined;
  if (externalData !== undefined && format !== 'onnx') throw new CompactError('--external-data applies to --format onnx only');
  if (format !== 'gguf' && format !== 'onnx') throw new CompactError(`--format must be gguf or onnx, got ${format}`);
  const dt = str(a, 'dtype');
  if (format === 'gguf' && dt !== undefined && !GGUF_DTYPES[dt.toLowerCase()]) throw new CompactError(`--dtype must be f32, f16 or bf16, got ${dt}`);
  if (format === 'onnx' && dt !== undefined && dt.toLowerCase() !== 'f32') throw new CompactError('--dtype: the ONNX export writes f32 only');
  const pushRepo = await pushTarget(a);
  const model = (await modelArg(a.positional[0]!, a)).dir;
  if (format === 'gguf') {
    report = await exportGguf(model, out, { dtype: dt ? GGUF_DTYPES[dt.toLowerCase()] : undefined });
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
