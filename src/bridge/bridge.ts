import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { isInitializeRequest, isJSONRPCResultResponse, type InitializeResult, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import { createLogger, type Logger } from '../log.js';

/** Options of {@link createBridge}. */
export interface BridgeOptions {
  /** The upstream MCP endpoint, e.g. `http://localhost:3000/mcp`. */
  url: string | URL;
  /** Extra HTTP headers for every upstream request (e.g. Authorization). @default {} */
  headers?: Record<string, string>;
  /** @default a quiet stderr logger */
  log?: Logger;
  /** Where the client's frames come from. @default process.stdin */
  stdin?: NodeJS.ReadableStream;
  /** Where frames to the client go; nothing else is ever written there. @default process.stdout */
  stdout?: NodeJS.WritableStream;
}

/** A running stdio↔HTTP bridge. */
export interface Bridge {
  start(): Promise<void>;
  /** Close both sides (ending the upstream session). Safe to call twice. */
  close(): Promise<void>;
  /** Resolves when the bridge has closed, e.g. because stdin ended. */
  readonly closed: Promise<void>;
}

/**
 * A stdio MCP server facing the client, relaying every message to an upstream Streamable HTTP
 * endpoint and back, unchanged in meaning.
 */
export function createBridge(options: BridgeOptions): Bridge {
  const log = options.log ?? createLogger('warn');
  const downstream = new StdioServerTransport(options.stdin as never, options.stdout as never);
  const upstream = new StreamableHTTPClientTransport(new URL(options.url), { requestInit: { headers: options.headers ?? {} } });
  const initializeIds = new Set<RequestId>();
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let closing: Promise<void> | undefined;

  const fail = (message: JSONRPCMessage, error: Error) => {
    log.warn(`upstream: ${error.message}`);
    if ('id' in message && 'method' in message) {
      void downstream.send({ jsonrpc: '2.0', id: message.id, error: { code: -32000, message: `Upstream unavailable: ${error.message}` } });
    }
  };

  downstream.onmessage = (message) => {
    if (isInitializeRequest(message)) initializeIds.add((message as { id: RequestId }).id);
    upstream.send(message).catch((error: Error) => fail(message, error));
  };
  upstream.onmessage = (message) => {
    if (isJSONRPCResultResponse(message) && initializeIds.delete(message.id)) {
      // Later requests must carry the negotiated version in their MCP-Protocol-Version header.
      upstream.setProtocolVersion((message.result as InitializeResult).protocolVersion);
    }
    downstream.send(message).catch((error: Error) => log.debug(`downstream: ${error.message}`));
  };
  upstream.onerror = (error) => log.debug(`upstream: ${error.message}`);
  downstream.onerror = (error) => log.debug(`downstream: ${error.message}`);
  downstream.onclose = () => void close();

  const close = () => {
    closing ??= (async () => {
      // The client is gone: end its upstream session too, so the server can forget it.
      await upstream.terminateSession().catch(() => undefined);
      await upstream.close().catch(() => undefined);
      await downstream.close().catch(() => undefined);
      resolveClosed();
    })();
    return closing;
  };

  return {
    closed,
    close,
    async start() {
      await upstream.start();
      await downstream.start();
      (options.stdin ?? process.stdin).once('end', () => void close());
    },
  };
}
