import { existsSync, readFileSync } from 'node:fs';
import dotenv from 'dotenv';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../errors.js';
import type { ServerLike, ServerSource } from '../../server-like.js';
import { HOT_HOOK, type HotHook } from './hook.js';
import { Generation, HotSession, offerOf, type Offer } from './swap.js';

/** Options of {@link HotHost}. */
export interface HotHostOptions {
  /** The entry file, as given on the command line. */
  entry: string;
  /** The project directory: Vite's root, and what file names in status lines are relative to. */
  cwd: string;
  /** A problem in the user's code that does not stop the reload (a dispose callback that threw). @default ignored */
  warn?(line: string): void;
}

/** How a reload went, for the status line. */
export type ReloadOutcome =
  | { kind: 'hot' | 'restarted'; files: string[]; ms: number; sessions: number; reason?: string }
  | { kind: 'failed'; error: string };

/** Files whose change cannot be applied in place: everything is evaluated again. */
const RESTART_FILES = /^(package\.json|\.env.*)$/;
/** How long an entry may take, after its module evaluated, to hand its server over (a `main()` not awaited). */
const REGISTER_GRACE_MS = 10_000;

/**
 * `dev --hot`: the user's entry runs inside this process through Vite's module runner. A save
 * re-evaluates the changed modules and their importers only (others keep their state), and the server
 * the entry hands over is swapped in behind every live session. Vite is an optional peer, loaded here only.
 */
