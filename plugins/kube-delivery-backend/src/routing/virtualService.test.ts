import {
  RouteRule,
  evaluateHttpRoutes,
} from '@internal/plugin-kube-delivery-common';
import { ownerHash } from '../tenancy/ownership';
import { gatewayHostsOf } from './routeApis';
import type { RouteObjectInput } from './routeObjects';
import { renderVirtualService } from './virtualService';

const SESSION = '7d3e1f6a-2b4c-4d5e-8f90-a1b2c3d4e5f6';

function rule(
  overrides: Partial<RouteRule> & Pick<RouteRule, 'id'>,
): RouteRule {
  return {
    entityRef: 'component:default/adservice',
    environment: 'dev',
    service: 'adservice',
    branch: 'myfeature',
    kind: 'header',
    key: 'userid',
    value: 'alice',
    owner: 'user:default/alice',
    expiresAt: '2030-01-01T00:00:00.000Z',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const rules: RouteRule[] = [
  rule({
    id: 'c3',
    kind: 'baggage',
    key: 'kd.user',
    value: 'carol',
    branch: 'other',
    createdAt: '2026-01-03T00:00:00.000Z',
  }),
  rule({ id: 'a1', kind: 'header', key: 'userid', value: 'alice' }),
  rule({
    id: 'b2',
    kind: 'cookie',
    key: 'shop_session-id',
    value: SESSION,
    createdAt: '2026-01-02T00:00:00.000Z',
  }),
];

function input(overrides: Partial<RouteObjectInput> = {}): RouteObjectInput {
  return {
    service: 'adservice',
    namespace: 'dev',
    host: 'adservice',
    port: 9555,
    rules,
    mainline: { host: 'adservice' },
    branches: new Map([
      ['myfeature', 'adservice-myfeature'],
      ['other', 'adservice-other'],
    ]),
    ...overrides,
  };
}

describe('renderVirtualService', () => {
  it('renders rules in creation order, then the mainline', () => {
    expect(renderVirtualService(input())).toEqual({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: {
        name: 'adservice',
        namespace: 'dev',
        labels: { 'app.kubernetes.io/managed-by': 'kube-delivery' },
      },
      spec: {
        hosts: ['adservice'],
        http: [
          {
            name: 'rule-a1',
            match: [{ headers: { userid: { exact: 'alice' } } }],
            route: [
              {
                destination: {
                  host: 'adservice-myfeature',
                  port: { number: 9555 },
                },
              },
            ],
          },
          {
            name: 'rule-b2',
            match: [
              {
                headers: {
                  cookie: {
                    regex: `^(.*?;[ \\t]*)?shop_session-id=${SESSION}([ \\t]*;.*)?$`,
                  },
                },
              },
            ],
            route: [
              {
                destination: {
                  host: 'adservice-myfeature',
                  port: { number: 9555 },
                },
              },
            ],
          },
          {
            name: 'rule-c3',
            match: [
              {
                headers: {
                  baggage: { regex: expect.stringContaining('kd\\.user') },
                },
              },
            ],
            route: [
              {
                destination: {
                  host: 'adservice-other',
                  port: { number: 9555 },
                },
              },
            ],
          },
          {
            name: 'mainline',
            route: [
              { destination: { host: 'adservice', port: { number: 9555 } } },
            ],
          },
        ],
      },
    });
  });

  it('renders the same object whatever order the rules come in', () => {
    const reversed = renderVirtualService(
      input({ rules: [...rules].reverse() }),
    );
    expect(reversed).toEqual(renderVirtualService(input()));
    expect(JSON.stringify(reversed)).toBe(
      JSON.stringify(renderVirtualService(input())),
    );
  });

  it('orders rules created at the same instant by id', () => {
    const same = [
      rule({ id: 'z', value: 'zed' }),
      rule({ id: 'm', value: 'mo' }),
    ];
    const names = renderVirtualService(input({ rules: same })).spec.http.map(
      h => h.name,
    );
    expect(names).toEqual(['rule-m', 'rule-z', 'mainline']);
  });

  it('skips rules whose branch has no host, of another service, invalid or expired', () => {
    const vs = renderVirtualService(
      input({
        now: new Date('2027-01-01T00:00:00.000Z'),
        rules: [
          rule({ id: 'ok' }),
          rule({ id: 'nobranch', branch: 'gone' }),
          rule({ id: 'othersvc', service: 'cartservice' }),
          rule({ id: 'hostile', value: '.*' }),
          rule({ id: 'expired', expiresAt: '2026-06-01T00:00:00.000Z' }),
          rule({ id: 'badexpiry', expiresAt: 'soon' }),
        ],
      }),
    );
    expect(vs.spec.http.map(h => h.name)).toEqual(['rule-ok', 'mainline']);
  });

  it('omits ports when none is given and renders only the mainline without rules', () => {
    expect(
      renderVirtualService(input({ port: undefined, rules: [] })).spec.http,
    ).toEqual([
      { name: 'mainline', route: [{ destination: { host: 'adservice' } }] },
    ]);
  });

  it('binds to the gateway and the mesh', () => {
    const vs = renderVirtualService(
      input({
        service: 'frontend',
        host: 'frontend',
        mainline: { host: 'frontend' },
        rules: [],
        gateway: {
          name: 'istio-system/ingressgateway',
          hosts: ['dev.boutique.example'],
        },
      }),
    );
    expect(vs.spec.hosts).toEqual(['dev.boutique.example', 'frontend']);
    expect(vs.spec.gateways).toEqual(['istio-system/ingressgateway', 'mesh']);
    expect(gatewayHostsOf(vs as any, 'frontend')).toEqual([
      'dev.boutique.example',
    ]);
    expect(renderVirtualService(input()).spec).not.toHaveProperty('gateways');
    expect(
      gatewayHostsOf(renderVirtualService(input()) as any, 'adservice'),
    ).toEqual([]);
  });

  it("carries the entity's owner label and annotation, so the cluster's ownership check protects it", () => {
    const vs = renderVirtualService(
      input({ entityRef: 'Component:default/AdService' }),
    );
    expect(vs.metadata.labels).toEqual({
      'app.kubernetes.io/managed-by': 'kube-delivery',
      'kube-delivery.io/owner': ownerHash('component:default/adservice'),
    });
    expect(vs.metadata.annotations).toEqual({
      'kube-delivery.io/entity-ref': 'Component:default/AdService',
    });
  });

  describe('evaluated with mesh semantics', () => {
    // As the route tester will: the object read back from the cluster is JSON.
    const http = JSON.parse(JSON.stringify(renderVirtualService(input()))).spec
      .http;

    it.each<[string, Record<string, string>, string]>([
      ['the chosen user by header', { userid: 'alice' }, 'adservice-myfeature'],
      [
        'the chosen user, header name in capitals',
        { UserID: 'alice' },
        'adservice-myfeature',
      ],
      ['another user by header', { userid: 'bob' }, 'adservice'],
      ['a longer user id', { userid: 'alice2' }, 'adservice'],
      [
        'the chosen session cookie',
        { cookie: `shop_session-id=${SESSION}` },
        'adservice-myfeature',
      ],
      [
        'the chosen cookie among others',
        { cookie: `theme=dark; shop_session-id=${SESSION}; lang=en` },
        'adservice-myfeature',
      ],
      [
        'another session',
        { cookie: 'shop_session-id=0d3e1f6a-2b4c-4d5e-8f90-a1b2c3d4e5f6' },
        'adservice',
      ],
      [
        'a similar cookie name',
        { cookie: `xshop_session-id=${SESSION}` },
        'adservice',
      ],
      [
        'the chosen baggage member',
        { baggage: 'a=1, kd.user=carol;p' },
        'adservice-other',
      ],
      ['another baggage value', { baggage: 'kd.user=carl' }, 'adservice'],
      ['nobody in particular', {}, 'adservice'],
    ])('%s', (_name, headers, host) => {
      expect(evaluateHttpRoutes(http, { headers })?.destination).toEqual({
        host,
        port: { number: 9555 },
      });
    });
  });
});
