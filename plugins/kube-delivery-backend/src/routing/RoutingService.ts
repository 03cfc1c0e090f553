import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import {
  branchSlug,
  validateRouteValue,
  type BranchRemovalView,
  type RouteRule,
  type RouteTestView,
  type RoutingKind,
} from '@internal/plugin-kube-delivery-common';
import { parseServiceSpec, type ServiceSpec } from '../catalog';
import type { EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import type { NewEnvironmentEvent } from '../health/HealthStore';
import { deleteBranchObjects } from './branches';
import {
  ROUTING_ACTOR,
  RouteReconciler,
  type RouteHistory,
  type RouteTarget,
} from './RouteReconciler';
import type { RouteStore } from './RouteStore';
import { boundToGateway, routeApi, type RouteObject } from './routeApis';
import { DEFAULT_ROUTING_SETTINGS, type RoutingSettings } from './settings';
import { RULE_ROUTE_PREFIX } from './virtualService';

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
  /** Minutes; the configured default when absent, at most the configured maximum. */
  ttlMinutes?: unknown;
  owner: string;
}

/** The route tester's answer; `kind` is always set here. */
export type RouteTestResult = RouteTestView & { kind: string };

/** What removing a branch deleted. */
export type BranchRemoval = BranchRemovalView;

function targetOf(spec: ServiceSpec): RouteTarget {
  return {
    entityRef: spec.entityRef,
    service: spec.name,
    ingress: !!spec.ingress,
  };
}

function describeRule(rule: RouteRule): string {
  return `${rule.kind} ${rule.key}=${rule.value} → ${rule.service}-${rule.branch}`;
}

/**
 * Routing rules of feature branches: validation, storage, reconciliation,
 * history, the route tester, branch removal and the periodic routing task.
 */
export class RoutingService {
  private readonly settings: RoutingSettings;

  constructor(
    private readonly options: {
      store: RouteStore;
      reconciler: RouteReconciler;
      environment: (name: string) => EnvironmentConfig;
      cluster: (environment: EnvironmentConfig) => EnvironmentCluster;
      settings?: RoutingSettings;
      history?: RouteHistory;
      logger?: LoggerService;
      /**
       * Whether an entity declares ingress, for reconciles without a request
       * (expiry, hand edits); undefined when the catalog cannot tell. The
       * live object's binding is kept then.
       */
      ingressOf?: (entityRef: string) => Promise<boolean | undefined>;
      /** The id of a queued or running deployment of the track, if any. */
      activeDeploymentOf?: (
        entityRef: string,
        environment: string,
        track: string,
      ) => Promise<string | undefined>;
    },
  ) {
    this.settings = options.settings ?? DEFAULT_ROUTING_SETTINGS;
  }

  private ttlOf(value: unknown): number {
    const { defaultTtlMinutes, maxTtlMinutes } = this.settings;
    if (value === undefined || value === null || value === '')
      return defaultTtlMinutes;
    const minutes =
      typeof value === 'string' && /^\d{1,7}$/.test(value)
        ? Number(value)
        : value;
    if (
      typeof minutes !== 'number' ||
      !Number.isInteger(minutes) ||
      minutes < 1 ||
      minutes > maxTtlMinutes
    ) {
      throw new InputError(
        `Field "ttlMinutes" must be a whole number of minutes from 1 to ${maxTtlMinutes}`,
      );
    }
    return minutes;
  }

  private branchOf(branch: unknown, spec: ServiceSpec): string {
    if (
      typeof branch !== 'string' ||
      branch.length > 128 ||
      !BRANCH.test(branch)
    ) {
      throw new InputError(
        'Field "branch" must be a feature branch as in a version\'s pre-release, e.g. myfeature',
      );
    }
    return branchSlug(branch, spec.name);
  }

  private featureEnvironment(name: string): EnvironmentConfig {
    const environment = this.options.environment(name);
    if (!environment.featureBranches) {
      throw new InputError(
        `Environment ${environment.name} does not take feature branches, so it has no routing rules`,
      );
    }
    return environment;
  }

  /** Records a route change in the environment history; a failure is logged, not thrown (the change is made). */
  private async record(event: NewEnvironmentEvent) {
    try {
      await this.options.history?.addEvent(event);
    } catch (error) {
      this.options.logger?.warn(
        `Could not record in the history: ${event.message}`,
        {
          error: (error as Error).message,
        },
      );
    }
  }

  /** Validates, stores (the source of truth), then reconciles the routing object. */
  async createRule(input: NewRuleInput): Promise<RouteRule> {
    const spec = parseServiceSpec(input.entity);
    const environment = this.featureEnvironment(input.environment);
    const branch = this.branchOf(input.branch, spec);
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
    const ttl = this.ttlOf(input.ttlMinutes);

    const rule = await this.options.store.create({
      entityRef: spec.entityRef,
      environment: environment.name,
      service: spec.name,
      branch,
      kind,
      key,
      value: input.value,
      owner: input.owner,
      expiresAt: new Date(Date.now() + ttl * 60_000).toISOString(),
    });
    try {
      await this.options.reconciler.reconcile(targetOf(spec), environment.name);
    } catch (error) {
      // Nothing half applied: a rule that could not be routed is not kept.
      await this.options.store.delete(spec.entityRef, rule.id);
      throw error;
    }
    await this.record({
      environment: environment.name,
      entityRef: spec.entityRef,
      kind: 'route-changed',
      message: `Rule added: ${describeRule(rule)} until ${rule.expiresAt}`,
      details: { action: 'created', rule },
      actor: input.owner,
    });
    return rule;
  }

