/**
 * Progress on a terminal: whatever is printed while a bar is drawn (a message of any Progress, an
 * error, the interrupt line) starts on a clean line, and the bar's ETA counts down to 0.
 * The stream is a fake TTY whose writes are replayed on a tiny terminal model (\r returns to
 * column 0 and overwrites, \n starts a new line), so the test reads what a user would see.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clearProgressLine, elapsedEta, Progress } from '../../src/report/progress.ts';
import { shellCommand, withoutFlags } from '../../src/cli/shell-words.ts';

function fakeTty(): { stream: NodeJS.WriteStream; screen: () => string[] } {
  const writes: string[] = [];
  const stream = { isTTY: true, write: (s: string) => (writes.push(s), true) } as unknown as NodeJS.WriteStream;
  const screen = () => {
    const lines: string[] = [''];
    let col = 0;
    for (const ch of writes.join('')) {
      if (ch === '\r') col = 0;
      else if (ch === '\n') {
        lines.push('');
        col = 0;
      } else {
        const l = lines[lines.length - 1]!;
        lines[lines.length - 1] = l.slice(0, col) + ch + l.slice(col + 1);
        col++;
      }
    }
    return lines.map((l) => l.trimEnd());
  };
  return { stream, screen };
}

test('a message printed under a live bar gets a line of its own (any instance; errors and interrupts too)', () => {
  const { stream, screen } = fakeTty();
  const bar = new Progress('calibrate', 8, 'tokens', stream);
  const say = new Progress('prune', 1, 'tokens', stream);
  bar.update(6, 600, 'layer 6/8');
  say.message('planner: candidate 1 of 3');
  bar.update(7, 700, 'layer 7/8');
  // What bin/compact.mjs and the CLI's error path do before their own line.
  clearProgressLine();
  stream.write('compact: interrupted; no output written\n');
  const lines = screen().filter((l) => l !== '');
  assert.deepEqual(lines, ['planner: candidate 1 of 3', 'compact: interrupted; no output written'], JSON.stringify(screen()));
});

test('the bar redraws in place, a shorter line leaves no tail, and a finished bar keeps its line', () => {
  const { stream, screen } = fakeTty();
  const bar = new Progress('eval', 3, 'tokens', stream);
  bar.update(1, 10, 'a very long note that makes the first line long');
  bar.update(2, 20, 'short');
  assert.equal(screen().length, 1);
  assert.match(screen()[0]!, /^eval \[#{16}\.{8}\] 2\/3 .* eta \S+ short$/);
  bar.update(3, 30);
  assert.match(screen()[0]!, /3\/3 .* eta 0.0s$/);
  clearProgressLine();
  assert.match(screen()[0]!, /3\/3/, 'a finished bar is not wiped');
});

test('elapsed and ETA after k of N steps', () => {
  assert.equal(elapsedEta(1, 4, 0, 10_000), 'elapsed 10.0s eta 30.0s');
  assert.equal(elapsedEta(3, 3, 0, 90_000), 'elapsed 1m30s eta 0.0s');
  assert.equal(elapsedEta(0, 3, 0, 1000), 'elapsed 1.0s eta ?');
});

test('card command: shell quoting, and flags that cannot change the output left out', () => {
  assert.equal(shellCommand(['compact', 'prune', 'my model', "it's", '--ratio', '0.3']), `compact prune 'my model' 'it'\\''s' --ratio 0.3`);
  assert.deepEqual(withoutFlags(['m', '--threads', '2', '--quiet', '--out', 'o', '--threads=1', '--force'], ['threads'], ['quiet', 'force']), ['m', '--out', 'o']);
});
