import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveModel } from '../../src/io/hub/resolve-model.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { FakeHub, gitBlobId, isLfs, sha256 } from './fake-hub.ts';
import { modelRepoFiles, NEEDED } from './hub-fixture.ts';
import { isolateHubEnv, listTree, runCli } from './hub-helpers.ts';

const hub = new FakeHub();
let files: Map<string, Uint8Array>;
let commit: string;
const SHARD = 'model-00002-of-00003.safetensors';
/** The name Python's huggingface_hub gives a file's blob, computed here from the bytes. */
const etagOf = (path: string): string => (isLfs(path) ? sha256(files.get(path)!) : gitBlobId(files.get(path)!));

before(async () => {
  isolateHubEnv(makeTmpDir('hf-home'));
  files = await modelRepoFiles();
  await hub.start();
  commit = hub.addRepo('org/tiny', files);
  hub.addRepo('org/tiny', new Map([...files].filter(([p]) => p !== 'README.md')), { branch: 'v2' });
  hub.addRepo('org/gated', files, { gated: true }).toString();
  hub.repos.get('org/gated')!.accepted.add('hf_accepted');
  hub.tokens.add('hf_accepted').add('hf_other');
});
after(() => hub.stop());

const fresh = (): string => makeTmpDir('hub-cache');
const opts = (cacheDir: string, extra: object = {}) => ({ endpoint: hub.url, cacheDir, retryDelayMs: 0, ...extra });

test('download: the files compact needs land in the Hugging Face cache layout, byte for byte', async () => {
  const cache = fresh();
  const from = hub.log.length;
  const r = await resolveModel('org/tiny', opts(cache));
  assert.deepEqual(r.hub, { repo: 'org/tiny', revision: 'main', commit, endpoint: hub.url });
  const root = `models--org--tiny`;
  assert.equal(r.dir, join(cache, root, 'snapshots', commit));
  // The layout Python's huggingface_hub writes (docs: "Manage huggingface_hub cache-system"), built from the repository's bytes.
  const blobs = NEEDED.map((p) => `${root}/blobs/${etagOf(p)} ${files.get(p)!.length}`).sort();
  const expected = [
    `${root}/`,
    `${root}/blobs/`,
    ...blobs,
    `${root}/refs/`,
    `${root}/refs/main ${commit.length}`,
    `${root}/snapshots/`,
    `${root}/snapshots/${commit}/`,
    ...NEEDED.map((p) => `${root}/snapshots/${commit}/${p} -> ../../blobs/${etagOf(p)}`),
  ];
  assert.deepEqual(listTree(cache), expected);
  assert.equal(readFileSync(join(cache, root, 'refs/main'), 'utf8'), commit, 'refs/main holds the commit, no newline');
  for (const p of NEEDED) assert.ok(Buffer.from(files.get(p)!).equals(readFileSync(join(r.dir, p))), p);
  const fetched = hub.requests('/resolve/', from).map((q) => q.path.split('/').pop()).sort();
  assert.deepEqual(fetched, [...NEEDED].sort(), 'only the files a command needs, each once (no .bin, no subfolder)');
  assert.ok(hub.requests('/resolve/', from).every((q) => q.path.includes(`/resolve/${commit}/`)), 'every file from the resolved commit');
});

test('second run: served from the cache, no request for file contents', async () => {
  const cache = fresh();
  const first = await resolveModel('org/tiny', opts(cache));
  const from = hub.log.length;
  const again = await resolveModel('org/tiny', opts(cache));
  assert.equal(again.dir, first.dir);
  assert.deepEqual(hub.requests('/resolve/', from), []);
  assert.deepEqual(hub.log.slice(from).map((q) => q.path), [`/api/models/org/tiny/revision/main`, `/api/models/org/tiny/tree/${commit}`]);
});

