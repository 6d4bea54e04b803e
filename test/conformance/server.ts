/**
 * The conformance "everything" server, written against SDK v2 (`@modelcontextprotocol/server`) as a
 * factory: `createEverythingServer()` builds one `McpServer` with every tool, resource and prompt the
 * server scenarios of both conformance suites ask for (0.1.16: 2025-11-25; 0.2.0-alpha.12: 2026-07-28).
 *
 * Handlers are written once for both eras, as SDK v2 intends: a tool that needs the client's input
 * returns `inputRequired(...)`. On a 2026-07-28 request the client fulfils it and retries; on a 2025-era
 * session the SDK's legacy shim turns it into real server→client requests (sampling, elicitation,
 * roots) and re-enters the handler.
 *
 * `test_trigger_tool_change` / `test_trigger_prompt_change` announce a list change through the server's
 * own `sendToolListChanged()` and, when the factory was given one, through the notifier of whatever
 * serves it (the v2 handler's `handler.notify`, or the manager's).
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  McpServer,
  ResourceTemplate,
  completable,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
  type CallToolResult,
  type ClientCapabilities,
  type ElicitRequestFormParams,
  type InputRequest,
  type McpRequestContext,
  type ServerContext,
  type ServerNotifier,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
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

/** Where a list change is announced besides the instance itself: read at call time, as it may be set after the factory. */
export type ListChangedNotifier = () => Pick<ServerNotifier, 'toolsChanged' | 'promptsChanged'> | undefined;

export interface EverythingOptions {
  listChanged?: ListChangedNotifier;
}

/** State a multi-round tool keeps in `requestState`, HMAC-protected by the codec below. */
interface RoundState {
  tool: string;
  step: number;
  name?: string;
}

// One key for every instance (a factory builds one per request, and any of them may see the retry).
const stateCodec = createRequestStateCodec<RoundState>({ key: 'mcp-http-transport conformance requestState key (test only)' });

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });
const nameSchema = { type: 'object' as const, properties: { name: { type: 'string' as const } }, required: ['name'] };

/** Client capabilities: the request's own envelope (2026-07-28), else what the session declared at initialize. */
function clientCapabilities(server: McpServer, ctx: ServerContext): ClientCapabilities {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const declared = envelope?.[CLIENT_CAPABILITIES_META_KEY];
  if (declared && typeof declared === 'object') return declared as ClientCapabilities;
  return server.server.getClientCapabilities() ?? {};
}

/** The factory: `createMcpHandler(everythingFactory())`, or `new MCPTransportManager({ server: everythingFactory() })`. */
export function everythingFactory(options: EverythingOptions = {}): (context?: McpRequestContext) => McpServer {
  return () => createEverythingServer(options);
}

export function createEverythingServer(options: EverythingOptions = {}): McpServer {
  const server = new McpServer(SERVER_INFO, {
    capabilities: {
      logging: {},
      completions: {},
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
    },
    requestState: { verify: stateCodec.verify },
  });

  registerContentTools(server);
  registerClientInputTools(server);
  registerModernTools(server, options.listChanged ?? (() => undefined));
  registerInputRequiredTools(server);
  registerResources(server);
  registerPrompts(server);
  return server;
}

