/** Helpers shared by the Redis session store and the Redis event store. */
import type { Logger } from '../log.js';

/** The logger used when none is given: says nothing. */
export const SILENT: Logger = { level: 'error', error() {}, warn() {}, info() {}, debug() {} };

/** node-redis's `ErrorReply` (and its subclasses): Redis answered, with an error such as WRONGTYPE or NOAUTH. */
export function isErrorReply(error: unknown): boolean {
  for (let proto = error === null || typeof error !== 'object' ? null : Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === 'ErrorReply') return true;
  }
  return false;
}

/** The first line of an error's message (its name when the message is empty), for a log line or an error message. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message || error.name : String(error);
  return message.split('\n')[0]!;
}

/** The options without their undefined entries, so that spreading them over the defaults keeps the defaults. */
export function stripUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}
