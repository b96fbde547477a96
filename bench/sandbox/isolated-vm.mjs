// Measures isolated-vm 5.0.x as the Actions sandbox (decision 341). Needs --no-node-snapshot on Node 20:
// node --no-node-snapshot bench/sandbox/isolated-vm.mjs
import { performance } from 'node:perf_hooks';
import ivm from 'isolated-vm';

const ACTION = `exports.onExecutePostLogin = async (event, api) => {
  api.accessToken.setCustomClaim('https://example.test/roles', event.authorization.roles);
};`;
const EVENT = JSON.stringify({ user: { user_id: 'u1', email: 'a@b.test', app_metadata: { d: 1 } }, authorization: { roles: ['admin'] } });
const p50 = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let t = performance.now();
const isolate = new ivm.Isolate({ memoryLimit: 64 });
const isolateMs = performance.now() - t;

async function call(code, eventJson, timeout = 5000, iso = isolate) {
  const context = await iso.createContext();
  try {
    const wrapped = `var commands = []; var exports = {}; var module = { exports };
      var api = { accessToken: { setCustomClaim: (k, v) => { commands.push(['accessToken.setCustomClaim', k, v]); } } };
      ${code}
      ;(async () => { await module.exports.onExecutePostLogin(JSON.parse(${JSON.stringify(eventJson)}), api); return JSON.stringify(commands); })()`;
    return await context.eval(wrapped, { timeout, promise: true });
  } finally {
    context.release();
  }
}

for (let i = 0; i < 200; i++) await call(ACTION, EVENT);
const costs = [];
for (let i = 0; i < 2000; i++) {
  const s = performance.now();
  await call(ACTION, EVENT);
  costs.push(performance.now() - s);
}
console.log(
  `isolated-vm ${process.version}: isolate ${isolateMs.toFixed(1)} ms, p50 call ${p50(costs).toFixed(3)} ms, result ${await call(ACTION, EVENT)}`,
);
for (const [name, probe] of Object.entries({
  process: 'typeof process',
  require: 'typeof require',
  ctorEscape:
    '(() => { try { return String(this.constructor.constructor("return typeof process")()); } catch (e) { return "threw " + e; } })()',
  globals: 'Object.getOwnPropertyNames(globalThis).filter(n => /process|require|Buffer|fetch|setTimeout|WebAssembly/.test(n)).join(",")',
}))
  console.log(
    `  isolation ${name}: ${await call(`exports.onExecutePostLogin = async (e, api) => api.accessToken.setCustomClaim("x", ${probe});`, EVENT)}`,
  );
t = performance.now();
try {
  await call('exports.onExecutePostLogin = async () => { while (true) {} }', EVENT, 200);
} catch (e) {
  console.log(`  infinite loop, 200 ms: stopped after ${(performance.now() - t).toFixed(0)} ms: ${e.message}`);
}
// the event loop stays free while the isolate runs (its own thread)
let ticks = 0;
const timer = setInterval(() => ticks++, 10);
try {
  await call('exports.onExecutePostLogin = async () => { while (true) {} }', EVENT, 500);
} catch {}
clearInterval(timer);
console.log(`  host timer ticks during a 500 ms loop: ${ticks}`);
const bomb = new ivm.Isolate({ memoryLimit: 64 });
const before = process.memoryUsage().rss;
t = performance.now();
try {
  await call(
    'exports.onExecutePostLogin = async () => { const a = []; while (true) a.push("x".repeat(1e5) + a.length); }',
    EVENT,
    5000,
    bomb,
  );
} catch (e) {
  console.log(
    `  memory bomb, 64 MB: stopped after ${(performance.now() - t).toFixed(0)} ms, rss +${((process.memoryUsage().rss - before) / 1e6).toFixed(0)} MB: ${e.message}; disposed: ${bomb.isDisposed}`,
  );
}
console.log(`  another isolate after the bomb: ${await call(ACTION, EVENT)}`);
const isolates = [];
const r0 = process.memoryUsage().rss;
for (let i = 0; i < 10; i++) {
  const iso = new ivm.Isolate({ memoryLimit: 64 });
  await call(ACTION, EVENT, 5000, iso);
  isolates.push(iso);
}
console.log(`  10 more isolates (one per tenant): rss +${((process.memoryUsage().rss - r0) / 1e6).toFixed(1)} MB`);
