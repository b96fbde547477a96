/**
 * The JavaScript evaluated in every fresh sandbox context before an action's code: Auth0's
 * module shape (`exports`, `module.exports`), a captured `console`, a `fetch` over the host's
 * SSRF-checked client, and `__run`, which builds `api` for the trigger and calls the handler.
 * Nothing of the host is reachable: the only host function is `__hostFetch` (url, init as
 * JSON → a promise of the answer as JSON), which the prelude hides from the action.
 */
export const PRELUDE = `
var exports = {};
var module = { exports: exports };
var __logs = [];
var __commands = [];
(function () {
  var show = function (value) {
    if (typeof value === 'string') return value;
    try { var text = JSON.stringify(value); return text === undefined ? String(value) : text; } catch (e) { return String(value); }
  };
  var line = function (level) {
    return function () {
      if (__logs.length >= 100) return;
      var parts = [];
      for (var i = 0; i < arguments.length; i++) parts.push(show(arguments[i]));
      __logs.push(((level === 'log' ? '' : level + ': ') + parts.join(' ')).slice(0, 2000));
    };
  };
  globalThis.console = { log: line('log'), info: line('info'), warn: line('warn'), error: line('error'), debug: line('debug') };
  var hostFetch = globalThis.__hostFetch;
  delete globalThis.__hostFetch;
  var Headers = function (pairs) {
    var map = {};
    for (var key in pairs || {}) map[key.toLowerCase()] = String(pairs[key]);
    this.get = function (name) { var v = map[String(name).toLowerCase()]; return v === undefined ? null : v; };
    this.has = function (name) { return String(name).toLowerCase() in map; };
  };
  globalThis.fetch = function (input, init) {
    init = init || {};
    var headers = {};
    var given = init.headers || {};
    if (typeof given.forEach === 'function' && !Array.isArray(given)) given.forEach(function (v, k) { headers[k] = String(v); });
    else if (Array.isArray(given)) given.forEach(function (pair) { headers[pair[0]] = String(pair[1]); });
    else for (var k in given) headers[k] = String(given[k]);
    var request = { url: String(input), method: String(init.method || 'GET'), headers: headers, body: init.body === undefined ? undefined : String(init.body) };
    return hostFetch(JSON.stringify(request)).then(function (json) {
      var answer = JSON.parse(json);
      return {
        ok: answer.status >= 200 && answer.status < 300,
        status: answer.status,
        headers: new Headers(answer.headers),
        text: function () { return Promise.resolve(answer.body); },
        json: function () { return Promise.resolve().then(function () { return JSON.parse(answer.body); }); },
      };
    });
  };
  var copy = function (value) { return value === undefined ? undefined : JSON.parse(JSON.stringify(value)); };
  globalThis.__run = function (handler, paths, eventJson) {
    var api = {};
    paths.forEach(function (path) {
      var parts = path.split('.');
      var node = api;
      for (var i = 0; i < parts.length - 1; i++) node = node[parts[i]] = node[parts[i]] || {};
      node[parts[parts.length - 1]] = function () {
        if (__commands.length >= 200) throw new Error('too many api calls');
        var args = [path];
        for (var j = 0; j < arguments.length; j++) args.push(copy(arguments[j]));
        __commands.push(args);
        return api;
      };
    });
    var fn = module.exports && module.exports[handler];
    if (typeof fn !== 'function') return Promise.reject(new Error('the code exports no ' + handler));
    return Promise.resolve().then(function () { return fn(JSON.parse(eventJson), api); }).then(function () {
      return JSON.stringify({ commands: __commands, logs: __logs });
    });
  };
})();
`;
