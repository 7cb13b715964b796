import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { FakeHub, readFolder } from './fake-hub.ts';
import { modelRepoFiles } from './hub-fixture.ts';
import { isolateHubEnv, runCli } from './hub-helpers.ts';

const hub = new FakeHub();
let commit: string;

before(async () => {
  isolateHubEnv(makeTmpDir('hf-home'));
  await hub.start();
  commit = hub.addRepo('org/tiny', await modelRepoFiles());
});
after(() => hub.stop());

/** Byte-for-byte equality of two file maps, with the differing paths named. */
function assertSameFiles(got: Map<string, Uint8Array>, want: Map<string, Uint8Array>): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [p, b] of want) assert.ok(Buffer.from(got.get(p)!).equals(Buffer.from(b)), `${p} differs`);
}

test('prune org/tiny --push-to-hub: the commit holds the output folder byte for byte; the report names the source commit', async () => {
  process.env.HF_TOKEN = 'hf_writer';
  process.env.HF_HUB_CACHE = makeTmpDir('hub-cache');
  try {
    const out = join(makeTmpDir('hub-push'), 'pruned');
    const r = await runCli(['prune', 'org/tiny', '--hub-url', hub.url, '--out', out, '--vocab', '600', '--quiet', '--json', '--push-to-hub', 'me/tiny-pruned', '--private']);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    const pushed = hub.repos.get('me/tiny-pruned')!.refs.get('main')!;
    assert.deepEqual(json.push, { repo: 'me/tiny-pruned', commit: pushed, url: `${hub.url}/me/tiny-pruned/commit/${pushed}`, files: [...readFolder(out).keys()].sort() });
    assert.deepEqual(hub.created.get('me/tiny-pruned'), { private: true });
    assertSameFiles(hub.files('me/tiny-pruned'), readFolder(out));
    const report = JSON.parse(readFileSync(join(out, 'compact-report.json'), 'utf8'));
    assert.deepEqual(report.hub, { repo: 'org/tiny', revision: 'main', commit, endpoint: hub.url });
    assert.equal(report.input, 'org/tiny');
    // The model card (pushed with the rest) names the hub source and commit and carries its license.
    const card = readFileSync(join(out, 'README.md'), 'utf8');
    assert.match(card, /^---\nbase_model: org\/tiny\n/);
    assert.match(card, /\nlicense: apache-2\.0\n/);
    assert.ok(card.includes(`(commit \`${commit.slice(0, 12)}\`)`), 'the source commit');
    // The shards went by LFS (sha256-checked by the server), the small files inline.
    assert.ok(hub.requests('/lfs-upload/').length >= 1);

    // A second push to the same repository adds a commit on top (the repository exists: 409 is fine).
    const text = await runCli(['prune', 'org/tiny', '--hub-url', hub.url, '--out', out, '--force', '--vocab', '500', '--quiet', '--push-to-hub', 'me/tiny-pruned']);
    assert.equal(text.code, 0, text.stderr);
    const second = hub.repos.get('me/tiny-pruned')!.refs.get('main')!;
    assert.notEqual(second, pushed);
    assert.match(text.stdout, new RegExp(`pushed to me/tiny-pruned: ${hub.url}/me/tiny-pruned/commit/${second}\\n$`));
    assertSameFiles(hub.files('me/tiny-pruned'), readFolder(out));
  } finally {
    delete process.env.HF_TOKEN;
    delete process.env.HF_HUB_CACHE;
  }
});

test('export --push-to-hub: a GGUF file goes up at its name, an ONNX folder as it is', async () => {
  process.env.HF_TOKEN = 'hf_writer';
  process.env.HF_HUB_CACHE = makeTmpDir('hub-cache');
  try {
    const dir = makeTmpDir('hub-export');
    const gguf = join(dir, 'tiny.gguf');
    const r = await runCli(['export', 'org/tiny', '--hub-url', hub.url, '--format', 'gguf', '--out', gguf, '--quiet', '--push-to-hub', 'me/tiny-gguf']);
    assert.equal(r.code, 0, r.stderr);
    assertSameFiles(hub.files('me/tiny-gguf'), new Map([['tiny.gguf', new Uint8Array(readFileSync(gguf))]]));
    const onnx = join(dir, 'onnx-out');
    const o = await runCli(['export', 'org/tiny', '--hub-url', hub.url, '--format', 'onnx', '--out', onnx, '--quiet', '--push-to-hub', 'me/tiny-onnx']);
    assert.equal(o.code, 0, o.stderr);
    assertSameFiles(hub.files('me/tiny-onnx'), readFolder(onnx));
    assert.ok(hub.files('me/tiny-onnx').has('onnx/model.onnx'));
  } finally {
    delete process.env.HF_TOKEN;
    delete process.env.HF_HUB_CACHE;
  }
});

