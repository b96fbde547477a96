import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuditEntry } from '../../platform/audit/record.js';
import { AppError } from '../../platform/errors.js';
import type { OidcContext } from './lookups.js';

type Writes = Promise<void>[];

/**
 * Records a token event through the audit buffer; the answer of this request waits for
 * its write (`answerAfterAudit`). The engine's event listeners cannot wait, so the write
 * is kept on the request, and the middleware awaits it before the answer leaves.
 */
export function auditBeforeAnswer(ctx: OidcContext, koa: KoaContextWithOIDC, entry: AuditEntry): void {
  const write = ctx.auditBuffer.add(entry);
  // Handled here at once, awaited in the middleware: a failure never goes unhandled.
  write.catch(() => undefined);
  const writes = (koa.state.auditWrites as Writes | undefined) ?? [];
  writes.push(write);
  koa.state.auditWrites = writes;
}

/**
 * No answer leaves before its audit events are durable (decision 310). When their write
 * failed, the answer (a token, most often) is replaced by `503 temporarily_unavailable`
 * (RFC 6749's word, as the engine's other answers of a failed dependency) with Retry-After:
 * what the trail does not hold is never handed out.
 */
export async function answerAfterAudit(koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  const writes = koa.state.auditWrites as Writes | undefined;
  if (!writes) return;
  try {
    await Promise.all(writes);
  } catch (error) {
    const refusal = error instanceof AppError ? error : undefined;
    koa.status = 503;
    koa.set('Retry-After', String(refusal?.details?.retry_after ?? 1));
    koa.set('Cache-Control', 'no-store');
    koa.body = { error: 'temporarily_unavailable', error_description: refusal?.message ?? 'The audit trail is unavailable right now' };
  }
}
