/**
 * compact as a library: the same steps the CLI runs, typed.
 *
 *   import { pruneModel, evaluateText, inspectModel } from 'compact-llm';
 *   const report = await pruneModel({ model: 'in/', out: 'out/', vocab: 30000, ffn: 855 });
 *
 * Quiet: nothing is printed; pass `onProgress` for progress events. Errors are `CompactError`s
 * (one line) naming options as they are spelled here (`vocabRatio`, not `--vocab-ratio`).
 */
import { withLibraryErrors } from './errors.ts';
import { pruneModel as prune } from './prune/prune.ts';
import { evaluateText as evalText } from './eval/text-eval.ts';
import { inspectModel as inspect } from './prune/inspect-model.ts';

export { CompactError } from './errors.ts';
export const pruneModel: typeof prune = withLibraryErrors(prune);
export const evaluateText: typeof evalText = withLibraryErrors(evalText);
export const inspectModel: typeof inspect = withLibraryErrors(inspect);
export type { PruneOptions, PruneReport, FfnCriterion } from './prune/prune.ts';
export type { TextEvalOptions, TextEvalResult } from './eval/text-eval.ts';
export type { InspectReport } from './prune/inspect-model.ts';
export type { ProgressEvent, OnProgress } from './report/progress-events.ts';
export { Engine, type EngineOptions, type ForwardRequest, type ForwardResult } from './engine/runner.ts';
export { readModelConfig } from './families/model-config.ts';
export { FAMILIES, familyFor, supportedArchitectures } from './families/registry.ts';
export type { FamilyDescriptor, ModelSpec, TensorTemplate } from './families/types.ts';
export { countParams, type ParamBreakdown } from './report/params.ts';
export { openCheckpoint, type Checkpoint, type TensorInfo } from './io/safetensors.ts';
export { writeCheckpoint, type WriteEntry } from './io/safetensors-writer.ts';
export { withOutputDir } from './io/atomic-dir.ts';
export { readTokenizerFile, serializeTokenizerJson } from './tokenizer/tokenizer-file.ts';
export { selectKeptIds } from './tokenizer/vocab-select.ts';
export { pruneTokenizer } from './tokenizer/tokenizer-prune.ts';
export { loadTokenizer } from './tokenizer/tokenize.ts';
export { resolveModel, type ResolvedModel } from './io/hub/resolve-model.ts';
export { pushToHub, checkPushTarget, type PushOptions, type PushResult } from './io/hub/push.ts';
export { hubCacheDir, type HubOptions, type DownloadProgress } from './io/hub/hub-settings.ts';
export type { HubSource } from './io/hub/snapshot.ts';
