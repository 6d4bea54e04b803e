// Resolve hook (see node20-preload.mjs): `fs` imported from a conformance tool resolves to node20-fs.mjs.
const shim = new URL('./node20-fs.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL?.includes('/node_modules/conformance-')) {
    return { url: shim, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
