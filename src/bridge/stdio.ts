import { isJSONRPCMessage, type JSONRPCMessage } from '../jsonrpc.js';
import type { BridgeReadable, BridgeWritable } from './options.js';

/** Where the bridge's answers to the client go. */
export interface Downstream {
  send(message: JSONRPCMessage): Promise<void>;
}

/** A line longer than this (10 MiB, the SDKs' own bound) is dropped, so a client cannot grow the buffer without end. */
const MAX_LINE_BYTES = 10 * 1024 * 1024;

/**
 * The MCP stdio framing, one JSON-RPC message per line, over any readable and writable stream.
 * Written here rather than taken from an SDK so that the bridge needs no SDK to speak to its client.
 */
export class StdioLink implements Downstream {
  onmessage?: (message: JSONRPCMessage) => void;
  onerror?: (error: Error) => void;
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly ondata = (chunk: Buffer | string) => this.receive(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  private readonly onstreamerror = (error: Error) => this.onerror?.(error);

  constructor(
    private readonly stdin: BridgeReadable,
    private readonly stdout: BridgeWritable,
  ) {}

  start(): void {
    this.stdin.on('data', this.ondata);
    this.stdin.on('error', this.onstreamerror);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.stdout.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.stdout.once('drain', () => resolve());
    });
  }

  /** Stop reading; stdin is paused when nothing else reads it, so that it no longer keeps the process alive. */
  close(): void {
    this.stdin.off('data', this.ondata);
    this.stdin.off('error', this.onstreamerror);
    if ((this.stdin.listenerCount?.('data') ?? 0) === 0) this.stdin.pause?.();
    this.chunks = [];
    this.size = 0;
  }

  private receive(chunk: Buffer): void {
    for (let start = 0; ; ) {
      const end = chunk.indexOf(0x0a, start);
      if (end < 0) {
        this.keep(chunk.subarray(start));
        return;
      }
      this.keep(chunk.subarray(start, end));
      const line = Buffer.concat(this.chunks).toString('utf8').replace(/\r$/, '');
      const overflowed = this.size > MAX_LINE_BYTES;
      this.chunks = [];
      this.size = 0;
      if (overflowed) this.onerror?.(new Error(`a line of more than ${MAX_LINE_BYTES} bytes was dropped`));
      else if (line.trim() !== '') this.parse(line);
      start = end + 1;
    }
  }

  /** Buffer part of a line, past the bound only its length. */
  private keep(part: Buffer): void {
    if (part.length === 0) return;
    this.size += part.length;
    if (this.size <= MAX_LINE_BYTES) this.chunks.push(part);
    else this.chunks = [];
  }

  private parse(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.onerror?.(new Error(`not JSON: ${(error as Error).message}`));
      return;
    }
    if (isJSONRPCMessage(message)) this.onmessage?.(message);
    else this.onerror?.(new Error(`not a JSON-RPC message: ${line.slice(0, 200)}`));
  }
}
