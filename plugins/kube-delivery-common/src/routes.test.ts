import {
  HttpRoute,
  baggageMatchRegex,
  cookieMatchRegex,
  escapeRegex,
  evaluateGatewayHttpRoute,
  evaluateHttpRoutes,
  validateRouteValue,
  type GatewayRouteRule,
} from './routes';

const SESSION = '7d3e1f6a-2b4c-4d5e-8f90-a1b2c3d4e5f6';

const routes: HttpRoute[] = [
  {
    name: 'cookie-rule',
    match: [
      {
        headers: {
          cookie: { regex: cookieMatchRegex('shop_session-id', SESSION) },
        },
      },
    ],
    route: [{ destination: { host: 'frontend-cookie' } }],
  },
  {
    name: 'or-rule',
    match: [
      { headers: { userid: { exact: 'alice' } } },
      { headers: { userid: { exact: 'bob' } } },
    ],
    route: [{ destination: { host: 'adservice-or' } }],
  },
  {
    name: 'and-rule',
    match: [
      {
        headers: { 'X-Team': { exact: 'red' }, 'x-stage': { prefix: 'can' } },
      },
    ],
    route: [{ destination: { host: 'adservice-and', subset: 'v2' } }],
  },
  {
    name: 'first-wins-a',
    match: [{ headers: { userid: { exact: 'carol' } } }],
    route: [{ destination: { host: 'adservice-first' } }],
  },
  {
    name: 'first-wins-b',
    match: [{ headers: { userid: { regex: 'car.*' } } }],
    route: [{ destination: { host: 'adservice-second' } }],
  },
  {
    name: 'baggage-rule',
    match: [
      { headers: { baggage: { regex: baggageMatchRegex('kd.user', 'u1') } } },
    ],
    route: [{ destination: { host: 'adservice-baggage' } }],
  },
  {
    name: 'partial-regex',
    match: [{ headers: { 'x-anchor': { regex: 'abc' } } }],
    route: [{ destination: { host: 'adservice-regex' } }],
  },
  {
    name: 'weighted',
    match: [{ headers: { 'x-split': { exact: 'yes' } } }],
    route: [
      { destination: { host: 'light' }, weight: 10 },
      { destination: { host: 'heavy' }, weight: 90 },
    ],
  },
  {
    name: 'unknown-condition',
    match: [
      {
        headers: { 'x-gw': { exact: 'yes' } },
        gateways: ['mesh'],
      } as unknown as NonNullable<HttpRoute['match']>[number],
    ],
    route: [{ destination: { host: 'never' } }],
  },
  {
    name: 'mainline',
    route: [{ destination: { host: 'adservice', port: { number: 9555 } } }],
  },
];

