/**
 * Which families each export format supports, checked on config.json before anything is read, so
 * an unsupported model fails with a message naming the format's families rather than the
 * pruner's list.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { parseJson } from '../json-text.ts';
import { FAMILIES } from '../families/registry.ts';

export type ExportFormat = 'gguf' | 'onnx';

/** Family name → what the format calls it. */
export const FORMAT_SUPPORT: Record<ExportFormat, Record<string, string>> = {
  gguf: { llama: 'llama', mistral: 'llama', qwen2: 'qwen2', qwen3: 'qwen3', gemma3: 'gemma3' },
  onnx: { llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', qwen3: 'qwen3', gemma3: 'gemma3_text' },
};

export function supportedText(format: ExportFormat): string {
  return FAMILIES.filter((f) => FORMAT_SUPPORT[format][f.name])
    .map((f) => `${f.architectures.join('/')} → ${FORMAT_SUPPORT[format][f.name]}`)
    .join(', ');
}

/** Throws a CompactError unless config.json names an architecture the format supports. */
export function checkFormatSupport(dir: string, format: ExportFormat): void {
  const file = join(dir, 'config.json');
  let raw: unknown;
  try {
    raw = parseJson(readFileSync(file, 'utf8'), file);
  } catch (e) {
    if (e instanceof CompactError) throw e;
    throw new CompactError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const archs = (raw as { architectures?: unknown } | null)?.architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : null;
  const fam = arch === null ? undefined : FAMILIES.find((f) => f.architectures.includes(arch));
  if (!fam || !FORMAT_SUPPORT[format][fam.name]) {
    throw new CompactError(`${file}: ${arch ?? 'no "architectures" entry'} cannot be exported to ${format.toUpperCase()}; supported: ${supportedText(format)}`);
  }
}
