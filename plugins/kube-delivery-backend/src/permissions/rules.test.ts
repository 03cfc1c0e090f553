import type { Entity } from '@backstage/catalog-model';
import {
  kubeDeliveryTargetConditions,
  KUBE_DELIVERY_TARGET_RULES,
} from '@internal/plugin-kube-delivery-common';
import fc from 'fast-check';
import {
  kubeDeliveryTargetRules,
  matchesTargetCriteria,
  matchesTargetFilter,
  ownersOf,
} from './rules';
import type { KubeDeliveryTarget } from './target';

const dev = { name: 'dev', protected: false };
const production = { name: 'production', protected: true };

function component(overrides: {
  name?: string;
  namespace?: string;
  owner?: string;
  ownedBy?: string[];
  lifecycle?: string;
  kind?: string;
}): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: overrides.kind ?? 'Component',
    metadata: {
      name: overrides.name ?? 'cart',
      namespace: overrides.namespace ?? 'default',
    },
    spec: {
      type: 'service',
      ...(overrides.owner && { owner: overrides.owner }),
      ...(overrides.lifecycle && { lifecycle: overrides.lifecycle }),
    },
    relations: (overrides.ownedBy ?? []).map(targetRef => ({
      type: 'ownedBy',
      targetRef,
    })),
  };
}

const on = (
  environment: typeof dev,
  entity?: Entity,
  entityRef = 'component:default/cart',
): KubeDeliveryTarget => ({
  environment,
  entityRef,
  ...(entity && { entity }),
});

const {
  isEnvironment,
  isProtectedEnvironment,
  isEntityOwner,
  hasLifecycle,
  isKind,
} = kubeDeliveryTargetRules;

