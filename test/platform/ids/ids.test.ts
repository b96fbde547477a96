import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUuid, uuidv7 } from '../../../src/platform/ids.js';

describe('uuidv7', () => {
  it('makes valid version-7 UUIDs carrying the current millisecond', () => {
    const before = Date.now();
    const id = uuidv7.next();
    assert.ok(isUuid(id));
    assert.equal(id[14], '7', 'version nibble');
    assert.match(id[19] ?? '', /[89ab]/, 'variant bits');
    const ms = Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
    assert.ok(ms >= before && ms <= Date.now() + 1);
  });

  it('is strictly increasing, even for thousands of ids within one millisecond', () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7.next());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(new Set(ids).size, ids.length);
  });
});
