/**
 * A Hugging Face hub on 127.0.0.1 (node:http, random port) implementing the endpoints compact's
 * downloads and pushes call, with the hub's status codes and X-Error-Code headers:
 *   GET  /api/models/:org/:name/revision/:rev      model info (sha)
 *   GET  /api/models/:org/:name/tree/:rev          file listing (oid, size, lfs.oid = sha256)
 *   GET  /:org/:name/resolve/:rev/:path            contents, with Range (206) support
 *   GET  /api/whoami-v2                            token check
 *   POST /api/repos/create                         new repository (409 when it exists)
 *   POST /api/models/:org/:name/preupload/:rev     lfs or regular per file
 *   POST /:org/:name.git/info/lfs/objects/batch    LFS basic transfer: PUT to /lfs-upload/:oid
 *   POST /api/models/:org/:name/commit/:rev        ndjson commit (base64 files, lfsFile pointers)
 * Every request is logged so tests can say which ones a run made. Nothing here leaves 127.0.0.1.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

export interface LoggedRequest {
  method: string;
  path: string;
  range: string | undefined;
  auth: string | undefined;
}

interface Repo {
  commits: Map<string, Map<string, Uint8Array>>;
  refs: Map<string, string>;
  gated: boolean;
  private: boolean;
  /** Tokens that accepted the license of a gated repository. */
  accepted: Set<string>;
}

export const gitBlobId = (b: Uint8Array): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** LFS on this hub: safetensors files (as .gitattributes makes them on the real one). */
export const isLfs = (path: string): boolean => path.endsWith('.safetensors');

/** Every file under a folder, by repository path. */
export function readFolder(dir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p).split(sep).join('/'), new Uint8Array(readFileSync(p)));
    }
  };
  walk(dir);
  return out;
}

function commitId(files: Map<string, Uint8Array>, salt: string): string {
  const h = createHash('sha1').update(salt);
  for (const [p, b] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) h.update(p).update('\0').update(gitBlobId(b));
  return h.digest('hex');
}

export class FakeHub {
  url = '';
  readonly log: LoggedRequest[] = [];
  readonly repos = new Map<string, Repo>();
  /** Valid tokens (a push needs one of them). */
  readonly tokens = new Set<string>(['hf_writer']);
  /** Cut the connection after this many body bytes, once, on the next download of that path. */
  cut: { path: string; after: number } | null = null;
  /** Serve these paths with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Answer commits with HTTP 500 (an upload that fails after the work is done). */
  failCommit = false;
  /** Ignore Range headers (a mirror that always sends the whole file). */
  ignoreRange = false;
  /** The last commit's visibility per created repository. */
  readonly created = new Map<string, { private: boolean }>();
  private readonly lfsStore = new Map<string, Uint8Array>();
  private server: Server | null = null;

  /** Adds a repository whose `main` (and any extra branch) holds `files`; returns its commit id. */
  addRepo(id: string, files: Map<string, Uint8Array>, opts: { gated?: boolean; private?: boolean; branch?: string } = {}): string {
    const repo = this.repos.get(id) ?? { commits: new Map(), refs: new Map(), gated: !!opts.gated, private: !!opts.private, accepted: new Set<string>() };
    const commit = commitId(files, `${id}@${opts.branch ?? 'main'}`);
    repo.commits.set(commit, new Map(files));
    repo.refs.set(opts.branch ?? 'main', commit);
    this.repos.set(id, repo);
    return commit;
  }

  files(id: string, rev = 'main'): Map<string, Uint8Array> {
    const repo = this.repos.get(id)!;
    return repo.commits.get(repo.refs.get(rev) ?? rev)!;
  }