describe('evaluateHttpRoutes', () => {
  it.each<[string, Record<string, string>, string]>([
    ['no headers: mainline', {}, 'adservice'],
    [
      'cookie alone',
      { cookie: `shop_session-id=${SESSION}` },
      'frontend-cookie',
    ],
    [
      'cookie at the start',
      { cookie: `shop_session-id=${SESSION}; theme=dark` },
      'frontend-cookie',
    ],
    [
      'cookie in the middle',
      { cookie: `a=1; shop_session-id=${SESSION}; b=2` },
      'frontend-cookie',
    ],
    [
      'cookie at the end',
      { cookie: `a=1; b=2; shop_session-id=${SESSION}` },
      'frontend-cookie',
    ],
    [
      'cookie without a space after ;',
      { cookie: `a=1;shop_session-id=${SESSION}` },
      'frontend-cookie',
    ],
    [
      'Cookie header name in capitals',
      { Cookie: `shop_session-id=${SESSION}` },
      'frontend-cookie',
    ],
    [
      'similar cookie name does not match',
      { cookie: `xshop_session-id=${SESSION}` },
      'adservice',
    ],
    [
      'similar cookie name in the middle does not match',
      { cookie: `a=1; xshop_session-id=${SESSION}; b=2` },
      'adservice',
    ],
    [
      'longer cookie value does not match',
      { cookie: `shop_session-id=${SESSION}0` },
      'adservice',
    ],
    [
      'shorter cookie value does not match',
      { cookie: `shop_session-id=${SESSION.slice(0, -1)}` },
      'adservice',
    ],
    [
      'cookie value in another cookie does not match',
      { cookie: `other=${SESSION}` },
      'adservice',
    ],
    ['OR: first block', { userid: 'alice' }, 'adservice-or'],
    ['OR: second block', { userid: 'bob' }, 'adservice-or'],
    ['exact is not prefix (ali)', { userid: 'ali' }, 'adservice'],
    ['exact is not prefix (alicex)', { userid: 'alicex' }, 'adservice'],
    ['exact is case-sensitive on values', { userid: 'Alice' }, 'adservice'],
    [
      'AND: both conditions',
      { 'x-team': 'red', 'x-stage': 'canary' },
      'adservice-and',
    ],
    [
      'AND: mixed-case header names',
      { 'X-TEAM': 'red', 'X-Stage': 'canary' },
      'adservice-and',
    ],
    ['AND: one condition missing', { 'x-team': 'red' }, 'adservice'],
    [
      'AND: one condition wrong',
      { 'x-team': 'red', 'x-stage': 'prod' },
      'adservice',
    ],
    [
      'first match wins over a later regex',
      { userid: 'carol' },
      'adservice-first',
    ],
    [
      'later regex when the first does not match',
      { userid: 'carla' },
      'adservice-second',
    ],
    ['regex is a full match (abc)', { 'x-anchor': 'abc' }, 'adservice-regex'],
    ['regex is a full match (abcd)', { 'x-anchor': 'abcd' }, 'adservice'],
    ['regex is a full match (zabc)', { 'x-anchor': 'zabc' }, 'adservice'],
    ['baggage member alone', { baggage: 'kd.user=u1' }, 'adservice-baggage'],
    [
      'baggage member among others with properties',
      { baggage: 'a=b;p=1, kd.user = u1;prop, c=d' },
      'adservice-baggage',
    ],
    [
      'baggage value prefix does not match',
      { baggage: 'kd.user=u12' },
      'adservice',
    ],
    [
      'baggage similar key does not match',
      { baggage: 'xkd.user=u1' },
      'adservice',
    ],
    ['baggage dot is escaped', { baggage: 'kdXuser=u1' }, 'adservice'],
    ['weighted: the heaviest destination', { 'x-split': 'yes' }, 'heavy'],
    ['unknown condition never matches', { 'x-gw': 'yes' }, 'adservice'],
  ])('%s', (_name, headers, host) => {
    expect(evaluateHttpRoutes(routes, { headers })?.destination.host).toBe(
      host,
    );
  });

  it('reports the winning entry', () => {
    expect(evaluateHttpRoutes(routes, { headers: { userid: 'bob' } })).toEqual({
      destination: { host: 'adservice-or' },
      routeName: 'or-rule',
      index: 1,
    });
    expect(evaluateHttpRoutes(routes, { headers: {} })).toEqual({
      destination: { host: 'adservice', port: { number: 9555 } },
      routeName: 'mainline',
      index: routes.length - 1,
    });
  });

  it('returns undefined when nothing matches', () => {
    expect(
      evaluateHttpRoutes(routes.slice(0, 2), { headers: { userid: 'zed' } }),
    ).toBeUndefined();
    expect(evaluateHttpRoutes([], { headers: {} })).toBeUndefined();
  });

  it('treats an empty match list as match-all and an invalid regex as no match', () => {
    const http: HttpRoute[] = [
      {
        match: [{ headers: { x: { regex: '(' } } }],
        route: [{ destination: { host: 'bad' } }],
      },
      { match: [], route: [{ destination: { host: 'all' } }] },
    ];
    expect(
      evaluateHttpRoutes(http, { headers: { x: '(' } })?.destination.host,
    ).toBe('all');
  });

  it('matches uri prefixes, ignoring the query string', () => {
    const http: HttpRoute[] = [
      {
        match: [{ uri: { prefix: '/api/' } }],
        route: [{ destination: { host: 'api' } }],
      },
      {
        match: [{ uri: { exact: '/Cart' }, ignoreUriCase: true }],
        route: [{ destination: { host: 'cart' } }],
      },
      { route: [{ destination: { host: 'web' } }] },
    ];
    const host = (uri: string) =>
      evaluateHttpRoutes(http, { headers: {}, uri })?.destination.host;
    expect(host('/api/x?y=1')).toBe('api');
    expect(host('/cart?x=/api/')).toBe('cart');
    expect(host('/')).toBe('web');
  });
});

describe('cookieMatchRegex and baggageMatchRegex', () => {
  it('escape every regex metacharacter', () => {
    expect(escapeRegex('a.b*c+d?e^f$g|h(i)j[k]l{m}n\\o')).toBe(
      'a\\.b\\*c\\+d\\?e\\^f\\$g\\|h\\(i\\)j\\[k\\]l\\{m\\}n\\\\o',
    );
    const regex = new RegExp(cookieMatchRegex('a|b', 'v.1'), 'u');
    expect(regex.test('a|b=v.1')).toBe(true);
    expect(regex.test('a=v.1')).toBe(false);
    expect(regex.test('a|b=vx1')).toBe(false);
  });

  it('are anchored', () => {
    expect(cookieMatchRegex('n', 'v')).toMatch(/^\^.*\$$/);
    expect(baggageMatchRegex('n', 'v')).toMatch(/^\^.*\$$/);
    expect(
      () => new RegExp(baggageMatchRegex('k.e-y_', 'v'), 'u'),
    ).not.toThrow();
  });
});

