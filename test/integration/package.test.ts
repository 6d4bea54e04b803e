/**
 * The package as a user gets it: `npm pack`, then the tarball's contents, its types compiled by a
 * consumer that has no @types/node, and real `npm install`s of the tarball from the registry into
 * fresh projects that have only one SDK line: only `@modelcontextprotocol/server` 2.x, or only
 * `@modelcontextprotocol/sdk` 1.x. Both lines are optional peers, so neither install brings the other.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpClientV2 } from '@modelcontextprotocol/client';
import { ROOT, connectClient, emptyDir, exited, stop, textOf, within } from '../helpers.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  peerDependencies: Record<string, string>;
};

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const MODERN = '2026-07-28';
const LEGACY = '2025-11-25';
/** The per-request envelope a 2026-07-28 request carries. */
const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } };

let tarball = '';
let packed: string[] = [];

/** Unpack the tarball as `<dir>/node_modules/mcp-http-transport`. */
function install(dir: string): void {
  const target = join(dir, 'node_modules', 'mcp-http-transport');
  mkdirSync(target, { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', target, '--strip-components=1']);
}

/**
 * process.env without MCP_* (the children read their own) and without what `npm run` adds for the
 * repository (its prefix, its package), which would point a child npm at the repository.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const own = /^(MCP_|npm_package_|npm_lifecycle_|npm_command$|npm_config_(prefix|local_prefix|global_prefix)$)/i;
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !own.test(k))), ...extra };
}

/** `npm install <specs>` into `dir` as a new project, from the registry (its cache first), as a user would. */
function npmInstall(dir: string, specs: string[]): Promise<void> {
  writeFileSync(join(dir, 'package.json'), '{ "private": true, "type": "module" }\n');
  return new Promise((resolve, reject) => {
    const args = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...specs];
    const child = spawn('npm', args, { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** Whether npm put `name` anywhere in the project (hoisted or nested), by its lockfile. */
function lockHas(dir: string, name: string): boolean {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  return Object.keys(lock.packages).some((path) => path.endsWith(`node_modules/${name}`));
}

interface Typecheck {
  status: number | null;
  errors: string[];
  files: string[];
}

/** Type-check `consumer.ts` in `dir` with the repository's TypeScript; its errors and the files it read. */
function typecheck(dir: string, compilerOptions: Record<string, unknown>, files = ['consumer.ts']): Promise<Typecheck> {
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, ...compilerOptions }, files }));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSC, '-p', dir, '--listFiles'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('error', reject);
    child.once('close', (status) => {
      const lines = out.split('\n');
      resolve({ status, errors: lines.filter((l) => l.includes('error TS')), files: lines });
    });
  });
}

/**
 * A real Node project's setting: @types/node (the repository's copy) and skipLibCheck. Checking the
 * SDKs' and zod's own declarations takes some 30 s and needs the DOM lib besides (zod's name `URL`), which
 * is their business: this package's declarations are checked with skipLibCheck off in the stub consumer.
 */
const NODE_PROJECT = { skipLibCheck: true, typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] };

interface Rpc {
  id?: number | string | null;
  result?: any;
  error?: { code: number; message: string };
}

const request = (id: number, method: string, params: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method, params });
const modern = (id: number, method: string, params: Record<string, unknown> = {}) => request(id, method, { ...params, _meta: META });
const initialize = (id: number) => request(id, 'initialize', { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
const initialized = { jsonrpc: '2.0', method: 'notifications/initialized' };
const echo = (text: string) => ({ name: 'echo', arguments: { text } });

/** A Node child run the way MCP clients run servers: newline-delimited JSON-RPC on its stdin and stdout. */
class Peer {
  readonly messages: Rpc[] = [];
  stderr = '';
  readonly child: ChildProcess;
  private gone = false;
  private readonly changes = new EventEmitter();

  constructor(cwd: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, args, { cwd, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.messages.push(JSON.parse(line) as Rpc);
      this.changes.emit('change');
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.changes.emit('change');
    });
    this.child.once('close', () => {
      this.gone = true;
      this.changes.emit('change');
    });
  }

  send(...messages: object[]): void {
    for (const message of messages) this.child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** `check()`'s first truthy value, checked again whenever the child writes or ends. */
  until<T>(check: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.changes.off('change', onChange);
        settle();
      };
      const onChange = () => {
        const value = check();
        if (value) finish(() => resolve(value));
        else if (this.gone) finish(() => reject(new Error(`the child ended (${this.child.exitCode ?? this.child.signalCode}) before ${what}; stderr: ${this.stderr}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr}`))), timeoutMs);
      this.changes.on('change', onChange);
      onChange();
    });
  }

  answer(id: number): Promise<Rpc> {
    return this.until(() => this.messages.find((m) => m.id === id), `the answer to request ${id}`);
  }

  /** End it as its client would (stdin closed, or SIGTERM for a server on HTTP); SIGKILL if it lingers. */
  async end(how: 'stdin' | 'SIGTERM' = 'stdin'): Promise<void> {
    if (how === 'stdin') this.child.stdin!.end();
    else this.child.kill('SIGTERM');
    await within(exited(this.child), 5_000);
    await stop(this.child);
  }
}

