import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { DEFAULT_CONFIG, parseConfig } from '../../src/index.js';
import { ROOT } from '../helpers.js';

/** `.env.example` with every `#MCP_X=value` line uncommented. */
const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
const documented = dotenv.parse(example.replace(/^#(MCP_\w+=)/gm, '$1'));

/** Every MCP_* name the sources and the wrapper script mention. */
function namesInSources(): Set<string> {
  const files = [join(ROOT, 'scripts', 'mcp-server-wrapper.sh'), ...(readdirSync(join(ROOT, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(ROOT, 'src', f))];
  return new Set(files.flatMap((f) => readFileSync(f, 'utf8').match(/\bMCP_[A-Z_]+[A-Z]\b/g) ?? []));
}

describe('.env.example', () => {
  it('lists every variable the code reads (MCP_DEV_CONTROL, internal, is named but not offered)', () => {
    const names = namesInSources();
    names.delete('MCP_DEV_CONTROL');
    expect(Object.keys(documented).sort()).toEqual([...names].sort());
    expect(example).toContain('MCP_DEV_CONTROL');
  });

  it('gives each variable a comment', () => {
    const lines = example.split('\n');
    for (const name of Object.keys(documented)) {
      const at = lines.findIndex((l) => l.startsWith(`#${name}=`));
      expect(lines[at - 1]).toMatch(/^# \S/);
    }
  });

  it('shows the real defaults: uncommented, it configures exactly what no .env does', () => {
    expect(parseConfig(documented)).toEqual(DEFAULT_CONFIG);
  });
});
