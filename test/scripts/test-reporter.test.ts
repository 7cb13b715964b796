/**
 * scripts/test-reporter.mjs: a failed `assert.ok(x)` without a message must quote its own
 * expression and the test's own line. Node 20 reads both at the compiled position, which tsx's
 * one-line output makes a spot in an earlier test; the fixture is built so that it does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.ts';

const FIXTURE = join(REPO_ROOT, 'test/scripts/fixtures/failing-asserts.ts');

/** The TAP report of the fixture, cut into one block per test, keyed by name. */
function run(reporter: string[]): Map<string, string> {
  // NODE_TEST_CONTEXT would make the child take itself for a file of this run and not run the fixture.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...reporter, FIXTURE], { cwd: REPO_ROOT, encoding: 'utf8', env });
  assert.equal(r.status, 1, `the fixture must fail:\n${r.stdout}\n${r.stderr}`);
  const blocks = new Map<string, string>();
  for (const b of r.stdout.split(/^(?=(?:not )?ok \d+ - )/m).slice(1)) blocks.set(/^(?:not )?ok \d+ - (.*)$/m.exec(b)![1]!, b);
  return blocks;
}

/** 1-based line of the only place `needle` is written in the fixture. */
function lineOf(needle: string): number {
  const text = readFileSync(FIXTURE, 'utf8');
  assert.equal(text.split(needle).length, 2, needle);
  return text.slice(0, text.indexOf(needle)).split('\n').length;
}

const block = (blocks: Map<string, string>, name: string): string => {
  const b = blocks.get(name);
  assert.ok(b !== undefined, `no result for "${name}" in ${[...blocks.keys()].join(', ')}`);
  return b;
};

test('the report quotes each failed assertion and its test’s line, not an earlier one', () => {
  const blocks = run(['--test-reporter=./scripts/test-reporter.mjs']);
  assert.match(block(blocks, 'passes first'), /^ok /);
  const expect = [
    ['child timed out', 'assert.ok(child.status === 0)'],
    ['plain falsy', 'assert(shapes.length === 2)'],
    ['spread over lines', 'assert.ok(\n  total > 10 &&\n    total < 20,\n)'],
  ] as const;
  for (const [name, expression] of expect) {
    const b = block(blocks, name);
    assert.match(b, /^not ok /, name);
    const quoted = /error: \|-\n {4}The expression evaluated to a falsy value:\n {4}\n {6}([\s\S]*?)\n {4}\n/.exec(b)?.[1];
    assert.equal(quoted?.replace(/\n {6}/g, '\n'), expression, `${name}:\n${b}`);
    assert.ok(b.includes(`location: '${FIXTURE}:${lineOf(`test('${name}'`)}:1'`), `${name}: location\n${b}`);
  }
  // A name made at run time is not in the source: the location falls back to the assertion's frame.
  for (const n of [1, 2]) {
    const b = block(blocks, `named at run time ${n}`);
    assert.match(b, /falsy value:\n {4}\n {6}assert\.ok\(n === 3\)\n/, b);
    assert.ok(b.includes(`location: '${FIXTURE}:${lineOf('assert.ok(n === 3)')}:`), b);
  }
});
