import { isJSONRPCRequest, type JSONRPCMessage } from '../jsonrpc.js';
import { createLogger, type Logger } from '../log.js';
import { eraOf, type Era } from '../era.js';
import { ModernUpstream } from './modern.js';
import { resolveBridgeOptions, type BridgeOptions, type BridgeSettings } from './options.js';
import { answerBeforeSession, replyError, type Upstream } from './relay.js';
import { StdioLink } from './stdio.js';

export { DEFAULT_BACKOFF, nextDelay, type BackoffOptions } from './backoff.js';
export { DEFAULT_BRIDGE_OPTIONS, bridgeOptionProblems, resolveBridgeOptions, type BridgeField, type BridgeOptions, type BridgeReadable, type BridgeSettings, type BridgeWritable, type UrlLike, type UpstreamTransport } from './options.js';

/** A running stdio↔HTTP bridge. */
export interface Bridge {
  start(): Promise<void>;
  /** Close both sides (ending the upstream session). Safe to call twice. */
  close(): Promise<void>;
  /** Resolves when the bridge has closed, e.g. because stdin ended. */
  readonly closed: Promise<void>;
  /** The upstream transport in use, once known. */
  readonly upstreamTransport: 'http' | 'sse' | undefined;
}

/**
 * A stdio MCP server facing the client (Claude Desktop, say), relaying every message to an upstream
 * HTTP server and back, unchanged in meaning, in whichever protocol era the client speaks. The
 * client's first message decides: `initialize` opens a 2025-era session, which the bridge keeps for
 * the client's whole life; `server/discover`, or any request whose `_meta` names 2026-07-28 or later,
 * is relayed statelessly, request by request. In both eras:
 * - upstream lost: reconnect with capped exponential backoff and jitter, holding requests meanwhile
 *   (bounded; a request waits at most `queueTimeoutMs`), unless `hold` is false;
 * - a request in flight at the loss is judged by the recovery policy (`decide`): re-sent when a
 *   repeat is harmless (reads, tools annotated `readOnlyHint` or `idempotentHint` in the
 *   `tools/list` results that passed by), else answered at once with an "outcome unknown" error;
 * - after a reconnect the client is told to refetch (`list_changed`): in the 2025 era unsolicited,
 *   in the 2026-07-28 era on its re-opened `subscriptions/listen` streams.
 * 2025 era only: a session the upstream forgot is re-initialized with the client's own `initialize`.
 * That era goes through `@modelcontextprotocol/sdk` (v1) client transports, loaded when a 2025-era
 * client comes; the 2026-07-28 era needs no SDK.
 * @throws ConfigError listing every bad option, each naming its field
 */
export function createBridge(options: BridgeOptions): Bridge {
  return new StdioBridge(options);
}

class StdioBridge implements Bridge {
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly log: Logger;
  private readonly link: StdioLink;
  private readonly settings: BridgeSettings;
  private state: 'new' | 'started' | 'closed' = 'new';
  /** The client's era, once a message has told it. */
  private era: Era | undefined;
  private upstream: Upstream | undefined;
  /** Messages that came while the 2025-era relay was loading, in order. */
  private pending: JSONRPCMessage[] | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: BridgeOptions) {
    // Checked before anything is opened: a bad value must not surface as a crash at the first reconnect.
    this.settings = resolveBridgeOptions(options);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.log = options.log ?? createLogger('warn');
    this.link = new StdioLink(options.stdin ?? process.stdin, options.stdout ?? process.stdout);
  }

  get upstreamTransport() {
    return this.upstream?.transport ?? (this.settings.transport === 'auto' ? undefined : this.settings.transport);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(this.state === 'started' ? 'the bridge is already started' : 'the bridge is closed');
    this.state = 'started';
    this.link.onmessage = (message) => this.fromClient(message);
    this.link.onerror = (error) => this.log.debug(`client: ${error.message}`);
    this.link.start();
    (this.options.stdin ?? process.stdin).once('end', () => void this.close());
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closed';
      this.pending = undefined;
      await this.upstream?.close();
      this.link.close();
      this.resolveClosed();
    })();
    return this.closing;
  }

  private fromClient(message: JSONRPCMessage): void {
    if (this.state === 'closed') return;
    if (this.pending) return void this.pending.push(message);
    const era = eraOf(message);
    // A dual-era client that probed in place and was told "legacy" falls back to initialize: it moves to that era.
    if (this.era === undefined || (this.era === 'modern' && era === 'legacy')) {
      if (era === undefined) return answerBeforeSession(this.link, message);
      return this.open(era, message);
    }
    this.upstream!.fromClient(message);
  }

  private open(era: Era, first: JSONRPCMessage): void {
    void this.upstream?.close();
    this.upstream = undefined;
    if (era === 'modern') {
      if (this.settings.transport === 'sse') {
        // Legacy HTTP+SSE has no 2026-07-28 form: a dual-era client falls back on this error.
        return replyError(this.link, first, 'the upstream speaks the legacy HTTP+SSE transport (--transport sse), which serves only the 2025 protocol: use initialize');
      }
      this.era = era;
      this.upstream = new ModernUpstream(this.settings, this.link, this.log);
      return this.upstream.fromClient(first);
    }
    this.era = era;
    this.pending = [first];
    import('./legacy.js').then(
      ({ LegacyUpstream }) => {
        const pending = this.pending;
        this.pending = undefined;
        if (this.state === 'closed' || !pending) return;
        const upstream = new LegacyUpstream(this.settings, this.link, this.log);
        this.upstream = upstream;
        for (const message of pending) upstream.fromClient(message);
      },
      (error: Error) => {
        const pending = this.pending ?? [];
        this.pending = undefined;
        this.era = undefined;
        const why = `a client that opens with initialize (the 2025 protocol) needs @modelcontextprotocol/sdk 1.x installed beside mcp-http-transport, which could not be loaded (${error.message.split('\n')[0]})`;
        for (const message of pending) if (isJSONRPCRequest(message)) replyError(this.link, message, why);
      },
    );
  }
}