  /** Requests made since `from` (an index into the log) whose path contains `part`. */
  requests(part: string, from = 0): LoggedRequest[] {
    return this.log.slice(from).filter((r) => r.path.includes(part));
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        res.statusCode = 500;
        res.end(String(e));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private token(req: IncomingMessage): string | undefined {
    const a = req.headers.authorization;
    return a?.startsWith('Bearer ') ? a.slice(7) : undefined;
  }

  private error(res: ServerResponse, status: number, code: string, message: string): void {
    res.writeHead(status, { 'Content-Type': 'application/json', ...(code ? { 'X-Error-Code': code } : {}) });
    res.end(JSON.stringify({ error: message }));
  }

  private json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  /** The repository as this request may see it: a private one is "not found" without a valid token, as on the hub. */
  private visible(req: IncomingMessage, res: ServerResponse, id: string): Repo | null {
    const repo = this.repos.get(id);
    const tok = this.token(req);
    if (!repo || (repo.private && !(tok && this.tokens.has(tok)))) {
      this.error(res, tok ? 404 : 401, 'RepoNotFound', 'Repository not found');
      return null;
    }
    return repo;
  }

  private commitOf(res: ServerResponse, repo: Repo, rev: string): string | null {
    const c = repo.refs.get(rev) ?? (repo.commits.has(rev) ? rev : null);
    if (!c) this.error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    return c;
  }

  private async body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url!, this.url);
    const path = decodeURIComponent(u.pathname);
    this.log.push({ method: req.method!, path, range: req.headers.range, auth: req.headers.authorization });
    let m: RegExpMatchArray | null;

