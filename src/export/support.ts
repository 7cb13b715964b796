/**
 * Which families each export format supports — the descriptors' `formats` entries — checked on
 * config.json before anything is read, so an unsupported model fails with a message naming the
 * format's families rather than the pruner's list.
 */
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { readJsonObject } from '../json-text.ts';
import { FAMILIES } from '../families/registry.ts';
import type { FamilyDescriptor } from '../families/types.ts';

export type ExportFormat = 'gguf' | 'onnx';

/** What the format calls a family (GGUF architecture, transformers.js model type), or null. */
export function formatName(fam: FamilyDescriptor, format: ExportFormat): string | null {
  return format === 'gguf' ? (fam.formats.gguf?.arch ?? null) : (fam.formats.onnx?.modelType ?? null);
}

/** Family name → what the format calls it, for every family the format supports. */
export function formatSupport(format: ExportFormat): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of FAMILIES) {
    const n = formatName(f, format);
    if (n) out[f.name] = n;
  }
  return out;
}

export function supportedText(format: ExportFormat): string {
  return FAMILIES.filter((f) => formatName(f, format))
    .map((f) => `${f.architectures.join('/')} → ${formatName(f, format)}`)
    .join(', ');
}

/** Throws a CompactError unless config.json names an architecture the format supports. */
export function checkFormatSupport(dir: string, format: ExportFormat): void {
  const file = join(dir, 'config.json');
  const archs = readJsonObject(file).architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : null;
  const fam = arch === null ? undefined : FAMILIES.find((f) => f.architectures.includes(arch));
  const why = fam?.formatRefusals?.[format];
  if (fam && why) throw new CompactError(`${file}: ${arch} cannot be exported to ${format.toUpperCase()}: ${why}; supported: ${supportedText(format)}`);
  if (!fam || !formatName(fam, format)) {
    throw new CompactError(`${file}: ${arch ?? 'no "architectures" entry'} cannot be exported to ${format.toUpperCase()}; supported: ${supportedText(format)}`);
  }
}
