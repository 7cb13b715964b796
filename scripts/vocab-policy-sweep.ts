/**
 * The `freq` policy against merge order (`id`) at the same V′ on wiki-28m: vocab-only cuts at
 * R = 0.20 and 0.35, counts from calib-wiki, scored on WikiText-2 (first 120 KB, as in
 * docs/results.md) and on data/sotu-2001-2021.txt. Prior strength a: 0 = raw counts.
 *   node --import tsx scripts/vocab-policy-sweep.ts [--ratios 0.2,0.35] [--no-id] [a …]  → JSON lines on stdout
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pruneModel } from '../src/prune/prune.ts';
import { evaluateText } from '../src/eval/text-eval.ts';

const root = resolve(import.meta.dirname, '..');
const model = resolve(root, '../shared/models/wiki-28m');
const corpus = resolve(root, '../shared/data/text/calib-wiki.txt');
const wiki = cutToLine(readFileSync(resolve(root, '../shared/data/text/wikitext2-test.raw'), 'utf8'), 120_000);
const sotu = readFileSync(join(root, 'data/sotu-2001-2021.txt'), 'utf8');
const argv = process.argv.slice(2);
const ri = argv.indexOf('--ratios');
const ratios = ri >= 0 ? argv.splice(ri, 2)[1]!.split(',').map(Number) : [0.2, 0.35];
const noId = argv.includes('--no-id');
const strengths = argv.filter((a) => a !== '--no-id').map(Number);
const out = process.env.SWEEP_OUT ?? '/tmp/vocab-sweep';

function cutToLine(text: string, bytes: number): string {
  const head = Buffer.from(text, 'utf8').subarray(0, bytes).toString('utf8');
  return head.slice(0, head.lastIndexOf('\n') + 1);
}

for (const ratio of ratios) {
  for (const a of [...(noId ? [] : [null]), ...strengths]) {
    const dir = join(out, `r${ratio}-${a ?? 'id'}`);
    const r = await pruneModel({
      model, out: dir, force: true, quiet: true, method: 'vocab-only', ratio,
      ...(a === null ? {} : { vocabPolicy: 'freq' as const, vocabCorpus: corpus, vocabPriorStrength: a }),
    });
    const w = await evaluateText(dir, wiki, { seqLen: 512 });
    const s = await evaluateText(dir, sotu, { seqLen: 512 });
    console.log(JSON.stringify({ ratio, policy: a === null ? 'id' : `freq a=${a}`, vocab: r.vocab.kept, wiki_bpb: w.bpb, wiki_tokens: w.tokens, sotu_bpb: s.bpb, sotu_tokens: s.tokens }));
  }
}
