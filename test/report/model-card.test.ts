/**
 * The model card and the report of a real `compact prune` run (CLI, planner, --eval-text,
 * --export gguf) on a golden fixture given a hub-style README with a license, a LICENSE/NOTICE
 * and the original model's training records: the front matter parses as YAML with the hub's keys,
 * the card's figures are the report's, the license files are copied and the training records
 * dropped, every file written is listed with its true size and SHA-256, and the planner's
 * progress says `candidate k of N` with an ETA. Each plot is rendered to PNG (resvg) and read
 * back: not blank, and the marked point is drawn where the report's figures put it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { evaluateText } from '../../src/eval/text-eval.ts';
import type { PruneReport } from '../../src/prune/prune.ts';
import { Resvg } from '@resvg/resvg-js';
import { frontMatter, readInputCard, type CardReport } from '../../src/report/model-card.ts';
import { coveragePlot, energyPlot, plannerPlot } from '../../src/report/card-plots.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const BIN = join(REPO_ROOT, 'bin/compact.mjs');
const CALIB = shared('data/text/calib-wiki.txt');

/** The front matter block of a markdown file, parsed by a real YAML parser. */
function frontMatterOf(md: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(md);
  assert.ok(m, 'card starts with a --- front matter block');
  return parseYaml(m[1]!, { strict: true, uniqueKeys: true }) as Record<string, unknown>;
}

interface PrunedRun {
  input: string;
  out: string;
  evalFile: string;
  stderr: string;
  argv: string[];
  report: PruneReport;
}

let run: PrunedRun | null = null;
/** One prune serves every test in this file. */
function prunedFixture(tag: string): PrunedRun {
  const input = fixtureWithTokenizer('llama3');
  writeFileSync(join(input, 'README.md'), '---\nlicense: apache-2.0\nlanguage:\n- en\ntags:\n- tiny\n---\n\n# A tiny llama\n\nTrained on nothing in particular.\n');
  writeFileSync(join(input, 'LICENSE'), 'Apache License, Version 2.0 (a stand-in for the test)\n');
  writeFileSync(join(input, 'NOTICE'), 'Copyright the test\n');
  writeFileSync(join(input, 'training_stats.json'), '{"params": 123456, "loss": 2.5}\n');
  writeFileSync(join(input, 'trainlog.txt'), 'step 1 loss 9.0\nstep 2 loss 8.0\n');
  const parent = makeTmpDir(tag);
  const out = join(parent, 'tiny-pruned');
  const evalFile = join(parent, 'eval.txt');
  writeFileSync(evalFile, readFileSync(shared('data/text/wikitext2-test.raw'), 'utf8').slice(0, 3000));
  const argv = ['prune', input, '--out', out, '--ratio', '0.3', '--planner-step', '0.5', '--calib', CALIB, '--calib-tokens', '400', '--seq-len', '64', '--threads', '2', '--eval-text', evalFile, '--export', 'gguf'];
  const r = spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { input, out, evalFile, stderr: r.stderr, argv, report: JSON.parse(readFileSync(join(out, 'compact-report.json'), 'utf8')) };
}

function get(): PrunedRun {
  return (run ??= prunedFixture('card'));
}

test('card front matter parses as YAML with the hub keys; license carried from the input card', () => {
  const { out } = get();
  const md = readFileSync(join(out, 'README.md'), 'utf8');
  const fm = frontMatterOf(md);
  assert.equal(fm.base_model, 'model', 'no hub id: the input folder name');
  assert.equal(fm.library_name, 'transformers');
  assert.equal(fm.pipeline_tag, 'text-generation');
  assert.equal(fm.license, 'apache-2.0');
  assert.ok(Array.isArray(fm.tags) && (fm.tags as string[]).includes('compact') && (fm.tags as string[]).includes('pruned'), String(fm.tags));
  assert.ok(!('language' in fm), 'only the license is carried, not the original model\'s description');
  assert.ok(!md.includes('Trained on nothing'), 'the original card\'s text is not copied');
});

