import { ConfigError } from './errors.js';
import { MCPTransportManager, type MCPTransportManagerOptions } from './manager.js';

/**
 * Start a {@link MCPTransportManager} the way a server's `main` should: on failure print one line
 * to stderr (no stack trace) and exit, with code 2 for bad configuration and 1 otherwise.
 * @returns the started manager
 */
export async function serve(options: MCPTransportManagerOptions): Promise<MCPTransportManager> {
  try {
    const manager = new MCPTransportManager(options);
    await manager.start();
    return manager;
  } catch (error) {
    return exitWith(error);
  }
}

/** Print an error as one line on stderr and exit: 2 for configuration errors, 1 for anything else. */
export function exitWith(error: unknown): never {
  process.stderr.write(`mcp-http-transport: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
