/**
 * Methods that may be sent again after the server died mid-call without harm: they read, never
 * write. Everything else (`tools/call` above all) may have side effects and is never repeated.
 */
export function isRetrySafe(method: string): boolean {
  return (
    method === 'ping' ||
    method === 'initialize' ||
    method === 'prompts/get' ||
    method === 'completion/complete' ||
    method.endsWith('/list') ||
    method.endsWith('/read')
  );
}