test('revision: @branch and --revision resolve to that branch commit, filed under refs/<branch>', async () => {
  const cache = fresh();
  const a = await resolveModel('org/tiny@v2', opts(cache));
  const b = await resolveModel('org/tiny', opts(cache, { revision: 'v2' }));
  const v2 = hub.repos.get('org/tiny')!.refs.get('v2')!;
  assert.equal(a.hub!.commit, v2);
  assert.equal(b.dir, a.dir);
  assert.equal(readFileSync(join(cache, 'models--org--tiny/refs/v2'), 'utf8'), v2);
  assert.ok(!existsSync(join(a.dir, 'README.md')), 'v2 has no README');
  const byCommit = await resolveModel(`org/tiny@${commit}`, opts(cache));
  assert.equal(byCommit.hub!.commit, commit);
  assert.ok(!existsSync(join(cache, 'models--org--tiny/refs', commit)), 'no ref for a commit id, as in Python');
  await assert.rejects(resolveModel('org/tiny@v2', opts(cache, { revision: 'main' })), /give the revision once/);
});

test('missing repository and missing revision: one line each, nothing cached', async () => {
  const cache = fresh();
  await assert.rejects(resolveModel('org/nope', opts(cache)), (e: Error) => {
    assert.match(e.message, new RegExp(`^org/nope: no such model on ${hub.url.replace(/\./g, '\\.')}`));
    assert.match(e.message, /set HF_TOKEN/);
    return true;
  });
  await assert.rejects(resolveModel('org/tiny@nobranch', opts(cache)), /^CompactError: org\/tiny@nobranch: no such revision \(branch, tag or commit\) in org\/tiny/);
  assert.ok(!existsSync(join(cache, 'models--org--nope')) && !existsSync(join(cache, 'models--org--tiny')));
  const cli = await runCli(['inspect', 'org/nope', '--hub-url', hub.url]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /^error: org\/nope: no such model on http:\/\/127\.0\.0\.1:\d+/);
  assert.equal(cli.stderr.trim().split('\n').length, 1);
});

test('gated model: 401 without a token, 403 with a token that has not accepted, works with HF_TOKEN', async () => {
  const cache = fresh();
  await assert.rejects(resolveModel('org/gated', opts(cache)), /org\/gated: HTTP 401, the model is gated or private: accept its license at http:\/\/127\.0\.0\.1:\d+\/org\/gated, then set HF_TOKEN/);
  await assert.rejects(resolveModel('org/gated', opts(cache, { token: 'hf_other' })), /org\/gated: HTTP 403.*accept its license/);
  assert.ok(!existsSync(join(cache, 'models--org--gated/refs')), 'nothing marked complete');
  process.env.HF_TOKEN = 'hf_accepted';
  try {
    const from = hub.log.length;
    const r = await resolveModel('org/gated', opts(cache));
    assert.ok(Buffer.from(files.get(SHARD)!).equals(readFileSync(join(r.dir, SHARD))));
    assert.ok(hub.requests('/resolve/', from).every((q) => q.auth === 'Bearer hf_accepted'));
  } finally {
    delete process.env.HF_TOKEN;
  }
  const text = join(makeTmpDir('hub-text'), 't.txt');
  writeFileSync(text, 'some text to score\n');
  const cli = await runCli(['eval', 'org/gated', '--text', text, '--hub-url', hub.url, '--quiet']);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /^error: org\/gated: HTTP 401/);
});

test('connection cut in the middle of a shard: resumed with a Range, result byte-identical', async () => {
  const cache = fresh();
  const size = files.get(SHARD)!.length;
  hub.cut = { path: SHARD, after: 100_000 };
  const from = hub.log.length;
  const r = await resolveModel('org/tiny', opts(cache));
  const gets = hub.requests(`/${SHARD}`, from);
  assert.equal(gets.length, 2);
  assert.equal(gets[0]!.range, undefined);
  // It resumes from what reached the disk (at most the 100,000 bytes sent before the cut).
  const m = gets[1]!.range?.match(new RegExp(`^bytes=(\\d+)-${size - 1}$`));
  assert.ok(m && Number(m[1]) > 0 && Number(m[1]) <= 100_000, gets[1]!.range);
  assert.ok(Buffer.from(files.get(SHARD)!).equals(readFileSync(join(r.dir, SHARD))));
  assert.ok(!existsSync(join(cache, 'models--org--tiny/blobs', `${sha256(files.get(SHARD)!)}.incomplete`)));
});