describe('validateRouteValue', () => {
  it.each<[Parameters<typeof validateRouteValue>[0], string, string]>([
    ['cookie', 'shop_session-id', SESSION],
    ['cookie', "we!rd#$%&'*+.^`|~", 'abc'],
    ['header', 'userid', 'alice'],
    ['header', 'x-user-id', 'A.b_c-9'],
    ['baggage', 'kd.user_id-1', '1'],
    ['header', 'userid', 'a'.repeat(128)],
  ])('accepts %s %s', (kind, key, value) => {
    expect(validateRouteValue(kind, key, value)).toBeUndefined();
  });

  it.each<[Parameters<typeof validateRouteValue>[0], string, string]>([
    ['cookie', 'shop_session-id', '.*'],
    ['cookie', 'shop_session-id', 'a|b'],
    ['cookie', 'shop_session-id', '('],
    ['cookie', 'shop_session-id', '"abc"'],
    ['cookie', 'shop_session-id', "'abc'"],
    ['cookie', 'shop_session-id', 'abc\ndef'],
    ['cookie', 'shop_session-id', 'abc\n'],
    ['cookie', 'shop_session-id', 'a'.repeat(10_000)],
    ['cookie', 'shop_session-id', 'a'.repeat(129)],
    ['cookie', 'shop_session-id', 'café'],
    ['cookie', 'shop_session-id', ''],
    ['cookie', 'shop_session-id', '-abc'],
    ['cookie', 'shop_session-id', 'a b'],
    ['cookie', 'shop_session-id', 'a;b=c'],
    ['cookie', 'shop;id', 'abc'],
    ['cookie', 'shop=id', 'abc'],
    ['cookie', 'shop id', 'abc'],
    ['cookie', '', 'abc'],
    ['header', 'UserId', 'abc'],
    ['header', 'user_id', 'abc'],
    ['header', ':authority', 'abc'],
    ['header', 'x'.repeat(65), 'abc'],
    ['header', 'cookie', 'abc'],
    ['header', 'userid', 'a,b'],
    ['baggage', 'Kd', 'abc'],
    ['baggage', 'k=v', 'abc'],
    ['baggage', 'k', 'a,b'],
  ])('refuses %s key or value (row %#)', (kind, key, value) => {
    expect(validateRouteValue(kind, key, value)).toEqual(expect.any(String));
  });

  it('refuses unknown kinds and non-strings without echoing input', () => {
    expect(validateRouteValue('query' as any, 'a', 'b')).toMatch(/kind/);
    expect(validateRouteValue('header', 'a', 42 as any)).toMatch(/strings/);
    expect(validateRouteValue('header', 'a', '<script>')).not.toContain(
      '<script>',
    );
  });
});

