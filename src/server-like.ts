import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';

/** A low-level SDK `Server` or a high-level `McpServer`. */
export type ServerLike = Server | McpServer;

/** What a user hands over: one server shared by every session, or a factory of one per session. */
export type ServerSource = ServerLike | (() => ServerLike);
