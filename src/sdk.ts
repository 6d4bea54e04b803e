import { ConfigError } from './errors.js';
import type { JSONRPCMessage, Transport } from './jsonrpc.js';
import type { ListNotifier, ServerFactory, ServerLike } from './server-like.js';

/** The SDK's stream id: `_GET_stream` for a session's standalone GET stream, a UUID for a POST's SSE stream. */
export type StreamId = string;
/** What the SDK writes as an SSE event's `id:`, and a client sends back as `Last-Event-ID`. */
export type EventId = string;

/**
 * The SDK's `EventStore` (resumability of Streamable HTTP), as both lines declare it: `@modelcontextprotocol/sdk`
 * 1.x (`server/webStandardStreamableHttp`) and `@modelcontextprotocol/server` 2.x. Structural, so that this
 * package's types name neither line.
 */
export interface EventStore {
  storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId>;
  getStreamIdForEventId?(eventId: EventId): Promise<StreamId | undefined>;
  replayEventsAfter(lastEventId: EventId, { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> }): Promise<StreamId>;
}

/**
 * Which SDK line a server comes from. Both lines are optional peers; the transports a server is served
 * with come from its own line, which is installed by definition (the user built the server with it).
 * A server of neither line (dev --hot's stand-in) gets whichever line is installed, v1 first.
 */
export type SdkLine = 1 | 2;

/** The SDK's web-standard Streamable HTTP server transport, as both lines declare it. */
export interface StreamableTransport extends Transport {
  handleRequest(request: Request, options?: { parsedBody?: unknown; authInfo?: unknown }): Promise<Response>;
}

export interface StreamableOptions {
  sessionIdGenerator: (() => string) | undefined;
  onsessioninitialized?: (sessionId: string) => void | Promise<void>;
  keepAliveMs?: number;
  /** Where stream events are kept, so that a client resumes with `Last-Event-ID` (on any replica). */
  eventStore?: EventStore;
}

/** SDK v2's modern (2026-07-28) serving, for factories of v2 servers. */
export interface ModernKit {
  createMcpHandler(factory: ServerFactory, options: Record<string, unknown>): ModernHandler;
  serveStdio(factory: ServerFactory, options: { transport: Transport; onerror?: (error: Error) => void }): Promise<{ close(): Promise<void> }>;
}

export interface ModernHandler {
  fetch(request: Request, options?: { parsedBody?: unknown; authInfo?: unknown }): Promise<Response>;
  close(): Promise<void>;
  notify: ListNotifier;
  bus: { publish(event: { kind: string; uri?: string }): void };
}


export interface Sdk {
  readonly line: SdkLine;
  streamable(options: StreamableOptions): StreamableTransport;
  /** Loaded on first use: an HTTP server never needs it. */
  stdio(stdin?: NodeJS.ReadableStream, stdout?: unknown): Promise<Transport>;
  /** Present for SDK v2. */
  readonly modern?: ModernKit;
}

/**
 * The line of a server instance, by shape: SDK v2's `Server` has `getNegotiatedProtocolVersion`,
 * v1's has not; an `McpServer` of either line keeps its `Server` at `.server`.
 */
export function lineOf(server: ServerLike): SdkLine | undefined {
  const low = (server as { server?: unknown }).server ?? server;
  if (typeof (low as { getNegotiatedProtocolVersion?: unknown }).getNegotiatedProtocolVersion === 'function') return 2;
  if (typeof (low as { setRequestHandler?: unknown }).setRequestHandler === 'function') return 1;
  return undefined;
}

const loaded = new Map<SdkLine, Promise<Sdk>>();

/** The transports of `line` (or of whichever line is installed, when undefined). */
export function loadSdk(line: SdkLine | undefined): Promise<Sdk> {
  if (line === undefined) return loadSdk(1).catch(() => loadSdk(2));
  let sdk = loaded.get(line);
  if (!sdk) {
    sdk = line === 1 ? loadV1() : loadV2();
    sdk.catch(() => loaded.delete(line));
    loaded.set(line, sdk);
  }
  return sdk;
}

async function loadV1(): Promise<Sdk> {
  const web = await import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js').catch((error: Error) => missing('@modelcontextprotocol/sdk', 1, error));
  return {
    line: 1,
    streamable: (options) => new web.WebStandardStreamableHTTPServerTransport(options) as unknown as StreamableTransport,
    stdio: async (stdin, stdout) => {
      const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
      return new StdioServerTransport(stdin as never, stdout as never) as unknown as Transport;
    },
  };
}

async function loadV2(): Promise<Sdk> {
  const server = await import('@modelcontextprotocol/server').catch((error: Error) => missing('@modelcontextprotocol/server', 2, error));
  const stdio = () => import('@modelcontextprotocol/server/stdio');
  return {
    line: 2,
    streamable: (options) => new server.WebStandardStreamableHTTPServerTransport(options) as unknown as StreamableTransport,
    stdio: async (stdin, stdout) => new (await stdio()).StdioServerTransport(stdin as never, stdout as never) as unknown as Transport,
    modern: {
      createMcpHandler: (factory, options) => server.createMcpHandler(factory as never, options) as unknown as ModernHandler,
      serveStdio: async (factory, options) => (await stdio()).serveStdio(factory as never, options as never),
    },
  };
}

function missing(name: string, line: SdkLine, error: Error): never {
  throw ConfigError.of(
    'SDK_MISSING',
    name,
    `this server needs ${name} (SDK v${line}), which could not be loaded: ${error.message.split('\n')[0]}; install it next to mcp-http-transport`,
  );
}
