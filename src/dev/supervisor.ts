import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Announcement } from './announce.js';

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  /** The server command, e.g. `['tsx', 'src/server.ts']`, run without a shell in a process group of its own. */
  command: readonly string[];
  /** The server's environment; the supervisor adds `MCP_DEV_CONTROL` and `MCP_HTTP_PORT=0`. */
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Every line a server process prints, on stdout or stderr. */
  onOutput(line: string): void;
  /** A process announced itself and serves on `port`: send new requests there. */
  onServing(server: ServingProcess, generation: Generation): void;
  /** A process failed to start (exited before it announced): `reason` is its most telling output line. */
  onStartFailed(generation: Generation, reason: string): void;
  /** The serving process stopped without being asked to. */
  onLost(server: ServingProcess, generation: Generation): void;
  /** How long a stopped process may drain before its group gets SIGTERM, then SIGKILL. @default 10000 */
  drainTimeoutMs?: number;
}

/** A server process that has announced itself. */
export interface ServingProcess {
  readonly pid: number;
  readonly port: number;
}

/** One start of the server command. */
export interface Generation {
  readonly number: number;
  /** When the change that caused this start happened (or the supervisor started). */
  readonly since: number;
  state: 'starting' | 'serving' | 'draining' | 'gone';
}

interface Running extends Generation {
  key: string;
  child: ChildProcess;
  server?: ServingProcess;
  socket?: Socket;
  /** The last lines printed while starting, to explain a failed start. */
  tail: string[];
  /** Resolves when both the process we spawned and the server that announced are gone. */
  gone: Promise<void>;
  /** The server's control connection closed (or it never had one). */
  serverGone(): void;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
const KILL_GRACE_MS = 3000;
const TAIL_LINES = 40;

/**
 * Runs each generation of the server as its own process, on an internal port it picks itself and
 * announces over a control connection. A new generation starts while the old one still drains, so the
 * two never compete for a port and calls in flight finish on the code that took them. The old one is
 * told to drain only once the new one serves; if the new one fails to start, the old one keeps serving.
 *
 * The control connection, not the spawned pid, says whether the real server is alive: wrappers such
 * as `sh -c`, `npm start` and `tsx` may exit before or after it.
 */
export class Supervisor {
  private control: NetServer | undefined;
  private controlAddress = '';
  private readonly generations = new Map<string, Running>();
  /** Control connections, closed at the end so that a straggler cannot hold the control port open. */
  private readonly sockets = new Set<Socket>();
  private serving: Running | undefined;
  private count = 0;
  private state: 'new' | 'started' | 'closed' = 'new';

  constructor(private readonly options: SupervisorOptions) {}

  /** Whether a generation is starting (launched, not yet announced). */
  get starting(): boolean {
    return [...this.generations.values()].some((g) => g.state === 'starting');
  }

  /** The process now serving, if any. */
  get current(): ServingProcess | undefined {
    return this.serving?.server;
  }

