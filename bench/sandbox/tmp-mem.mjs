import releaseSync from '@jitl/quickjs-wasmfile-release-sync';
import { newQuickJSWASMModuleFromVariant, newVariant, shouldInterruptAfterDeadline } from 'quickjs-emscripten-core';

const memory = new WebAssembly.Memory({ initial: 256, maximum: 1024 });
const t0 = performance.now();
const module = await newQuickJSWASMModuleFromVariant(newVariant(releaseSync, { wasmMemory: memory }));
console.log('module', (performance.now() - t0).toFixed(1), 'ms', module.getWasmMemory() === memory);
for (const code of [
  'const a = []; while (true) a.push("x".repeat(1e5) + a.length);',
  'const a=[]; while(true) a.push({i: a.length, s: "y"+a.length});',
  'const a = []; while (true) a.push(new Uint8Array(1e6));',
  'const a = []; while (true) a.push(new Array(1e4).fill("z"));',
  '"ok"',
]) {
  const rt = module.newRuntime();
  rt.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + 5000));
  const vm = rt.newContext();
  const t = performance.now();
  const r = vm.evalCode(code);
  console.log(
    code.slice(0, 50),
    (performance.now() - t).toFixed(0),
    'ms',
    r.error ? JSON.stringify(vm.dump(r.error)).slice(0, 80) : vm.dump(r.value),
    'rss',
    (process.memoryUsage().rss / 1e6).toFixed(0),
    'wasm',
    memory.buffer.byteLength / 1e6,
  );
  r.error?.dispose();
  r.value?.dispose();
  vm.dispose();
  rt.dispose();
}
