import { connect } from 'node:net';

/** What a server process tells the dev supervisor once it listens. */
export interface Announcement {
  /** The key the supervisor gave this process (in `MCP_DEV_CONTROL`), naming its generation. */
  key: string;
  pid: number;
  /** The internal port the process listens on. */
  port: number;
}

/**
 * Parse `MCP_DEV_CONTROL` (`127.0.0.1:<port>#<key>`), as set by the supervisor.
 * @returns undefined when the value is not one the supervisor writes
 */
export function parseControl(value: string): { host: string; port: number; key: string } | undefined {
  const match = /^([\d.]+):(\d+)#([\w-]+)$/.exec(value);
  return match ? { host: match[1]!, port: Number(match[2]), key: match[3]! } : undefined;
}

/**
 * Tell the dev supervisor this process serves on `port`, and keep the connection open: it is how the
 * supervisor knows the real server is alive (whatever wrappers, `sh -c`, `npm start` or `tsx`, sit
 * between them), and how it orders a drain. `onStop` runs once, when the supervisor asks for a drain
 * or when it is gone (so a dev that died never leaves a server behind).
 * @throws Error when the supervisor cannot be reached
 */
export async function announceToSupervisor(control: string, port: number, onStop: (reason: 'drain' | 'supervisor gone') => void): Promise<void> {
  const target = parseControl(control);
  if (!target) throw new Error(`MCP_DEV_CONTROL=${control} is not an address the dev supervisor writes`);
  const socket = connect(target.port, target.host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let stopped = false;
  const stop = (reason: 'drain' | 'supervisor gone') => {
    if (stopped) return;
    stopped = true;
    onStop(reason);
  };
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => text.includes('drain') && stop('drain'));
  socket.on('error', () => undefined); // 'close' follows
  socket.on('close', () => stop('supervisor gone'));
  const announcement: Announcement = { key: target.key, pid: process.pid, port };
  socket.write(`${JSON.stringify(announcement)}\n`);
  // The server's own listeners keep the process alive; this socket must not once they close.
  socket.unref();
}
