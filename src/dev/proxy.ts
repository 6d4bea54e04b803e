import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createParser } from 'eventsource-parser';
import type { Logger } from '../log.js';
import { isRetrySafe } from '../safe-methods.js';

/** Options of {@link DevProxy}. */
export interface DevProxyOptions {
  /** The server child's internal port on 127.0.0.1. */
  targetPort: number;
  /** How long a request waits for the server to come back before it gets a 503. @default 30000 */
  holdTimeoutMs?: number;
  /** Sent with health probes when the server requires a token. */
  authToken?: string;
  log: Logger;
  /**
   * The server answers again after being down, and the streams held meanwhile have been re-opened:
   * `restored` of them on the new process (each one a session), `lost` not.
   */
  onReady?(event: { downMs: number; restored: number; lost: number }): void;
}

const DEFAULT_HOLD_TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const HEALTH_POLL_MS = 10;

interface Gate {
  readonly since: number;
  readonly opened: Promise<void>;
  open(): void;
  /** The pid that was serving when we went down: only a different one counts as back. */
  readonly oldPid: number | undefined;
  /** Streams waiting to re-open, and how that went for those done. */
  readonly streams: { waiting: number; restored: number; lost: number; readyAt?: number };
}

type Outcome = 'done' | 'retry';

/**
 * The public side of dev mode. It owns the port clients know and forwards to the server child on an
 * internal port. While the child restarts it holds requests and releases them once `/health` answers
 * from the new process; it keeps clients' long-lived streams (`GET /sse`, `GET /mcp`) open across the
 * restart and re-opens them upstream, where the new process restores the sessions.
 * A child that dies without draining costs at most a retry (safe methods) or an immediate JSON-RPC
 * error (anything else), never a hang.
 */
export class DevProxy {
  private gate: Gate | undefined;
  private pid: number | undefined;
  /** Legacy SSE sessions by id: calls a server accepted whose responses (which come on the stream) are still due. */
  private readonly sseCalls = new Map<string, SseCalls>();
  private readonly holdTimeoutMs: number;

  constructor(private readonly options: DevProxyOptions) {
    this.holdTimeoutMs = options.holdTimeoutMs ?? DEFAULT_HOLD_TIMEOUT_MS;
    this.markDown();
  }

  /** True while requests are being held. */
  get down(): boolean {
    return this.gate !== undefined;
  }

  /** Hold new requests until a (new) server process answers `/health`. Idempotent while down. */
  markDown(): void {
    if (this.gate) return;
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const gate: Gate = { since: Date.now(), opened, open, oldPid: this.pid, streams: { waiting: 0, restored: 0, lost: 0 } };
    this.gate = gate;
    void this.pollUntilUp(gate);
  }