test('push problems fail before any pruning: no token, a refused token, a read-only token, a bad id', async () => {
  process.env.HF_HUB_CACHE = makeTmpDir('hub-cache');
  const out = join(makeTmpDir('hub-push-bad'), 'never');
  const prune = (...extra: string[]) => runCli(['prune', 'org/tiny', '--hub-url', hub.url, '--out', out, '--vocab', '600', '--quiet', ...extra]);
  try {
    const from = hub.log.length;
    let r = await prune('--push-to-hub', 'me/x');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: push to me\/x: needs a write token: set HF_TOKEN/);
    r = await prune('--push-to-hub', 'me/x/y');
    assert.match(r.stderr, /^error: push to me\/x\/y: not a hub repository id/);
    r = await prune('--private');
    assert.match(r.stderr, /^error: --private applies to --push-to-hub only/);
    assert.equal(hub.log.length, from, 'no request so far');
    process.env.HF_TOKEN = 'hf_unknown';
    r = await prune('--push-to-hub', 'me/x');
    assert.match(r.stderr, /^error: push to me\/x: http:\/\/127\.0\.0\.1:\d+ refused HF_TOKEN \(HTTP 401\)/);
    hub.tokens.add('hf_read_only');
    process.env.HF_TOKEN = 'hf_read_only';
    r = await prune('--push-to-hub', 'me/x');
    assert.match(r.stderr, /^error: push to me\/x: HF_TOKEN is a read-only token/);
    process.env.HF_TOKEN = 'hf_writer';
    process.env.HF_HUB_OFFLINE = '1';
    r = await prune('--push-to-hub', 'me/x');
    delete process.env.HF_HUB_OFFLINE;
    assert.match(r.stderr, /^error: push to me\/x: HF_HUB_OFFLINE is set; unset it to upload/);
    process.env.HF_TOKEN = 'not-a-token';
    r = await prune('--push-to-hub', 'me/x');
    assert.match(r.stderr, /^error: HF_TOKEN: a Hugging Face access token starts with "hf_"/);
    assert.ok(!existsSync(out), 'nothing pruned');
    assert.deepEqual(hub.requests('/resolve/', from), [], 'nothing downloaded');
  } finally {
    delete process.env.HF_TOKEN;
    delete process.env.HF_HUB_CACHE;
  }
});

test('a push that fails after pruning keeps the output and names the retry, which compact push does', async () => {
  process.env.HF_TOKEN = 'hf_writer';
  process.env.HF_HUB_CACHE = makeTmpDir('hub-cache');
  const out = join(makeTmpDir('hub-push-retry'), 'pruned');
  try {
    hub.failCommit = true;
    const r = await runCli(['prune', 'org/tiny', '--hub-url', hub.url, '--out', out, '--vocab', '600', '--quiet', '--push-to-hub', 'me/retry']);
    hub.failCommit = false;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: push to me\/retry: hub request failed with HTTP 500/);
    assert.ok(r.stderr.trimEnd().endsWith(`(the output itself is complete: ${out}; retry with compact push ${out} --push-to-hub me/retry)`), r.stderr);
    assert.ok(existsSync(join(out, 'compact-report.json')));
    const again = await runCli(['push', out, '--push-to-hub', 'me/retry', '--hub-url', hub.url, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).url, `${hub.url}/me/retry/commit/${hub.repos.get('me/retry')!.refs.get('main')}`);
    assertSameFiles(hub.files('me/retry'), readFolder(out));
  } finally {
    hub.failCommit = false;
    delete process.env.HF_TOKEN;
    delete process.env.HF_HUB_CACHE;
  }
});
