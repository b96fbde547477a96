import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import releaseSyncModule from '@jitl/quickjs-wasmfile-release-sync';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSDeferredPromise,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import { destinationPolicy } from '../../../platform/http/destinations.js';
import { checkedFetch } from '../../../platform/http/outbound.js';
import { PRELUDE } from './prelude.js';
import type { ForgetRequest, RunRequest, RunResult, SandboxOutcome, WorkerData } from './protocol.js';

/**
 * The sandbox worker (decision 341): QuickJS compiled to WebAssembly, off the node's event
 * loop. Each sandbox (one per tenant, one for system actions) is its own WebAssembly
 * instance with its own linear memory, capped by a fixed-maximum `WebAssembly.Memory`
 * (QuickJS's own limit does not count under Emscripten). A call gets a fresh runtime and
 * context in its tenant's instance, so nothing of one call is seen by the next; the
 * interrupt handler stops it at the wall-clock deadline. An instance that ran out of memory
 * or was interrupted is thrown away. No Node API is reachable from inside: the only host
 * function is the SSRF-checked `fetch`.
 */
const options = workerData as WorkerData;
// The package's types describe its CommonJS face (the variant under `default`); its ES module exports the variant itself.
const releaseSync = ((releaseSyncModule as { default?: QuickJSSyncVariant }).default ?? releaseSyncModule) as QuickJSSyncVariant;
/** WebAssembly, which the ES2023 library of the type checker does not describe. */
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (descriptor: { initial: number; maximum: number }) => object;
}
const PAGE = 64 * 1024;
/** The console's and the api's bounds (the prelude's), held on the host. */
const MAX_LOG_LINES = 100;
const MAX_LOG_LINE = 2000;
const MAX_COMMANDS = 200;
const INITIAL_PAGES = 256; // Emscripten's initial 16 MiB
const fetchOut = checkedFetch(destinationPolicy(options.allowedNetworks), options.fetchTimeoutMs);
const wasm = new Wasm.Module(readFileSync(createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm')));

const sandboxes = new Map<string, Promise<QuickJSWASMModule>>();

function sandboxOf(name: string): Promise<QuickJSWASMModule> {
  let sandbox = sandboxes.get(name);
  if (!sandbox) {
    const maximum = Math.max(INITIAL_PAGES + 16, Math.floor(options.memoryBytes / PAGE));
    const memory = new Wasm.Memory({ initial: INITIAL_PAGES, maximum });
    sandbox = newQuickJSWASMModuleFromVariant(newVariant(releaseSync, { wasmModule: wasm as never, wasmMemory: memory as never }));
    sandboxes.set(name, sandbox);
  }
  return sandbox;
}

class Stop extends Error {
  constructor(
    readonly outcome: SandboxOutcome,
    message: string,
  ) {
    super(message);
  }
}

const messageOf = (dumped: unknown): string => {
  if (dumped && typeof dumped === 'object' && 'message' in dumped) {
    const { name, message } = dumped as { name?: string; message?: string };
    return `${name && name !== 'Error' ? `${name}: ` : ''}${message}`;
  }
  return typeof dumped === 'string' ? dumped : (JSON.stringify(dumped) ?? String(dumped));
};

/** An error thrown inside the sandbox, as the outcome it means. */
function stopOf(vm: QuickJSContext, handle: QuickJSHandle, deadline: number): Stop {
  let dumped: unknown;
  try {
    dumped = vm.dump(handle);
  } catch {
    dumped = 'unreadable error';
  } finally {
    handle.dispose();
  }
  const message = messageOf(dumped).slice(0, 1000);
  if (/out of memory/i.test(message)) return new Stop('memory', 'the action ran out of memory');
  if (/interrupted/i.test(message) && Date.now() >= deadline) return new Stop('timeout', 'the action ran out of time');
  if (/stack overflow/i.test(message)) return new Stop('error', message);
  return new Stop('error', message);
}

async function run(request: RunRequest): Promise<RunResult> {
  const started = performance.now();
  const deadline = Date.now() + request.timeoutMs;
  const done = (outcome: SandboxOutcome, rest: Partial<RunResult>): RunResult => {
    // The prelude's bounds are the action's own globals, which its code can replace: they are held again here.
    const commands = Array.isArray(rest.commands) ? rest.commands : [];
    const tooMany = commands.length > MAX_COMMANDS;
    return {
      type: 'result',
      id: request.id,
      outcome: tooMany ? 'error' : outcome,
      ...rest,
      ...(tooMany && { error: 'too many api calls' }),
      commands: tooMany ? [] : commands.filter((c) => Array.isArray(c)),
      logs: (Array.isArray(rest.logs) ? rest.logs : [])
        .slice(0, MAX_LOG_LINES)
        .map((line) => (typeof line === 'string' ? line : String(JSON.stringify(line))).slice(0, MAX_LOG_LINE)),
      durationMs: Math.round(performance.now() - started),
    };
  };
  let runtime: QuickJSRuntime | undefined;
  let vm: QuickJSContext | undefined;
  let logs: string[] = [];
  let abandoned = false;
  const pending = new Set<Promise<void>>();
  const deferreds = new Set<QuickJSDeferredPromise>();
  try {
    const module = await sandboxOf(request.sandbox);
    runtime = module.newRuntime();
    runtime.setMaxStackSize(512 * 1024);
    runtime.setInterruptHandler(() => Date.now() >= deadline);
    vm = runtime.newContext();
    const context = vm;
    const hostFetch = context.newFunction('__hostFetch', (requestJson) => {
      const deferred = context.newPromise();
      deferreds.add(deferred);
      const call = (async () => {
        try {
          const { url, method, headers, body } = JSON.parse(context.getString(requestJson));
          const answer = await fetchOut(url, { method, headers, ...(body !== undefined && { body }) });
          const text = await answer.text();
          const json = JSON.stringify({ status: answer.status, headers: Object.fromEntries(answer.headers), body: text });
          if (!deferred.alive) return;
          const value = context.newString(json);
          deferred.resolve(value);
          value.dispose();
        } catch (error) {
          if (!deferred.alive) return;
          const value = context.newError({ name: 'TypeError', message: (error as Error).message.slice(0, 500) });
          deferred.reject(value);
          value.dispose();
        }
      })();
      pending.add(call);
      call.finally(() => pending.delete(call));
      return deferred.handle;
    });
    context.setProp(context.global, '__hostFetch', hostFetch);
    hostFetch.dispose();
    const prelude = context.evalCode(PRELUDE, 'prelude.js');
    if (prelude.error) throw stopOf(context, prelude.error, deadline);
    prelude.value.dispose();
    const loaded = context.evalCode(request.code, 'action.js');
    if (loaded.error) throw stopOf(context, loaded.error, deadline);
    loaded.value.dispose();
    const call = context.evalCode(
      `__run(${JSON.stringify(request.handler)}, ${JSON.stringify(request.api)}, ${JSON.stringify(request.event)})`,
      'run.js',
    );
    if (call.error) throw stopOf(context, call.error, deadline);
    const promise = call.value;
    try {
      for (;;) {
        const jobs = runtime.executePendingJobs();
        if (jobs.error) throw stopOf(context, jobs.error, deadline);
        const state = context.getPromiseState(promise);
        if (state.type === 'fulfilled') {
          const out = JSON.parse(context.getString(state.value));
          state.value.dispose();
          return done('ok', { commands: out.commands, logs: out.logs });
        }
        if (state.type === 'rejected') throw stopOf(context, state.error, deadline);
        if (pending.size === 0) throw new Stop('error', 'the handler’s promise never settles');
        const left = deadline - Date.now();
        if (left <= 0) throw new Stop('timeout', 'the action ran out of time');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.race(pending),
          new Promise((resolve) => {
            timer = setTimeout(resolve, left);
          }),
        ]);
        clearTimeout(timer);
      }
    } finally {
      promise.dispose();
    }
  } catch (error) {
    const stop = error instanceof Stop ? error : new Stop('error', (error as Error).message);
    logs = readLogs(runtime, vm);
    // A sandbox that ran out of memory or time may be left in any state: the tenant gets a new one.
    // Its memory goes with the instance, undisposed (freeing a runtime stopped mid-allocation may abort).
    if (stop.outcome !== 'error') {
      sandboxes.delete(request.sandbox);
      abandoned = true;
    }
    return done(stop.outcome, { error: stop.message, logs });
  } finally {
    if (!abandoned) disposeAll();
  }

  function disposeAll() {
    try {
      for (const deferred of deferreds) if (deferred.alive) deferred.dispose();
      vm?.dispose();
      runtime?.dispose();
    } catch {
      sandboxes.delete(request.sandbox);
    }
  }
}

function readLogs(runtime: QuickJSRuntime | undefined, vm: QuickJSContext | undefined): string[] {
  if (!runtime || !vm) return [];
  try {
    runtime.removeInterruptHandler();
    const result = vm.evalCode('JSON.stringify(__logs)');
    if (result.error) {
      result.error.dispose();
      return [];
    }
    const logs = JSON.parse(vm.getString(result.value));
    result.value.dispose();
    return Array.isArray(logs) ? logs : [];
  } catch {
    return [];
  }
}

parentPort?.on('message', (message: RunRequest | ForgetRequest) => {
  if (message.type === 'forget') {
    sandboxes.delete(message.sandbox);
    return;
  }
  run(message).then(
    (result) => parentPort?.postMessage(result),
    (error) =>
      parentPort?.postMessage({
        type: 'result',
        id: message.id,
        outcome: 'error',
        commands: [],
        logs: [],
        error: String(error),
        durationMs: 0,
      } satisfies RunResult),
  );
});
