import {
  baggageMatchRegex,
  cookieMatchRegex,
  validateRouteValue,
  type RouteRule,
} from '@internal/plugin-kube-delivery-common';
import {
  ANNOTATION_OWNER_REF,
  LABEL_MANAGED_BY,
  MANAGER,
} from '../cluster/managedObjects';
import { ownerLabels } from '../tenancy/ownership';

/*
 * What every routing object of a service (Istio VirtualService, Gateway API
 * HTTPRoute) is made from: its input, its metadata, which rules get an entry
 * and in which order, and the header each rule matches on.
 */

/** Name of the last, match-everything entry of `spec.http`. */
export const MAINLINE_ROUTE_NAME = 'mainline';
/** `spec.http[].name` / `spec.rules[].name` of a rule's entry. */
export const RULE_ROUTE_PREFIX = 'rule-';

/** What a routing object (VirtualService or HTTPRoute) of a service is rendered from. */
export interface RouteObjectInput {
  /**
   * The entity the object belongs to: its owner label (which the cluster's
   * ownership check compares) and the entity annotation.
   */
  entityRef?: string;
  /** Mainline Kubernetes Service name; also the VirtualService's name. */
  service: string;
  namespace: string;
  /** Host that mesh clients address, e.g. `adservice`. */
  host: string;
  /** Service port; set on every destination when given. */
  port?: number;
  /** Routing rules of this service in this environment (any order). */
  rules: readonly RouteRule[];
  mainline: { host: string };
  /** Branch slug to the host of its Service, e.g. `myfeature` → `adservice-myfeature`. */
  branches: ReadonlyMap<string, string>;
  /**
   * Binds the VirtualService to an ingress gateway as well as the mesh, for
   * the hosts the service serves there (see tenancy/hosts.ts `serviceHosts`).
   */
  gateway?: { name: string; hosts: readonly string[] };
  /** When given, rules that expired at or before this instant are left out. */
  now?: Date;
}

export interface RouteObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Code-unit order, not locale order: the same on every backend replica. */
function compareRules(a: RouteRule, b: RouteRule): number {
  return (
    compareStrings(a.createdAt ?? '', b.createdAt ?? '') ||
    compareStrings(a.id, b.id)
  );
}

/** The one header a rule matches on: exact for a header, a regex for cookie and baggage. */
export function ruleCondition(
  rule: RouteRule,
): { header: string; exact: string } | { header: string; regex: string } {
  switch (rule.kind) {
    case 'header':
      return { header: rule.key, exact: rule.value };
    case 'cookie':
      return {
        header: 'cookie',
        regex: cookieMatchRegex(rule.key, rule.value),
      };
    case 'baggage':
    default:
      return {
        header: 'baggage',
        regex: baggageMatchRegex(rule.key, rule.value),
      };
  }
}

function isLive(rule: RouteRule, now: Date | undefined): boolean {
  if (!now) return true;
  const expires = Date.parse(rule.expiresAt);
  return Number.isFinite(expires) && expires > now.getTime();
}

/**
 * The rules that get an entry, oldest first, then by id, so the same rules
 * always render the same object and the oldest of two overlapping rules wins.
 * Rules are skipped when their branch has no host, when they belong to
 * another service, when their key or value fails `validateRouteValue` (a
 * second line of defence behind the API), or, given `now`, when expired.
 */
export function routedRules(input: RouteObjectInput): RouteRule[] {
  return [...input.rules]
    .filter(
      rule =>
        rule.service === input.service &&
        input.branches.has(rule.branch) &&
        validateRouteValue(rule.kind, rule.key, rule.value) === undefined &&
        isLive(rule, input.now),
    )
    .sort(compareRules);
}

/** Name, namespace, managed-by and owner labels and the entity annotation. */
export function routeObjectMeta(input: RouteObjectInput): RouteObjectMeta {
  return {
    name: input.service,
    namespace: input.namespace,
    labels: {
      [LABEL_MANAGED_BY]: MANAGER,
      ...(input.entityRef && ownerLabels(input.entityRef)),
    },
    ...(input.entityRef && {
      annotations: { [ANNOTATION_OWNER_REF]: input.entityRef },
    }),
  };
}
