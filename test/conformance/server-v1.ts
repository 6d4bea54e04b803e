/**
 * The conformance "everything" server for the 2025-11-25 suite, written against SDK v1
 * (`@modelcontextprotocol/sdk` 1.x) with the low-level `Server`, so that every tool's input schema
 * (the JSON Schema 2020-12 one included) goes on the wire exactly as written. SDK v1 never speaks
 * 2026-07-28, so this server only has what the 2025-era scenarios ask for.
 *
 * One instance may be shared by every session (the manager multiplexes it); everything a handler sends
 * back (logs, progress, sampling and elicitation requests) is tied to the request that caused it.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type GetPromptResult,
  type ReadResourceResult,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  ELICIT_DEFAULTS_SCHEMA,
  ELICIT_ENUMS_SCHEMA,
  ELICIT_USER_SCHEMA,
  JSON_SCHEMA_2020_12,
  JSON_SCHEMA_2020_12_TOOL,
  NOTIFICATION_GAP_MS,
  PNG_BASE64,
  SERVER_INFO,
  TEXTS,
  WAV_BASE64,
  pause,
} from './fixtures.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type Args = Record<string, unknown>;

const NO_ARGS = { type: 'object' as const, properties: {} };
const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

async function elicit(extra: Extra, message: string, requestedSchema: typeof ELICIT_USER_SCHEMA | typeof ELICIT_DEFAULTS_SCHEMA | typeof ELICIT_ENUMS_SCHEMA, label: string) {
  const answer = await extra.sendRequest({ method: 'elicitation/create', params: { message, requestedSchema } } as ServerRequest, ElicitResultSchema);
  return text(`${label}: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
}

const TOOLS: Array<Tool & { run: (args: Args, extra: Extra) => Promise<CallToolResult> }> = [
  { name: 'test_simple_text', description: 'Returns simple text content', inputSchema: NO_ARGS, run: async () => text(TEXTS.simple) },
  {
    name: 'test_image_content',
    description: 'Returns image content',
    inputSchema: NO_ARGS,
    run: async () => ({ content: [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }] }),
  },
  {
    name: 'test_audio_content',
    description: 'Returns audio content',
    inputSchema: NO_ARGS,
    run: async () => ({ content: [{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }] }),
  },
  {
    name: 'test_embedded_resource',
    description: 'Returns an embedded resource',
    inputSchema: NO_ARGS,
    run: async () => ({ content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: TEXTS.embedded } }] }),
  },
  {
    name: 'test_multiple_content_types',
    description: 'Returns text, image and resource content',
    inputSchema: NO_ARGS,
    run: async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG_BASE64, mimeType: 'image/png' },
        { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
      ],
    }),
  },
  {
    name: 'test_tool_with_logging',
    description: 'Sends three log messages while it runs',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const log = (data: string) => extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
      await log('Tool execution started');
      await pause(NOTIFICATION_GAP_MS);
      await log('Tool processing data');
      await pause(NOTIFICATION_GAP_MS);
      await log('Tool execution completed');
      return text('Logging tool completed');
    },
  },
  {
    name: 'test_error_handling',
    description: 'Always fails',
    inputSchema: NO_ARGS,
    run: async () => ({ isError: true, content: [{ type: 'text', text: TEXTS.error }] }),
  },
  {
    name: 'test_tool_with_progress',
    description: 'Reports progress 0, 50, 100 of 100',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress, total: 100 } });
        if (progress < 100) await pause(NOTIFICATION_GAP_MS);
      }
      return text(`Progress completed (token ${String(progressToken)})`);
    },
  },
  {
    name: 'test_sampling',
    description: 'Asks the client to sample an LLM',
    inputSchema: { type: 'object', properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } }, required: ['prompt'] },
    run: async (args, extra) => {
      const answer = await extra.sendRequest(
        { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: String(args['prompt']) } }], maxTokens: 100 } } as ServerRequest,
        CreateMessageResultSchema,
      );
      return text(`LLM response: ${answer.content.type === 'text' ? answer.content.text : JSON.stringify(answer.content)}`);
    },
  },
  {
    name: 'test_elicitation',
    description: 'Asks the user for a username and email',
    inputSchema: { type: 'object', properties: { message: { type: 'string', description: 'The message to show the user' } }, required: ['message'] },
    run: (args, extra) => elicit(extra, String(args['message'] ?? 'Please provide your information'), ELICIT_USER_SCHEMA, 'User response'),
  },
  {
    name: 'test_elicitation_sep1034_defaults',
    description: 'Elicitation with a default for every primitive type (SEP-1034)',
    inputSchema: NO_ARGS,
    run: (_args, extra) => elicit(extra, 'Please review the defaults', ELICIT_DEFAULTS_SCHEMA, 'Elicitation completed'),
  },
  {
    name: 'test_elicitation_sep1330_enums',
    description: 'Elicitation with every enum shape (SEP-1330)',
    inputSchema: NO_ARGS,
    run: (_args, extra) => elicit(extra, 'Please choose', ELICIT_ENUMS_SCHEMA, 'Elicitation completed'),
  },
  {
    name: JSON_SCHEMA_2020_12_TOOL,
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: JSON_SCHEMA_2020_12 as unknown as Tool['inputSchema'],
    run: async () => text('JSON Schema 2020-12 tool called'),
  },
  {
    name: 'test_reconnection',
    description: 'Closes its SSE stream mid-call, then answers',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      extra.closeSSEStream?.();
      await pause(NOTIFICATION_GAP_MS);
      return text('Reconnection test completed successfully');
    },
  },
];

const RESOURCES = [
  { uri: 'test://static-text', name: 'static-text', description: 'A static text resource', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', description: 'A static binary resource (PNG)', mimeType: 'image/png' },
  { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource clients may subscribe to', mimeType: 'text/plain' },
];

const PROMPTS = [
  { name: 'test_simple_prompt', description: 'A prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  { name: 'test_prompt_with_embedded_resource', description: 'A prompt embedding a resource', arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }] },
  { name: 'test_prompt_with_image', description: 'A prompt with an image' },
];

function readResource(uri: string): ReadResourceResult {
  if (uri === 'test://static-text') return { contents: [{ uri, mimeType: 'text/plain', text: TEXTS.staticText }] };
  if (uri === 'test://static-binary') return { contents: [{ uri, mimeType: 'image/png', blob: PNG_BASE64 }] };
  if (uri === 'test://watched-resource') return { contents: [{ uri, mimeType: 'text/plain', text: 'Watched resource content' }] };
  const match = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
  if (match) return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id: match[1], templateTest: true, data: `Data for ID: ${match[1]}` }) }] };
  throw new McpError(ErrorCode.InvalidParams, `Resource not found: ${uri}`, { uri });
}

function getPrompt(name: string, args: Record<string, string>): GetPromptResult {
  switch (name) {
    case 'test_simple_prompt':
      return { messages: [{ role: 'user', content: { type: 'text', text: TEXTS.simplePrompt } }] };
    case 'test_prompt_with_arguments':
      return { messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${args['arg1']}', arg2='${args['arg2']}'` } }] };
    case 'test_prompt_with_embedded_resource':
      return {
        messages: [
          { role: 'user', content: { type: 'resource', resource: { uri: String(args['resourceUri']), mimeType: 'text/plain', text: TEXTS.promptResource } } },
          { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
        ],
      };
    case 'test_prompt_with_image':
      return {
        messages: [
          { role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } },
          { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
        ],
      };
    default:
      throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  }
}

export function createEverythingServerV1(): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { logging: {}, completions: {}, tools: { listChanged: true }, prompts: { listChanged: true }, resources: { subscribe: true, listChanged: true } },
  });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS.map(({ run: _run, ...tool }) => tool) }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = TOOLS.find((candidate) => candidate.name === request.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    return tool.run(request.params.arguments ?? {}, extra);
  });
  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [{ uriTemplate: 'test://template/{id}/data', name: 'template-data', description: 'Data for an id, from a template', mimeType: 'application/json' }],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request) => readResource(request.params.uri));
  const subscribed = new Set<string>();
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    subscribed.add(request.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscribed.delete(request.params.uri);
    return {};
  });
  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, async (request) => getPrompt(request.params.name, request.params.arguments ?? {}));
  server.setRequestHandler(CompleteRequestSchema, async (request) => {
    const values = request.params.argument.name === 'arg1' ? ['paris', 'park', 'party'].filter((word) => word.startsWith(request.params.argument.value)) : [];
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}