  /** Rules that have not expired, oldest first. */
  listRules(entityRef: string, environment?: string): Promise<RouteRule[]> {
    if (environment !== undefined) this.options.environment(environment);
    return this.options.store.list({ entityRef, environment, now: new Date() });
  }

  /** Gives a rule that has not expired a new lifetime, counted from now. */
  async extendRule(input: {
    entity: Entity;
    id: string;
    ttlMinutes: unknown;
    actor: string;
  }): Promise<RouteRule> {
    const spec = parseServiceSpec(input.entity);
    if (input.ttlMinutes === undefined)
      throw new InputError('Field "ttlMinutes" is required');
    const ttl = this.ttlOf(input.ttlMinutes);
    const existing = await this.options.store.get(input.id);
    if (
      !existing ||
      existing.entityRef !== spec.entityRef ||
      Date.parse(existing.expiresAt) <= Date.now()
    ) {
      throw new NotFoundError(
        `No routing rule ${input.id.slice(0, 64)} of ${spec.entityRef}`,
      );
    }
    const expiresAt = new Date(Date.now() + ttl * 60_000).toISOString();
    const rule = await this.options.store.setExpiry(
      spec.entityRef,
      input.id,
      expiresAt,
    );
    if (!rule)
      throw new NotFoundError(
        `No routing rule ${input.id.slice(0, 64)} of ${spec.entityRef}`,
      );
    await this.record({
      environment: rule.environment,
      entityRef: spec.entityRef,
      kind: 'route-changed',
      message: `Rule extended: ${describeRule(rule)} until ${rule.expiresAt}`,
      details: {
        action: 'extended',
        rule,
        previousExpiresAt: existing.expiresAt,
      },
      actor: input.actor,
    });
    return rule;
  }

  async deleteRule(
    entity: Entity,
    id: string,
    actor: string,
  ): Promise<RouteRule> {
    const spec = parseServiceSpec(entity);
    const rule = await this.options.store.delete(spec.entityRef, id);
    if (!rule)
      throw new NotFoundError(
        `No routing rule ${id.slice(0, 64)} of ${spec.entityRef}`,
      );
    await this.record({
      environment: rule.environment,
      entityRef: spec.entityRef,
      kind: 'route-changed',
      message: `Rule removed: ${describeRule(rule)}`,
      details: { action: 'deleted', rule },
      actor,
    });
    await this.options.reconciler.reconcile(targetOf(spec), rule.environment);
    return rule;
  }

  /**
   * Removes a branch from an environment: its rules, then its route entries
   * (a reconcile, so no request is sent to it any more), then its objects.
   * Mainline objects are never touched. A 404 when the branch has neither
   * rules nor objects there.
   */
  async removeBranch(input: {
    entity: Entity;
    environment: string;
    branch: string;
    actor: string;
  }): Promise<BranchRemoval> {
    const spec = parseServiceSpec(input.entity);
    const environment = this.featureEnvironment(input.environment);
    const slug = this.branchOf(input.branch, spec);
    // Its objects would come back when that deployment applies them.
    const active = await this.options.activeDeploymentOf?.(
      spec.entityRef,
      environment.name,
      slug,
    );
    if (active) {
      throw new ConflictError(
        `Deployment ${active} of branch ${slug} to ${environment.name} is queued or running; ` +
          'remove the branch once it has finished',
      );
    }
    const cluster = this.options.cluster(environment);
    const target = targetOf(spec);
    const api = routeApi(environment.routingApi);
    const rules = await this.options.store.deleteBranch(
      spec.entityRef,
      environment.name,
      slug,
    );
    const live = await cluster.read(api.apiVersion, api.kind, spec.name);
    if (live) await this.options.reconciler.reconcile(target, environment.name);
    const objects = await deleteBranchObjects(cluster, spec.name, slug);
    if (!rules.length && !objects.length) {
      throw new NotFoundError(
        `${spec.name} has no branch ${input.branch.slice(0, 128)} in ${
          environment.name
        }`,
      );
    }
    // A rule created for the branch in the meantime lost its destination.
    if (live) await this.options.reconciler.reconcile(target, environment.name);
    await this.record({
      environment: environment.name,
      entityRef: spec.entityRef,
      kind: 'route-changed',
      message: `Branch ${slug} of ${spec.name} removed: ${rules.length} rule(s), ${objects.length} object(s)`,
      details: { action: 'branch-removed', branch: slug, rules, objects },
      actor: input.actor,
    });
    return { environment: environment.name, branch: slug, rules, objects };
  }