describe('evaluateGatewayHttpRoute', () => {
  // As the API server returns it: defaults filled in (path PathPrefix /, header
  // type Exact, backend group/kind/weight).
  const backend = (name: string, weight = 1) => ({
    group: '',
    kind: 'Service',
    name,
    port: 9555,
    weight,
  });
  const prefixRoot = { type: 'PathPrefix' as const, value: '/' };
  const rules: GatewayRouteRule[] = [
    {
      name: 'mainline',
      matches: [{ path: prefixRoot }],
      backendRefs: [backend('adservice')],
    },
    {
      name: 'header-rule',
      matches: [
        {
          path: prefixRoot,
          headers: [{ type: 'Exact', name: 'userid', value: 'alice' }],
        },
      ],
      backendRefs: [backend('adservice-alice')],
    },
    {
      name: 'cookie-rule',
      matches: [
        {
          path: prefixRoot,
          headers: [
            {
              type: 'RegularExpression',
              name: 'cookie',
              value: cookieMatchRegex('shop_session-id', SESSION),
            },
          ],
        },
      ],
      backendRefs: [backend('adservice-cookie')],
    },
    {
      name: 'two-headers',
      matches: [
        {
          headers: [
            { name: 'userid', value: 'carol' },
            { name: 'x-team', value: 'red' },
          ],
        },
      ],
      backendRefs: [backend('adservice-red')],
    },
    {
      name: 'api-prefix',
      matches: [{ path: { type: 'PathPrefix', value: '/api/' } }],
      backendRefs: [backend('adservice-api')],
    },
    {
      name: 'exact-path',
      matches: [{ path: { type: 'Exact', value: '/api/health' } }],
      backendRefs: [backend('adservice-health')],
    },
    {
      name: 'post-only',
      matches: [
        { path: { type: 'PathPrefix', value: '/cart' }, method: 'POST' },
      ],
      backendRefs: [backend('adservice-post')],
    },
    {
      name: 'query',
      matches: [{ queryParams: [{ name: 'x', value: '1' }] } as any],
      backendRefs: [backend('adservice-query')],
    },
    {
      name: 'split',
      matches: [{ headers: [{ name: 'x-split', value: 'yes' }] }],
      backendRefs: [
        backend('adservice-light', 1),
        backend('adservice-heavy', 9),
      ],
    },
    {
      name: 'nowhere',
      matches: [{ headers: [{ name: 'x-nowhere', value: 'yes' }] }],
      backendRefs: [backend('adservice-zero', 0)],
    },
  ];

  it.each<
    [
      string,
      { headers: Record<string, string>; uri?: string; method?: string },
      string | undefined,
      string | undefined,
    ]
  >([
    [
      'nobody in particular goes to the default rule',
      { headers: {} },
      'mainline',
      'adservice',
    ],
    [
      'a header match beats the default, though listed later',
      { headers: { userid: 'alice' } },
      'header-rule',
      'adservice-alice',
    ],
    [
      'header names compare case-insensitively',
      { headers: { UserID: 'alice' } },
      'header-rule',
      'adservice-alice',
    ],
    [
      'an exact header value is not a prefix',
      { headers: { userid: 'alice2' } },
      'mainline',
      'adservice',
    ],
    [
      'the cookie regex is a full match',
      { headers: { cookie: `a=b; shop_session-id=${SESSION}` } },
      'cookie-rule',
      'adservice-cookie',
    ],
    [
      'a cookie with a longer value misses',
      { headers: { cookie: `shop_session-id=${SESSION}0` } },
      'mainline',
      'adservice',
    ],
    [
      'two header matches beat one',
      { headers: { userid: 'carol', 'x-team': 'red' } },
      'two-headers',
      'adservice-red',
    ],
    [
      'one of two headers is not enough',
      { headers: { userid: 'carol' } },
      'mainline',
      'adservice',
    ],
    [
      'a longer path prefix beats header matches',
      { headers: { userid: 'alice' }, uri: '/api/ads?x=1' },
      'api-prefix',
      'adservice-api',
    ],
    [
      'path prefixes match whole segments',
      { headers: {}, uri: '/apis' },
      'mainline',
      'adservice',
    ],
    [
      'an exact path beats any prefix',
      { headers: {}, uri: '/api/health' },
      'exact-path',
      'adservice-health',
    ],
    [
      'a method match counts',
      { headers: {}, uri: '/cart', method: 'POST' },
      'post-only',
      'adservice-post',
    ],
    [
      'another method does not',
      { headers: {}, uri: '/cart' },
      'mainline',
      'adservice',
    ],
    [
      'the :path and :method pseudo-headers are read',
      { headers: { ':path': '/cart/1', ':method': 'POST' } },
      'post-only',
      'adservice-post',
    ],
    [
      'a condition it cannot judge never matches',
      { headers: {}, uri: '/?x=1' },
      'mainline',
      'adservice',
    ],
    [
      'the heaviest backend of a split wins',
      { headers: { 'x-split': 'yes' } },
      'split',
      'adservice-heavy',
    ],
    [
      'a rule whose only backend has weight 0 routes nowhere',
      { headers: { 'x-nowhere': 'yes' } },
      undefined,
      undefined,
    ],
  ])('%s', (_name, request, routeName, host) => {
    const result = evaluateGatewayHttpRoute(rules, request);
    expect(
      result && {
        routeName: result.routeName,
        destination: result.destination,
      },
    ).toEqual(
      host && { routeName, destination: { host, port: { number: 9555 } } },
    );
  });

  it('gives ties to the rule listed first', () => {
    const tie: GatewayRouteRule[] = [
      {
        name: 'first',
        matches: [{ headers: [{ name: 'userid', value: 'x' }] }],
        backendRefs: [backend('one')],
      },
      {
        name: 'second',
        matches: [{ headers: [{ name: 'baggage', value: 'y' }] }],
        backendRefs: [backend('two')],
      },
    ];
    expect(
      evaluateGatewayHttpRoute(tie, { headers: { userid: 'x', baggage: 'y' } }),
    ).toEqual({
      destination: { host: 'one', port: { number: 9555 } },
      routeName: 'first',
      index: 0,
    });
    expect(
      evaluateGatewayHttpRoute([...tie].reverse(), {
        headers: { userid: 'x', baggage: 'y' },
      })?.routeName,
    ).toBe('second');
  });

  it('returns undefined when nothing matches', () => {
    expect(
      evaluateGatewayHttpRoute(rules.slice(1, 2), { headers: {} }),
    ).toBeUndefined();
    expect(evaluateGatewayHttpRoute([], { headers: {} })).toBeUndefined();
  });
});
