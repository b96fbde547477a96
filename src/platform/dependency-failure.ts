/**
 * Whether an error is a dependency failing (the database restarting or unreachable, a
 * connection reset, a pool that cannot hand out a connection in time) rather than a fault
 * of the request or of our code: such a request answers `503 service_unavailable` with
 * Retry-After (decision 301), never a 500, and the process goes on. Returns what failed, for
 * the message, or undefined.
 */
export function dependencyFailure(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const found = classify(current as FailureLike);
    if (found) return found;
    // Node reports a refused connection to several addresses as an AggregateError.
    if (current instanceof AggregateError) {
      for (const inner of current.errors) {
        const innerFound = dependencyFailure(inner);
        if (innerFound) return innerFound;
      }
    }
    current = (current as FailureLike).cause;
  }
  return undefined;
}

interface FailureLike {
  code?: unknown;
  message?: unknown;
  name?: unknown;
  cause?: unknown;
}

const DATABASE = 'The database';
const DEPENDENCY = 'A service Gatehouse depends on';

/**
 * PostgreSQL's SQLSTATEs of a server that cannot serve now: the connection exception class
 * (08), an administrator or crash shutdown and a server starting up (57P01–57P03), too many
 * connections (53300), and a statement cancelled by the statement timeout (57014).
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '57014']);

/** The operating system's words for a peer that is gone, refuses, or does not answer. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** node-postgres's own errors for a connection that broke, or a pool that had none in time. */
const PG_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
  /^Query read timeout$/,
];

/** ioredis's errors for a server it cannot reach (the brute-force counters' store). */
const REDIS_NAMES = new Set(['MaxRetriesPerRequestError']);
const REDIS_MESSAGES = [/^Connection is closed\.?$/, /^Stream isn't writeable/];

function classify(error: FailureLike): string | undefined {
  const code = typeof error.code === 'string' ? error.code : undefined;
  const message = typeof error.message === 'string' ? error.message : '';
  if (code && /^[0-9A-Z]{5}$/.test(code) && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code))) return DATABASE;
  if (PG_MESSAGES.some((pattern) => pattern.test(message))) return DATABASE;
  if (code && NETWORK_CODES.has(code)) return DEPENDENCY;
  if ((typeof error.name === 'string' && REDIS_NAMES.has(error.name)) || REDIS_MESSAGES.some((pattern) => pattern.test(message))) {
    return 'Redis';
  }
  return undefined;
}
