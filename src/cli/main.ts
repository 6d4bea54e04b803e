import { readFileSync } from 'node:fs';
import { loadConfig, redactUrl } from '../config.js';
import { exitWith } from '../serve.js';
import { BRIDGE_USAGE, parseBridgeArgs, runBridge } from './bridge.js';
import { DEV_USAGE, parseDevArgs, runDev } from './dev.js';

const USAGE = `Usage: mcp-http-transport <command>

Commands:
  dev [options] -- <server command...>
              run the server, restarting it on every save; clients stay connected
  bridge <url> [options]
              a stdio MCP server relaying to an HTTP one (for stdio-only clients)
  config      check the MCP_* settings (env and ./.env) and print what a server would use
  help [command]
              show this help, or a command's
  version     print the version

Run mcp-http-transport <command> --help for a command's options.
Exit codes: 0 ok, 1 failure, 2 bad configuration or usage.`;

const CONFIG_USAGE = `Usage: mcp-http-transport config

Reads the MCP_* variables from the environment and ./.env, as a server started here would, and prints
the resolved settings as JSON on stdout (the token and any Redis password hidden). Settings the chosen
transport ignores are reported on stderr as warnings. A bad value prints one line on stderr and exits 2.`;

/** Long-running commands: their usage, and how to run them (usage errors throw ConfigError: exit 2). */
const RUNNERS: Record<string, { usage: string; run: (args: readonly string[]) => Promise<number> }> = {
  dev: { usage: DEV_USAGE, run: (args) => runDev(parseDevArgs(args)) },
  bridge: { usage: BRIDGE_USAGE, run: (args) => runBridge(parseBridgeArgs(args)) },
};

/** Every command's help text, for `help <command>` and `<command> --help`. */
const USAGES: Record<string, string> = {
  ...Object.fromEntries(Object.entries(RUNNERS).map(([name, runner]) => [name, runner.usage])),
  config: CONFIG_USAGE,
  help: USAGE,
  version: 'Usage: mcp-http-transport version\n\nPrints the version of mcp-http-transport.',
};

const HELP_FLAGS = new Set(['--help', '-h']);

/** Run the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  // Only our own options count: a `--help` after `--` belongs to the server command.
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  const usageText = USAGES[command];
  if (usageText !== undefined && own.some((arg) => HELP_FLAGS.has(arg))) return help(usageText);
  const runner = RUNNERS[command];
  if (runner) {
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
      for (const warning of config.warnings) process.stderr.write(`mcp-http-transport: warning: ${warning}\n`);
      const { warnings: _, ...settings } = config;
      const shown = { ...settings, authToken: config.authToken === undefined ? undefined : '(set)', redisUrl: config.redisUrl === undefined ? undefined : redactUrl(config.redisUrl) };
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      return 0;
    }
    case 'help':
    case '--help':
    case '-h': {
      const [topic, ...extra] = rest;
      if (topic === undefined || HELP_FLAGS.has(topic)) return help(USAGE);
      const text = USAGES[topic];
      if (text === undefined || extra.length > 0) return usage(`help takes one command name (${Object.keys(USAGES).join(', ')}), got ${rest.join(' ')}`);
      return help(text);
    }
    case 'version':
    case '--version':
    case '-v': {
      if (rest.length > 0) return usage(`version takes no arguments, got ${rest.join(' ')}`);
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    default:
      return usage(`unknown command ${JSON.stringify(command)}`);
  }
}

/**
 * Help was asked for, so it goes to stdout (`mcp-http-transport --help | less` works). Safe even for
 * dev and bridge, whose stdout may carry MCP frames: with --help they never start.
 */
function help(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

/** A usage error: one line on stderr, exit 2. */
function usage(message: string): number {
  process.stderr.write(`mcp-http-transport: ${message} (see mcp-http-transport help)\n`);
  return 2;
}
