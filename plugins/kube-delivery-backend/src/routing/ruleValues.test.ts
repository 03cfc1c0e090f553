import { mockCredentials } from '@backstage/backend-test-utils';
import type { RouteRule } from '@internal/plugin-kube-delivery-common';
import {
  routeEventAsSeenBy,
  ruleValueGate,
  ruleViewerOf,
  rulesAsSeenBy,
} from './ruleValues';

const rule = (overrides: Partial<RouteRule> = {}): RouteRule => ({
  id: 'r1',
  entityRef: 'component:default/frontend',
  environment: 'dev',
  service: 'frontend',
  branch: 'myfeature',
  kind: 'cookie',
  key: 'shop_session-id',
  value: 'ada-session',
  owner: 'user:default/ada',
  expiresAt: '2030-01-01T00:00:00.000Z',
  ...overrides,
});

describe('rule values', () => {
  const ada = mockCredentials.user('user:default/ada');
  const bob = mockCredentials.user('user:default/bob');

  it('shows a value to its owner and to whoever may route in its environment, hides it from the rest', async () => {
    const rules = [
      rule(),
      rule({ id: 'r2', owner: 'user:default/bob', value: 'bob-1' }),
      rule({
        id: 'r3',
        owner: 'service:ci',
        environment: 'test',
        value: 'ci-1',
      }),
    ];
    const asked: string[] = [];
    const mayRoute = (environment: string) => {
      asked.push(environment);
      return environment === 'test';
    };
    expect(await rulesAsSeenBy(rules, ruleViewerOf(ada, mayRoute))).toEqual([
      rules[0],
      { ...rules[1], value: null, valueHidden: true },
      rules[2],
    ]);
    // Asked once per environment, never for the caller's own rules.
    expect(asked).toEqual(['dev', 'test']);
  });

  it('hides every value without a viewer', async () => {
    expect(await rulesAsSeenBy([rule()], undefined)).toEqual([
      { ...rule(), value: null, valueHidden: true },
    ]);
  });

  it('names a service principal owner as the history does', async () => {
    const visible = ruleValueGate(
      ruleViewerOf(mockCredentials.service('ci'), () => false),
    );
    expect(await visible(rule({ owner: 'service:ci' }))).toBe(true);
    expect(await visible(rule())).toBe(false);
  });

  it('hides the values of route changes in details and message', async () => {
    const created = {
      id: 'e1',
      kind: 'route-changed',
      environment: 'dev',
      createdAt: '2030-01-01T00:00:00.000Z',
      actor: 'user:default/ada',
      message: `Rule added: cookie shop_session-id=ada-session → frontend-myfeature until 2030-01-01T00:00:00.000Z`,
      details: { action: 'created', rule: rule() },
    };
    const removed = {
      ...created,
      id: 'e2',
      message: 'Branch myfeature of frontend removed: 2 rule(s), 1 object(s)',
      details: {
        action: 'branch-removed',
        branch: 'myfeature',
        rules: [
          rule(),
          rule({ id: 'r2', owner: 'user:default/bob', value: 'bob-1' }),
        ],
        objects: ['Service/frontend-myfeature'],
      },
    };
    const asBob = ruleValueGate(ruleViewerOf(bob, () => false));
    expect(await routeEventAsSeenBy(created, asBob)).toEqual({
      ...created,
      message: `Rule added: cookie shop_session-id=(hidden) → frontend-myfeature until 2030-01-01T00:00:00.000Z`,
      details: {
        action: 'created',
        rule: { ...rule(), value: null, valueHidden: true },
      },
    });
    expect(await routeEventAsSeenBy(removed, asBob)).toEqual({
      ...removed,
      details: {
        ...removed.details,
        rules: [
          { ...rule(), value: null, valueHidden: true },
          removed.details.rules[1],
        ],
      },
    });
    // Ada's own, and what a route-permission holder sees: unchanged.
    const asAda = ruleValueGate(ruleViewerOf(ada, () => false));
    expect(await routeEventAsSeenBy(created, asAda)).toBe(created);
    const asRouter = ruleValueGate(ruleViewerOf(bob, () => true));
    expect(await routeEventAsSeenBy(removed, asRouter)).toBe(removed);
  });

  it('leaves other events alone', async () => {
    const deployment = {
      id: 'd1',
      kind: 'deploy',
      environment: 'dev',
      createdAt: '2030-01-01T00:00:00.000Z',
      actor: 'user:default/ada',
    };
    const handEdit = {
      ...deployment,
      kind: 'route-changed',
      message: 'VirtualService/frontend was edited by hand; put back',
      details: { action: 'restored', object: 'VirtualService/frontend' },
    };
    const hidden = ruleValueGate(undefined);
    expect(await routeEventAsSeenBy(deployment, hidden)).toBe(deployment);
    expect(await routeEventAsSeenBy(handEdit, hidden)).toBe(handEdit);
  });
});
