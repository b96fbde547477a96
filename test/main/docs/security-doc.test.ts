import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

/**
 * docs/security.md names, beside each invariant, the test that holds it as `path` › `title`
 * (docs/security.md#invariants). A test moved or renamed without its row would leave the
 * invariant without a test a reader can find, so every citation must name a file that exists
 * and holds that exact title.
 */
const ROOT = new URL('../../..', import.meta.url);
const CITATION = /`(test\/[\w/.-]+\.ts)` › (``? ?)(.+?)( ?``?)(?=<br>|\s*\||$)/gm;

function citations(markdown: string): { file: string; title: string }[] {
  return [...markdown.matchAll(CITATION)].map((m) => ({ file: m[1]!, title: m[3]! }));
}

describe('docs/security.md', () => {
  const cited = citations(readFileSync(new URL('docs/security.md', ROOT), 'utf8'));

  it('cites the tests of its invariants (the parser finds them)', () => {
    assert.ok(cited.length > 400, `only ${cited.length} citations found`);
  });

  it('names only test files that exist, each holding the cited title', () => {
    const missing = cited.filter(({ file, title }) => {
      const path = new URL(file, ROOT);
      return !existsSync(path) || !readFileSync(path, 'utf8').includes(title);
    });
    assert.deepEqual(missing, []);
  });
});
