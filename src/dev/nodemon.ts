import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

/** What to run under nodemon, and where its output goes. */
export interface NodemonOptions {
  /** The server command, e.g. `['tsx', 'src/server.ts']`. */
  command: readonly string[];
  /** Directories (or files) to watch. @default [cwd] */
  watch: readonly string[];
  /** Comma list of extensions to watch, e.g. `ts,js,json`. */
  ext: string;
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** A line the server (or nodemon, other than its status lines) printed. */
  onOutput(line: string): void;
  /** nodemon saw a change and is restarting the server. */
  onRestarting(): void;
  /** The server exited on its own: crashed (code != 0) or finished; nodemon waits for the next change. */
  onExited(crashed: boolean): void;
}

/** A running nodemon, in a process group of its own. */
export interface NodemonHandle {
  readonly pid: number;
  /** Resolves with nodemon's exit code once it and every process under it are gone. */
  readonly exited: Promise<number | null>;
  /** Stop nodemon and the whole process tree under it: SIGTERM to the group, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Run `command` under nodemon. nodemon's stdout (its status lines and the server's stdout) is piped
 * to us, never inherited: in dev mode our stdout may be an MCP stdio stream.
 *
 * If we die without stopping it, an orphan guard preloaded into nodemon stops the tree itself.
 *
 * nodemon restarts with SIGTERM rather than its default SIGUSR2: it signals every process in the
 * tree, and wrappers such as `tsx` relay SIGTERM to the real server but die of SIGUSR2, leaving it behind.
 */
export function startNodemon(options: NodemonOptions): NodemonHandle {
  const bin = createRequire(import.meta.url).resolve('nodemon/bin/nodemon.js');
  const guard = new URL('./orphan-guard.js', import.meta.url).href;
  const args = ['--import', guard, bin, '--signal', 'SIGTERM', '--no-colours', '--delay', '0'];
  for (const dir of options.watch) args.push('--watch', dir);
  args.push('--ext', options.ext);
  args.push('--exec', options.command.map(shellQuote).join(' '));

  // A process group of our own, so that stop() reaches every descendant, however deep.
  const child: ChildProcess = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('[nodemon]')) return options.onOutput(line);
    if (line.includes('restarting due to changes')) options.onRestarting();
    else if (line.includes('app crashed')) options.onExited(true);
    else if (line.includes('clean exit')) options.onExited(false);
    // nodemon's other status lines (version, watching, starting) are noise here.
  });
  createInterface({ input: child.stderr! }).on('line', options.onOutput);

  const pid = child.pid!;
  let stopping: Promise<void> | undefined;
  return {
    pid,
    exited,
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        signalGroup(pid, 'SIGTERM');
        // nodemon passes SIGTERM down and exits; a descendant that ignores it is killed at the deadline.
        const deadline = Date.now() + graceMs;
        while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
        await exited;
      })();
      return stopping;
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Quote an argument for nodemon's `sh -c`. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