/** POST one JSON-RPC message; the answer from a JSON body or the last event of an SSE one. */
async function post(url: string, message: object, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; message: Rpc | undefined }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(message) });
  const text = await res.text();
  const json = res.headers.get('content-type')?.startsWith('text/event-stream')
    ? text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice('data: '.length))
        .pop()
    : text;
  return { status: res.status, headers: res.headers, message: json ? (JSON.parse(json) as Rpc) : undefined };
}

/** Start `server.mjs` in `dir` on HTTP (loopback, a free port); its base URL, from its log line. */
async function startHttpServer(dir: string, env: Record<string, string> = {}): Promise<{ server: Peer; base: string }> {
  const server = new Peer(dir, ['server.mjs'], { MCP_TRANSPORT: 'http', MCP_HTTP_PORT: '0', MCP_HTTP_HOST: '127.0.0.1', ...env });
  const base = await server.until(() => /listening on (http:\/\/\S+)/.exec(server.stderr)?.[1], 'the "listening on" line').catch(async (error: unknown) => {
    await server.end('SIGTERM');
    throw error;
  });
  return { server, base };
}

const V2_SERVER = `import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { serve } from 'mcp-http-transport';

function build() {
  const server = new McpServer({ name: 'v2-only', version: '2.0.0' });
  server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  return server;
}

await serve({ server: process.env.V2_SHAPE === 'instance' ? build() : () => build() });
`;

const V2_CONSUMER = `import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { MCPTransportManager, serve } from 'mcp-http-transport';

function build(): McpServer {
  const server = new McpServer({ name: 'v2-only', version: '2.0.0' });
  server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  return server;
}

const perSession: MCPTransportManager = new MCPTransportManager({ server: () => new McpServer({ name: 'factory', version: '2.0.0' }) });
const perEra = new MCPTransportManager({ server: async (context) => (context.era === 'modern' ? build() : build()) });
const instance: McpServer = build();
const served: MCPTransportManager = await serve({ server: instance });
// @ts-expect-error a string is no server
new MCPTransportManager({ server: 'not a server' });
await Promise.all([perSession.close(), perEra.close(), served.close()]);
`;

const V1_SERVER = `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { serve } from 'mcp-http-transport';

const server = new McpServer({ name: 'v1-only', version: '1.0.0' });
server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
await serve({ server });
`;

const V1_CONSUMER = `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { z } from 'zod';
import { MCPTransportManager, serve } from 'mcp-http-transport';

function build(): McpServer {
  const server = new McpServer({ name: 'v1-only', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  return server;
}

const perSession: MCPTransportManager = new MCPTransportManager({ server: () => new McpServer({ name: 'factory', version: '1.0.0' }) });
const lowLevel = new MCPTransportManager({ server: new Server({ name: 'low-level', version: '1.0.0' }, { capabilities: { tools: {} } }) });
const instance: McpServer = build();
const served: MCPTransportManager = await serve({ server: instance });
// @ts-expect-error a string is no server
new MCPTransportManager({ server: 'not a server' });
await Promise.all([perSession.close(), lowLevel.close(), served.close()]);
`;

const packDir = emptyDir();
const v2Dir = emptyDir();
const v1Dir = emptyDir();
let v2Installed: Promise<void>;
let v1Installed: Promise<void>;
let v2Typecheck: Promise<Typecheck>;
let v1Typecheck: Promise<Typecheck>;