describe('target rules', () => {
  it('isEnvironment and isProtectedEnvironment look at the environment, also of an environment alone', () => {
    expect(isEnvironment.apply(on(dev), { names: ['dev', 'test'] })).toBe(true);
    expect(isEnvironment.apply(on(production), { names: ['dev'] })).toBe(false);
    expect(isEnvironment.apply({ environment: dev }, { names: ['dev'] })).toBe(
      true,
    );
    expect(isProtectedEnvironment.apply(on(production), undefined)).toBe(true);
    expect(isProtectedEnvironment.apply({ environment: dev }, undefined)).toBe(
      false,
    );
  });

  it('isEntityOwner matches the ownedBy relation or spec.owner against the claims', () => {
    const byRelation = component({ ownedBy: ['group:default/team-a'] });
    expect(
      isEntityOwner.apply(on(dev, byRelation), {
        claims: ['user:default/alice', 'group:default/team-a'],
      }),
    ).toBe(true);
    expect(
      isEntityOwner.apply(on(dev, byRelation), {
        claims: ['group:default/team-b'],
      }),
    ).toBe(false);
    // spec.owner alone: a group in the entity's namespace by default; refs compare case-insensitively.
    const bySpec = component({ namespace: 'shop', owner: 'Team-A' });
    expect(ownersOf(bySpec)).toEqual(['group:shop/team-a']);
    expect(
      isEntityOwner.apply(on(dev, bySpec, 'component:shop/cart'), {
        claims: ['Group:shop/team-a'],
      }),
    ).toBe(true);
    expect(
      isEntityOwner.apply(on(dev, bySpec, 'component:shop/cart'), {
        claims: ['group:default/team-a'],
      }),
    ).toBe(false);
    // No entity (not in the catalog, or an environment alone): nobody owns it.
    expect(
      isEntityOwner.apply(on(dev), { claims: ['group:default/team-a'] }),
    ).toBe(false);
    expect(
      isEntityOwner.apply(
        { environment: dev },
        { claims: ['group:default/team-a'] },
      ),
    ).toBe(false);
  });

  it('hasLifecycle and isKind look at the entity; the kind also at its ref', () => {
    const entity = component({ lifecycle: 'experimental' });
    expect(
      hasLifecycle.apply(on(dev, entity), { lifecycles: ['experimental'] }),
    ).toBe(true);
    expect(
      hasLifecycle.apply(on(dev, entity), { lifecycles: ['production'] }),
    ).toBe(false);
    expect(hasLifecycle.apply(on(dev), { lifecycles: ['experimental'] })).toBe(
      false,
    );
    expect(isKind.apply(on(dev, entity), { kinds: ['component'] })).toBe(true);
    expect(isKind.apply(on(dev), { kinds: ['Component'] })).toBe(true);
    expect(
      isKind.apply(on(dev, component({ kind: 'Resource' })), {
        kinds: ['Component'],
      }),
    ).toBe(false);
    expect(isKind.apply({ environment: dev }, { kinds: ['Component'] })).toBe(
      false,
    );
  });

  it('are the rules the common package builds conditions for, and take the parameters it gives', () => {
    const rules = Object.values(kubeDeliveryTargetRules);
    expect(rules.map(r => r.name).sort()).toEqual(
      Object.values(KUBE_DELIVERY_TARGET_RULES).sort(),
    );
    const c = kubeDeliveryTargetConditions;
    for (const condition of [
      c.isEnvironment({ names: ['dev'] }),
      c.isProtectedEnvironment(),
      c.isEntityOwner({ claims: ['group:default/team-a'] }),
      c.hasLifecycle({ lifecycles: ['experimental'] }),
      c.isKind({ kinds: ['Component'] }),
    ]) {
      const rule = rules.find(r => r.name === condition.rule)!;
      const schema = (rule as any).paramsSchema['~standard'];
      expect([
        condition.rule,
        schema.validate(condition.params).issues,
      ]).toEqual([condition.rule, undefined]);
      expect(schema.jsonSchema.input({ target: 'draft-07' })).toMatchObject({
        type: 'object',
      });
    }
  });

  it('refuse parameters of the wrong shape with a reason', () => {
    const schema = (isEnvironment as any).paramsSchema['~standard'];
    for (const params of [
      undefined,
      { names: 'dev' },
      { names: [] },
      { names: [''] },
      { names: ['dev'], x: 1 },
    ]) {
      expect(schema.validate(params).issues?.[0].message).toEqual(
        expect.any(String),
      );
    }
    const none = (isProtectedEnvironment as any).paramsSchema['~standard'];
    expect(none.validate(undefined).issues).toBeUndefined();
    expect(none.validate({}).issues).toBeUndefined();
    expect(none.validate({ names: ['dev'] }).issues).toBeDefined();
  });

  it('give the same answer applied and as a filter (toQuery), for any target and parameters', () => {
    const word = fc.constantFrom(
      'dev',
      'test',
      'production',
      'team-a',
      'group:default/team-a',
      'user:default/alice',
      'experimental',
      'component',
      'Resource',
    );
    const target = fc.record({
      environment: fc.record({
        name: fc.constantFrom('dev', 'test', 'production'),
        protected: fc.boolean(),
      }),
      entity: fc.option(
        fc.record({
          owner: fc.option(word, { nil: undefined }),
          ownedBy: fc.array(word, { maxLength: 2 }),
          lifecycle: fc.option(word, { nil: undefined }),
          kind: fc.constantFrom('Component', 'Resource'),
        }),
        { nil: undefined },
      ),
      withEntityRef: fc.boolean(),
    });
    fc.assert(
      fc.property(
        target,
        fc.array(word, { minLength: 1, maxLength: 3 }),
        (t, values) => {
          const resource: KubeDeliveryTarget = {
            environment: t.environment,
            ...(t.withEntityRef && { entityRef: 'component:default/cart' }),
            ...(t.entity && t.withEntityRef && { entity: component(t.entity) }),
          };
          const cases: Array<[any, any]> = [
            [isEnvironment, { names: values }],
            [isProtectedEnvironment, undefined],
            [isEntityOwner, { claims: values }],
            [hasLifecycle, { lifecycles: values }],
            [isKind, { kinds: values }],
          ];
          for (const [rule, params] of cases) {
            const applied = rule.apply(resource, params);
            expect(matchesTargetFilter(resource, rule.toQuery(params))).toBe(
              applied,
            );
            expect(
              matchesTargetCriteria(resource, { not: rule.toQuery(params) }),
            ).toBe(!applied);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
