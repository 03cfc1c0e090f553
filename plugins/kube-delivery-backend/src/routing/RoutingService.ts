import { FencedError, type Fence } from '../cluster/fence';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import {
  branchSlug,
  validateRouteValue,
  type BranchRemoval,
  type RouteRule,
  type RouteTestResult,
  type RoutingKind,
} from '@internal/plugin-kube-delivery-common';
import { parseServiceSpec, type ServiceSpec } from '../catalog';
import type { EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import type { EventRecorder, NewEnvironmentEvent } from '../events';
import type { ClaimedName, ClaimStore } from '../tenancy/ClaimStore';
import { ownerHash } from '../tenancy/ownership';
import {
  ANNOTATION_OWNER_REF,
  LABEL_MANAGED_BY,
  LABEL_OWNER,
  MANAGER,
} from '../cluster/managedObjects';
import { deleteBranchObjects } from './branches';
import {
  ROUTING_ACTOR,
  RouteReconciler,
  assertRouteWritable,
  gatewayBinding,
  liveBranches,
  type RouteTarget,
} from './RouteReconciler';
import type { RouteStore } from './RouteStore';
import {
  boundToGateway,
  gatewayHostsOf,
  routeApi,
  type RouteObject,
} from './routeApis';
import {
  rulesAsSeenBy,
  type RouteRuleView,
  type RuleViewer,
} from './ruleValues';
import { DEFAULT_ROUTING_SETTINGS, type RoutingSettings } from './settings';
import { RULE_ROUTE_PREFIX } from './routeObjects';

const KINDS: readonly RoutingKind[] = ['cookie', 'header', 'baggage'];
/** A SemVer pre-release, as a branch appears in a version. */
const BRANCH = /^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/;

export interface NewRuleInput {
  entity: Entity;
  environment: string;
  branch: string;
  kind?: string;
  key?: string;
  value: string;
  /** Minutes; the configured default when absent, at most the configured maximum. */
  ttlMinutes?: number;
  owner: string;
}

/**
 * Whether the caller holds the route-admin permission on the entity (in the
 * rule's environment): they may extend and delete rules of others.
 */
export type RouteAdminCheck =
  | boolean
  | ((environment: string) => boolean | Promise<boolean>);

/** A rule just created, with what the caller should know (e.g. the branch is not deployed there yet). */
export type CreatedRule = RouteRule & { warnings?: string[] };

// Defined once, in the API spec.
export type { BranchRemoval, RouteTestResult };

/** What routing needs of a service's spec: its name, ingress and hosts. */
export type RoutedSpec = Pick<ServiceSpec, 'name' | 'ingress' | 'hosts'>;

/** How a service is bound to the gateway: whether, and for which of its hosts. */
type Binding = Pick<RouteTarget, 'ingress' | 'hosts'>;

function bindingOf(spec: Pick<ServiceSpec, 'ingress' | 'hosts'>): Binding {
  return {
    ingress: !!spec.ingress,
    ...(spec.hosts && { hosts: spec.hosts }),
  };
}

function targetOf(spec: ServiceSpec): RouteTarget {
  return {
    entityRef: spec.entityRef,
    service: spec.name,
    ...bindingOf(spec),
  };
}

/** A configured routing key (`header:UserId`) as rules compare it: header names in lower case. */
function normalKey(kindAndKey: string): string {
  const colon = kindAndKey.indexOf(':');
  if (colon < 0) return kindAndKey;
  const kind = kindAndKey.slice(0, colon).trim().toLowerCase();
  const key = kindAndKey.slice(colon + 1).trim();
  return `${kind}:${kind === 'header' ? key.toLowerCase() : key}`;
}

function describeRule(rule: RouteRule): string {
  return `${rule.kind} ${rule.key}=${rule.value} → ${rule.service}-${rule.branch}`;
}

/**
 * Routing rules of feature branches: validation, storage, reconciliation,
 * the timeline of changes, the route tester, branch removal and the periodic routing task.
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
      /** The environment timeline, where route changes are recorded. */
      events?: EventRecorder;
      logger?: LoggerService;
      /**
       * The entity's current spec (ingress and hosts), for reconciles without
       * a request (expiry, hand edits, a deploy without its spec); undefined
       * when the catalog cannot tell. The live object's binding is kept then.
       */
      specOf?: (entityRef: string) => Promise<RoutedSpec | undefined>;
      /**
       * Who holds which service and host names in each environment: an
       * entity never changes routing under a name another entity holds.
       */
      claims?: Pick<ClaimStore, 'assertNotClaimedByOthers'>;
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

  /** The configured maximum is the routing settings', so the spec cannot hold it. */
  private ttlOf(value: number | undefined): number {
    const { defaultTtlMinutes, maxTtlMinutes } = this.settings;
    if (value === undefined) return defaultTtlMinutes;
    if (!Number.isInteger(value) || value < 1 || value > maxTtlMinutes) {
      throw new InputError(
        `Field "ttlMinutes" must be a whole number of minutes from 1 to ${maxTtlMinutes}`,
      );
    }
    return value;
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

  /**
   * The routing key a rule matches on must be one the environment offers
   * (`routingKeys`, set by the platform team): a key that production
   * traffic carries for everyone (`user-agent`, a cookie every shopper has)
   * would send strangers to a developer's branch.
   */
  private assertOfferedKey(
    environment: EnvironmentConfig,
    kind: RoutingKind,
    key: string,
    fromAnnotation: boolean,
  ) {
    const offered = environment.routingKeys ?? [];
    const wanted = `${kind}:${key}`;
    if (offered.some(k => normalKey(k) === normalKey(wanted))) return;
    const what = fromAnnotation
      ? `The entity's kube-delivery.io/routing annotation names the routing key ${wanted}, which environment ${environment.name} does not offer`
      : `Environment ${environment.name} does not offer the routing key ${wanted}`;
    throw new InputError(
      `${what}; ${
        offered.length
          ? `it offers ${offered.join(', ')}`
          : 'it offers no routing keys'
      }. The platform team configures the routing keys of an environment (kubeDelivery.environments[].routingKeys).`,
    );
  }

  /**
   * A ConflictError when another entity holds the service's name (or one of
   * the gateway hosts it would be bound to) in the environment: its routing
   * is not this entity's to change.
   */
  private async assertNotClaimedByOthers(
    entityRef: string,
    service: string,
    binding: Binding,
    environment: EnvironmentConfig,
  ) {
    if (!this.options.claims) return;
    const names: ClaimedName[] = [{ kind: 'service', name: service }];
    let hosts: string[] = [];
    try {
      hosts = gatewayBinding(binding, environment)?.hosts ?? [];
    } catch {
      // Hosts the gateway does not offer are bound nowhere.
    }
    for (const host of hosts) names.push({ kind: 'host', name: host });
    await this.options.claims.assertNotClaimedByOthers(
      environment.name,
      entityRef,
      names,
    );
  }

  /** The live routing object of the target, refused (409) when it is not the entity's to write. */
  private async writableLive(
    target: RouteTarget,
    environment: EnvironmentConfig,
  ): Promise<RouteObject | undefined> {
    const api = routeApi(environment.routingApi);
    const live = await this.options
      .cluster(environment)
      .read<RouteObject>(api.apiVersion, api.kind, target.service);
    assertRouteWritable(live, target, api, environment);
    return live;
  }

  /** Records a route change in the environment timeline (never throws). */
  private async record(event: NewEnvironmentEvent) {
    await this.options.events?.record(event);
  }

  /**
   * Validates, stores (the source of truth), then reconciles the routing
   * object. A rule for a branch that is not deployed in the environment is
   * accepted, with a warning: it routes once the branch is there.
   */
  async createRule(input: NewRuleInput): Promise<CreatedRule> {
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
    this.assertOfferedKey(environment, kind, key, input.key === undefined);
    const ttl = this.ttlOf(input.ttlMinutes);
    const target = targetOf(spec);
    // Hosts the gateway does not offer: a 400 now, not after the rule is stored.
    gatewayBinding(target, environment);

    // Nothing is written when the name is another entity's, or its object is.
    await this.assertNotClaimedByOthers(
      spec.entityRef,
      spec.name,
      target,
      environment,
    );
    await this.writableLive(target, environment);
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
      await this.options.reconciler.reconcile(target, environment.name);
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
    const warnings = await this.notDeployedWarning(
      environment,
      spec.name,
      branch,
    );
    return { ...rule, ...(warnings.length > 0 && { warnings }) };
  }

  /** A warning when the branch has no live Service in the environment: the routing object has no entry for it yet. */
  private async notDeployedWarning(
    environment: EnvironmentConfig,
    service: string,
    branch: string,
  ): Promise<string[]> {
    try {
      const branches = await liveBranches(
        this.options.cluster(environment),
        service,
      );
      if (branches.has(branch)) return [];
    } catch (error) {
      this.options.logger?.warn(
        `Could not read the branches of ${service} in ${environment.name}`,
        { error: (error as Error).message },
      );
      return [
        `could not tell whether ${service}-${branch} is deployed in ${environment.name}: the rule routes once it is`,
      ];
    }
    return [
      `${service}-${branch} is not deployed in ${environment.name} yet: the rule routes once it is`,
    ];
  }

  /**
   * Refuses (403, naming the owner) a change to a rule by someone who is
   * neither its owner nor a route admin of the entity there.
   */
  private async assertMayChange(
    rule: RouteRule,
    actor: string,
    isRouteAdmin: RouteAdminCheck | undefined,
    verb: 'extend' | 'delete',
  ) {
    if (rule.owner === actor) return;
    const admin =
      typeof isRouteAdmin === 'function'
        ? await isRouteAdmin(rule.environment)
        : isRouteAdmin === true;
    if (admin) return;
    throw new NotAllowedError(
      `Routing rule ${rule.id} is ${rule.owner}'s: only its owner or a route admin of ${rule.entityRef} in ${rule.environment} (kube-delivery.route.admin) may ${verb} it`,
    );
  }

  /**
   * Rules that have not expired, oldest first, as the viewer may see them:
   * a value only to the rule's owner and to those who may route on the
   * entity in its environment (see {@link RuleViewer}); to everyone else,
   * and to all without a viewer, `value: null, valueHidden: true`.
   */
  async listRules(
    entityRef: string,
    environment?: string,
    /** The caller; without one, every value is hidden. */
    viewer?: RuleViewer,
  ): Promise<RouteRuleView[]> {
    if (environment !== undefined) this.options.environment(environment);
    const rules = await this.options.store.list({
      entityRef,
      environment,
      now: new Date(),
    });
    return rulesAsSeenBy(rules, viewer);
  }

  /**
   * Gives a rule that has not expired a new lifetime, counted from now; only
   * its owner or a route admin may (403 naming the owner otherwise).
   */
  async extendRule(input: {
    entity: Entity;
    id: string;
    ttlMinutes: number;
    actor: string;
    /** Whether the caller is a route admin of the entity; default: not. */
    isRouteAdmin?: RouteAdminCheck;
  }): Promise<RouteRule> {
    const spec = parseServiceSpec(input.entity);
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
    await this.assertMayChange(
      existing,
      input.actor,
      input.isRouteAdmin,
      'extend',
    );
    await this.assertNotClaimedByOthers(
      spec.entityRef,
      existing.service,
      bindingOf(spec),
      this.options.environment(existing.environment),
    );
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

  /** Deletes a rule; only its owner or a route admin may (403 naming the owner otherwise). */
  async deleteRule(
    entity: Entity,
    id: string,
    actor: string,
    /** Whether the caller is a route admin of the entity; default: not. */
    isRouteAdmin?: RouteAdminCheck,
  ): Promise<RouteRule> {
    const spec = parseServiceSpec(entity);
    const existing = await this.options.store.get(id);
    if (existing && existing.entityRef === spec.entityRef) {
      await this.assertMayChange(existing, actor, isRouteAdmin, 'delete');
      const environment = this.options.environment(existing.environment);
      await this.assertNotClaimedByOthers(
        spec.entityRef,
        existing.service,
        bindingOf(spec),
        environment,
      );
      await this.writableLive(targetOf(spec), environment);
    }
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
    const target = targetOf(spec);
    await this.assertNotClaimedByOthers(
      spec.entityRef,
      spec.name,
      target,
      environment,
    );
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
    const live = await this.writableLive(target, environment);
    const rules = await this.options.store.deleteBranch(
      spec.entityRef,
      environment.name,
      slug,
    );
    if (live) await this.options.reconciler.reconcile(target, environment.name);
    const objects = await deleteBranchObjects(
      cluster,
      spec.name,
      slug,
      spec.entityRef,
    );
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
    headers: Record<string, string>;
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
   * of the routing task; and a service with ingress is bound to the
   * environment's gateway, for its hosts, whether or not it has rules (a
   * mainline-only routing object), once its mainline Service is there. A
   * routing object of the entity's that is still bound to the gateway
   * though the service no longer declares ingress is unbound.
   *
   * `deployed` is the spec the deployment rolled out (its release
   * snapshot's); without it, the catalog's current spec is used.
   */
  async reconcileDeployed(
    entityRef: string,
    environmentName: string,
    deployed?: RoutedSpec,
    options: {
      /**
       * The deployment job's fence: the routing objects are written as
       * fenced writes (see cluster/fence.ts), and a FencedError (a newer
       * deployment wrote them) is thrown, not logged.
       */
      fence?: Fence;
    } = {},
  ) {
    const spec = deployed ?? (await this.catalogSpec(entityRef));
    const targets: ReconcileTarget[] = (
      await this.options.store.listTargets(new Date(), {
        entityRef,
        environment: environmentName,
      })
    ).map(target => ({ ...target, expectExisting: false }));
    const named =
      spec && !targets.some(target => target.service === spec.name)
        ? spec
        : undefined;
    if (named) {
      try {
        if (await this.needsBinding(entityRef, named, environmentName)) {
          targets.push({
            entityRef,
            service: named.name,
            environment: environmentName,
            expectExisting: false,
          });
        }
      } catch (error) {
        this.options.logger?.warn(
          `After deploy: could not read the routing of ${named.name} in ${environmentName}`,
          { entityRef, error: (error as Error).message },
        );
      }
    }
    for (const target of targets) {
      await this.reconcileLogged(
        target,
        'After deploy',
        spec && spec.name === target.service ? bindingOf(spec) : undefined,
        options.fence,
      );
    }
  }

  /**
   * Whether a service without live rules needs its routing object written
   * after a deploy: with ingress, when the environment has a gateway and the
   * mainline Service is there (a branch deployed first would bind the hosts
   * to nothing); without, when the entity's live object is still bound.
   */
  private async needsBinding(
    entityRef: string,
    spec: RoutedSpec,
    environmentName: string,
  ): Promise<boolean> {
    const environment = this.options.environment(environmentName);
    const cluster = this.options.cluster(environment);
    if (spec.ingress) {
      if (!environment.gateway) return false;
      return !!(await cluster.read('v1', 'Service', spec.name));
    }
    const api = routeApi(environment.routingApi);
    const live = await cluster.read<RouteObject>(
      api.apiVersion,
      api.kind,
      spec.name,
    );
    return !!live && isEntitys(live, entityRef) && boundToGateway(live);
  }

  private async reconcileLogged(
    target: ReconcileTarget,
    context: string,
    known?: Binding,
    fence?: Fence,
  ) {
    const { entityRef, service, environment, expectExisting } = target;
    try {
      const binding =
        known ?? (await this.currentBinding(entityRef, service, environment));
      await this.assertNotClaimedByOthers(
        entityRef,
        service,
        binding,
        this.options.environment(environment),
      );
      await this.options.reconciler.reconcile(
        { entityRef, service, ...binding },
        environment,
        { expectExisting, fence },
      );
    } catch (error) {
      if (error instanceof FencedError) throw error;
      this.options.logger?.warn(
        `${context}: could not reconcile ${service} in ${environment}`,
        {
          entityRef,
          error: (error as Error).message,
        },
      );
    }
  }

  private async catalogSpec(entityRef: string) {
    try {
      return await this.options.specOf?.(entityRef);
    } catch {
      return undefined;
    }
  }

  /** The entity's binding from the catalog or, when it cannot tell, the live object's. */
  private async currentBinding(
    entityRef: string,
    service: string,
    environmentName: string,
  ): Promise<Binding> {
    const known = await this.catalogSpec(entityRef);
    if (known) return bindingOf(known);
    const environment = this.options.environment(environmentName);
    const api = routeApi(environment.routingApi);
    const live = await this.options
      .cluster(environment)
      .read<RouteObject>(api.apiVersion, api.kind, service);
    if (!live || !boundToGateway(live)) return { ingress: false };
    const hosts = gatewayHostsOf(live, service);
    return { ingress: true, ...(hosts.length && { hosts }) };
  }
}

/** A routing object to reconcile outside a request. */
interface ReconcileTarget {
  entityRef: string;
  service: string;
  environment: string;
  expectExisting: boolean;
}

/** Whether a live routing object is the entity's: its owner label or, from before owners, its entity annotation. */
function isEntitys(live: RouteObject, entityRef: string): boolean {
  const labels = live.metadata?.labels ?? {};
  if (labels[LABEL_OWNER] !== undefined) {
    return labels[LABEL_OWNER] === ownerHash(entityRef);
  }
  const ref = live.metadata?.annotations?.[ANNOTATION_OWNER_REF];
  return (
    labels[LABEL_MANAGED_BY] === MANAGER &&
    ref !== undefined &&
    ref.toLocaleLowerCase('en-US') === entityRef.toLocaleLowerCase('en-US')
  );
}

/** Header names lowercased; the spec bounds how many headers and how long their values. */
function readHeaders(value: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(value)) {
    if (!/^:?[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(name)) {
      throw new InputError('Header names must be 1-64 HTTP token characters');
    }
    headers[name.toLowerCase()] = headerValue;
  }
  return headers;
}
