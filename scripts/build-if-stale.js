#!/usr/bin/env node
// `npm start`'s prestart (decision 307): builds dist/ (server and SDK) only when it is
// missing or older than its sources, so a restart on a current build has no build step.
// A fresh clone (`npm ci && npm start`) has no dist/ and builds once.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
/** What a build writes last-checked: a build is current when each is newer than every input. */
const OUTPUTS = ['dist/main/cli.js', 'packages/sdk/dist/index.js'];
const INPUTS = ['src', 'packages/sdk/src', 'tsconfig.json', 'tsconfig.build.json', 'packages/sdk/tsconfig.json'];

/** The newest modification time under a path (a directory's own time counts: a file removed or renamed). */
function newest(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let time = stat.mtimeMs;
  for (const entry of readdirSync(path)) time = Math.max(time, newest(join(path, entry)));
  return time;
}

const inputs = Math.max(...INPUTS.map((path) => newest(join(root, path))));
const built = Math.min(...OUTPUTS.map((path) => statSync(join(root, path), { throwIfNoEntry: false })?.mtimeMs ?? 0));
if (built > inputs) process.exit(0);

process.stderr.write('gatehouse: dist/ is missing or older than src/: building (npm run build)\n');
const npm = process.env.npm_execpath
  ? spawnSync(process.execPath, [process.env.npm_execpath, 'run', '--silent', 'build'], { cwd: root, stdio: 'inherit' })
  : spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (npm.status !== 0) process.exit(npm.status ?? 1);
// tsc's incremental build leaves an unchanged output untouched: mark the build as of now.
const now = new Date();
for (const path of OUTPUTS) utimesSync(join(root, path), now, now);
