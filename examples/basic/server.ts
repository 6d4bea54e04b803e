/**
 * A small MCP server served by mcp-http-transport. The server code is ordinary SDK code; only the
 * last line differs from a stdio-only server.
 *
 *   npm run example                      # HTTP: http://localhost:3000/mcp and /sse
 *   MCP_TRANSPORT=stdio npx tsx examples/basic/server.ts   # stdio, as Claude Desktop runs it
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { serve } from 'mcp-http-transport';

const server = new McpServer({ name: 'basic-example', version: '1.0.0' });

server.registerTool(
  'echo',
  { description: 'Echo the text back', inputSchema: { text: z.string() } },
  async ({ text }) => ({ content: [{ type: 'text', text }] }),
);

server.registerTool(
  'add',
  { description: 'Add two numbers', inputSchema: { a: z.number(), b: z.number() } },
  async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
);

server.registerTool(
  'countdown',
  { description: 'Count down from n, reporting progress each step', inputSchema: { n: z.number().int().min(1).max(20) } },
  async ({ n }, extra) => {
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= n; i++) {
      if (token !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n } });
      }
    }
    return { content: [{ type: 'text', text: 'liftoff' }] };
  },
);

// Reads MCP_TRANSPORT, MCP_HTTP_PORT, ... (and ./.env); prints one line and exits 2 on bad config.
await serve({ server });
