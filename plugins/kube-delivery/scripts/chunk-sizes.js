#!/usr/bin/env node
/*
 * Prints the gzip size of every chunk of the built app that holds the Kube
 * Delivery frontend plugin's code, found through the source maps.
 * Run after `yarn workspace app build`:
 *
 *   node plugins/kube-delivery/scripts/chunk-sizes.js [packages/app/dist/static]
 */
/* eslint-disable no-console */
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const dir = path.resolve(process.argv[2] ?? 'packages/app/dist/static');
const OWN = /plugins\/kube-delivery(-common)?\/src\//;
const rows = [];
for (const file of fs.readdirSync(dir).filter(f => f.endsWith('.js.map'))) {
  const { sources = [] } = JSON.parse(
    fs.readFileSync(path.join(dir, file), 'utf8'),
  );
  const own = sources.filter(s => OWN.test(s));
  // Chunks the tabs pull in besides their own (e.g. the line diff).
  const diff = sources.filter(s => s.includes('/node_modules/diff/'));
  if (own.length === 0 && diff.length === 0) continue;
  const js = path.join(dir, file.slice(0, -'.map'.length));
  const bytes = fs.readFileSync(js);
  rows.push({
    chunk: path.basename(js),
    bytes: bytes.length,
    gzip: zlib.gzipSync(bytes).length,
    modules: `${own.length + diff.length}/${sources.length}`,
    holds: [
      ...own.map(s => s.split('/src/')[1]),
      ...diff.map(s => s.split('node_modules/')[1]),
    ]
      .sort()
      .join(', '),
  });
}
rows.sort((a, b) => b.gzip - a.gzip);
for (const r of rows) {
  console.log(
    `${r.chunk}  ${r.bytes} B  gzip ${r.gzip} B  (${r.modules} modules from the plugin)`,
  );
  console.log(`    ${r.holds}`);
}
const lazy = rows.filter(r => !r.chunk.startsWith('main.'));
console.log(
  `lazily loaded chunks: ${lazy.length}, gzip total ${lazy.reduce(
    (n, r) => n + r.gzip,
    0,
  )} B`,
);