/** Tools returning fixed content, logging, progress and errors (2025-11-25 and 2026-07-28). */
function registerContentTools(server: McpServer): void {
  server.registerTool('test_simple_text', { description: 'Returns simple text content' }, async () => text(TEXTS.simple));
  server.registerTool('test_image_content', { description: 'Returns image content' }, async () => ({
    content: [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }],
  }));
  server.registerTool('test_audio_content', { description: 'Returns audio content' }, async () => ({
    content: [{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }],
  }));
  server.registerTool('test_embedded_resource', { description: 'Returns an embedded resource' }, async () => ({
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: TEXTS.embedded } }],
  }));
  server.registerTool('test_multiple_content_types', { description: 'Returns text, image and resource content' }, async () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG_BASE64, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
    ],
  }));
  server.registerTool('test_tool_with_logging', { description: 'Sends three log messages while it runs' }, async (ctx) => {
    await ctx.mcpReq.log('info', 'Tool execution started');
    await pause(NOTIFICATION_GAP_MS);
    await ctx.mcpReq.log('info', 'Tool processing data');
    await pause(NOTIFICATION_GAP_MS);
    await ctx.mcpReq.log('info', 'Tool execution completed');
    return text('Logging tool completed');
  });
  // For the 2026-07-28 check that nothing is logged unless the request's _meta asks for a level.
  server.registerTool('test_logging_tool', { description: 'Logs one message at info level' }, async (ctx) => {
    await ctx.mcpReq.log('info', 'test_logging_tool ran');
    return text('logged');
  });
  server.registerTool('test_error_handling', { description: 'Always fails' }, async () => {
    throw new Error(TEXTS.error);
  });
  server.registerTool('test_tool_with_progress', { description: 'Reports progress 0, 50, 100 of 100' }, async (ctx) => {
    const progressToken = ctx.mcpReq._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (progressToken !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress, total: 100 } });
      if (progress < 100) await pause(NOTIFICATION_GAP_MS);
    }
    return text(`Progress completed (token ${String(progressToken)})`);
  });
  server.registerTool(JSON_SCHEMA_2020_12_TOOL, { description: 'Tool with JSON Schema 2020-12 features', inputSchema: fromJsonSchema(JSON_SCHEMA_2020_12) }, async () =>
    text('JSON Schema 2020-12 tool called'),
  );
  // SEP-1699: closes the call's SSE stream before answering; with an event store the answer is replayed
  // on the client's GET reconnection, without one it simply arrives on the POST stream.
  server.registerTool('test_reconnection', { description: 'Closes its SSE stream mid-call, then answers' }, async (ctx) => {
    ctx.http?.closeSSE?.();
    await pause(NOTIFICATION_GAP_MS);
    return text('Reconnection test completed successfully');
  });
}

