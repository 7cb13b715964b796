import { existsSync } from 'node:fs';
import { CompactError } from '../errors.ts';
import { bool, parseArgs, str } from './args.ts';
import { push, pushTarget, PUSH_FLAGS } from './hub-flags.ts';

export const PUSH_COMMAND_USAGE = `usage: compact push <folder-or-file> --push-to-hub org/name [--private] [--hub-url URL] [--json]

Uploads a folder compact wrote (every file, same paths) or one file (at its name) in one commit,
creating the repository if needed; prints the commit URL. For retrying a --push-to-hub that failed
after the work was done. Needs HF_TOKEN with write access.`;

export async function pushCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { ...PUSH_FLAGS, 'hub-url': 'string', json: 'boolean', help: 'boolean' }, 'push');
  if (bool(a, 'help')) {
    console.log(PUSH_COMMAND_USAGE);
    return 0;
  }
  if (a.positional.length !== 1 || !str(a, 'push-to-hub')) {
    console.error(PUSH_COMMAND_USAGE);
    return 2;
  }
  const path = a.positional[0]!;
  if (!existsSync(path)) throw new CompactError(`${path}: no such file or folder`);
  const repo = (await pushTarget(a))!;
  const r = await push(path, repo, a, `Upload ${path} with compact`);
  console.log(bool(a, 'json') ? JSON.stringify(r, null, 2) : `pushed ${r.files.length} file${r.files.length === 1 ? '' : 's'} to ${r.repo}: ${r.url}`);
  return 0;
}