  /** The request listener for the public HTTP server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.serve(req, res).catch((error: Error) => {
      this.options.log.debug(`proxy: ${error.message}`);
      if (!res.headersSent) sendError(res, 502, null, `Bad Gateway: ${error.message}`);
      else res.destroy();
    });
  };

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/sse' || path === '/mcp')) return this.stream(req, res);
    const body = await readBody(req);
    if (body === undefined) return sendError(res, 413, null, `Payload Too Large: request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    const call = describe(body);
    const sessionId = path === '/messages' || path === '/messages/' ? new URL(req.url ?? '/', 'http://x').searchParams.get('sessionId') : null;
    const calls = sessionId ? this.sseCalls.get(sessionId) : undefined;
    // Due once a server has accepted it (202); its answer may already have passed on the stream.
    const accepted = calls && call.id !== undefined ? () => calls.accepted(call.id!, { call, body, url: req.url ?? '/', headers: req.headers }) : undefined;
    for (;;) {
      if (!(await this.waitUp())) return this.giveUp(res, call.id);
      if ((await this.forward(req, body, res, call, false, accepted)) === 'done') return;
    }
  }

  /** Forward one request. 'retry' means it can be sent again once the server is back. */
  private forward(req: IncomingMessage, body: Buffer, res: ServerResponse, call: Call, resumed = false, accepted?: () => void): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let sent = false;
      const upstream = httpRequest(
        { host: '127.0.0.1', port: this.options.targetPort, method: req.method, path: req.url, headers: forwardedHeaders(req.headers, body.length) },
        (up) => {
          if (up.statusCode === 503 && up.headers['mcp-draining']) {
            // The old process is shutting down and did not take this request: hold it for the new one.
            up.resume();
            this.markDown();
            return resolve('retry');
          }
          if (up.statusCode === 202) accepted?.();
          if (!resumed) res.writeHead(up.statusCode ?? 502, up.headers);
          const seen = watchForResponse(up, call.id);
          up.on('data', (chunk: Buffer) => res.write(chunk));
          up.once('end', () => {
            res.end();
            resolve('done');
          });
          up.once('aborted', () => {
            // The server died mid-response (no drain: a crash or SIGKILL).
            this.markDown();
            if (seen.answered || call.id === undefined) {
              res.end();
              return resolve('done');
            }
            if (call.safe) return resolve('retry'); // re-sent on the same client stream once the server is back
            writeSseError(res, call);
            resolve('done');
          });
        },
      );
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        this.markDown();
        // Refused: the request never reached a server. Otherwise it may have run, so only safe ones repeat.
        if (!sent || error.code === 'ECONNREFUSED' || call.safe) return resolve('retry');
        if (resumed) writeSseError(res, call);
        else sendError(res, 200, call.id ?? null, notRetriedMessage(call));
        resolve('done');
      });
      upstream.end(body, () => (sent = true));
    }).then(async (outcome): Promise<Outcome> => {
      // A safe call cut off mid-stream continues on the same client response once the server is back.
      if (outcome !== 'retry' || !res.headersSent || res.writableEnded) return outcome;
      if (await this.waitUp()) return this.forward(req, body, res, call, true);
      writeSseError(res, call);
      return 'done';
    });
  }

  /**
   * A long-lived GET stream: kept open for the client across restarts, re-opened upstream each time.
   * Legacy SSE streams re-open with `Last-Event-ID: <session id>`, which the new process restores.
   */
  private async stream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let sessionId: string | undefined;
    let current: IncomingMessage | undefined;
    res.once('close', () => current?.destroy());
    let held: Gate | undefined;
    const settle = (restored: boolean) => {
      if (held) this.streamSettled(held, restored);
      held = undefined;
    };
    res.once('close', () => settle(false));
    while (!res.destroyed) {
      if (res.headersSent && this.gate && !held) {
        held = this.gate;
        held.streams.waiting++;
      }
      if (!(await this.waitUp())) {
        settle(false);
        return res.headersSent ? void res.end() : this.giveUp(res, undefined);
      }
      const headers = forwardedHeaders(req.headers, 0);
      if (sessionId) headers['last-event-id'] = sessionId;
      const up = await new Promise<IncomingMessage | undefined>((resolve) => {
        const r = httpRequest({ host: '127.0.0.1', port: this.options.targetPort, method: 'GET', path: req.url, headers }, resolve);
        r.on('error', () => resolve(undefined));
        r.end();
      });
      if (!up || (up.statusCode === 503 && up.headers['mcp-draining'])) {
        up?.resume();
        this.markDown();
        continue;
      }
      if (!res.headersSent) res.writeHead(up.statusCode ?? 502, up.headers);
      else if (up.statusCode !== 200) {
        // The session could not be restored: end the stream so the client notices.
        up.resume();
        settle(false);
        return void res.end();
      }
      if (up.statusCode !== 200) return void up.pipe(res);
      settle(true);
      current = up;
      if ((req.url ?? '').startsWith('/sse')) {
        this.watchSse(up, sessionId, (id) => {
          sessionId = id;
          res.once('close', () => this.sseCalls.delete(id));
        });
        // Calls the dead process never answered: safe ones go again to the restored session.
        if (sessionId) this.repost(sessionId);
      }
      up.on('data', (chunk: Buffer) => res.write(chunk));
      await new Promise((resolve) => up.once('close', resolve));
      if (res.destroyed) return;
      if (sessionId) this.failUnsafe(sessionId, res);
      // Upstream ended: a live server closing the stream is final; otherwise it is restarting.
      if (!this.down && (await this.healthyPid()) === this.pid) return void res.end();
      this.markDown();
    }
  }

  /** Follow a legacy SSE stream: learn its session id, and clear calls as their responses pass. */
  private watchSse(up: IncomingMessage, known: string | undefined, learned: (id: string) => void): void {
    let id = known;
    const parser = createParser({
      onEvent: (event) => {
        if (event.event === 'endpoint' && !id) {
          id = new URL(event.data, 'http://localhost').searchParams.get('sessionId') ?? undefined;
          if (id) {
            this.sseCalls.set(id, new SseCalls());
            learned(id);
          }
        } else if ((event.event ?? 'message') === 'message' && id) {
          try {
            const message = JSON.parse(event.data) as { id?: string | number; method?: string };
            if (message.id !== undefined && message.method === undefined) this.sseCalls.get(id)?.answered(message.id);
          } catch {
            // not JSON-RPC
          }
        }
      },
    });
    up.on('data', (chunk: Buffer) => parser.feed(chunk.toString('utf8')));
  }

  /** The upstream stream died with calls unanswered: those that may have side effects fail now. */
  private failUnsafe(sessionId: string, res: ServerResponse): void {
    const calls = this.sseCalls.get(sessionId);
    for (const [id, { call }] of calls?.due ?? []) {
      if (call.safe) continue;
      calls!.due.delete(id);
      res.write(sseError(call));
    }
  }

  private repost(sessionId: string): void {
    for (const { body, url, headers } of this.sseCalls.get(sessionId)?.due.values() ?? []) {
      const r = httpRequest({ host: '127.0.0.1', port: this.options.targetPort, method: 'POST', path: url, headers: forwardedHeaders(headers, body.length) }, (up) => up.resume());
      r.on('error', (error) => this.options.log.debug(`proxy: re-post failed: ${error.message}`));
      r.end(body);
    }
  }

  private streamSettled(gate: Gate, restored: boolean): void {
    if (restored) gate.streams.restored++;
    else gate.streams.lost++;
    this.maybeReady(gate);
  }

  /** Report readiness once the gate is open and every stream it held has re-opened (or failed to). */
  private maybeReady(gate: Gate): void {
    const { waiting, restored, lost, readyAt } = gate.streams;
    if (readyAt === undefined || restored + lost < waiting) return;
    gate.streams.waiting = -1; // report once
    this.options.onReady?.({ downMs: readyAt - gate.since, restored, lost });
  }

  private async waitUp(): Promise<boolean> {
    const gate = this.gate;
    if (!gate) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(resolve, this.holdTimeoutMs, false)));
    const up = await Promise.race([gate.opened.then(() => true), timedOut]);
    clearTimeout(timer);
    return up;
  }

  private giveUp(res: ServerResponse, id: string | number | undefined): void {
    sendError(res, 503, id ?? null, `Service Unavailable: the server did not come back within ${this.holdTimeoutMs / 1000} s; check its output above, fix the error and save`);
  }

  private async pollUntilUp(gate: Gate): Promise<void> {
    for (;;) {
      const pid = await this.healthyPid();
      if (pid !== undefined && pid !== gate.oldPid) {
        this.pid = pid;
        this.gate = undefined;
        gate.streams.readyAt = Date.now();
        gate.open();
        this.maybeReady(gate);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
    }
  }

  /** The pid `/health` reports, or undefined if the server is not serving. */
  private healthyPid(): Promise<number | undefined> {
    return new Promise((resolve) => {
      const headers: Record<string, string> = { connection: 'close' };
      if (this.options.authToken) headers['authorization'] = `Bearer ${this.options.authToken}`;
      const probe = httpRequest({ host: '127.0.0.1', port: this.options.targetPort, path: '/health', headers, timeout: 1000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 ? (JSON.parse(text) as { pid?: number }).pid : undefined);
          } catch {
            resolve(undefined);
          }
        });
      });
      probe.on('error', () => resolve(undefined));
      probe.on('timeout', () => probe.destroy());
      probe.end();
    });
  }
}