/** 2025-11-25 tools asking the client for input (sampling, elicitation), written once for both eras. */
function registerClientInputTools(server: McpServer): void {
  server.registerTool('test_sampling', { description: 'Asks the client to sample an LLM', inputSchema: z.object({ prompt: z.string().describe('The prompt to send to the LLM') }) }, async ({ prompt }, ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'sampling');
    if (answer.kind !== 'sampling') {
      return inputRequired({ inputRequests: { sampling: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 }) } });
    }
    const content = answer.result.content;
    return text(`LLM response: ${!Array.isArray(content) && content.type === 'text' ? content.text : JSON.stringify(content)}`);
  });
  const elicitTool = (name: string, description: string, message: string, requestedSchema: ElicitRequestFormParams['requestedSchema'], label: string) =>
    server.registerTool(name, { description, inputSchema: z.object({ message: z.string().optional() }) }, async (args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, 'input');
      if (answer.kind !== 'elicit') return inputRequired({ inputRequests: { input: inputRequired.elicit({ message: args.message ?? message, requestedSchema }) } });
      return text(`${label}: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
    });
  elicitTool('test_elicitation', 'Asks the user for a username and email', 'Please provide your information', ELICIT_USER_SCHEMA, 'User response');
  elicitTool('test_elicitation_sep1034_defaults', 'Elicitation with a default for every primitive type (SEP-1034)', 'Please review the defaults', ELICIT_DEFAULTS_SCHEMA, 'Elicitation completed');
  elicitTool('test_elicitation_sep1330_enums', 'Elicitation with every enum shape (SEP-1330)', 'Please choose', ELICIT_ENUMS_SCHEMA, 'Elicitation completed');
}

const REGION_HEADER_SCHEMA: Record<string, unknown> = {
  type: 'object',
  properties: { region: { type: 'string', description: 'Region', 'x-mcp-header': 'Region' } },
  required: ['region'],
};

/** 2026-07-28 diagnostic tools of the server-stateless and header scenarios. */
function registerModernTools(server: McpServer, notifier: ListChangedNotifier): void {
  // Needs sampling: a request whose envelope does not declare it must be refused with -32021 (the SDK's gate).
  server.registerTool('test_missing_capability', { description: 'Requires the client sampling capability' }, async (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'sample');
    if (answer.kind !== 'sampling') {
      return inputRequired({ inputRequests: { sample: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Say hello' } }], maxTokens: 20 }) } });
    }
    return text('sampled');
  });
  // Streams a progress notification, then asks for input: the stream carries notifications and an
  // input_required result, never a request of its own.
  server.registerTool('test_streaming_elicitation', { description: 'Streams progress, then asks for input' }, async (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'confirm');
    if (answer.kind === 'elicit') return text(`confirmed: ${answer.action}`);
    const progressToken = ctx.mcpReq._meta?.progressToken;
    if (progressToken !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress: 1, total: 2 } });
    return inputRequired({ inputRequests: { confirm: inputRequired.elicit({ message: 'Continue?', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } }) } });
  });
  server.registerTool('test_trigger_tool_change', { description: 'Announces a tools/list change' }, async () => {
    notifier()?.toolsChanged();
    await server.server.sendToolListChanged().catch(() => undefined);
    return text('tools list changed');
  });
  server.registerTool('test_trigger_prompt_change', { description: 'Announces a prompts/list change' }, async () => {
    notifier()?.promptsChanged();
    await server.server.sendPromptListChanged().catch(() => undefined);
    return text('prompts list changed');
  });
  // SEP-2243: a parameter mirrored into an Mcp-Param-Region header.
  server.registerTool(
    'test_custom_header',
    {
      description: 'Echoes a region that clients mirror into the Mcp-Param-Region header',
      inputSchema: fromJsonSchema<{ region: string }>(REGION_HEADER_SCHEMA as Parameters<typeof fromJsonSchema>[0]),
    },
    async ({ region }) => text(`region=${region}`),
  );
}

/** SEP-2322 multi-round-trip (input_required) tools. */
function registerInputRequiredTools(server: McpServer): void {
  server.registerTool('test_input_required_result_elicitation', { description: 'Asks for a name, then greets' }, async (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'user_name');
    if (answer.kind !== 'elicit' || typeof answer.content?.['name'] !== 'string') {
      return inputRequired({ inputRequests: { user_name: inputRequired.elicit({ message: 'What is your name?', requestedSchema: nameSchema }) } });
    }
    return text(`Hello, ${answer.content['name']}!`);
  });
  server.registerTool('test_input_required_result_sampling', { description: 'Asks the client to sample, then answers' }, async (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'capital_question');
    if (answer.kind !== 'sampling') {
      return inputRequired({
        inputRequests: {
          capital_question: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }], maxTokens: 100 }),
        },
      });
    }
    const content = answer.result.content;
    return text(`Sampling said: ${!Array.isArray(content) && content.type === 'text' ? content.text : JSON.stringify(content)}`);
  });
  server.registerTool('test_input_required_result_list_roots', { description: 'Asks for the client roots' }, async (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'client_roots');
    if (answer.kind !== 'roots') return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    return text(`Roots: ${answer.roots.map((root) => root.uri).join(', ')}`);
  });

  const confirmSchema = { type: 'object' as const, properties: { ok: { type: 'boolean' as const } }, required: ['ok'] };
  // Round 2 must carry the state minted in round 1; a tampered state never reaches the handler (the codec refuses it).
  const stateful = (name: string) =>
    server.registerTool(name, { description: 'Asks for confirmation, carrying integrity-protected state' }, async (ctx) => {
      const state = ctx.mcpReq.requestState<RoundState>();
      const answer = inputResponse(ctx.mcpReq.inputResponses, 'confirm');
      if (state?.tool === name && answer.kind === 'elicit') return text(`state-ok: confirmed=${JSON.stringify(answer.content ?? {})}`);
      return inputRequired({
        inputRequests: { confirm: inputRequired.elicit({ message: 'Please confirm', requestedSchema: confirmSchema }) },
        requestState: await stateCodec.mint({ tool: name, step: 1 }),
      });
    });
  stateful('test_input_required_result_request_state');
  stateful('test_input_required_result_tampered_state');

  server.registerTool('test_input_required_result_multiple_inputs', { description: 'Asks for elicitation, sampling and roots at once' }, async (ctx) => {
    const responses = ctx.mcpReq.inputResponses;
    const requests: Record<string, InputRequest> = {};
    if (inputResponse(responses, 'user_name').kind !== 'elicit') requests['user_name'] = inputRequired.elicit({ message: 'What is your name?', requestedSchema: nameSchema });
    if (inputResponse(responses, 'greeting').kind !== 'sampling') {
      requests['greeting'] = inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }], maxTokens: 50 });
    }
    if (inputResponse(responses, 'client_roots').kind !== 'roots') requests['client_roots'] = inputRequired.listRoots();
    if (Object.keys(requests).length > 0) return inputRequired({ inputRequests: requests, requestState: await stateCodec.mint({ tool: 'multiple_inputs', step: 1 }) });
    return text('All inputs received');
  });

  server.registerTool('test_input_required_result_multi_round', { description: 'Asks for a name, then a colour, then answers' }, async (ctx) => {
    const state = ctx.mcpReq.requestState<RoundState>();
    const responses = ctx.mcpReq.inputResponses;
    const step1 = inputResponse(responses, 'step1');
    const step2 = inputResponse(responses, 'step2');
    if (state?.tool === 'multi_round' && state.step === 2 && step2.kind === 'elicit') {
      return text(`Done: name=${state.name ?? '?'}, color=${String(step2.content?.['color'])}`);
    }
    if (state?.tool === 'multi_round' && state.step === 1 && step1.kind === 'elicit') {
      return inputRequired({
        inputRequests: {
          step2: inputRequired.elicit({ message: 'Step 2: What is your favorite color?', requestedSchema: { type: 'object', properties: { color: { type: 'string' } }, required: ['color'] } }),
        },
        requestState: await stateCodec.mint({ tool: 'multi_round', step: 2, name: String(step1.content?.['name']) }),
      });
    }
    return inputRequired({
      inputRequests: { step1: inputRequired.elicit({ message: 'Step 1: What is your name?', requestedSchema: nameSchema }) },
      requestState: await stateCodec.mint({ tool: 'multi_round', step: 1 }),
    });
  });

  // Only asks for what the request's client declared it can do.
  server.registerTool('test_input_required_result_capabilities', { description: 'Asks only for inputs the client declared' }, async (ctx) => {
    const responses = ctx.mcpReq.inputResponses;
    if (responses && Object.keys(responses).length > 0) return text('Inputs received');
    const capabilities = clientCapabilities(server, ctx);
    const requests: Record<string, InputRequest> = {};
    if (capabilities.sampling) requests['sample'] = inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Hello?' } }], maxTokens: 20 });
    if (capabilities.elicitation) requests['ask'] = inputRequired.elicit({ message: 'Your name?', requestedSchema: nameSchema });
    if (capabilities.roots) requests['roots'] = inputRequired.listRoots();
    if (Object.keys(requests).length === 0) return text('The client declared no input capability');
    return inputRequired({ inputRequests: requests });
  });
}

function registerResources(server: McpServer): void {
  server.registerResource('static-text', 'test://static-text', { description: 'A static text resource', mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: TEXTS.staticText }],
  }));
  server.registerResource('static-binary', 'test://static-binary', { description: 'A static binary resource (PNG)', mimeType: 'image/png' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG_BASE64 }],
  }));
  server.registerResource('watched-resource', 'test://watched-resource', { description: 'A resource clients may subscribe to', mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content' }],
  }));
  server.registerResource(
    'template-data',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'Data for an id, from a template', mimeType: 'application/json' },
    async (uri, { id }) => ({
      contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id: String(id), templateTest: true, data: `Data for ID: ${String(id)}` }) }],
    }),
  );
  // Subscriptions are a 2025-era feature (2026-07-28 moved them to subscriptions/listen).
  const subscribed = new Set<string>();
  server.server.setRequestHandler('resources/subscribe', async (request) => {
    subscribed.add(request.params.uri);
    return {};
  });
  server.server.setRequestHandler('resources/unsubscribe', async (request) => {
    subscribed.delete(request.params.uri);
    return {};
  });
}

function registerPrompts(server: McpServer): void {
  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: TEXTS.simplePrompt } }],
  }));
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two arguments',
      argsSchema: z.object({
        arg1: completable(z.string().describe('First test argument'), (value) => ['paris', 'park', 'party'].filter((word) => word.startsWith(value))),
        arg2: z.string().describe('Second test argument'),
      }),
    },
    async ({ arg1, arg2 }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }] }),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    { description: 'A prompt embedding a resource', argsSchema: z.object({ resourceUri: z.string().describe('URI of the resource to embed') }) },
    async ({ resourceUri }) => ({
      messages: [
        { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: TEXTS.promptResource } } },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );
  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image' }, async () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));
  server.registerPrompt('test_input_required_result_prompt', { description: 'A prompt that first asks the user for context' }, async (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'user_context');
    if (answer.kind !== 'elicit') {
      return inputRequired({
        inputRequests: {
          user_context: inputRequired.elicit({ message: 'What context should the prompt use?', requestedSchema: { type: 'object', properties: { context: { type: 'string' } }, required: ['context'] } }),
        },
      });
    }
    return { messages: [{ role: 'user', content: { type: 'text', text: `Use this context: ${String(answer.content?.['context'])}` } }] };
  });
}
