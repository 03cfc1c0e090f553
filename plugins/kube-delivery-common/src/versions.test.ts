import {
  branchOf,
  branchSlug,
  channelOf,
  compareVersions,
  fnv1a32,
  parseVersion,
} from './versions';

const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function parse(raw: string) {
  const version = parseVersion(raw);
  if (!version) throw new Error(`test version ${raw} did not parse`);
  return version;
}

describe('parseVersion', () => {
  it.each([
    ['0.1.4', [0, 1, 4], [], []],
    ['1.2.3-myfeature', [1, 2, 3], ['myfeature'], []],
    ['1.2.3-alpha.1+build.5', [1, 2, 3], ['alpha', '1'], ['build', '5']],
    ['1.0.0-0.3.7', [1, 0, 0], ['0', '3', '7'], []],
    ['1.0.0-x-y-z.--', [1, 0, 0], ['x-y-z', '--'], []],
    ['1.0.0+001', [1, 0, 0], [], ['001']],
    ['1.0.0-0a', [1, 0, 0], ['0a'], []],
  ])('parses %s', (raw, [major, minor, patch], prerelease, build) => {
    expect(parseVersion(raw)).toEqual({
      raw,
      major,
      minor,
      patch,
      prerelease,
      build,
    });
  });

  it.each([
    '',
    'v1.2.3',
    '1.2',
    '1.2.3.4',
    '01.2.3',
    '1.02.3',
    '1.2.03',
    '1.2.3-01',
    '1.2.3-',
    '1.2.3-a..b',
    '1.2.3+',
    '1.2.3+a+b',
    '1.2.3-a_b',
    '1.2.3 ',
    ' 1.2.3',
    '1.2.3\n',
    '-1.2.3',
    '1.2.x',
    '99999999999999999999.0.0',
    `1.2.3-${'a'.repeat(124)}`,
  ])('rejects %j', raw => {
    expect(parseVersion(raw)).toBeUndefined();
  });

  it('accepts up to 128 characters', () => {
    expect(parseVersion(`1.2.3-${'a'.repeat(122)}`)).toBeDefined();
  });

  it('rejects non-strings', () => {
    expect(parseVersion(undefined as unknown as string)).toBeUndefined();
    expect(parseVersion(123 as unknown as string)).toBeUndefined();
  });
});

describe('compareVersions', () => {
  it('sorts by SemVer precedence (spec example)', () => {
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.1.0',
      '2.0.0',
      '10.0.0',
    ];
    const shuffled = [...ordered].reverse().map(parse);
    expect(shuffled.sort(compareVersions).map(v => v.raw)).toEqual(ordered);
  });

  it.each([
    ['1.0.0+a', '1.0.0+b', 0],
    ['1.0.0-2', '1.0.0-10', -1],
    ['1.0.0-99999999999999999999', '1.0.0-100000000000000000000', -1],
    ['1.0.0-1', '1.0.0-a', -1],
    ['1.0.0-B', '1.0.0-a', -1],
    ['1.0.0', '1.0.0-z', 1],
  ])('%s vs %s = %d', (a, b, expected) => {
    expect(Math.sign(compareVersions(parse(a), parse(b)))).toBe(expected);
    expect(Math.sign(compareVersions(parse(b), parse(a)))).toBe(-expected || 0);
  });
});

describe('branchOf', () => {
  it.each([
    ['0.1.4', undefined],
    ['0.1.4+build', undefined],
    ['0.1.4-myfeature', 'myfeature'],
    ['0.1.4-my.feature.2', 'my.feature.2'],
  ])('%s -> %s', (raw, branch) => {
    expect(branchOf(parse(raw))).toBe(branch);
  });
});

describe('fnv1a32', () => {
  it('matches the reference vectors', () => {
    expect(fnv1a32('')).toBe('811c9dc5');
    expect(fnv1a32('a')).toBe('e40c292c');
    expect(fnv1a32('foobar')).toBe('bf9cf968');
  });
});

