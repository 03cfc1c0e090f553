import { contentHash, idSlug, versionLabel, withSuffix } from './names';

describe('withSuffix', () => {
  it('joins short names', () => {
    expect(withSuffix('adservice', 'myfeature')).toBe('adservice-myfeature');
  });

  it('keeps long names within 63 characters, distinct and valid', () => {
    const a = withSuffix(`${'a'.repeat(60)}x`, '0123abcd');
    const b = withSuffix(`${'a'.repeat(60)}y`, '0123abcd');
    for (const name of [a, b]) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(name.endsWith('-0123abcd')).toBe(true);
    }
    expect(a).not.toBe(b);
  });
});

describe('idSlug', () => {
  it('is stable, short and distinct for time-ordered ids', () => {
    const a = idSlug('01890a5d-ac96-774b-bcce-b302099a8057');
    const b = idSlug('01890a5d-ac96-774b-bcce-b302099a8058');
    expect(a).toMatch(/^[0-9a-f]{8}$/);
    expect(a).toBe(idSlug('01890a5d-ac96-774b-bcce-b302099a8057'));
    expect(a).not.toBe(b);
  });
});

describe('versionLabel', () => {
  it.each([
    ['0.1.4', '0.1.4'],
    ['0.1.4-my.feature', '0.1.4-my.feature'],
    ['1.0.0+build.5', '1.0.0_build.5'],
    [`1.0.0-${'a'.repeat(100)}`, `1.0.0-${'a'.repeat(57)}`],
    [`1.0.0-${'a'.repeat(56)}-b`, `1.0.0-${'a'.repeat(56)}`],
  ])('%s -> %s', (version, label) => {
    expect(versionLabel(version)).toBe(label);
  });
});

describe('contentHash', () => {
  it('ignores key order and undefined values but sees every change', () => {
    expect(contentHash({ a: 1, b: [1, { c: 'x' }] })).toBe(
      contentHash({ b: [1, { c: 'x' }], a: 1, d: undefined }),
    );
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: 2 }));
    expect(contentHash({ a: 1 })).toMatch(/^[0-9a-f]{32}$/);
  });
});