  /** Where a request with these headers goes, evaluated on the routing object read back from the cluster. */
  async test(input: {
    entity: Entity;
    environment: string;
    headers: unknown;
  }): Promise<RouteTestResult> {
    const spec = parseServiceSpec(input.entity);
    const environment = this.options.environment(input.environment);
    const headers = readHeaders(input.headers);
    const api = routeApi(environment.routingApi);
    const live = await this.options
      .cluster(environment)
      .read<RouteObject>(api.apiVersion, api.kind, spec.name);
    if (!live) {
      return {
        destination: { host: spec.name },
        virtualService: false,
        kind: api.kind,
      };
    }
    const result = api.evaluate(live, { headers });
    if (!result) return { virtualService: true, kind: api.kind };
    const ruleId = result.routeName?.startsWith(RULE_ROUTE_PREFIX)
      ? result.routeName.slice(RULE_ROUTE_PREFIX.length)
      : undefined;
    const rule = ruleId ? await this.options.store.get(ruleId) : undefined;
    return {
      destination: result.destination,
      ...(result.routeName !== undefined && { routeName: result.routeName }),
      ...(rule && rule.entityRef === spec.entityRef && { rule }),
      virtualService: true,
      kind: api.kind,
    };
  }

  /**
   * The routing task: removes expired rules (and their entries), then
   * reconciles the routing object of every service with live rules, which
   * puts back hand edits and deleted objects. Only services this database
   * has rules for: another Backstage (or a test) with its own database may
   * manage routing objects in the same namespace, and must not be undone.
   * Errors of one object are logged; the others are still done.
   */
  async runScheduled(): Promise<void> {
    const targets = new Map<
      string,
      {
        entityRef: string;
        service: string;
        environment: string;
        expectExisting: boolean;
      }
    >();
    const add = (
      entityRef: string,
      service: string,
      environment: string,
      expectExisting = false,
    ) => {
      const key = `${environment}\u0000${entityRef}\u0000${service}`;
      const known = targets.get(key);
      targets.set(key, {
        entityRef,
        service,
        environment,
        expectExisting: expectExisting || !!known?.expectExisting,
      });
    };

    const expired = await this.options.store.deleteExpired(new Date());
    for (const rule of expired) {
      await this.record({
        environment: rule.environment,
        entityRef: rule.entityRef,
        kind: 'route-changed',
        message: `Rule expired: ${describeRule(rule)}`,
        details: { action: 'expired', rule },
        actor: ROUTING_ACTOR,
      });
      add(rule.entityRef, rule.service, rule.environment);
    }
    // A service with live rules must have a routing object: one missing was deleted.
    for (const target of await this.options.store.listTargets(new Date())) {
      add(target.entityRef, target.service, target.environment, true);
    }
    for (const target of targets.values()) {
      await this.reconcileLogged(target, 'Routing task');
    }
  }

  /**
   * After a deploy of the entity in the environment: a branch that has just
   * come up gets the traffic its live rules ask for now, not at the next run
   * of the routing task. Entities without rules there cost one query.
   */
  async reconcileDeployed(entityRef: string, environment: string) {
    const targets = await this.options.store.listTargets(new Date(), {
      entityRef,
      environment,
    });
    for (const target of targets) {
      await this.reconcileLogged(
        { ...target, expectExisting: false },
        'After deploy',
      );
    }
  }

  private async reconcileLogged(
    target: {
      entityRef: string;
      service: string;
      environment: string;
      expectExisting: boolean;
    },
    context: string,
  ) {
    const { entityRef, service, environment, expectExisting } = target;
    try {
      const ingress = await this.ingressOf(entityRef, service, environment);
      await this.options.reconciler.reconcile(
        { entityRef, service, ingress },
        environment,
        { expectExisting },
      );
    } catch (error) {
      this.options.logger?.warn(
        `${context}: could not reconcile ${service} in ${environment}`,
        {
          entityRef,
          error: (error as Error).message,
        },
      );
    }
  }

  private async ingressOf(
    entityRef: string,
    service: string,
    environmentName: string,
  ) {
    const known = await this.options.ingressOf?.(entityRef);
    if (known !== undefined) return known;
    const environment = this.options.environment(environmentName);
    const api = routeApi(environment.routingApi);
    const live = await this.options
      .cluster(environment)
      .read<RouteObject>(api.apiVersion, api.kind, service);
    return live ? boundToGateway(live) : false;
  }
}

function readHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(
      'Field "headers" must be an object of header names to values',
    );
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_TEST_HEADERS) {
    throw new InputError(
      `Field "headers" may hold at most ${MAX_TEST_HEADERS} headers`,
    );
  }
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of entries) {
    if (!/^:?[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(name)) {
      throw new InputError('Header names must be 1-64 HTTP token characters');
    }
    if (
      typeof headerValue !== 'string' ||
      headerValue.length > MAX_TEST_HEADER_BYTES
    ) {
      throw new InputError(
        `Header values must be strings of at most ${MAX_TEST_HEADER_BYTES} characters`,
      );
    }
    headers[name.toLowerCase()] = headerValue;
  }
  return headers;
}