interface DueCall {
  call: Call;
  body: Buffer;
  url: string;
  headers: IncomingHttpHeaders;
}

/** The calls of one legacy SSE session that a server accepted and has not answered yet. */
class SseCalls {
  readonly due = new Map<string | number, DueCall>();
  /** Answers seen before their POST's 202 reached us (the server answers on the stream first). */
  private readonly early = new Set<string | number>();

  accepted(id: string | number, call: DueCall): void {
    if (!this.early.delete(id)) this.due.set(id, call);
  }

  answered(id: string | number): void {
    if (!this.due.delete(id)) this.early.add(id);
  }
}

interface Call {
  id: string | number | undefined;
  method: string | undefined;
  safe: boolean;
}

/** The JSON-RPC request a body carries, if any. */
function describe(body: Buffer): Call {
  try {
    const message = JSON.parse(body.toString('utf8')) as { id?: unknown; method?: unknown };
    const id = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : undefined;
    const method = typeof message.method === 'string' ? message.method : undefined;
    // A body without a request (a notification, a response) changes nothing if sent twice... except
    // a cancellation, which is harmless to repeat too.
    return { id, method, safe: method === undefined || id === undefined || isRetrySafe(method) };
  } catch {
    return { id: undefined, method: undefined, safe: true };
  }
}

function notRetriedMessage(call: Call): string {
  return `The server restarted while ${call.method ?? 'the request'} was running; it was not retried because it may have side effects. Call it again if needed.`;
}

/** Notice whether the response to `id` passed through an SSE body. */
function watchForResponse(up: IncomingMessage, id: string | number | undefined): { answered: boolean } {
  const state = { answered: false };
  if (id === undefined || !String(up.headers['content-type']).includes('text/event-stream')) return state;
  const parser = createParser({
    onEvent: (event) => {
      try {
        const message = JSON.parse(event.data) as { id?: unknown; method?: unknown };
        if (message.id === id && message.method === undefined) state.answered = true;
      } catch {
        // not JSON: not a response
      }
    },
  });
  up.on('data', (chunk: Buffer) => parser.feed(chunk.toString('utf8')));
  return state;
}

function forwardedHeaders(headers: IncomingHttpHeaders, length: number): IncomingHttpHeaders {
  const { connection: _connection, 'keep-alive': _keepAlive, 'transfer-encoding': _te, 'content-length': _length, ...rest } = headers;
  return length > 0 ? { ...rest, 'content-length': String(length) } : rest;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

function sendError(res: ServerResponse, status: number, id: string | number | null, message: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32000, message } }));
}

/** An SSE event carrying the JSON-RPC error for a call the server died in. */
function sseError(call: Call): string {
  const error = { jsonrpc: '2.0', id: call.id ?? null, error: { code: -32000, message: notRetriedMessage(call) } };
  return `event: message\ndata: ${JSON.stringify(error)}\n\n`;
}

/** End an SSE response with a JSON-RPC error for the call it was carrying. */
function writeSseError(res: ServerResponse, call: Call): void {
  if (!res.writableEnded) res.end(sseError(call));
}
