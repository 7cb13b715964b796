/**
 * `npm run test:quick` (scripts/test.mjs --quick) sets COMPACT_TEST_QUICK=1. A test that is the
 * slow part of an otherwise fast file passes `{ skip: npmTestOnly(why) }`: skipped in the edit
 * loop, reported as skipped, always run by `npm test` and CI.
 */
export function npmTestOnly(why: string): string | false {
  return process.env.COMPACT_TEST_QUICK === '1' ? `test:quick leaves it to npm test (${why})` : false;
}