beforeAll(() => {
  // --ignore-scripts: the test run has built dist/ already, and prepack's clean build would pull it
  // from under the tests running alongside.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
  tarball = join(packDir, info.filename);
  packed = info.files.map((f) => f.path);
  // Both installs, then both type-checks (CPU-bound, seconds each), run side by side while the other
  // tests run; each describe below waits for its own.
  v2Installed = npmInstall(v2Dir, [tarball, `@modelcontextprotocol/server@${pkg.peerDependencies['@modelcontextprotocol/server']}`, 'zod']).then(() => {
    writeFileSync(join(v2Dir, 'server.mjs'), V2_SERVER);
    writeFileSync(join(v2Dir, 'consumer.ts'), V2_CONSUMER);
  });
  v1Installed = npmInstall(v1Dir, [tarball, `@modelcontextprotocol/sdk@${pkg.peerDependencies['@modelcontextprotocol/sdk']}`, 'zod']).then(() => {
    writeFileSync(join(v1Dir, 'server.mjs'), V1_SERVER);
    writeFileSync(join(v1Dir, 'consumer.ts'), V1_CONSUMER);
  });
  v2Typecheck = v2Installed.then(() => typecheck(v2Dir, NODE_PROJECT));
  v1Typecheck = v1Installed.then(() => typecheck(v1Dir, NODE_PROJECT));
  // A describe left out by a filter must not leave a failure unhandled.
  for (const promise of [v2Installed, v1Installed, v2Typecheck, v1Typecheck]) promise.catch(() => undefined);
}, 60_000);