  /** Open the control port. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('Supervisor.start() was already called');
    this.state = 'started';
    const control = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      control.once('error', reject);
      control.listen(0, '127.0.0.1', resolve);
    });
    this.control = control;
    this.controlAddress = `127.0.0.1:${(control.address() as { port: number }).port}`;
  }

  /**
   * Start a new generation. Ones still starting are abandoned (a newer change supersedes them);
   * the serving one keeps serving until the new one announces itself.
   * @param since when the change that asks for it happened
   */
  launch(since = Date.now()): Generation {
    if (this.state !== 'started') throw new Error('Supervisor is not started');
    for (const g of this.generations.values()) if (g.state === 'starting') this.kill(g);
    const key = randomUUID();
    const [file, ...args] = direct(this.options.command, this.options.cwd);
    const child = spawn(file!, args, {
      cwd: this.options.cwd,
      env: { ...this.options.env, MCP_HTTP_PORT: '0', MCP_DEV_CONTROL: `${this.controlAddress}#${key}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, so that a stop reaches every descendant however deep.
      detached: true,
    });
    let spawnedExit!: () => void;
    const exited = new Promise<void>((resolve) => (spawnedExit = resolve));
    let serverGone!: () => void;
    const closed = new Promise<void>((resolve) => (serverGone = resolve));
    const generation: Running = {
      number: ++this.count,
      since,
      state: 'starting',
      key,
      child,
      tail: [],
      gone: Promise.all([exited, closed]).then(() => undefined),
      serverGone,
    };
    this.generations.set(key, generation);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (generation.state === 'starting') generation.tail = [...generation.tail, line].slice(-TAIL_LINES);
        this.options.onOutput(line);
      });
    }
    child.once('error', (error) => {
      generation.tail.push(`${error.message}: is ${file} installed and on PATH?`);
      spawnedExit();
      serverGone();
      this.ended(generation);
    });
    child.once('exit', () => {
      spawnedExit();
      // A process that never announced leaves no server behind it to wait for.
      if (!generation.socket) serverGone();
      this.ended(generation);
    });
    return generation;
  }

  /** Drain every process, then stop their groups. Safe to call twice. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const all = [...this.generations.values()];
    for (const g of all) this.stop(g);
    await Promise.all(all.map((g) => g.gone));
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => (this.control ? this.control.close(resolve) : resolve(undefined)));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setEncoding('utf8');
    socket.on('error', () => undefined); // 'close' follows
    const lines = createInterface({ input: socket });
    lines.once('line', (line) => {
      let hello: Announcement;
      try {
        hello = JSON.parse(line) as Announcement;
      } catch {
        return socket.destroy();
      }
      const generation = this.generations.get(hello.key);
      if (!generation || generation.state !== 'starting') {
        // Superseded while starting (or unknown): it must not serve.
        socket.write('drain\n');
        return;
      }
      generation.socket = socket;
      generation.server = { pid: hello.pid, port: hello.port };
      socket.once('close', () => {
        generation.serverGone();
        this.ended(generation);
      });
      generation.state = 'serving';
      const previous = this.serving;
      this.serving = generation;
      this.options.onServing(generation.server, generation);
      // Only now that the new code serves does the old one stop taking requests.
      if (previous && previous !== generation) this.stop(previous);
    });
  }

  /** A process we spawned, or the server in it, ended. */
  private ended(generation: Running): void {
    const serverAlive = generation.socket !== undefined && !generation.socket.closed;
    if (serverAlive) return;
    const was = generation.state;
    if (was === 'gone') return;
    generation.state = 'gone';
    // Wrappers left behind (a shell, npm) have nothing to wait for any more.
    void generation.gone.then(() => this.signalGroup(generation, 'SIGKILL'));
    void generation.gone.then(() => this.generations.delete(generation.key));
    if (this.state === 'closed') return;
    if (was === 'starting') {
      this.signalGroup(generation, 'SIGTERM');
      this.options.onStartFailed(generation, explain(generation.tail, this.options.cwd));
    } else if (was === 'serving' && this.serving === generation) {
      this.serving = undefined;
      this.options.onLost(generation.server!, generation);
    }
  }

  /** Ask a process to drain and exit; escalate to SIGTERM, then SIGKILL, if it does not. */
  private stop(generation: Running): void {
    if (generation.state === 'gone' || generation.state === 'draining') return;
    if (generation.state === 'starting' || !generation.socket) return this.kill(generation);
    generation.state = 'draining';
    generation.socket.write('drain\n');
    const drain = setTimeout(() => this.kill(generation), this.options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
    drain.unref();
    void generation.gone.then(() => clearTimeout(drain));
  }

  /** SIGTERM to the whole group, SIGKILL after a grace period. */
  private kill(generation: Running): void {
    this.signalGroup(generation, 'SIGTERM');
    const timer = setTimeout(() => this.signalGroup(generation, 'SIGKILL'), KILL_GRACE_MS);
    timer.unref();
    // Once the process we spawned is gone, nothing left in its group has a reason to live.
    void generation.gone.then(() => {
      clearTimeout(timer);
      this.signalGroup(generation, 'SIGKILL');
    });
    if (generation.state === 'starting') {
      generation.state = 'gone';
      void generation.gone.then(() => this.generations.delete(generation.key));
    }
  }

  private signalGroup(generation: Running, signal: NodeJS.Signals): void {
    const pid = generation.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is already gone
    }
  }
}

/**
 * `tsx <file> [args]` with the project's own tsx becomes `node --import tsx <file> [args]`: the same
 * loader in one process instead of two, which starts each generation about 250 ms sooner. Any other
 * command (or tsx with options of its own) runs as given.
 */
export function direct(command: readonly string[], cwd: string): string[] {
  const [file, entry, ...rest] = command;
  if (file === undefined || basename(file) !== 'tsx' || entry === undefined || entry.startsWith('-')) return [...command];
  if (!existsSync(join(cwd, 'node_modules', 'tsx', 'package.json'))) return [...command];
  return [process.execPath, '--import', 'tsx', entry, ...rest];
}

/** The most telling line of a failed start: the error itself, with where it happened when Node says. */
export function explain(lines: readonly string[], cwd = ''): string {
  const local = (line: string) => (cwd ? line.split(`${cwd}/`).join('') : line);
  const text = lines.map((l) => local(l.trim().replace(/file:\/\//g, ''))).filter(Boolean);
  // Ours (a ConfigError from serve()), then esbuild/tsx's, then Node's `XxxError: message`.
  const ours = text.find((l) => l.startsWith('mcp-http-transport:'));
  if (ours) return ours.replace(/^mcp-http-transport:\s*/, '');
  const esbuild = text.find((l) => /\bERROR: /.test(l));
  if (esbuild) return esbuild;
  const errorAt = text.findIndex((l) => /^([A-Z]\w*)?Error\b.*?: /.test(l) || /^[A-Z]\w*Error$/.test(l));
  if (errorAt >= 0) {
    const where = text.slice(0, errorAt).find((l) => /^\S+:\d+$/.test(l));
    return where ? `${text[errorAt]} (${where})` : text[errorAt]!;
  }
  return text.at(-1) ?? 'it exited without a word';
}
