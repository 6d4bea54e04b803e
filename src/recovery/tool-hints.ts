import type { ToolHints } from './policy.js';

/**
 * The annotations of every tool a server listed, learnt from `tools/list` results as they pass by,
 * so that an interrupted `tools/call` can be judged without asking the server (which is gone).
 * Pages of a paginated list add up; a later listing of a tool replaces the earlier one.
 */
export class ToolHintsBook {
  private readonly hints = new Map<string, ToolHints>();

  /** Learn from any JSON-RPC message: only a result carrying a `tools` array counts. */
  learn(message: unknown): void {
    const tools = (message as { result?: { tools?: unknown } } | undefined)?.result?.tools;
    if (!Array.isArray(tools)) return;
    for (const tool of tools as { name?: unknown; annotations?: ToolHints }[]) {
      if (typeof tool?.name !== 'string') continue;
      const { readOnlyHint, idempotentHint } = tool.annotations ?? {};
      this.hints.set(tool.name, { readOnlyHint: readOnlyHint === true, idempotentHint: idempotentHint === true });
    }
  }

  /** The hints of a tool, or undefined if it was never listed. */
  get(name: string | undefined): ToolHints | undefined {
    return name === undefined ? undefined : this.hints.get(name);
  }
}