test('front matter: hub id as base_model, awkward values quoted so YAML reads them back exactly', () => {
  const base = { input: '/x/My Model: v2', hub: null, vocab: { kept: 10, tokenizer_size_before: 10 }, ffn: { intermediate_after: 5, intermediate_before: 8 }, layers: null, family: 'qwen2' } as unknown as CardReport;
  const none = readInputCard(null);
  assert.equal(frontMatterOf(frontMatter(base, none)).base_model, 'My Model: v2');
  const hub = { ...base, input: 'Qwen/Qwen2.5-0.5B', hub: { repo: 'Qwen/Qwen2.5-0.5B', commit: 'abc' } } as CardReport;
  const fm = frontMatterOf(frontMatter(hub, readInputCard('---\nlicense: "other"\nlicense_name: qwen-research\nlicense_link: https://huggingface.co/Qwen/x/blob/main/LICENSE\n---\n')));
  assert.equal(fm.base_model, 'Qwen/Qwen2.5-0.5B');
  assert.deepEqual([fm.license, fm.license_name, fm.license_link], ['other', 'qwen-research', 'https://huggingface.co/Qwen/x/blob/main/LICENSE']);
  assert.deepEqual(fm.tags, ['compact', 'pruned', 'ffn-pruning', 'qwen2']);
  assert.equal(readInputCard('# no front matter\nlicense: mit\n').license, null);
});

test('card body: what was removed, the exact command, the parameter table, V′/I′, calibration, quality', async () => {
  const { out, input, evalFile, argv, report } = get();
  const md = readFileSync(join(out, 'README.md'), 'utf8');
  const int = (n: number) => n.toLocaleString('en-US');
  // The command less --threads (which cannot change the output: the report's run figures keep it).
  const i = argv.indexOf('--threads');
  const rebuild = [...argv.slice(0, i), ...argv.slice(i + 2)];
  assert.ok(md.includes('```sh\n' + ['compact', ...rebuild].join(' ') + '\n```'), 'the command');
  assert.equal(report.command, ['compact', ...rebuild].join(' '));
  assert.equal(report.run.command_line, ['compact', ...argv].join(' '));
  const b = report.params.before;
  const a = report.params.after;
  for (const [label, key] of [['vocabulary', 'embedding_params'], ['FFN', 'ffn_params'], ['attention', 'attention_params'], ['norms', 'norm_params']] as const) {
    const row = md.split('\n').find((l) => l.startsWith(`| ${label}`));
    assert.ok(row, `a ${label} row`);
    assert.ok(row.includes(`| ${int(b[key])} | ${int(a[key])} |`), `${label}: ${row}`);
  }
  assert.ok(md.includes(`**${int(b.total_params)}** | **${int(a.total_params)}**`));
  // Memory in the output dtype (the fixture is stored in f32: 4 bytes a parameter).
  assert.equal(report.weights_dtype, 'F32');
  assert.ok(md.includes(`memory of the weights (float32, 4 bytes/parameter) | ${(b.total_params * 4 / 1e6).toFixed(1)} MB | ${(a.total_params * 4 / 1e6).toFixed(1)} MB`), 'memory row');
  assert.ok(md.includes(`V′ = ${int(report.vocab.kept)} tokens`) && md.includes(`I′ = ${int(report.ffn.intermediate_after)} FFN channels`));
  assert.ok(md.includes(`${int(report.calibration!.tokens)} tokens of calib-wiki.txt`));
  assert.match(md, /The split was planned/);
  // --eval-text: the figures compact eval gives for each model on that text.
  const text = readFileSync(evalFile, 'utf8');
  const dense = await evaluateText(input, text, { seqLen: 512, threads: 2 });
  const pruned = await evaluateText(out, text, { seqLen: 512, threads: 2 });
  assert.ok(Math.abs(report.quality!.dense.bpb - dense.bpb) < 1e-9, `${report.quality!.dense.bpb} vs ${dense.bpb}`);
  assert.ok(Math.abs(report.quality!.pruned.bpb - pruned.bpb) < 1e-9);
  assert.equal(report.quality!.bytes, dense.bytes);
  assert.ok(md.includes(`| ${dense.bpb.toFixed(4)} |`) && md.includes(`| ${pruned.bpb.toFixed(4)} (`), 'quality table');
});

test('license and notice copied, training records dropped and listed, plots linked', () => {
  const { out, input, report } = get();
  for (const f of ['LICENSE', 'NOTICE']) assert.equal(readFileSync(join(out, f), 'utf8'), readFileSync(join(input, f), 'utf8'));
  for (const f of ['training_stats.json', 'trainlog.txt']) {
    assert.ok(!existsSync(join(out, f)), `${f} not copied`);
    assert.ok(report.dropped_files.includes(f), `${f} listed as dropped`);
  }
  const md = readFileSync(join(out, 'README.md'), 'utf8');
  const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]!);
  assert.deepEqual(links.sort(), ['plot-ffn-energy.svg', 'plot-planner.svg', 'plot-vocab-coverage.svg']);
  for (const l of links) assert.match(readFileSync(join(out, l), 'utf8'), /^<svg /);
});

