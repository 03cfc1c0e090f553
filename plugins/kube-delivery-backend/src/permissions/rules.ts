import {
  parseEntityRef,
  RELATION_OWNED_BY,
  stringifyEntityRef,
  type Entity,
} from '@backstage/catalog-model';
import type { PermissionCriteria } from '@backstage/plugin-permission-common';
import { createPermissionRule } from '@backstage/plugin-permission-node';
import { KUBE_DELIVERY_TARGET_RULES } from '@internal/plugin-kube-delivery-common';
import { noParams, stringListParams } from './paramsSchema';
import {
  kubeDeliveryTargetResourceRef,
  type KubeDeliveryTarget,
  type TargetFilter,
} from './target';

const lower = (values: readonly string[]) =>
  values.map(v => v.toLocaleLowerCase('en-US'));

/** An entity ref in its normal form (kinds and namespaces compare case-insensitively). */
function normalRef(
  ref: string,
  defaults?: { defaultKind?: string; defaultNamespace?: string },
) {
  try {
    return stringifyEntityRef(parseEntityRef(ref, defaults)).toLocaleLowerCase(
      'en-US',
    );
  } catch {
    return ref.toLocaleLowerCase('en-US');
  }
}

/** The owners of an entity: its ownedBy relations and its spec.owner (a group by default). */
export function ownersOf(entity: Entity): string[] {
  const owners = (entity.relations ?? [])
    .filter(r => r.type === RELATION_OWNED_BY)
    .map(r => normalRef(r.targetRef));
  const owner = entity.spec?.owner;
  if (typeof owner === 'string' && owner) {
    owners.push(
      normalRef(owner, {
        defaultKind: 'group',
        defaultNamespace: entity.metadata.namespace ?? 'default',
      }),
    );
  }
  return [...new Set(owners)];
}

/** The kind of a target's entity: from the entity, else from its ref. */
function kindOf(target: KubeDeliveryTarget): string | undefined {
  if (target.entity) return target.entity.kind.toLocaleLowerCase('en-US');
  if (!target.entityRef) return undefined;
  try {
    return parseEntityRef(target.entityRef).kind.toLocaleLowerCase('en-US');
  } catch {
    return undefined;
  }
}

/**
 * Evaluates a rule's filter (`toQuery`) on a target: the same answer as the
 * rule's `apply`, so conditions give one result whichever way they are used.
 */
export function matchesTargetFilter(
  target: KubeDeliveryTarget,
  filter: TargetFilter,
): boolean {
  switch (filter.property) {
    case 'environment':
      return filter.values.includes(target.environment.name);
    case 'protected':
      return target.environment.protected;
    case 'owner': {
      if (!target.entity) return false;
      const claims = lower(filter.values).map(c => normalRef(c));
      return ownersOf(target.entity).some(owner => claims.includes(owner));
    }
    case 'lifecycle': {
      const lifecycle = target.entity?.spec?.lifecycle;
      return typeof lifecycle === 'string' && filter.values.includes(lifecycle);
    }
    case 'kind': {
      const kind = kindOf(target);
      return kind !== undefined && lower(filter.values).includes(kind);
    }
    default:
      return false;
  }
}

/** Evaluates a whole criteria tree of filters (`allOf`, `anyOf`, `not`) on a target. */
export function matchesTargetCriteria(
  target: KubeDeliveryTarget,
  criteria: PermissionCriteria<TargetFilter>,
): boolean {
  if ('allOf' in criteria)
    return criteria.allOf.every(c => matchesTargetCriteria(target, c));
  if ('anyOf' in criteria)
    return criteria.anyOf.some(c => matchesTargetCriteria(target, c));
  if ('not' in criteria) return !matchesTargetCriteria(target, criteria.not);
  return matchesTargetFilter(target, criteria);
}

/** `isEnvironment({ names })`: the target's environment is one of these. */
export const isEnvironment = createPermissionRule<
  typeof kubeDeliveryTargetResourceRef,
  { names: string[] }
>({
  name: KUBE_DELIVERY_TARGET_RULES.isEnvironment,
  description: 'Allow targets in the named environments',
  resourceRef: kubeDeliveryTargetResourceRef,
  paramsSchema: stringListParams('names', 'Environment names, e.g. dev, test'),
  apply: (target, { names }) =>
    matchesTargetFilter(target, { property: 'environment', values: names }),
  toQuery: ({ names }) => ({ property: 'environment', values: names }),
});

/** `isProtectedEnvironment()`: the target's environment is configured `protected: true`. */
export const isProtectedEnvironment = createPermissionRule<
  typeof kubeDeliveryTargetResourceRef
>({
  name: KUBE_DELIVERY_TARGET_RULES.isProtectedEnvironment,
  description: 'Allow targets in protected environments (protected: true)',
  resourceRef: kubeDeliveryTargetResourceRef,
  paramsSchema: noParams(),
  apply: target =>
    matchesTargetFilter(target, { property: 'protected', values: [true] }),
  toQuery: () => ({ property: 'protected', values: [true] }),
});

/** `isEntityOwner({ claims })`: the entity's owner (ownedBy relation or spec.owner) is one of the claims. */
export const isEntityOwner = createPermissionRule<
  typeof kubeDeliveryTargetResourceRef,
  { claims: string[] }
>({
  name: KUBE_DELIVERY_TARGET_RULES.isEntityOwner,
  description:
    "Allow targets whose entity is owned by one of the claims (e.g. the user's ownershipEntityRefs)",
  resourceRef: kubeDeliveryTargetResourceRef,
  paramsSchema: stringListParams(
    'claims',
    `Entity refs, one of which must be the entity's owner (${RELATION_OWNED_BY} or spec.owner)`,
  ),
  apply: (target, { claims }) =>
    matchesTargetFilter(target, { property: 'owner', values: claims }),
  toQuery: ({ claims }) => ({ property: 'owner', values: claims }),
});

/** `hasLifecycle({ lifecycles })`: the entity's spec.lifecycle is one of these. */
export const hasLifecycle = createPermissionRule<
  typeof kubeDeliveryTargetResourceRef,
  { lifecycles: string[] }
>({
  name: KUBE_DELIVERY_TARGET_RULES.hasLifecycle,
  description: "Allow targets whose entity's spec.lifecycle is one of these",
  resourceRef: kubeDeliveryTargetResourceRef,
  paramsSchema: stringListParams('lifecycles', 'e.g. experimental, production'),
  apply: (target, { lifecycles }) =>
    matchesTargetFilter(target, { property: 'lifecycle', values: lifecycles }),
  toQuery: ({ lifecycles }) => ({ property: 'lifecycle', values: lifecycles }),
});

/** `isKind({ kinds })`: the entity's kind is one of these. */
export const isKind = createPermissionRule<
  typeof kubeDeliveryTargetResourceRef,
  { kinds: string[] }
>({
  name: KUBE_DELIVERY_TARGET_RULES.isKind,
  description:
    "Allow targets whose entity's kind is one of these (case-insensitive)",
  resourceRef: kubeDeliveryTargetResourceRef,
  paramsSchema: stringListParams('kinds', 'e.g. Component, Resource'),
  apply: (target, { kinds }) =>
    matchesTargetFilter(target, { property: 'kind', values: kinds }),
  toQuery: ({ kinds }) => ({ property: 'kind', values: kinds }),
});

/** Every rule of the `kube-delivery-target` resource type. */
export const kubeDeliveryTargetRules = {
  isEnvironment,
  isProtectedEnvironment,
  isEntityOwner,
  hasLifecycle,
  isKind,
};