test('interrupted run: the partial blob stays .incomplete, nothing marked complete; the next run resumes it', async () => {
  const cache = fresh();
  const size = files.get(SHARD)!.length;
  const blob = join(cache, 'models--org--tiny/blobs', sha256(files.get(SHARD)!));
  hub.cut = { path: SHARD, after: 150_000 };
  // Bytes still in flight when the connection dies are lost; the partial file holds what was written, no more.
  let kept = -1;
  await assert.rejects(resolveModel('org/tiny', opts(cache, { retries: 0 })), (e: Error) => {
    const m = e.message.match(new RegExp(`^org/tiny: download of ${SHARD} stopped at (\\d+) of ${size} bytes .*run the command again to resume it$`));
    assert.ok(m, e.message);
    kept = Number(m[1]);
    return true;
  });
  assert.ok(kept > 0 && kept <= 150_000, String(kept));
  assert.equal(statSync(`${blob}.incomplete`).size, kept);
  assert.ok(!existsSync(blob));
  assert.ok(!existsSync(join(cache, 'models--org--tiny/snapshots', commit, SHARD)));
  assert.ok(!existsSync(join(cache, 'models--org--tiny/refs/main')));
  await assert.rejects(resolveModel('org/tiny', opts(cache, { offline: true })), /not in the Hugging Face cache/);
  const from = hub.log.length;
  const r = await resolveModel('org/tiny', opts(cache));
  assert.deepEqual(hub.requests('/resolve/', from).map((q) => [q.path.split('/').pop(), q.range]), [[SHARD, `bytes=${kept}-${size - 1}`], ['model-00003-of-00003.safetensors', undefined]]);
  assert.ok(Buffer.from(files.get(SHARD)!).equals(readFileSync(join(r.dir, SHARD))));
  assert.ok(!existsSync(`${blob}.incomplete`));
});

test('a mirror that ignores Range: the partial file is started over, the result still exact', async () => {
  const cache = fresh();
  const blob = join(cache, 'models--org--tiny/blobs', sha256(files.get(SHARD)!));
  mkdirSync(join(cache, 'models--org--tiny/blobs'), { recursive: true });
  writeFileSync(`${blob}.incomplete`, files.get(SHARD)!.subarray(0, 5000));
  hub.ignoreRange = true;
  try {
    const r = await resolveModel('org/tiny', opts(cache));
    assert.ok(Buffer.from(files.get(SHARD)!).equals(readFileSync(join(r.dir, SHARD))));
  } finally {
    hub.ignoreRange = false;
  }
});

test('corrupted download: refused by its sha256, nothing left marked complete; a clean retry works', async () => {
  const cache = fresh();
  const sha = sha256(files.get(SHARD)!);
  hub.corrupt.add(SHARD);
  try {
    await assert.rejects(resolveModel('org/tiny', opts(cache)), new RegExp(`org/tiny: ${SHARD}: downloaded bytes have sha256 [0-9a-f]{64}, the hub lists ${sha}; refused and deleted`));
  } finally {
    hub.corrupt.clear();
  }
  const folder = join(cache, 'models--org--tiny');
  assert.ok(!existsSync(join(folder, 'blobs', sha)) && !existsSync(join(folder, 'blobs', `${sha}.incomplete`)));
  assert.ok(!existsSync(join(folder, 'snapshots', commit, SHARD)));
  assert.ok(!existsSync(join(folder, 'refs/main')));
  const r = await resolveModel('org/tiny', opts(cache));
  assert.ok(Buffer.from(files.get(SHARD)!).equals(readFileSync(join(r.dir, SHARD))));
});

