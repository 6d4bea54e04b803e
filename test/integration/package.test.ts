/**
 * The package as a user gets it: `npm pack`, then the tarball's contents, its types compiled by a
 * consumer that has no @types/node, and its bin and entry point run from an install outside the repo.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, emptyDir } from '../helpers.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

let tarball = '';
let packed: string[] = [];

/** Unpack the tarball as `<dir>/node_modules/mcp-http-transport`. */
function install(dir: string): void {
  const target = join(dir, 'node_modules', 'mcp-http-transport');
  mkdirSync(target, { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', target, '--strip-components=1']);
}

/** An ambient module for each SDK module that the declarations in `dist` import from, each name an open class. */
function sdkStubs(dist: string): string {
  const names = new Map<string, Set<string>>();
  const files = (readdirSync(dist, { recursive: true }) as string[]).filter((f) => f.endsWith('.d.ts'));
  for (const file of files) {
    for (const [, list, from] of readFileSync(join(dist, file), 'utf8').matchAll(/import (?:type )?\{([^}]+)\} from '(@modelcontextprotocol\/sdk\/[^']+)'/g)) {
      const set = names.get(from!) ?? new Set<string>();
      for (const name of list!.split(',')) set.add(name.replace(/^\s*type\s+/, '').trim());
      names.set(from!, set);
    }
  }
  names.get('@modelcontextprotocol/sdk/server/mcp.js')?.add('McpServer');
  return [...names]
    .map(([from, set]) => `declare module '${from}' {\n${[...set].map((n) => `  export class ${n} { constructor(...args: any[]); [key: string]: any }\n`).join('')}}\n`)
    .join('');
}

beforeAll(() => {
  // --ignore-scripts: the test run has built dist/ already, and prepack's clean build would pull it
  // from under the tests running alongside.
  const destination = emptyDir();
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destination], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
  tarball = join(destination, info.filename);
  packed = info.files.map((f) => f.path);
}, 60_000);

describe('the packed package', () => {
  it('holds the built code, the bin, the wrapper, the docs and the license; no sources, tests or source maps', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', '.env.example', 'docs/architecture.md', 'bin/mcp-http-transport.js', 'scripts/mcp-server-wrapper.sh', 'dist/index.js', 'dist/index.d.ts', 'dist/bridge/bridge.js', 'dist/cli/main.js']) {
      expect(packed).toContain(file);
    }
    expect(packed.filter((f) => f.endsWith('.map') || /^(src|test|bench|examples|node_modules)\//.test(f))).toEqual([]);
    expect(readFileSync(join(ROOT, 'dist', 'index.js'), 'utf8')).not.toContain('sourceMappingURL');
  });

  it('type-checks in a consumer without @types/node (skipLibCheck off, no DOM lib)', () => {
    const dir = emptyDir();
    install(dir);
    // The SDK's own declarations need DOM or Node types, which is the SDK's business: stubs stand in
    // for what this package imports from it, so that only this package's declarations are checked (in seconds).
    writeFileSync(join(dir, 'sdk.d.ts'), sdkStubs(join(dir, 'node_modules', 'mcp-http-transport', 'dist')));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(
      join(dir, 'server.ts'),
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
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: [], noEmit: true },
        files: ['server.ts', 'sdk.d.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--listFiles'], { cwd: dir, encoding: 'utf8' });
    expect(tsc.stdout.split('\n').filter((l) => l.includes('error TS'))).toEqual([]);
    expect(tsc.status).toBe(0);
    const files = tsc.stdout.split('\n');
    expect(files).toContainEqual(expect.stringContaining('node_modules/mcp-http-transport/dist/index.d.ts'));
    expect(files.filter((f) => f.includes('@types/'))).toEqual([]);
  }, 60_000);

  describe('installed outside the repository', () => {
    let dir: string;
    beforeAll(() => {
      dir = emptyDir();
      install(dir);
      // What `npm install <tarball>` would add: the dependencies and the SDK (a peer), here from the repo.
      for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)]) {
        mkdirSync(join(dir, 'node_modules', name, '..'), { recursive: true });
        symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name));
      }
    });
    const env = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_')));

    it('runs its bin', () => {
      const result = spawnSync(process.execPath, [join(dir, 'node_modules', 'mcp-http-transport', 'bin', 'mcp-http-transport.js'), 'version'], { cwd: dir, env: env(), encoding: 'utf8' });
      expect(result).toMatchObject({ status: 0, stdout: `${pkg.version}\n`, stderr: '' });
    });

    it("keeps the Quick start's promise: a bad setting is one line on stderr and exit 2", () => {
      writeFileSync(
        join(dir, 'server.mjs'),
        `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { serve } from 'mcp-http-transport';
const server = new McpServer({ name: 'my-server', version: '1.0.0' });
await serve({ server });
`,
      );
      const result = spawnSync(process.execPath, ['server.mjs'], { cwd: dir, env: { ...env(), MCP_TRANSPORT: 'htp' }, encoding: 'utf8', timeout: 20_000 });
      expect(result).toMatchObject({ status: 2, stdout: '', stderr: 'mcp-http-transport: MCP_TRANSPORT=htp is not a transport: use stdio or http\n' });
    });
  });
});