// Whatever a filter left unused still ends before the run does (no npm or tsc outlives it); then the
// installed projects (tens of MB each) go.
afterAll(async () => {
  await Promise.allSettled([v2Typecheck, v1Typecheck]);
  for (const dir of [v2Dir, v1Dir, packDir]) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('the packed package', () => {
  it('holds the built code, the bin, the wrapper, the docs and the license; no sources, tests or source maps', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', '.env.example', 'docs/architecture.md', 'bin/mcp-http-transport.js', 'scripts/mcp-server-wrapper.sh', 'dist/index.js', 'dist/index.d.ts', 'dist/bridge/bridge.js', 'dist/cli/main.js']) {
      expect(packed).toContain(file);
    }
    expect(packed.filter((f) => f.endsWith('.map') || /^(src|test|bench|examples|node_modules)\//.test(f))).toEqual([]);
    expect(readFileSync(join(ROOT, 'dist', 'index.js'), 'utf8')).not.toContain('sourceMappingURL');
  });

  it('type-checks in a consumer without @types/node and without either SDK line (skipLibCheck off, no DOM lib)', async () => {
    const dir = emptyDir();
    install(dir);
    // No SDK is installed here, only a stub for the consumer's own import: a declaration of this
    // package that imported either SDK line would fail to resolve, so its public types must be by shape.
    writeFileSync(
      join(dir, 'sdk.d.ts'),
      `declare module '@modelcontextprotocol/sdk/server/mcp.js' {
  export class McpServer {
    constructor(info: { name: string; version: string });
    connect(transport: { start(): Promise<void>; send(message: unknown): Promise<void>; close(): Promise<void> }): Promise<void>;
    close(): Promise<void>;
  }
}
`,
    );
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(
      join(dir, 'consumer.ts'),
      `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ConfigError, MCPTransportManager, createLogger, parseConfig, serve, type LogStream, type TransportConfig } from 'mcp-http-transport';
import { createBridge, type Bridge } from 'mcp-http-transport/bridge';

const server = new McpServer({ name: 'my-server', version: '1.0.0' });
const lines: string[] = [];
const stream: LogStream = { write: (chunk: string) => lines.push(chunk) };
const config: TransportConfig = parseConfig({ MCP_TRANSPORT: 'HTTP' });
const warnings: readonly string[] = config.warnings;
const manager = new MCPTransportManager({ server, logger: createLogger('info', stream), port: 0 });
await manager.start().catch((error: unknown) => {
  if (error instanceof ConfigError) lines.push(...error.problems.map((p) => p.source), ...warnings);
});
const served: MCPTransportManager = await serve({ server: () => server });
await served.close();
const bridge: Bridge = createBridge({ url: 'http://localhost:3000/mcp', backoff: { maxDelayMs: 100 }, hold: false });
await bridge.close();
`,
    );
    const tsc = await typecheck(dir, { skipLibCheck: false, types: [] }, ['consumer.ts', 'sdk.d.ts']);
    expect(tsc.errors).toEqual([]);
    expect(tsc.status).toBe(0);
    expect(tsc.files).toContainEqual(expect.stringContaining('node_modules/mcp-http-transport/dist/index.d.ts'));
    expect(tsc.files.filter((f) => f.includes('@types/') || f.includes('@modelcontextprotocol/'))).toEqual([]);
  }, 60_000);
});

describe('npm install beside SDK v2 only (@modelcontextprotocol/server)', () => {
  const bin = join(v2Dir, 'node_modules', 'mcp-http-transport', 'bin', 'mcp-http-transport.js');

  beforeAll(() => v2Installed, 120_000);

  it('brings no @modelcontextprotocol/sdk along (both SDK lines are optional peers), nor vite, nor redis', () => {
    expect(existsSync(join(v2Dir, 'node_modules', '@modelcontextprotocol', 'server'))).toBe(true);
    expect(existsSync(join(v2Dir, 'node_modules', '@modelcontextprotocol', 'sdk'))).toBe(false);
    expect(lockHas(v2Dir, '@modelcontextprotocol/sdk')).toBe(false);
    expect(lockHas(v2Dir, 'vite')).toBe(false);
    expect(lockHas(v2Dir, 'redis')).toBe(false);
  });

  it.each(['factory', 'instance'])('serves a 2026-07-28 client and a 2025-era client over stdio (%s)', async (shape) => {
    const modernClient = new Peer(v2Dir, ['server.mjs'], { V2_SHAPE: shape });
    const legacyClient = new Peer(v2Dir, ['server.mjs'], { V2_SHAPE: shape });
    try {
      modernClient.send(modern(1, 'server/discover'), modern(2, 'tools/call', echo('2026 over stdio')));
      legacyClient.send(initialize(1));
      expect((await modernClient.answer(1)).result).toMatchObject({ supportedVersions: expect.arrayContaining([MODERN]) });
      expect(textOf((await modernClient.answer(2)).result)).toBe('2026 over stdio');
      expect((await legacyClient.answer(1)).result).toMatchObject({ protocolVersion: LEGACY, serverInfo: { name: 'v2-only' } });
      legacyClient.send(initialized, request(2, 'tools/call', echo('2025 over stdio')));
      expect(textOf((await legacyClient.answer(2)).result)).toBe('2025 over stdio');
      expect(modernClient.stderr + legacyClient.stderr).toBe('');
    } finally {
      await Promise.all([modernClient.end(), legacyClient.end()]);
    }
  });

  describe('over HTTP (a factory)', () => {
    let server: Peer | undefined;
    let base = '';
    beforeAll(async () => {
      ({ server, base } = await startHttpServer(v2Dir));
    });
    afterAll(() => server?.end('SIGTERM'));

    it('serves a raw 2026-07-28 request statelessly and a raw 2025 session on one /mcp', async () => {
      const mcp = `${base}/mcp`;
      const called = await post(mcp, modern(1, 'tools/call', echo('2026 over http')), { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
      expect(called.status).toBe(200);
      expect(called.headers.get('mcp-session-id')).toBeNull();
      expect(textOf(called.message?.result)).toBe('2026 over http');

      const opened = await post(mcp, initialize(1));
      expect(opened.status).toBe(200);
      expect(opened.message?.result).toMatchObject({ protocolVersion: LEGACY, serverInfo: { name: 'v2-only' } });
      const session = { 'mcp-session-id': opened.headers.get('mcp-session-id') ?? '', 'mcp-protocol-version': LEGACY };
      expect(session['mcp-session-id']).not.toBe('');
      expect((await post(mcp, initialized, session)).status).toBe(202);
      expect(textOf((await post(mcp, request(2, 'tools/call', echo('2025 over http')), session)).message?.result)).toBe('2025 over http');
    });

    it('serves real SDK clients of both eras at once: v2 pinned to 2026-07-28, v1 on 2025', async () => {
      const pinned = new ClientV2({ name: 'pinned', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
      await pinned.connect(new HttpClientV2(new URL(`${base}/mcp`)));
      const legacy = await connectClient(base, 'streamable');
      try {
        expect(pinned.getNegotiatedProtocolVersion()).toBe(MODERN);
        const [a, b] = await Promise.all([pinned.callTool(echo('v2 client')), legacy.callTool(echo('v1 client'))]);
        expect([textOf(a), textOf(b)]).toEqual(['v2 client', 'v1 client']);
      } finally {
        await Promise.all([pinned.close(), legacy.close()]);
      }
    });

    it("runs its bridge for a 2026-07-28 stdio client; a 2025-era one is told it needs SDK v1", async () => {
      const modernClient = new Peer(v2Dir, [bin, 'bridge', `${base}/mcp`]);
      const legacyClient = new Peer(v2Dir, [bin, 'bridge', `${base}/mcp`]);
      try {
        modernClient.send(modern(1, 'server/discover'), modern(2, 'tools/call', echo('through the bridge')));
        legacyClient.send(initialize(1));
        expect((await modernClient.answer(1)).result).toMatchObject({ supportedVersions: expect.arrayContaining([MODERN]) });
        expect(textOf((await modernClient.answer(2)).result)).toBe('through the bridge');
        expect((await legacyClient.answer(1)).error?.message).toMatch(/needs @modelcontextprotocol\/sdk 1\.x installed/);
      } finally {
        await Promise.all([modernClient.end(), legacyClient.end()]);
      }
    });
  });

  it('type-checks a TypeScript consumer against the real v2 types, with no casts (skipLibCheck on, @types/node)', async () => {
    const tsc = await v2Typecheck;
    expect(tsc.errors).toEqual([]);
    expect(tsc.status).toBe(0);
    expect(tsc.files).toContainEqual(expect.stringContaining('node_modules/@modelcontextprotocol/server/'));
    expect(tsc.files.filter((f) => f.includes('@modelcontextprotocol/sdk'))).toEqual([]);
  }, 60_000);
});

describe('npm install beside SDK v1 only (@modelcontextprotocol/sdk)', () => {
  beforeAll(() => v1Installed, 120_000);

  it('brings no @modelcontextprotocol/server along, nor vite, nor redis', () => {
    expect(existsSync(join(v1Dir, 'node_modules', '@modelcontextprotocol', 'sdk'))).toBe(true);
    expect(lockHas(v1Dir, '@modelcontextprotocol/server')).toBe(false);
    expect(lockHas(v1Dir, 'vite')).toBe(false);
    expect(lockHas(v1Dir, 'redis')).toBe(false);
  });

  it('runs its bin', () => {
    const result = spawnSync(process.execPath, [join(v1Dir, 'node_modules', 'mcp-http-transport', 'bin', 'mcp-http-transport.js'), 'version'], { cwd: v1Dir, env: cleanEnv(), encoding: 'utf8' });
    expect(result).toMatchObject({ status: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it("keeps the Quick start's promise: a bad setting is one line on stderr and exit 2", () => {
    const result = spawnSync(process.execPath, ['server.mjs'], { cwd: v1Dir, env: cleanEnv({ MCP_TRANSPORT: 'htp' }), encoding: 'utf8', timeout: 20_000 });
    expect(result).toMatchObject({ status: 2, stdout: '', stderr: 'mcp-http-transport: MCP_TRANSPORT=htp is not a transport: use stdio or http\n' });
  });

  it('serves a 2025-era client over stdio, and answers a 2026-07-28 probe with "method not found" so it falls back', async () => {
    const client = new Peer(v1Dir, ['server.mjs']);
    try {
      client.send(modern(1, 'server/discover'), initialize(2));
      expect((await client.answer(1)).error?.code).toBe(-32601);
      expect((await client.answer(2)).result).toMatchObject({ protocolVersion: LEGACY, serverInfo: { name: 'v1-only' } });
      client.send(initialized, request(3, 'tools/call', echo('v1 over stdio')));
      expect(textOf((await client.answer(3)).result)).toBe('v1 over stdio');
    } finally {
      await client.end();
    }
  });

  it('type-checks a TypeScript consumer against the real v1 types, with no casts (skipLibCheck on, @types/node)', async () => {
    const tsc = await v1Typecheck;
    expect(tsc.errors).toEqual([]);
    expect(tsc.status).toBe(0);
    expect(tsc.files).toContainEqual(expect.stringContaining('node_modules/@modelcontextprotocol/sdk/'));
    expect(tsc.files.filter((f) => f.includes('@modelcontextprotocol/server') || f.includes('@modelcontextprotocol/core'))).toEqual([]);
  }, 60_000);
});
