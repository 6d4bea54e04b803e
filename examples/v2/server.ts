/**
 * The same small server written against SDK v2 (`@modelcontextprotocol/server`), handed over as a factory so
 * that both protocol eras are served on one /mcp: 2026-07-28 clients statelessly (an instance per request),
 * 2025-era clients with sessions (an instance per session).
 *
 *   npm run example:v2                                     # HTTP: http://localhost:3000/mcp, /sse and /ws
 *   MCP_TRANSPORT=stdio npx tsx examples/v2/server.ts      # stdio: the client's first message picks the era
 */
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { serve } from 'mcp-http-transport';

function buildServer(): McpServer {
  const server = new McpServer({ name: 'v2-example', version: '1.0.0' });
  server.registerTool('echo', { description: 'Echo the text back', inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool(
    'countdown',
    { description: 'Count down from n, reporting progress each step', inputSchema: z.object({ n: z.number().int().min(1).max(20) }) },
    async ({ n }, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      for (let i = 1; i <= n; i++) {
        if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n } });
      }
      return { content: [{ type: 'text', text: 'liftoff' }] };
    },
  );
  return server;
}

await serve({ server: () => buildServer() });
