import { readFileSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { exitWith } from '../serve.js';
import { BRIDGE_USAGE, parseBridgeArgs, runBridge } from './bridge.js';
import { DEV_USAGE, parseDevArgs, runDev } from './dev.js';

const USAGE = `Usage: mcp-http-transport <command>

Commands:
  dev [options] -- <server command...>
              run the server under nodemon; clients stay connected across restarts
  bridge <url> [options]
              a stdio MCP server relaying to an HTTP one (for stdio-only clients)
  config      check the MCP_* settings (env and ./.env) and print what a server would use
  help        show this help
  version     print the version

Exit codes: 0 ok, 1 failure, 2 bad configuration or usage.`;

/** Long-running commands: their usage, and how to run them (usage errors throw ConfigError: exit 2). */
const RUNNERS: Record<string, { usage: string; run: (args: readonly string[]) => Promise<number> }> = {
  dev: { usage: DEV_USAGE, run: (args) => runDev(parseDevArgs(args)) },
  bridge: { usage: BRIDGE_USAGE, run: (args) => runBridge(parseBridgeArgs(args)) },
};

/** Run the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  const runner = RUNNERS[command];
  if (runner) {
    // Only our own options count: a `--help` after `--` belongs to the server command.
    const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
    if (own.includes('--help') || own.includes('-h')) return help(runner.usage);
    try {
      return await runner.run(rest);
    } catch (error) {
      exitWith(error);
    }
  }
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
      return help(USAGE);
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

/** Help goes to stderr: in dev and bridge mode stdout may be an MCP stream. */
function help(text: string): number {
  process.stderr.write(`${text}\n`);
  return 0;
}

function usage(message: string): number {
  process.stderr.write(`mcp-http-transport: ${message} (see mcp-http-transport help)\n`);
  return 2;
}
