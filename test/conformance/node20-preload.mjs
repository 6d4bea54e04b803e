// Node 20 lacks fs.globSync (added in Node 22), which both conformance CLIs import by name.
// Test harness only: `node --import ./test/conformance/node20-preload.mjs node_modules/conformance-*/dist/index.js ...`
// A builtin's ESM export names are fixed when it is first loaded, so assigning fs.globSync is not
// enough: a resolve hook sends the conformance tools' `fs` import to a module that adds it.
import * as fs from 'node:fs';
import { register } from 'node:module';

if (typeof fs.globSync !== 'function') register('./node20-hooks.mjs', import.meta.url);
