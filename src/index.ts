/**
 * compact as a library: the same steps the CLI runs, typed.
 *
 *   import { pruneModel, evaluateText, inspectModel } from 'compact';
 *   const report = await pruneModel({ model: 'in/', out: 'out/', vocab: 30000, ffn: 855 });
 */
export { CompactError } from './errors.ts';
export { pruneModel, type PruneOptions, type PruneReport, type FfnCriterion } from './prune/prune.ts';
export { evaluateText, type TextEvalOptions, type TextEvalResult } from './eval/text-eval.ts';
export { inspectModel, type InspectReport } from './cli/inspect.ts';
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
