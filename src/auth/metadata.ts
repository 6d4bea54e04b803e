/** Where RFC 9728 Protected Resource Metadata is served: the bare well-known path, and the one for `/mcp`. */
export const METADATA_PATHS = ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp'] as const;

/** RFC 9728 Protected Resource Metadata, the fields this server fills. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: ['header'];
}

/**
 * The metadata document: the resource, the one authorization server that issues its tokens, the scopes
 * requests need (left out when none are), and that tokens come in the `Authorization` header only.
 */
export function protectedResourceMetadata(resource: string, issuer: string, scopes: readonly string[]): ProtectedResourceMetadata {
  return {
    resource,
    authorization_servers: [issuer],
    ...(scopes.length > 0 ? { scopes_supported: [...scopes] } : {}),
    bearer_methods_supported: ['header'],
  };
}

/**
 * The metadata's URL for a resource (RFC 9728 §3.1): the well-known path goes between the host and the
 * resource's path, so `https://example.com/mcp` has `https://example.com/.well-known/oauth-protected-resource/mcp`.
 */
export function metadataUrlFor(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return `${url.origin}${METADATA_PATHS[0]}${path}`;
}
