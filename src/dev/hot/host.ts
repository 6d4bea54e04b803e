import { existsSync } from 'node:fs';
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
}

/** How a reload went, for the status line. */
export type ReloadOutcome =
  | { kind: 'hot' | 'restarted'; files: string[]; ms: number; sessions: number; reason?: string }
  | { kind: 'failed'; error: string };

/** Files whose change cannot be applied in place: everything is evaluated again. */
const RESTART_FILES = /^(package\.json|\.env.*)$/;

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
    });
    const runner = vite.createServerModuleRunner(server.environments.ssr, { hmr: { logger: false } });
    this.vite = { server, runner };
    const hook: HotHook = { register: (source) => (this.pending = source) };
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
        for (const node of runner.evaluatedModules.getModulesByFile(file) ?? []) visit(node);
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
    try {
      await this.vite!.runner.import(pathToFileURL(this.entry).href);
    } catch (error) {
      return { kind: 'failed', error: this.explain(error) };
    }
    const source = this.pending as ServerSource | undefined;
    if (!source) return { kind: 'failed', error: `${this.local(this.entry)} did not call serve() or MCPTransportManager.start()` };
    const previous = this.current;
    if (previous && source === previous.source) {
      return { kind, files: files.map((f) => this.local(f)), ms: Date.now() - since, sessions: this.sessions.size, reason };
    }
    const generation = new Generation(++this.count, source);
    // Asked first, so that with one shared instance a real client is the last to initialize it.
    const offer = await offerOf(generation).catch(() => ({}) as Offer);
    this.current = generation;
    await Promise.all([...this.sessions].map((session) => session.swap(generation).catch(() => session.close())));
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
    await Promise.resolve(callback(client!.dataMap.get(url))).catch(() => undefined);
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
