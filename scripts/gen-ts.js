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
console.log(`generated ${idlFiles.join(', ')} into ${path.relative(root, outDir) || outDir}`);
