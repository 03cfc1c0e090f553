import {
  evaluateGatewayHttpRoute,
  type RouteRule,
} from '@internal/plugin-kube-delivery-common';
import { renderHttpRoute } from './httpRoute';
import { ownerHash } from '../tenancy/ownership';
import {
  boundToGateway,
  gatewayHostsOf,
  handEditors,
  routeApi,
} from './routeApis';
import type { RouteObjectInput } from './routeObjects';

const SESSION = '7d3e1f6a-2b4c-4d5e-8f90-a1b2c3d4e5f6';

function rule(
  overrides: Partial<RouteRule> & Pick<RouteRule, 'id'>,
): RouteRule {
  return {
    entityRef: 'component:default/frontend',
    environment: 'dev',
    service: 'frontend',
    branch: 'myfeature',
    kind: 'cookie',
    key: 'shop_session-id',
    value: SESSION,
    owner: 'user:default/alice',
    expiresAt: '2030-01-01T00:00:00.000Z',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const input: RouteObjectInput = {
  entityRef: 'component:default/frontend',
  service: 'frontend',
  namespace: 'dev',
  host: 'frontend',
  port: 80,
  rules: [
    rule({
      id: 'b',
      kind: 'header',
      key: 'userid',
      value: 'bob',
      createdAt: '2026-01-02T00:00:00.000Z',
    }),
    rule({ id: 'a' }),
    rule({ id: 'gone', branch: 'deleted' }),
  ],
  mainline: { host: 'frontend' },
  branches: new Map([['myfeature', 'frontend-myfeature']]),
  gateway: {
    name: 'istio-system/ingressgateway',
    hosts: ['dev.boutique.example'],
  },
};

describe('renderHttpRoute', () => {
  it('renders the rules, oldest first, then the mainline, with gateway and Service parents', () => {
    const backend = (name: string) => ({
      group: '',
      kind: 'Service',
      name,
      port: 80,
    });
    expect(renderHttpRoute(input)).toEqual({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: {
        name: 'frontend',
        namespace: 'dev',
        labels: {
          'app.kubernetes.io/managed-by': 'kube-delivery',
          'kube-delivery.io/owner': ownerHash('component:default/frontend'),
        },
        annotations: {
          'kube-delivery.io/entity-ref': 'component:default/frontend',
        },
      },
      spec: {
        parentRefs: [
          {
            group: 'gateway.networking.k8s.io',
            kind: 'Gateway',
            namespace: 'istio-system',
            name: 'ingressgateway',
          },
          { group: '', kind: 'Service', name: 'frontend' },
        ],
        hostnames: ['dev.boutique.example'],
        rules: [
          {
            name: 'rule-a',
            matches: [
              {
                headers: [
                  {
                    type: 'RegularExpression',
                    name: 'cookie',
                    value: `^(.*?;[ \\t]*)?shop_session-id=${SESSION}([ \\t]*;.*)?$`,
                  },
                ],
              },
            ],
            backendRefs: [backend('frontend-myfeature')],
          },
          {
            name: 'rule-b',
            matches: [
              { headers: [{ type: 'Exact', name: 'userid', value: 'bob' }] },
            ],
            backendRefs: [backend('frontend-myfeature')],
          },
          { name: 'mainline', backendRefs: [backend('frontend')] },
        ],
      },
    });
  });

  it('has only the Service as parent and no hostnames without a gateway', () => {
    const route = renderHttpRoute({ ...input, gateway: undefined });
    expect(route.spec.parentRefs).toEqual([
      { group: '', kind: 'Service', name: 'frontend' },
    ]);
    expect(route.spec).not.toHaveProperty('hostnames');
    expect(boundToGateway(route)).toBe(false);
    expect(boundToGateway(renderHttpRoute(input))).toBe(true);
    expect(gatewayHostsOf(renderHttpRoute(input), 'frontend')).toEqual([
      'dev.boutique.example',
    ]);
    expect(gatewayHostsOf(route, 'frontend')).toEqual([]);
  });

  it('needs the Service port', () => {
    expect(() => renderHttpRoute({ ...input, port: undefined })).toThrow(
      /port is unknown/,
    );
  });

  it.each<[string, Record<string, string>, string]>([
    [
      'the chosen session',
      { cookie: `shop_session-id=${SESSION}` },
      'frontend-myfeature',
    ],
    ['the chosen user', { userid: 'bob' }, 'frontend-myfeature'],
    [
      'anyone else',
      { cookie: 'shop_session-id=other', userid: 'carol' },
      'frontend',
    ],
  ])('routes %s as the Gateway API evaluates it', (_name, headers, host) => {
    const { spec } = JSON.parse(JSON.stringify(renderHttpRoute(input)));
    expect(
      evaluateGatewayHttpRoute(spec.rules, { headers })?.destination.host,
    ).toBe(host);
  });
});

describe('handEditors', () => {
  const managed = (manager: string, spec: Record<string, unknown>) => ({
    manager,
    operation: 'Update',
    fieldsV1: { 'f:spec': spec },
  });

  it('names the other field managers of routing fields, not of other fields', () => {
    const live = {
      metadata: {
        managedFields: [
          managed('kube-delivery', { 'f:http': {}, 'f:hosts': {} }),
          managed('kubectl-edit', { 'f:http': {} }),
          managed('kubectl-patch', { 'f:gateways': {} }),
          managed('someone', { 'f:exportTo': {} }),
          {
            manager: 'labeller',
            operation: 'Update',
            fieldsV1: { 'f:metadata': {} },
          },
        ],
      },
    } as any;
    expect(handEditors(live, routeApi('istio'))).toEqual([
      'kubectl-edit',
      'kubectl-patch',
    ]);
    expect(handEditors(live, routeApi('gateway-api'))).toEqual([]);
  });
});
