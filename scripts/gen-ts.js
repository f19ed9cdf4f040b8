#!/usr/bin/env node
// Regenerates the typed TypeScript stubs from thrift-idl/ (npm run gen).
// Usage: node scripts/gen-ts.js [outDir]   (default: gen-ts)
// The staleness test calls it with a temporary outDir and compares the trees.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.resolve(process.argv[2] || path.join(root, 'gen-ts'));
const idlDir = path.join(root, 'thrift-idl');
const idlFiles = fs.readdirSync(idlDir).filter((f) => f.endsWith('.thrift')).sort();
const generator = require.resolve('@creditkarma/thrift-typescript/dist/main/bin/index.js');

fs.rmSync(outDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [generator, '--target', 'apache', '--strictUnions', '--rootDir', root, '--sourceDir', 'thrift-idl',
    '--outDir', path.relative(root, outDir) || '.', ...idlFiles],
  { cwd: root, stdio: 'inherit' },
);
// Generator fix-up. thrift-typescript 3.7's apache target does not read the (empty) argument struct
// of a call without arguments, such as getAPIVersion(): the struct's STOP byte stays in the
// server's input buffer and every later call on that connection misparses. Skip the struct the way
// Apache's own generated processors do.
const ZERO_ARG_READ = /(\): void => \{\n(\s+)try \{\n)(\s+)input\.readMessageEnd\(\);/g;
let patched = 0;
for (const file of listTs(outDir)) {
  const text = fs.readFileSync(file, 'utf8');
  const fixed = text.replace(ZERO_ARG_READ, (_m, head, _indent, inner) => {
    patched += 1;
    return `${head}${inner}input.skip(thrift.Thrift.Type.STRUCT);\n${inner}input.readMessageEnd();`;
  });
  if (fixed !== text) fs.writeFileSync(file, fixed);
}
if (patched === 0) throw new Error('gen-ts: the zero-argument fix-up matched nothing; check the generator version');

function listTs(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? listTs(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

console.log(`generated ${idlFiles.join(', ')} into ${path.relative(root, outDir) || outDir}`);
