import { readFileSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { exitWith } from '../serve.js';

const USAGE = `Usage: mcp-http-transport <command>

Commands:
  config      check the MCP_* settings (env and ./.env) and print what a server would use
  help        show this help
  version     print the version

Exit codes: 0 ok, 1 failure, 2 bad configuration or usage.`;

/** Run the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'config': {
      if (rest.length > 0) return usage(`config takes no arguments, got ${rest.join(' ')}`);
      let config;
      try {
        config = loadConfig();
      } catch (error) {
        exitWith(error);
      }
      process.stdout.write(`${JSON.stringify({ ...config, authToken: config.authToken === undefined ? undefined : '(set)' }, null, 2)}\n`);
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case 'version':
    case '--version':
    case '-v': {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    default:
      return usage(`unknown command ${JSON.stringify(command)}`);
  }
}

function usage(message: string): number {
  process.stderr.write(`mcp-http-transport: ${message} (see mcp-http-transport help)\n`);
  return 2;
}