test('a corrupt blob already in the cache is checked before a snapshot links it, and replaced', async () => {
  const cache = fresh();
  const sha = sha256(files.get(SHARD)!);
  const blob = join(cache, 'models--org--tiny/blobs', sha);
  mkdirSync(join(cache, 'models--org--tiny/blobs'), { recursive: true });
  writeFileSync(blob, Buffer.alloc(files.get(SHARD)!.length, 7));
  const r = await resolveModel('org/tiny', opts(cache));
  assert.ok(Buffer.from(files.get(SHARD)!).equals(readFileSync(join(r.dir, SHARD))));
});

test('offline: the cached snapshot with no request at all; a clear error when the model is not there', async () => {
  const cache = fresh();
  const online = await resolveModel('org/tiny', opts(cache));
  const from = hub.log.length;
  process.env.HF_HUB_OFFLINE = '1';
  try {
    const r = await resolveModel('org/tiny', opts(cache));
    assert.equal(r.dir, online.dir);
    assert.equal(r.hub!.commit, commit);
    assert.equal(hub.log.length, from, 'no request');
    await assert.rejects(resolveModel('org/tiny', opts(fresh())), /^CompactError: org\/tiny: not in the Hugging Face cache \(.*models--org--tiny\/refs\/main missing\); HF_HUB_OFFLINE is set, so nothing is downloaded/);
    await assert.rejects(resolveModel('org/tiny@v2', opts(cache)), /org\/tiny@v2: not in the Hugging Face cache/);
    unlinkSync(join(online.dir, SHARD));
    await assert.rejects(resolveModel('org/tiny', opts(cache)), new RegExp(`the cached snapshot .* lacks ${SHARD}`));
    const cli = await runCli(['inspect', 'org/other', '--json']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^error: org\/other: not in the Hugging Face cache/);
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  assert.equal(hub.log.length, from, 'offline made no request');
});

test('a cache written by Python (huggingface_hub layout) is used as is, offline and online', async () => {
  // Laid out by hand the way huggingface_hub's hf_hub_download files it: blobs by etag, relative links, refs/main.
  const cache = fresh();
  const folder = join(cache, 'models--org--tiny');
  mkdirSync(join(folder, 'blobs'), { recursive: true });
  mkdirSync(join(folder, 'snapshots', commit), { recursive: true });
  mkdirSync(join(folder, 'refs'), { recursive: true });
  const pythonFiles = ['config.json', 'generation_config.json', 'tokenizer.json', 'model.safetensors.index.json', 'model-00001-of-00003.safetensors', SHARD, 'model-00003-of-00003.safetensors', 'README.md', 'LICENSE'];
  for (const p of pythonFiles) {
    writeFileSync(join(folder, 'blobs', etagOf(p)), files.get(p)!);
    symlinkSync(`../../blobs/${etagOf(p)}`, join(folder, 'snapshots', commit, p));
  }
  writeFileSync(join(folder, 'refs/main'), commit);
  const off = await resolveModel('org/tiny', opts(cache, { offline: true }));
  assert.equal(off.dir, join(folder, 'snapshots', commit));
  const from = hub.log.length;
  const on = await resolveModel('org/tiny', opts(cache));
  assert.equal(on.dir, off.dir);
  assert.deepEqual(hub.requests('/resolve/', from), [], 'nothing downloaded again');
  process.env.HF_HUB_CACHE = cache;
  try {
    const cli = await runCli(['inspect', 'org/tiny', '--json', '--hub-url', hub.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).family, 'qwen2');
    assert.equal(cli.stderr, '', 'nothing to download, no progress line');
  } finally {
    delete process.env.HF_HUB_CACHE;
  }
  assert.deepEqual(hub.requests('/resolve/', from), []);
});

test('ids: a local folder wins; hf:// forces the hub; bad syntax fails before any request', async () => {
  const cwd = process.cwd();
  const tmp = makeTmpDir('hub-local');
  mkdirSync(join(tmp, 'org/tiny'), { recursive: true });
  writeFileSync(join(tmp, 'org/tiny/config.json'), '{}');
  const from = hub.log.length;
  process.chdir(tmp);
  try {
    const local = await resolveModel('org/tiny', opts(fresh()));
    assert.deepEqual([local.dir, local.hub], ['org/tiny', null]);
    await assert.rejects(resolveModel('org/tiny', opts(fresh(), { revision: 'v2' })), /org\/tiny: a revision applies to hub models only, and this is a local folder \(write hf:\/\/org\/tiny for the hub model\)/);
    assert.equal(hub.log.length, from);
    const remote = await resolveModel('hf://org/tiny', opts(fresh()));
    assert.equal(remote.hub!.commit, commit);
  } finally {
    process.chdir(cwd);
  }
  const before = hub.log.length;
  await assert.rejects(resolveModel('org/na me', opts(fresh())), /org\/na me: not a hub model id \("na me" may hold only letters/);
  await assert.rejects(resolveModel('org/tiny@', opts(fresh())), /org\/tiny@: the revision after "@" is empty/);
  await assert.rejects(resolveModel('hf://a/b/c', opts(fresh())), /hf:\/\/a\/b\/c: not a hub model id \(a hub id is org\/name/);
  await assert.rejects(resolveModel('org/-x', opts(fresh())), /may not start or end with/);
  await assert.rejects(resolveModel('org/tiny@a b', opts(fresh())), /whitespace/);
  assert.equal(hub.log.length, before, 'no request for a bad id');
  const missingLocal = await resolveModel('./nope/x', opts(fresh()));
  assert.equal(missingLocal.hub, null, 'a ./path is never a hub id');
});

test('HF_ENDPOINT and HF_HUB_CACHE pick the mirror and the cache when no option is given', async () => {
  const cache = fresh();
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = cache;
  try {
    const r = await resolveModel('org/tiny', { retryDelayMs: 0 });
    assert.equal(r.dir, join(cache, 'models--org--tiny/snapshots', commit));
    assert.equal(r.hub!.endpoint, hub.url);
  } finally {
    delete process.env.HF_ENDPOINT;
    delete process.env.HF_HUB_CACHE;
  }
  rmSync(cache, { recursive: true, force: true });
  const home = makeTmpDir('hf-home2');
  process.env.HF_HOME = home;
  const r = await resolveModel('org/tiny', { endpoint: hub.url });
  assert.equal(r.dir, join(home, 'hub/models--org--tiny/snapshots', commit), 'HF_HOME/hub');
});

test('eval takes a hub id (download, then bits per byte from the snapshot folder)', async () => {
  process.env.HF_HUB_CACHE = fresh();
  try {
    const text = join(makeTmpDir('hub-text'), 't.txt');
    writeFileSync(text, 'The quick brown fox jumps over the lazy dog. '.repeat(8));
    const r = await runCli(['eval', 'org/tiny', '--hub-url', hub.url, '--text', text, '--json', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.ok(Number.isFinite(j.bpb) && j.bpb > 0);
  } finally {
    delete process.env.HF_HUB_CACHE;
  }
});

test('an unreachable hub: one line that suggests HF_HUB_OFFLINE', async () => {
  const dead = new FakeHub();
  const url = await dead.start();
  await dead.stop();
  await assert.rejects(resolveModel('org/tiny', { endpoint: url, cacheDir: fresh() }), new RegExp(`^CompactError: org/tiny: cannot reach ${url.replace(/\./g, '\\.')} \\(ECONNREFUSED\\); set HF_HUB_OFFLINE=1 to use the local cache only$`));
});