test('report: tool version, absolute input, every file written (GGUF included) with size and sha256', () => {
  const { out, input, report, stderr } = get();
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
  assert.equal(report.tool_version, pkg.version);
  assert.equal(report.tool, pkg.name);
  assert.equal(report.input, input);
  const onDisk = readdirSync(out).filter((f) => f !== 'compact-report.json').sort();
  assert.deepEqual(report.files.map((f: { path: string }) => f.path), onDisk);
  assert.ok(onDisk.includes('model.gguf') && onDisk.includes('README.md'));
  for (const f of report.files) {
    const bytes = readFileSync(join(out, f.path));
    assert.equal(f.bytes, statSync(join(out, f.path)).size);
    assert.equal(f.sha256, createHash('sha256').update(bytes).digest('hex'), f.path);
  }
  // Planner progress (stderr is not a terminal: one line per candidate).
  const lines = stderr.split('\n').filter((l) => l.startsWith('planner: candidate'));
  assert.equal(lines.length, 3, stderr);
  lines.forEach((l, k) => assert.match(l, new RegExp(`^planner: candidate ${k + 1} of 3 \\(vocab share [\\d.]+%\\): (skipped|V′ .* elapsed \\S+ eta \\S+$)`), l));
  assert.match(lines.filter((l) => !l.includes('skipped')).at(-1)!, /eta 0\.0s$/, 'the last candidate built leaves nothing to wait for');
});

interface Png {
  w: number;
  h: number;
  rgba: Uint8Array;
}

function render(svg: string): Png {
  const img = new Resvg(svg, { fitTo: { mode: 'original' }, background: 'white' }).render();
  return { w: img.width, h: img.height, rgba: new Uint8Array(img.pixels) };
}

function assertNotBlank(png: Png, name: string): void {
  let ink = 0;
  const colours = new Set<number>();
  for (let i = 0; i < png.w * png.h; i++) {
    const [r, g, b] = [png.rgba[4 * i]!, png.rgba[4 * i + 1]!, png.rgba[4 * i + 2]!];
    if (r < 240 || g < 240 || b < 240) ink++;
    colours.add((r >> 4) * 256 + (g >> 4) * 16 + (b >> 4));
  }
  assert.ok(ink > 0.02 * png.w * png.h, `${name}: only ${ink} non-white pixels`);
  assert.ok(colours.size >= 4, `${name}: ${colours.size} colours`);
}

/** Centroid of the pixels in the mark colour (#d62728, the ring around the marked point). */
function markCentroid(png: Png): { x: number; y: number; n: number } {
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let y = 0; y < png.h; y++) for (let x = 0; x < png.w; x++) {
    const i = 4 * (y * png.w + x);
    if (png.rgba[i]! > 170 && png.rgba[i + 1]! < 90 && png.rgba[i + 2]! < 90) {
      sx += x;
      sy += y;
      n++;
    }
  }
  return { x: sx / n + 0.5, y: sy / n + 0.5, n };
}

