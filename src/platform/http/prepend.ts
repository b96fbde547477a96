/**
 * A stream whose first item was already read, whole again: a streamed download reads its
 * first item before it answers, so that a failure still gets an error status, not a
 * truncated 200.
 */
export async function* prepend<T>(first: IteratorResult<T>, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  if (!first.done) yield first.value;
  yield* rest;
}
