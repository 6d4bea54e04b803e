import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createClient } from 'redis';

/** A `redis-server` child on a loopback port, for tests (and the bench). */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The child's pid while it runs, else undefined. */
  readonly pid: number | undefined;
  /** Stop it (SIGTERM, then SIGKILL after 5 s) and wait for the exit. Safe when it is not running. */
  stop(): Promise<void>;
  /** SIGKILL it and wait for the exit, as a crash. Safe when it is not running. */
  kill(): Promise<void>;
  /** SIGSTOP it: connections stay open and nothing answers, as a hung server or a partition. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Start it again on the same port (stopping it first if it runs) and wait until it answers PING. */
  restart(): Promise<void>;
}

/** How long to wait for a fresh redis-server to answer PING. */
const READY_MS = 10_000;

/**
 * Start `redis-server` on a free loopback port, without persistence, and resolve once it answers PING.
 * Needs `redis-server` on PATH (Debian: `apt-get install redis-server`; `.ci/run` installs it).
 */
export async function startRedis(): Promise<RedisServer> {
  // A free port can be taken between the probe and redis's bind: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    try {
      let child = await launch(port);
      const server: RedisServer = {
        url: `redis://127.0.0.1:${port}`,
        port,
        get pid() {
          return running(child) ? child.pid : undefined;
        },
        stop: () => end(child, 'SIGTERM'),
        kill: () => end(child, 'SIGKILL'),
        pause: () => void (running(child) && child.kill('SIGSTOP')),
        resume: () => void (running(child) && child.kill('SIGCONT')),
        restart: async () => {
          await end(child, 'SIGTERM');
          child = await launch(port);
        },
      };
      return server;
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** A plain node-redis client, to look at keys directly. */
export type RawRedisClient = ReturnType<typeof rawClient>;

function rawClient(url: string) {
  return createClient({ url, disableOfflineQueue: true });
}

/** {@link startRedis}, and a plain client connected to it. */
export async function startRedisWithClient(): Promise<{ redis: RedisServer; raw: RawRedisClient }> {
  const redis = await startRedis();
  const raw = rawClient(redis.url);
  // The tests stop Redis on purpose: the client's errors then are expected.
  raw.on('error', () => undefined);
  await raw.connect();
  return { redis, raw };
}

/** Undo {@link startRedisWithClient}, closing first the stores a test file made on that server. */
export async function stopRedisWithClient({ redis, raw }: { redis: RedisServer; raw: RawRedisClient }, stores: { close(): Promise<void> }[]): Promise<void> {
  await Promise.all(stores.map((s) => s.close()));
  raw.destroy();
  await redis.stop();
}

async function launch(port: number): Promise<ChildProcess> {
  // No persistence, so nothing is written; --dir only keeps redis out of the working directory.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir(), '--loglevel', 'warning'];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let failure: Error | undefined;
  child.once('error', (error) => (failure = error));
  child.once('exit', (code, signal) => (failure ??= new Error(`redis-server on port ${port} exited (${signal ?? code}): ${output.trim()}`)));
  const deadline = Date.now() + READY_MS;
  for (;;) {
    if (failure) throw failure;
    if (await answersPing(port)) return child;
    if (Date.now() > deadline) {
      await end(child, 'SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_MS} ms: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Signal the child (a paused one is resumed so that it can act on SIGTERM) and wait for its exit. */
async function end(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  if (signal === 'SIGTERM') child.kill('SIGCONT');
  const escalate = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(escalate);
}

/** Whether something on the port answers a RESP PING with PONG, within 500 ms. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
