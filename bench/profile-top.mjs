#!/usr/bin/env node
// Summarises a V8 .cpuprofile: self time by function, and by file. Usage: node bench/profile-top.mjs FILE [N]
import { readFileSync } from 'node:fs';
const [file, n = '30'] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const self = new Map();
const dt = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const agg = new Map();
const aggFile = new Map();
for (const [id, t] of self) {
  const cf = byId.get(id).callFrame;
  const url = cf.url.replace(/^.*node_modules\//, 'nm/').replace(/^file:\/\/.*\/dist\//, '');
  const key = `${cf.functionName || '(anon)'} ${url}:${cf.lineNumber + 1}`;
  agg.set(key, (agg.get(key) ?? 0) + t);
  const fk = url || cf.functionName;
  aggFile.set(fk, (aggFile.get(fk) ?? 0) + t);
}
const show = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(n)).forEach(([k, t]) => console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`));
console.log('— by function (self) —');
show(agg);
console.log('— by file (self) —');
show(aggFile);