/** The small dots of a line series, as the SVG places them. */
function dots(svg: string): Array<{ x: number; y: number }> {
  return [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="3"/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
}

test('plots render to PNG, are not blank, and mark the chosen candidate and V′ where the report says', () => {
  const { out, report } = get();
  const svgs = Object.fromEntries(['plot-planner.svg', 'plot-ffn-energy.svg', 'plot-vocab-coverage.svg'].map((f) => [f, readFileSync(join(out, f), 'utf8')]));
  for (const [f, svg] of Object.entries(svgs)) {
    assertNotBlank(render(svg), f);
    for (const label of [/bits\/byte|activation energy|calibration tokens kept/, /%/]) assert.match(svg, label, `${f}: axis label with units`);
  }

  // Planner: the ring sits on the candidate the report chose, which is the lowest dot (least bits/byte).
  const p = report.planner!;
  const chosen = p.candidates[p.chosen]!;
  const chart = plannerPlot(p)!;
  assert.equal(chart.svg, svgs['plot-planner.svg'], 'the file is the chart of the report\'s figures');
  const ring = markCentroid(render(svgs['plot-planner.svg']!));
  assert.ok(ring.n > 20, 'a ring is drawn');
  assert.ok(Math.abs(ring.x - chart.px(chosen.share)) < 1.5 && Math.abs(ring.y - chart.py(chosen.bpb!)) < 1.5, `ring at ${ring.x},${ring.y}; chosen at ${chart.px(chosen.share)},${chart.py(chosen.bpb!)}`);
  const lowest = dots(chart.svg).reduce((a, d) => (d.y > a.y ? d : a));
  assert.ok(Math.abs(ring.x - lowest.x) < 1.5 && Math.abs(ring.y - lowest.y) < 1.5, 'the ring is on the best-scoring candidate');
  const built = p.candidates.filter((c: { bpb: number | null }) => c.bpb !== null);
  assert.equal(dots(chart.svg).length, built.length, 'one dot per scored candidate');

  // Coverage: the ring at (V′, share of calibration tokens kept), on the curve.
  const cov = coveragePlot(report.calibration!.vocab_coverage!, report.vocab.kept, report.calibration!.common_token_share)!;
  assert.equal(cov.svg, svgs['plot-vocab-coverage.svg']);
  const r2 = markCentroid(render(cov.svg));
  assert.ok(Math.abs(r2.x - cov.px(report.vocab.kept)) < 1.5 && Math.abs(r2.y - cov.py(report.calibration!.common_token_share)) < 1.5, `ring at ${r2.x},${r2.y}`);
  assert.ok(dots(cov.svg).some((d) => Math.abs(d.x - r2.x) < 1.5 && Math.abs(d.y - r2.y) < 1.5), 'the chosen V′ is a point of the curve');
  const i = report.calibration!.vocab_coverage!.vocab.indexOf(report.vocab.kept);
  assert.equal(report.calibration!.vocab_coverage!.share[i], report.calibration!.common_token_share);

  // Energy: each layer's bar top, read from the pixels, is at that layer's kept share.
  const shares = report.ffn.kept_energy_share!;
  assert.equal(shares.length, 3);
  const en = energyPlot(shares, report.ffn.intermediate_after, report.ffn.intermediate_before)!;
  assert.equal(en.svg, svgs['plot-ffn-energy.svg']);
  const png = render(en.svg);
  shares.forEach((s, l) => {
    const x = Math.round(en.px(l));
    let top = -1;
    for (let y = 0; y < png.h && top < 0; y++) {
      const k = 4 * (y * png.w + x);
      if (Math.abs(png.rgba[k]! - 0x1f) < 30 && Math.abs(png.rgba[k + 1]! - 0x77) < 30 && Math.abs(png.rgba[k + 2]! - 0xb4) < 30) top = y;
    }
    assert.ok(top >= 0 && Math.abs(top - en.py(s)) < 1.5, `layer ${l}: bar top at ${top}, share ${s} at ${en.py(s)}`);
    assert.ok(s > 0 && s < 1);
  });
});

test('the README shows the card of its main command: front matter parses, the figures are that cut\'s', async () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const m = /````markdown\n([\s\S]*?)\n {3}````/.exec(readme);
  assert.ok(m, 'a card excerpt in the README');
  const card = m[1]!.split('\n').map((l) => l.replace(/^ {3}/, '')).join('\n');
  const fm = frontMatterOf(card);
  assert.equal(fm.base_model, 'wiki-28m');
  assert.deepEqual([fm.library_name, fm.pipeline_tag], ['transformers', 'text-generation']);
  assert.ok((fm.tags as string[]).includes('compact') && (fm.tags as string[]).includes('pruned'));
  const cmd = /```sh\n(compact prune [^\n]+)\n```/.exec(card)![1]!;
  // The main command plans its split (--ratio): V′ and I′ are the card's own line.
  const vocab = Number(/V′ = ([\d,]+) tokens/.exec(card)![1]!.replace(/,/g, ''));
  const ffn = Number(/I′ = ([\d,]+) FFN channels/.exec(card)![1]!.replace(/,/g, ''));
  assert.ok(readme.includes(`npx ${cmd} --force`), 'the excerpt is the card of the README\'s main command');
  const { countParams } = await import('../../src/report/params.ts');
  const { spec } = (await import('../../src/families/model-config.ts')).readModelConfig(shared('models/wiki-28m'));
  const b = countParams(spec);
  const a = countParams(spec, { vocab, intermediate: ffn });
  const int = (n: number) => n.toLocaleString('en-US');
  for (const [label, key] of [['vocabulary', 'embedding_params'], ['FFN', 'ffn_params'], ['attention', 'attention_params'], ['norms', 'norm_params']] as const) {
    assert.ok(card.includes(`| ${int(b[key])} | ${int(a[key])} |`), `${label} row`);
  }
  assert.ok(card.includes(`**${int(b.total_params)}** | **${int(a.total_params)}**`));
});
