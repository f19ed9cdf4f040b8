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
// Generator fix-up: every processor reads its call's arguments before anything else, synchronously.
// thrift-typescript 3.7's apache target reads them inside the executor of a `new Promise`, whose
// try/catch turns the runtime's InputBufferUnderrunError ("this message has not fully arrived yet")
// into a TApplicationException answer. The runtime's server only waits for more bytes when that
// error reaches it, so any call arriving in more than one read was answered with an exception and
// its remaining bytes were parsed as a new message. Reading first, as Apache's own Node processors
// do, also means a malformed call fails on the connection instead of being answered half-read.
// The same place fixes a second defect: for a call without arguments, such as getAPIVersion(), the
// generator reads no argument struct at all, so its STOP byte stayed in the input and misparsed the
// next call. Skip that struct the way Apache's processors do.
const ARGS_READ_IN_PROMISE =
  /^([ \t]+)(new Promise<.*>\(\(resolve, reject\): void => \{\n[ \t]+try \{\n)(?:[ \t]+(const args: \w+ = \w+\.read\(input\);)\n)?[ \t]+input\.readMessageEnd\(\);\n/gm;
for (const file of listTs(outDir)) {
  const text = fs.readFileSync(file, 'utf8');
  const processMethods = (text.match(/^\s+public process_\w+\(/gm) || []).length;
  let patched = 0;
  const fixed = text.replace(ARGS_READ_IN_PROMISE, (_m, indent, promiseHead, argsRead) => {
    patched += 1;
    const read = argsRead || 'input.skip(thrift.Thrift.Type.STRUCT);';
    return `${indent}${read}\n${indent}input.readMessageEnd();\n${indent}${promiseHead}`;
  });
  if (patched !== processMethods) {
    throw new Error(`gen-ts: ${path.basename(file)} has ${processMethods} processor methods but the argument-read fix-up matched ${patched}; check the generator version`);
  }
  if (fixed !== text) fs.writeFileSync(file, fixed);
}

function listTs(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? listTs(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

console.log(`generated ${idlFiles.join(', ')} into ${path.relative(root, outDir) || outDir}`);