describe('branchSlug', () => {
  const service = 'adservice';

  it.each([
    ['myfeature', 'myfeature'],
    ['feature-1', 'feature-1'],
    ['123', '123'],
  ])('keeps the clean branch %s', (branch, slug) => {
    expect(branchSlug(branch, service)).toBe(slug);
  });

  it.each([
    ['MyFeature', /^myfeature-[0-9a-f]{8}$/],
    ['a.b', /^a-b-[0-9a-f]{8}$/],
    ['my_feature', /^my-feature-[0-9a-f]{8}$/],
    ['a--b', /^a-b-[0-9a-f]{8}$/],
    ['-lead', /^lead-[0-9a-f]{8}$/],
    ['mainline', /^mainline-[0-9a-f]{8}$/],
    ['x-0123abcd', /^x-0123abcd-[0-9a-f]{8}$/],
    ['---', /^[0-9a-f]{8}$/],
  ])('hashes the changed or reserved branch %s', (branch, pattern) => {
    expect(branchSlug(branch, service)).toMatch(pattern);
  });

  it.each([
    ['MyFeature', 'myfeature'],
    ['a.b', 'a-b'],
    ['a_b', 'a-b'],
    ['a.b', 'a_b'],
    ['A.B', 'a.b'],
    // A raw branch spelled like another branch's hashed slug.
    ['a.b', `a-b-${fnv1a32('a.b')}`],
  ])('gives %s and %s distinct names', (a, b) => {
    expect(branchSlug(a, service)).not.toBe(branchSlug(b, service));
  });

  it('is stable', () => {
    expect(branchSlug('Feature.X', service)).toBe(
      branchSlug('Feature.X', service),
    );
  });

  it('truncates long branches into a valid, unique name', () => {
    const long = 'a'.repeat(100);
    const longer = `${'a'.repeat(99)}b`;
    const service45 = 's'.repeat(45);
    for (const name of [service, service45]) {
      const slug = branchSlug(long, name);
      const full = `${name}-${slug}`;
      expect(full.length).toBeLessThanOrEqual(63);
      expect(full).toMatch(RFC1123_LABEL);
      expect(slug).toMatch(/-[0-9a-f]{8}$/);
      expect(branchSlug(longer, name)).not.toBe(slug);
    }
  });

  it('always yields an RFC 1123 label', () => {
    for (const branch of ['A', '.', 'a.', '0.1', 'ÄÖ', 'x'.repeat(200)]) {
      const full = `${service}-${branchSlug(branch, service)}`;
      expect(full).toMatch(RFC1123_LABEL);
      expect(full.length).toBeLessThanOrEqual(63);
    }
  });

  it('refuses a service name that leaves no room', () => {
    expect(() => branchSlug('x', 's'.repeat(60))).toThrow(/too long/);
  });
});

describe('channelOf', () => {
  const channels = [
    { name: 'default', prerelease: '^$' },
    { name: 'broken', prerelease: '(' },
    { name: 'feature-branch', prerelease: '.+', environments: ['dev'] },
  ];

  it.each([
    ['1.0.0', 'default'],
    ['1.0.0+build', 'default'],
    ['1.0.0-myfeature', 'feature-branch'],
    ['1.0.0-a.b', 'feature-branch'],
  ])('%s -> %s', (raw, name) => {
    expect(channelOf(parse(raw), channels)?.name).toBe(name);
  });

  it('anchors the pattern', () => {
    const only = [{ name: 'rc', prerelease: 'rc' }];
    expect(channelOf(parse('1.0.0-rc'), only)?.name).toBe('rc');
    expect(channelOf(parse('1.0.0-rc2'), only)).toBeUndefined();
    expect(channelOf(parse('1.0.0-xrc'), only)).toBeUndefined();
    // An alternation must not escape the anchors.
    const alt = [{ name: 'alt', prerelease: 'a|b' }];
    expect(channelOf(parse('1.0.0-ab'), alt)).toBeUndefined();
  });

  it('returns undefined when nothing matches', () => {
    expect(channelOf(parse('1.0.0-x'), [channels[0]])).toBeUndefined();
    expect(channelOf(parse('1.0.0'), [])).toBeUndefined();
  });

  it('returns the channel itself', () => {
    expect(channelOf(parse('1.0.0-x'), channels)?.environments).toEqual([
      'dev',
    ]);
  });
});
