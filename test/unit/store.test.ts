import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileSessionStore, MemorySessionStore, type StoredSession } from '../../src/index.js';
import { emptyDir } from '../helpers.js';

const session = (id: string): StoredSession => ({
  id,
  kind: 'streamable',
  protocolVersion: '2025-11-25',
  initializeParams: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
  createdAt: 1,
});

describe.each([
  ['MemorySessionStore', () => new MemorySessionStore()],
  ['FileSessionStore', () => new FileSessionStore(join(emptyDir(), 'nested', 'sessions.json'))],
])('%s', (_name, make) => {
  it('sets, gets, lists and deletes', async () => {
    const store = make();
    await store.set(session('a'));
    await store.set(session('b'));
    expect(await store.get('a')).toEqual(session('a'));
    expect((await store.list()).map((s) => s.id).sort()).toEqual(['a', 'b']);
    await store.delete('a');
    await store.delete('missing');
    expect(await store.get('a')).toBeUndefined();
    expect((await store.list()).map((s) => s.id)).toEqual(['b']);
  });
});

describe('FileSessionStore', () => {
  it('persists from one instance (process) to the next, in a 0600 file, with no temp file left', async () => {
    const dir = emptyDir();
    const path = join(dir, 'sessions.json');
    for (const id of ['a', 'b', 'c']) await new FileSessionStore(path).set(session(id)); // one process after another
    const one = new FileSessionStore(path);
    await Promise.all([one.set(session('x')), one.set(session('y')), one.delete('x')]);
    const again = new FileSessionStore(path);
    expect((await again.list()).map((s) => s.id).sort()).toEqual(['a', 'b', 'c', 'y']);
    expect(await again.get('x')).toBeUndefined();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(expect.arrayContaining([session('y')]));
    expect(readdirSync(dir)).toEqual(['sessions.json']);
  });

  it('starts empty from a corrupt or foreign file instead of failing', async () => {
    const path = join(emptyDir(), 'sessions.json');
    writeFileSync(path, '{not json');
    expect(await new FileSessionStore(path).list()).toEqual([]);
    writeFileSync(path, JSON.stringify([{ id: 1 }, session('ok')]));
    expect((await new FileSessionStore(path).list()).map((s) => s.id)).toEqual(['ok']);
  });
});
