/**
 * Every check of a prune's paths that can be made before a weight is read: the output folder,
 * the GGUF written after it, and the text files it will read. A mistake here costs nothing;
 * found after calibration it costs minutes (hours on a large model), and found after writing it
 * can cost the user's files. The budget and flag checks are in prune.ts (resolvePlan), which
 * also runs before the checkpoint is opened.
 */
import path from 'node:path';
import { CompactError } from '../errors.ts';
import { GGUF_MAGIC } from '../export/gguf-writer.ts';
import { guardOutput, isWithin, resolveReal } from '../io/output-guard.ts';
import { checkTextFile } from '../io/text-file.ts';

export interface PrunePaths {
  model: string;
  out: string;
  force?: boolean;
  /** Text files read later, by flag: --calib, --vocab-corpus. */
  texts?: Array<{ flag: string; file: string | undefined }>;
  /** The GGUF written after the prune (--export gguf), if any. */
  exportPath?: string;
}

export function checkPrunePaths(p: PrunePaths): void {
  guardOutput(p.out, { kind: 'folder', force: p.force, inputs: [p.model] });
  if (p.exportPath !== undefined) checkExportPath(p.exportPath, p.out, p.model, p.force);
  for (const t of p.texts ?? []) if (t.file !== undefined) checkTextFile(t.file, t.flag);
}

/**
 * The GGUF beside or inside the new output folder. Inside it, the folder is built afresh, so
 * nothing there can be overwritten; it must then sit directly in it (the folder has no subfolders).
 */
function checkExportPath(file: string, out: string, model: string, force: boolean | undefined): void {
  const real = resolveReal(file);
  const outReal = resolveReal(out);
  if (isWithin(real, outReal)) {
    if (real === outReal) throw new CompactError(`--export-path ${file} is the --out folder; name a .gguf file`);
    if (path.dirname(real) !== outReal) throw new CompactError(`--export-path ${file}: inside --out it must be directly in the folder (compact creates no subfolders there)`);
    guardOutput(file, { kind: 'file', inputs: [model], magic: GGUF_MAGIC, flag: '--export-path', fresh: true });
    return;
  }
  guardOutput(file, { kind: 'file', force, inputs: [model], magic: GGUF_MAGIC, flag: '--export-path' });
}