export class HotHost {
  private readonly sessions = new Set<HotSession>();
  private current: Generation | undefined;
  private offer: Offer = {};
  private count = 0;
  private pending: ServerSource | undefined;
  private registered: ((source: ServerSource) => void) | undefined;
  /** Variables of the real environment, which a `.env` reload never overrides. */
  private readonly realEnv = new Set(Object.keys(process.env));
  private readonly firstGeneration: Promise<void>;
  private firstReady!: () => void;
  private vite: { server: import('vite').ViteDevServer; runner: import('vite/module-runner').ModuleRunner } | undefined;
  private readonly entry: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: HotHostOptions) {
    this.entry = resolve(options.cwd, options.entry);
    this.firstGeneration = new Promise((ready) => (this.firstReady = ready));
  }

  /**
   * The `server` to give the host's own managers: each session gets a {@link HotSession} that relays
   * to whichever generation is current.
   */
  readonly facade = (): ServerLike => new HotSession(() => this.current!, this.sessions, this.firstGeneration) as unknown as ServerLike;

  /** Number of live sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Start Vite's runner and load the entry. @returns how the first load went */
  async start(): Promise<ReloadOutcome> {
    const vite = await import('vite').catch(() => {
      throw ConfigError.of('INVALID_OPTION', '--hot', 'dev --hot needs Vite (its module runner): npm install --save-dev vite');
    });
    const server = await vite.createServer({
      configFile: false,
      root: this.options.cwd,
      logLevel: 'silent',
      appType: 'custom',
      // No watcher and no socket: this host watches, and tells Vite what changed.
      server: { middlewareMode: true, watch: null, ws: false },
      optimizeDeps: { noDiscovery: true, include: [] },
      // As tsx does: `paths` in tsconfig.json resolve.
      resolve: { tsconfigPaths: true },
    });
    const runner = vite.createServerModuleRunner(server.environments.ssr, { hmr: { logger: false } });
    this.vite = { server, runner };
    const hook: HotHook = {
      register: (source) => {
        this.pending = source;
        this.registered?.(source);
      },
    };
    (globalThis as Record<symbol, HotHook>)[HOT_HOOK] = hook;
    return this.serialize(() => this.load([this.options.entry], 'restarted', Date.now()));
  }

  /** Apply changed files: in place when they are modules of the entry's graph, else by evaluating everything again. */
  reload(files: string[], since = Date.now()): Promise<ReloadOutcome> {
    return this.serialize(async () => {
      const { server, runner } = this.vite!;
      const graph = server.environments.ssr.moduleGraph;
      const outside = files.find((file) => RESTART_FILES.test(basename(file)) || !runner.evaluatedModules.getModulesByFile(file)?.size);
      if (outside !== undefined || !this.current) {
        if (files.some((file) => basename(file).startsWith('.env'))) this.reloadEnv();
        await this.disposeAll();
        runner.evaluatedModules.clear();
        graph.invalidateAll();
        const reason = outside !== undefined ? `${this.local(outside)} changed` : undefined;
        return this.load(files, 'restarted', since, reason);
      }
      const stale = new Set<import('vite/module-runner').EvaluatedModuleNode>();
      const visit = (node: import('vite/module-runner').EvaluatedModuleNode) => {
        if (stale.has(node)) return;
        stale.add(node);
        for (const id of node.importers) {
          const importer = runner.evaluatedModules.getModuleById(id);
          if (importer) visit(importer);
        }
      };
      for (const file of files) {
        graph.onFileChange(file);
        for (const node of runner.evaluatedModules.getModulesByFile(file) ?? []) {
          // A syntax error fails here, before any module is disposed: the old code keeps serving whole.
          try {
            await server.environments.ssr.transformRequest(node.url);
          } catch (error) {
            return { kind: 'failed', error: this.explain(error) } satisfies ReloadOutcome;
          }
          visit(node);
        }
      }
      for (const node of stale) {
        await this.dispose(node.url);
        runner.evaluatedModules.invalidateModule(node);
      }
      return this.load(files, 'hot', since);
    });
  }

  /** Stop Vite and close every generation. Sessions are closed by the managers that own them. */
  async close(): Promise<void> {
    delete (globalThis as Record<symbol, unknown>)[HOT_HOOK];
    await this.disposeAll();
    await this.current?.close();
    await this.vite?.runner.close();
    await this.vite?.server.close();
  }

  private async load(files: string[], kind: 'hot' | 'restarted', since: number, reason?: string): Promise<ReloadOutcome> {
    this.pending = undefined;
    // The entry's own error handling often ends in process.exit(1): here that would end dev and every client.
    const exit = process.exit;
    process.exit = ((code?: number) => {
      throw new Error(`the entry called process.exit(${code ?? ''})`);
    }) as typeof process.exit;
    try {
      await this.vite!.runner.import(pathToFileURL(this.entry).href);
      // An entry whose main() is not awaited at top level hands its server over a little later.
      if (!this.pending) await this.registration();
    } catch (error) {
      return { kind: 'failed', error: this.explain(error) };
    } finally {
      process.exit = exit;
    }
    const source = this.pending as ServerSource | undefined;
    if (!source) return { kind: 'failed', error: `${this.local(this.entry)} did not call serve() or MCPTransportManager.start() within ${REGISTER_GRACE_MS / 1000} s` };
    const previous = this.current;
    if (previous && source === previous.source) {
      return { kind, files: files.map((f) => this.local(f)), ms: Date.now() - since, sessions: this.sessions.size, reason };
    }
    const generation = new Generation(++this.count, source);
    // Asked first, so that with one shared instance a real client is the last to initialize it. A server
    // that cannot start (a factory that throws, a refused initialize) fails the reload here.
    let offer: Offer;
    try {
      offer = await offerOf(generation);
    } catch (error) {
      await generation.close();
      return { kind: 'failed', error: `the new server failed to start: ${this.explain(error)}` };
    }
    this.current = generation;
    // A session whose handshake fails on the new code stays on the code it has.
    await Promise.all([...this.sessions].map((session) => session.swap(generation).catch((error: Error) => this.options.warn?.(`a session stays on the previous code: ${error.message}`))));
    const ms = Date.now() - since;
    this.firstReady();
    // Clients refetch only the lists this save changed.
    if (previous) {
      for (const list of ['tools', 'resources', 'prompts'] as const) {
        if (offer[list] !== undefined && offer[list] !== this.offer[list]) for (const session of this.sessions) session.notify(`notifications/${list}/list_changed`);
      }
      void previous.retire();
    }
    this.offer = offer;
    return { kind, files: files.map((f) => this.local(f)), ms, sessions: this.sessions.size, reason };
  }

  /** Run Vite's `import.meta.hot.dispose` callback of a module about to be evaluated again. */
  private async dispose(url: string): Promise<void> {
    const client = this.vite!.runner.hmrClient;
    const callback = client?.disposeMap.get(url);
    if (!callback) return;
    client!.disposeMap.delete(url);
    await Promise.resolve()
      .then(() => callback(client!.dataMap.get(url)))
      .catch((error: Error) => this.options.warn?.(`import.meta.hot.dispose of ${this.local(url)} threw: ${error?.message ?? error}`));
  }

  /** Wait for the entry to hand its server over, up to the grace period. */
  private registration(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.registered = undefined;
        resolve();
      };
      const timer = setTimeout(done, REGISTER_GRACE_MS);
      this.registered = done;
    });
  }

  /** A `.env` changed: its values reach `process.env` again (the real environment still wins, as dotenv does). */
  private reloadEnv(): void {
    let text: string;
    try {
      text = readFileSync(join(this.options.cwd, '.env'), 'utf8');
    } catch {
      return;
    }
    for (const [key, value] of Object.entries(dotenv.parse(text))) if (!this.realEnv.has(key)) process.env[key] = value;
  }

  private async disposeAll(): Promise<void> {
    for (const url of [...(this.vite?.runner.hmrClient?.disposeMap.keys() ?? [])]) await this.dispose(url);
  }

  /** One reload at a time, in the order of the saves. */
  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** A file as the user knows it: relative to the project. Vite may name one by its root-relative URL (`/src/x.mjs`). */
  private local(file: string): string {
    const url = join(this.options.cwd, file);
    const path = isAbsolute(file) && !existsSync(file) && existsSync(url) ? url : resolve(this.options.cwd, file);
    return relative(this.options.cwd, path) || file;
  }

  /** One line: the error and where, as Vite (a syntax error) or the stack (a throw) says. */
  private explain(error: unknown): string {
    const e = error as { message?: string; loc?: { file?: string; line?: number }; id?: string; stack?: string };
    // eslint-disable-next-line no-control-regex
    const text = String(e?.message ?? error).replace(/\x1b\[[0-9;]*m/g, '');
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    // Vite's transform errors say "Transform failed with 1 error:", then "[PARSE_ERROR] Unexpected token".
    const message = lines.find((l) => /^\[[A-Z_]+\]/.test(l)) ?? (lines[0]?.endsWith(':') && lines[1] ? lines[1] : lines[0]) ?? 'unknown error';
    let where: string | undefined;
    const framed = /([\w@./-]+\.[cm]?[jt]sx?):(\d+)(?::\d+)?/.exec(text);
    if (e?.loc?.file && e.loc.line) where = `${this.local(e.loc.file)}:${e.loc.line}`;
    else if (framed && e?.id) where = `${this.local(e.id.split('?')[0]!)}:${framed[2]}`;
    else {
      const frame = e?.stack?.split('\n').find((l) => l.includes(this.options.cwd) && !l.includes('node_modules'));
      const match = frame && /((?:file:\/\/)?\/[^\s()]+):(\d+):\d+/.exec(frame);
      if (match) where = `${this.local(match[1]!.replace(/^file:\/\//, ''))}:${match[2]}`;
      else if (e?.id) where = this.local(e.id.split('?')[0]!);
    }
    return where && !message.includes(where) ? `${message} (${where})` : message;
  }
}
