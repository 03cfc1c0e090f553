import type { Entity } from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  branchSlug,
  evaluateHttpRoutes,
  validateRouteValue,
  type HttpDestination,
  type HttpRoute,
  type RouteRule,
  type RoutingKind,
} from '@internal/plugin-kube-delivery-common';
import { parseServiceSpec } from '../catalog';
import type { EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import {
  RouteReconciler,
  VIRTUAL_SERVICE_API,
  VIRTUAL_SERVICE_KIND,
} from './RouteReconciler';
import type { RouteStore } from './RouteStore';

export const DEFAULT_TTL_MINUTES = 8 * 60;
export const MAX_TTL_MINUTES = 7 * 24 * 60;
const KINDS: readonly RoutingKind[] = ['cookie', 'header', 'baggage'];
/** A SemVer pre-release, as a branch appears in a version. */
const BRANCH = /^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/;
const MAX_TEST_HEADERS = 64;
const MAX_TEST_HEADER_BYTES = 8192;

export interface NewRuleInput {
  entity: Entity;
  environment: string;
  branch: string;
  kind?: string;
  key?: string;
  value: string;
  /** Minutes, default 8 h, at most 7 days. */
  ttlMinutes?: unknown;
  owner: string;
}

export interface RouteTestResult {
  /** Where the request goes; undefined when no entry routes it anywhere. */
  destination?: HttpDestination;
  /** The `spec.http` entry that won. */
  routeName?: string;
  /** The rule behind the winning entry, when it is a rule. */
  rule?: RouteRule;
  /** False when the service has no VirtualService: Kubernetes routes to the mainline Service. */
  virtualService: boolean;
}

function ttlOf(value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_TTL_MINUTES;
  const minutes = typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value;
  if (
    typeof minutes !== 'number' ||
    !Number.isInteger(minutes) ||
    minutes < 1 ||
    minutes > MAX_TTL_MINUTES
  ) {
    throw new InputError(
      `Field "ttlMinutes" must be a whole number of minutes from 1 to ${MAX_TTL_MINUTES} (7 days)`,
    );
  }
  return minutes;
}

/** Routing rules of feature branches: validation, storage, reconciliation and the route tester. */
export class RoutingService {
  constructor(
    private readonly options: {
      store: RouteStore;
      reconciler: RouteReconciler;
      environment: (name: string) => EnvironmentConfig;
      cluster: (environment: EnvironmentConfig) => EnvironmentCluster;
    },
  ) {}

  /** Validates, stores (the source of truth), then reconciles the VirtualService. */
  async createRule(input: NewRuleInput): Promise<RouteRule> {
    const spec = parseServiceSpec(input.entity);
    const environment = this.options.environment(input.environment);
    if (!environment.featureBranches) {
      throw new InputError(
        `Environment ${environment.name} does not take feature branches, so it has no routing rules`,
      );
    }
    if (input.branch.length > 128 || !BRANCH.test(input.branch)) {
      throw new InputError(
        'Field "branch" must be a feature branch as in a version\'s pre-release, e.g. myfeature',
      );
    }
    const kind = (input.kind ?? spec.routing?.kind) as RoutingKind | undefined;
    if (!kind || !KINDS.includes(kind)) {
      throw new InputError(
        input.kind === undefined
          ? 'Field "kind" is required: the entity has no kube-delivery.io/routing annotation'
          : 'Field "kind" must be cookie, header or baggage',
      );
    }
    let key = input.key;
    if (key === undefined) {
      if (!spec.routing || spec.routing.kind !== kind) {
        throw new InputError(
          `Field "key" is required: the entity's kube-delivery.io/routing annotation does not name a ${kind}`,
        );
      }
      key = spec.routing.name;
    }
    if (kind === 'header') key = key.toLowerCase();
    const problem = validateRouteValue(kind, key, input.value);
    if (problem) throw new InputError(problem);
    const ttl = ttlOf(input.ttlMinutes);

    const rule = await this.options.store.create({
      entityRef: spec.entityRef,
      environment: environment.name,
      service: spec.name,
      branch: branchSlug(input.branch, spec.name),
      kind,
      key,
      value: input.value,
      owner: input.owner,
      expiresAt: new Date(Date.now() + ttl * 60_000).toISOString(),
    });
    await this.options.reconciler.reconcile(spec.entityRef, environment.name, spec.name);
    return rule;
  }

  /** Rules that have not expired, oldest first. */
  listRules(entityRef: string, environment?: string): Promise<RouteRule[]> {
    if (environment !== undefined) this.options.environment(environment);
    return this.options.store.list({ entityRef, environment, now: new Date() });
  }

  async deleteRule(entity: Entity, id: string): Promise<RouteRule> {
    const spec = parseServiceSpec(entity);
    const rule = await this.options.store.delete(spec.entityRef, id);
    if (!rule) throw new NotFoundError(`No routing rule ${id.slice(0, 64)} of ${spec.entityRef}`);
    await this.options.reconciler.reconcile(spec.entityRef, rule.environment, rule.service);
    return rule;
  }

  /** Where a request with these headers goes, evaluated on the VirtualService read back from the cluster. */
  async test(input: {
    entity: Entity;
    environment: string;
    headers: unknown;
  }): Promise<RouteTestResult> {
    const spec = parseServiceSpec(input.entity);
    const environment = this.options.environment(input.environment);
    const headers = readHeaders(input.headers);
    const live = await this.options
      .cluster(environment)
      .read<{ apiVersion: string; kind: string; spec?: { http?: HttpRoute[] } }>(
        VIRTUAL_SERVICE_API,
        VIRTUAL_SERVICE_KIND,
        spec.name,
      );
    if (!live) {
      return { destination: { host: spec.name }, virtualService: false };
    }
    const result = evaluateHttpRoutes(live.spec?.http ?? [], { headers });
    if (!result) return { virtualService: true };
    const ruleId = result.routeName?.startsWith('rule-')
      ? result.routeName.slice('rule-'.length)
      : undefined;
    const rule = ruleId ? await this.options.store.get(ruleId) : undefined;
    return {
      destination: result.destination,
      ...(result.routeName !== undefined && { routeName: result.routeName }),
      ...(rule && rule.entityRef === spec.entityRef && { rule }),
      virtualService: true,
    };
  }
}

function readHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError('Field "headers" must be an object of header names to values');
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_TEST_HEADERS) {
    throw new InputError(`Field "headers" may hold at most ${MAX_TEST_HEADERS} headers`);
  }
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of entries) {
    if (!/^:?[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(name)) {
      throw new InputError('Header names must be 1-64 HTTP token characters');
    }
    if (typeof headerValue !== 'string' || headerValue.length > MAX_TEST_HEADER_BYTES) {
      throw new InputError(
        `Header values must be strings of at most ${MAX_TEST_HEADER_BYTES} characters`,
      );
    }
    headers[name.toLowerCase()] = headerValue;
  }
  return headers;
}