    if ((m = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/)) && req.method === 'GET') {
      const repo = this.visible(req, res, m[1]!);
      if (!repo) return;
      const commit = this.commitOf(res, repo, m[2]!);
      if (!commit) return;
      return this.json(res, { _id: `id-${m[1]}`, id: m[1], sha: commit, private: repo.private, gated: repo.gated ? 'manual' : false, downloads: 0, likes: 0, lastModified: '2026-01-01T00:00:00.000Z', siblings: [...repo.commits.get(commit)!.keys()].map((rfilename) => ({ rfilename })) });
    }
    if ((m = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(\/.*)?$/)) && req.method === 'GET') {
      const repo = this.visible(req, res, m[1]!);
      if (!repo) return;
      const commit = this.commitOf(res, repo, m[2]!);
      if (!commit) return;
      const recursive = u.searchParams.get('recursive') === 'true';
      const entries: unknown[] = [];
      const dirs = new Set<string>();
      for (const [p, b] of repo.commits.get(commit)!) {
        if (!recursive && p.includes('/')) {
          dirs.add(p.split('/')[0]!);
          continue;
        }
        const lfs = isLfs(p) ? { oid: sha256(b), size: b.length, pointerSize: 134 } : undefined;
        entries.push({ type: 'file', oid: lfs ? gitBlobId(new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${lfs.oid}\nsize ${b.length}\n`)) : gitBlobId(b), size: b.length, path: p, ...(lfs ? { lfs } : {}) });
      }
      for (const d of dirs) entries.push({ type: 'directory', oid: createHash('sha1').update(d).digest('hex'), size: 0, path: d });
      return this.json(res, entries);
    }
    if ((m = path.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/)) && (req.method === 'GET' || req.method === 'HEAD')) {
      return this.resolve(req, res, m[1]!, m[2]!, m[3]!);
    }
    if (path === '/api/whoami-v2') {
      const tok = this.token(req);
      if (!tok || !this.tokens.has(tok)) return this.error(res, 401, '', 'Invalid credentials in Authorization header');
      return this.json(res, { type: 'user', name: 'tester', auth: { type: 'access_token', accessToken: { displayName: 'test', role: tok.startsWith('hf_read') ? 'read' : 'write', createdAt: '2026-01-01T00:00:00.000Z' } } });
    }
    const tok = this.token(req);
    const writer = tok !== undefined && this.tokens.has(tok) && !tok.startsWith('hf_read');
    if (path === '/api/repos/create' && req.method === 'POST') {
      if (!writer) return this.error(res, 401, '', 'Invalid credentials');
      const b = JSON.parse((await this.body(req)).toString()) as { name: string; organization: string; visibility?: string; private?: boolean };
      const id = `${b.organization}/${b.name}`;
      if (this.repos.has(id)) return this.error(res, 409, '', 'You already created this model repo');
      this.repos.set(id, { commits: new Map(), refs: new Map(), gated: false, private: b.visibility === 'private', accepted: new Set() });
      this.created.set(id, { private: b.visibility === 'private' });
      return this.json(res, { url: `${this.url}/${id}`, id: `id-${id}` });
    }
    if ((m = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/preupload\/(.+)$/)) && req.method === 'POST') {
      if (!writer) return this.error(res, 401, '', 'Invalid credentials');
      const b = JSON.parse((await this.body(req)).toString()) as { files: Array<{ path: string; size: number }> };
      return this.json(res, { files: b.files.map((f) => ({ path: f.path, uploadMode: isLfs(f.path) || f.size > 1_000_000 ? 'lfs' : 'regular', shouldIgnore: false })) });
    }
    if ((m = path.match(/^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/)) && req.method === 'POST') {
      if (!writer) return this.error(res, 401, '', 'Invalid credentials');
      const b = JSON.parse((await this.body(req)).toString()) as { objects: Array<{ oid: string; size: number }> };
      res.writeHead(200, { 'Content-Type': 'application/vnd.git-lfs+json' });
      return void res.end(JSON.stringify({ transfer: 'basic', objects: b.objects.map((o) => ({ oid: o.oid, size: o.size, actions: { upload: { href: `${this.url}/lfs-upload/${o.oid}` } } })) }));
    }
    if ((m = path.match(/^\/lfs-upload\/([0-9a-f]{64})$/)) && req.method === 'PUT') {
      const b = new Uint8Array(await this.body(req));
      if (sha256(b) !== m[1]) return this.error(res, 400, '', 'sha256 mismatch');
      this.lfsStore.set(m[1]!, b);
      res.writeHead(200, { ETag: `"${m[1]}"` });
      return void res.end();
    }
    if ((m = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/commit\/(.+)$/)) && req.method === 'POST') {
      if (!writer) return this.error(res, 401, '', 'Invalid credentials');
      if (this.failCommit) return this.error(res, 500, '', 'Internal Error');
      const id = m[1]!;
      const repo = this.repos.get(id);
      if (!repo) return this.error(res, 404, 'RepoNotFound', 'Repository not found');
      const branch = m[2]!;
      const parent = repo.refs.get(branch);
      const files = new Map(parent ? repo.commits.get(parent)! : []);
      for (const line of (await this.body(req)).toString().split('\n').filter(Boolean)) {
        const op = JSON.parse(line) as { key: string; value: { path: string; content?: string; encoding?: string; oid?: string } };
        if (op.key === 'file') files.set(op.value.path, new Uint8Array(Buffer.from(op.value.content!, 'base64')));
        else if (op.key === 'lfsFile') {
          const b = this.lfsStore.get(op.value.oid!);
          if (!b) return this.error(res, 400, '', `LFS object ${op.value.oid} was not uploaded`);
          files.set(op.value.path, b);
        }
      }
      const commit = commitId(files, `${id}:${parent ?? ''}`);
      repo.commits.set(commit, files);
      repo.refs.set(branch, commit);
      return this.json(res, { success: true, commitOid: commit, commitUrl: `${this.url}/${id}/commit/${commit}` });
    }
    this.error(res, 404, '', `no route ${req.method} ${path}`);
  }

  private resolve(req: IncomingMessage, res: ServerResponse, id: string, rev: string, file: string): void {
    const repo = this.visible(req, res, id);
    if (!repo) return;
    const tok = this.token(req);
    if (repo.gated && !(tok && repo.accepted.has(tok))) {
      return this.error(res, tok ? 403 : 401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    }
    const commit = this.commitOf(res, repo, rev);
    if (!commit) return;
    const original = repo.commits.get(commit)!.get(file);
    if (!original) return this.error(res, 404, 'EntryNotFound', `${file} does not exist`);
    let body = original;
    if (this.corrupt.has(file)) {
      body = new Uint8Array(original);
      const mid = body.length >> 1;
      body[mid] = body[mid]! ^ 0xff;
    }
    const etag = isLfs(file) ? sha256(original) : gitBlobId(original);
    const headers: Record<string, string | number> = { ETag: `"${etag}"`, 'X-Repo-Commit': commit, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    if (isLfs(file)) {
      headers['X-Linked-Etag'] = `"${etag}"`;
      headers['X-Linked-Size'] = original.length;
    }
    let start = 0;
    let end = body.length - 1;
    const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
    let status = 200;
    if (range && !this.ignoreRange) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), end) : end;
      if (start > end && body.length > 0) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` });
        return void res.end();
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${body.length}`;
    }
    const slice = body.subarray(start, end + 1);
    headers['Content-Length'] = slice.length;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    if (this.cut && this.cut.path === file && slice.length > this.cut.after) {
      const after = this.cut.after;
      this.cut = null;
      // Part of the promised bytes, then the connection dies (a dropped Wi-Fi, a killed proxy). The
      // pause lets the client take in what was sent first, as a real transfer would have.
      res.write(slice.subarray(0, after), () => setTimeout(() => res.socket?.end(), 200));
      return;
    }
    res.end(slice);
  }
}
