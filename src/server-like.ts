import type { Transport } from './jsonrpc.js';

/**
 * A server of either SDK line: `Server` or `McpServer` from `@modelcontextprotocol/sdk` 1.x, or from
 * `@modelcontextprotocol/server` 2.x. Declared by shape, so that either is accepted without a cast and
 * neither has to be installed for the other to type-check.
 */
export interface ServerLike {
  /** Each line declares its own `Transport` type; ours fits both (see {@link connectTo}). */
  connect(transport: never): Promise<void>;
  close(): Promise<void>;
}

/** Connect a server of either line to one of our transports, which has the shape both lines expect. */
export function connectTo(server: ServerLike, transport: Transport): Promise<void> {
  return server.connect(transport as never);
}

/**
 * What a factory is told about the instance it builds: `modern` for a 2026-07-28 request, `legacy`
 * for a 2025-era session. (SDK v2's `McpServerFactory` takes the same context, so one factory serves
 * both `createMcpHandler` and this package.)
 */
export interface ServerContext {
  era: 'legacy' | 'modern';
  // `any`: a factory declared with SDK v2's own context type (`AuthInfo`, `Request`) must still fit.
  authInfo?: any;
  requestInfo?: any;
}

/** A function building one server instance per session (2025 era) or per request (2026-07-28). */
export type ServerFactory = (context: ServerContext) => ServerLike | Promise<ServerLike>;

/** What a user hands over: one server shared by every session, or a factory of one per session. */
export type ServerSource = ServerLike | ServerFactory;

/** Tell clients that a list changed (SDK v2's `ServerNotifier` shape). */
export interface ListNotifier {
  toolsChanged(): void;
  promptsChanged(): void;
  resourcesChanged(): void;
  resourceUpdated(uri: string): void;
}
