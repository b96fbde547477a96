/**
 * The absolute URL of a request as an adapter sees it (scheme, Host, path), for the DPoP
 * proof's `htu`. The Host header is the client's to write and Node passes any value on:
 * `${protocol}://${host}${path}` with a host such as `api.test/reports#` would parse as the
 * URL of /reports, so a proof made for one resource would pass at another. A host that is
 * not a host (a name or an IP address, an optional port), or a path that is not one, gives
 * '' (no URL), which no proof names.
 */
const HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export function requestUrl(protocol: string, host: string, path: string): string {
  if (!/^https?$/.test(protocol) || !HOST.test(host) || !path.startsWith('/')) return '';
  return `${protocol}://${host}${path}`;
}
