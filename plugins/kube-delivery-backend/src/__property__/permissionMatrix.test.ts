import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import {
  AuthorizeResult,
  isPermission,
  isResourcePermission,
  type Permission,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import type {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import {
  createKubeDeliveryTargetConditionalDecision,
  kubeDeliveryApprovePermission,
  kubeDeliveryCertificatePermission,
  kubeDeliveryClaimReleasePermission,
  kubeDeliveryDeployPermission,
  kubeDeliveryReadPermission,
  kubeDeliveryReleaseCreatePermission,
  kubeDeliveryRollbackPermission,
  kubeDeliveryRoutePermission,
  kubeDeliveryTargetConditions as target,
  RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
} from '@internal/plugin-kube-delivery-common';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { startFaultProxy, type FaultProxy } from '../__testUtils__/faultProxy';
import { deleteServiceObjects } from '../__testUtils__/faultScenario';
import { printFigures } from '../__testUtils__/figures';
import { listRoutes, type RouteEntry } from '../__testUtils__/routeTable';
import { DEV_GATEWAY, manualScheduler } from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { databaseSnapshot } from '../__testUtils__/snapshots';

jest.setTimeout(1_800_000);

const API = '/api/kube-delivery';
const database = process.env.KD_TEST_POSTGRES_URL
  ? 'PostgreSQL'
  : 'SQLite file';

/** The callers, with the groups the permission backend gives the policy as their ownership claims. */
const OWNER = 'user:default/olivia-owner';
const OTHER_TEAM = 'user:default/otto-other-team';
const SRE = 'user:default/sam-sre';
const OUTSIDER = 'user:default/oscar-outsider';
const APPROVER = 'user:default/ava-approver';
const TEAM = 'group:default/team-a';
const ownership = {
  [OWNER]: [TEAM],
  [OTHER_TEAM]: ['group:default/team-b'],
  [SRE]: ['group:default/sre'],
  [APPROVER]: ['group:default/approvers'],
};

/** What kubeDelivery.servicePrincipals grants CI's static token (subject `ci`): as app-config.yaml does, in dev. */
const CI_GRANT = {
  subject: 'ci',
  permissions: [
    'kube-delivery.read',
    'kube-delivery.release.create',
    'kube-delivery.deployment.create',
  ],
  environments: ['dev'],
};

type Caller =
  | 'none'
  | 'outsider'
  | 'other team'
  | 'owner'
  | 'SRE'
  | 'approver'
  | 'CI token'
  | 'scaffolder as a user'
  | 'service'
  | 'plugin';
/** A service token of the subject, as the mock auth service reads it. */
const serviceHeader = (subject: string) =>
  mockCredentials.service.header({
    onBehalfOf: mockCredentials.service(subject),
    targetPluginId: 'kube-delivery',
  });
/** Service principals: decided by kubeDelivery.servicePrincipals, never by the policy. */
const SERVICES: readonly Caller[] = ['CI token', 'service', 'plugin'];
const CALLERS: Array<{ caller: Caller; authorization?: string }> = [
  { caller: 'none' },
  { caller: 'outsider', authorization: mockCredentials.user.header(OUTSIDER) },
  {
    caller: 'other team',
    authorization: mockCredentials.user.header(OTHER_TEAM),
  },
  { caller: 'owner', authorization: mockCredentials.user.header(OWNER) },
  { caller: 'SRE', authorization: mockCredentials.user.header(SRE) },
  { caller: 'approver', authorization: mockCredentials.user.header(APPROVER) },
  {
    caller: 'CI token',
    authorization: serviceHeader('ci'),
  },
  // The scaffolder's actions call with a token on behalf of the user who
  // runs the template, which authenticates as that user: the other team's.
  {
    caller: 'scaffolder as a user',
    authorization: mockCredentials.user.header(OTHER_TEAM),
  },
  // Another external caller's token, and another plugin's, granted nothing.
  { caller: 'service', authorization: mockCredentials.service.header() },
  {
    caller: 'plugin',
    authorization: serviceHeader('plugin:reporting'),
  },
];
const ENVIRONMENTS = ['dev', 'production'];

const DEPLOY_LIKE = [
  kubeDeliveryDeployPermission,
  kubeDeliveryRollbackPermission,
  kubeDeliveryRoutePermission,
];

/**
 * The policy of the matrix, as a platform team might write it, deciding
 * through Backstage's permission backend: members of the SRE group may do
 * everything; the entity's team may deploy, roll back and route it where the
 * environment is not protected (a conditional decision on the target:
 * isEntityOwner and not isProtectedEnvironment) and upload certificates
 * there (not isProtectedEnvironment, on the environment alone); everyone
 * reads but the outsider; releases are the team's.
 */
class MatrixPolicy implements PermissionPolicy {
  async handle(
    query: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    const { permission } = query;
    if (!user) return { result: AuthorizeResult.DENY };
    const claims = user.info.ownershipEntityRefs;
    if (claims.includes('group:default/sre')) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (
      claims.includes('group:default/approvers') &&
      (isPermission(permission, kubeDeliveryReadPermission) ||
        isPermission(permission, kubeDeliveryApprovePermission))
    ) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (isPermission(permission, kubeDeliveryReadPermission)) {
      return {
        result:
          user.info.userEntityRef === OUTSIDER
            ? AuthorizeResult.DENY
            : AuthorizeResult.ALLOW,
      };
    }
    if (isPermission(permission, kubeDeliveryReleaseCreatePermission)) {
      return {
        result: claims.includes(TEAM)
          ? AuthorizeResult.ALLOW
          : AuthorizeResult.DENY,
      };
    }
    if (isResourcePermission(permission, RESOURCE_TYPE_KUBE_DELIVERY_TARGET)) {
      if (DEPLOY_LIKE.some(p => isPermission(permission, p))) {
        return createKubeDeliveryTargetConditionalDecision(permission, {
          allOf: [
            target.isEntityOwner({ claims }),
            { not: target.isProtectedEnvironment() },
          ],
        });
      }
      if (
        isPermission(permission, kubeDeliveryCertificatePermission) &&
        claims.includes(TEAM)
      ) {
        return createKubeDeliveryTargetConditionalDecision(permission, {
          not: target.isProtectedEnvironment(),
        });
      }
    }
    return { result: AuthorizeResult.DENY };
  }
}

/** What the matrix policy decides for a user caller, on the entity (owned by TEAM) in an environment. */
function policyAllows(
  caller: Caller,
  permission: Permission,
  environment: string | undefined,
): boolean {
  if (caller === 'SRE') return true;
  if (caller === 'approver') {
    return [kubeDeliveryReadPermission, kubeDeliveryApprovePermission].some(
      p => p.name === permission.name,
    );
  }
  if (permission.name === kubeDeliveryReadPermission.name) {
    return caller !== 'outsider';
  }
  const team = caller === 'owner';
  if (permission.name === kubeDeliveryReleaseCreatePermission.name) return team;
  const unprotected = environment !== 'production';
  if (DEPLOY_LIKE.some(p => p.name === permission.name)) {
    return team && unprotected;
  }
  if (permission.name === kubeDeliveryCertificatePermission.name) {
    return team && unprotected;
  }
  return false;
}

/** How an endpoint decides, and what a valid request to it is. */
interface EndpointCase {
  /** open: any signed-in caller; otherwise the permissions asked (on the target when `target`). */
  gate: { open: true } | { permissions: Permission[]; usersOnly?: boolean };
  /** Whether the environment is part of the request (body, path or query). */
  inEnvironment: boolean;
  body?: (environment: string, n: number) => unknown;
  query?: (environment: string) => string;
  /** Routes of a rule or a deployment act in its environment (dev), whatever the column. */
  actsInDev?: true;
}

const READ = { permissions: [kubeDeliveryReadPermission] };
const PEM = {
  format: 'pem',
  certificateChain:
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  privateKey: '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n',
};
const E = '/entities/:kind/:namespace/:name';

/**
 * Every endpoint of the plugin. The test reads the running router's routes:
 * one missing here fails it until it is added.
 */
const ENDPOINTS: Record<string, EndpointCase> = {
  'GET /environments': { gate: { open: true }, inEnvironment: false },
  // Open, and lists only the services the caller may read (deliveries.test.ts).
  'GET /deliveries': { gate: { open: true }, inEnvironment: false },
  // The OpenAPI spec of the API, as @backstage/backend-openapi-utils serves it.
  'GET /openapi.json': { gate: { open: true }, inEnvironment: false },
  [`GET ${E}/status`]: { gate: READ, inEnvironment: false },
  [`GET ${E}/releases`]: { gate: READ, inEnvironment: false },
  [`POST ${E}/releases`]: {
    gate: { permissions: [kubeDeliveryReleaseCreatePermission] },
    inEnvironment: false,
    body: (_e, n) => ({ version: `0.2.${n}` }),
  },
  [`GET ${E}/feed`]: { gate: READ, inEnvironment: false },
  [`POST ${E}/releases/from-feed`]: {
    gate: { permissions: [kubeDeliveryReleaseCreatePermission] },
    inEnvironment: false,
    body: () => ({ tag: '0.1.5' }),
  },
  [`GET ${E}/deployments`]: {
    gate: READ,
    inEnvironment: true,
    query: environment => `?environment=${environment}`,
  },
  [`GET ${E}/deployments/:id`]: { gate: READ, inEnvironment: false },
  [`POST ${E}/deployments`]: {
    gate: { permissions: [kubeDeliveryDeployPermission] },
    inEnvironment: true,
    body: environment => ({ environment, version: '0.1.3' }),
  },
  [`POST ${E}/rollbacks`]: {
    gate: { permissions: [kubeDeliveryRollbackPermission] },
    inEnvironment: true,
    body: environment => ({ environment, version: '0.1.3' }),
  },
  [`POST ${E}/promotions`]: {
    gate: { permissions: [kubeDeliveryDeployPermission] },
    inEnvironment: true,
    body: environment => ({ environment }),
  },
  [`POST ${E}/restarts`]: {
    gate: { permissions: [kubeDeliveryDeployPermission] },
    inEnvironment: true,
    body: environment => ({ environment }),
  },
  [`GET ${E}/routes`]: {
    gate: READ,
    inEnvironment: true,
    query: environment => `?environment=${environment}`,
  },
  [`POST ${E}/routes/test`]: {
    gate: READ,
    inEnvironment: true,
    body: environment => ({ environment, headers: { userid: 'tester-1' } }),
  },
  [`POST ${E}/routes`]: {
    gate: { permissions: [kubeDeliveryRoutePermission] },
    inEnvironment: true,
    body: (environment, n) => ({
      environment,
      branch: 'myfeature',
      value: `matrix-${n}`,
    }),
  },
  [`PATCH ${E}/routes/:id`]: {
    gate: { permissions: [kubeDeliveryRoutePermission] },
    inEnvironment: false,
    actsInDev: true,
    body: () => ({ ttlMinutes: 600 }),
  },
  [`DELETE ${E}/routes/:id`]: {
    gate: { permissions: [kubeDeliveryRoutePermission] },
    inEnvironment: false,
    actsInDev: true,
  },
  // Approvals: users only; the approve permission on the deployment's target.
  [`POST ${E}/deployments/:id/approve`]: {
    gate: { permissions: [kubeDeliveryApprovePermission], usersOnly: true },
    inEnvironment: false,
    actsInDev: true,
    body: () => ({}),
  },
  [`POST ${E}/deployments/:id/reject`]: {
    gate: { permissions: [kubeDeliveryApprovePermission], usersOnly: true },
    inEnvironment: false,
    actsInDev: true,
    body: () => ({ reason: 'the matrix rejects it' }),
  },
  [`GET ${E}/history`]: {
    gate: READ,
    inEnvironment: true,
    query: environment => `?environment=${environment}`,
  },
  [`GET ${E}/releases/:id`]: { gate: READ, inEnvironment: false },
  [`DELETE ${E}/branches/:environment/:branch`]: {
    gate: {
      permissions: [kubeDeliveryRoutePermission, kubeDeliveryDeployPermission],
    },
    inEnvironment: true,
  },
  'GET /environments/:name/certificates': {
    gate: { open: true },
    inEnvironment: true,
  },
  'POST /environments/:name/certificates': {
    gate: { permissions: [kubeDeliveryCertificatePermission] },
    inEnvironment: true,
    body: () => PEM,
  },
  'POST /environments/:name/certificates/cert-manager': {
    gate: { permissions: [kubeDeliveryCertificatePermission] },
    inEnvironment: true,
    body: () => ({}),
  },
  'GET /environments/:name/claims': {
    gate: { open: true },
    inEnvironment: true,
  },
  'DELETE /environments/:name/claims/:claimKind/:claimName': {
    gate: {
      permissions: [kubeDeliveryClaimReleasePermission],
      usersOnly: true,
    },
    inEnvironment: true,
  },
  'GET /environments/:name/health': {
    gate: { open: true },
    inEnvironment: true,
  },
  'POST /environments/:name/health': {
    gate: { open: true },
    inEnvironment: true,
  },
  'GET /environments/:name/events': {
    gate: { open: true },
    inEnvironment: true,
  },
};

/** Tables an open endpoint writes for any signed-in caller: a health check records its observation. */
const HEALTH_TABLES = ['kd_environment_health', 'kd_environment_events'];

/** Cluster requests that change nothing: reads, and identity and access reviews. */
const isClusterWrite = (r: { method: string; url: string }) =>
  r.method !== 'GET' &&
  !/^\/apis\/(authorization|authentication)\.k8s\.io\/v1\/(namespaces\/[^/]+\/)?\w*reviews(\?|$)/.test(
    r.url,
  );

/** Destructive endpoints last, so that what they remove is there for the others. */
function order(route: RouteEntry): number {
  if (route.path.includes('/claims/')) return 3;
  if (route.path.includes('/branches/')) return 2;
  if (route.method === 'DELETE') return 1;
  return 0;
}

/**
 * Every endpoint × every caller × dev and production, against the real
 * plugin with Backstage's permission backend deciding with a real policy
 * whose conditional decisions the plugin's permission integration evaluates:
 * no credentials, a user the policy lets read nothing, another team's user,
 * the entity's owner (its team), an SRE group member, and a service token
 * (which Backstage's permission client allows without asking the policy).
 *
 * Every call the policy denies must answer 403 with a reason and change
 * nothing: every row of every plugin table compared before and after, no
 * write request reaching the cluster (the backend talks to it through a
 * counting proxy). Every call it allows must get past the gate (neither 401
 * nor 403, nor a 5xx). Allowed changes happen for real; the next call waits
 * until their deployments are done.
 */
describe(`every endpoint × caller × environment with a real policy (${database})`, () => {
  let cluster: DevCluster;
  let db: SharedDatabase;
  let proxy: FaultProxy;
  let backend: TestBackend;
  const name = uniqueName('matrix');
  const entityRef = `component:default/${name}`;
  const ids: Record<string, string> = {};

  const entity: Entity = (() => {
    const { entity: e } = entityWithManifest({
      name,
      manifest: adserviceManifest(name),
      annotations: { 'kube-delivery.io/routing': 'header:userid' },
    });
    return { ...e, spec: { ...e.spec, owner: TEAM } };
  })();

  async function call(
    method: 'get' | 'post' | 'patch' | 'delete',
    path: string,
    authorization: string | undefined,
    body?: unknown,
  ) {
    let req = request(backend.server)[method](`${API}${path}`);
    if (authorization) req = req.set('Authorization', authorization);
    return body === undefined ? req : req.send(body as object);
  }

  const asSre = mockCredentials.user.header(SRE);
  const asOwner = mockCredentials.user.header(OWNER);
  const entityPath = `/entities/component/default/${name}`;

  /** Waits until no deployment is queued or running and the cluster has had no write for a second. */
  async function settle() {
    const deadline = Date.now() + 300_000;
    for (;;) {
      const active = await db
        .knex('kd_deployments')
        .whereIn('status', ['queued', 'running'])
        .count({ n: '*' });
      if (Number(active[0].n) === 0) break;
      if (Date.now() > deadline) throw new Error('Deployments did not settle');
      await new Promise(resolve => setTimeout(resolve, 250));
    }
    let writes = -1;
    while (writes !== proxy.requests.filter(isClusterWrite).length) {
      writes = proxy.requests.filter(isClusterWrite).length;
      await new Promise(resolve => setTimeout(resolve, 1000));
    }
  }

  async function deployAndWait(environment: string, version: string) {
    // The owner's: an approver's own request would refuse their approval.
    const res = await call('post', `${entityPath}/deployments`, asOwner, {
      environment,
      version,
    });
    if (res.status !== 202) {
      throw new Error(`Deploy ${version}: ${res.status} ${res.text}`);
    }
    await settle();
    const done = await call(
      'get',
      `${entityPath}/deployments/${res.body.id}`,
      asSre,
    );
    if (done.body.status !== 'succeeded') {
      throw new Error(`Deploy ${version}: ${JSON.stringify(done.body)}`);
    }
    return res.body.id as string;
  }

  /** The owner's routing rule for the branch in dev, created again when a call removed it. */
  async function ensureRule() {
    const rules = await db.knex('kd_route_rules').where({ id: ids.rule ?? '' });
    if (rules.length > 0) return;
    const res = await call('post', `${entityPath}/routes`, asOwner, {
      environment: 'dev',
      branch: 'myfeature',
      value: `owner-${Object.keys(ids).length}-${Date.now()}`,
    });
    if (res.status !== 201) {
      throw new Error(`The owner's rule: ${res.status} ${res.text}`);
    }
    ids.rule = res.body.id;
  }

  beforeAll(async () => {
    cluster = await getDevCluster();
    db = await createSharedDatabase();
    proxy = await startFaultProxy(cluster);
    backend = await startDeliveryBackend({
      cluster: proxy.cluster,
      knex: db.knex,
      entities: [entity],
      permission: { policy: new MatrixPolicy(), ownership },
      features: [manualScheduler().factory],
      // dev has a gateway, so the certificate endpoints have something to change.
      configure: config => {
        config.kubeDelivery.servicePrincipals = [CI_GRANT];
        config.kubeDelivery.environments[0].gateway = {
          ...DEV_GATEWAY,
          cluster: {
            url: proxy.cluster.server,
            caData: proxy.cluster.caData,
            serviceAccountToken: cluster.tokens['istio-system'],
          },
        };
      },
    });
    // The scene, as the owner sets it: releases, what runs in dev, a branch, a rule.
    for (const version of ['0.1.3', '0.1.4-myfeature']) {
      const res = await call('post', `${entityPath}/releases`, asOwner, {
        version,
      });
      if (res.status !== 201) throw new Error(`${res.status} ${res.text}`);
      ids.release ??= res.body.id;
    }
    ids.deployment = await deployAndWait('dev', '0.1.3');
    await deployAndWait('dev', '0.1.4-myfeature');
    await ensureRule();
  });

  afterAll(async () => {
    await proxy?.close();
    await backend?.stop();
    await deleteServiceObjects(cluster, [name]);
    for (const environment of ENVIRONMENTS) {
      await cluster?.kubectl([
        'delete',
        'virtualservices.networking.istio.io',
        '-n',
        environment,
        '--ignore-not-found',
        '--wait=false',
        name,
      ]);
    }
    await db?.destroy();
  });

  function urlOf(route: RouteEntry, environment: string, query = ''): string {
    const values: Record<string, string> = {
      kind: 'component',
      namespace: 'default',
      name: route.path.startsWith('/entities/') ? name : environment,
      environment,
      branch: 'myfeature',
      claimKind: 'service',
      claimName: name,
    };
    return `${route.path.replace(/:(\w+)/g, (_, param: string) => {
      if (param === 'id') {
        if (route.path.includes('/deployments/')) return ids.deployment;
        if (route.path.includes('/releases/')) return ids.release;
        if (route.path.includes('/routes/')) return ids.rule;
      }
      const value = values[param];
      if (!value) throw new Error(`No value for :${param} of ${route.path}`);
      return value;
    })}${query}`;
  }

  /** What a caller must get: 401, a 403 from the policy, past the gate, or (a service token) not decided by the policy. */
  function expectation(
    endpoint: EndpointCase,
    caller: Caller,
    environment: string,
  ): 'unauthenticated' | 'denied' | 'allowed' | 'service' {
    if (caller === 'none') return 'unauthenticated';
    if ('open' in endpoint.gate) return 'allowed';
    const where = endpoint.actsInDev ? 'dev' : environment;
    const inEnvironment = endpoint.inEnvironment || endpoint.actsInDev;
    if (SERVICES.includes(caller)) {
      // A grant's environments apply to what is done in one (permissions on
      // the target), not to reads and releases (on the entity).
      const granted =
        caller === 'CI token' &&
        !endpoint.gate.usersOnly &&
        endpoint.gate.permissions.every(
          p =>
            CI_GRANT.permissions.includes(p.name) &&
            (!inEnvironment ||
              !isResourcePermission(p, RESOURCE_TYPE_KUBE_DELIVERY_TARGET) ||
              CI_GRANT.environments.includes(where)),
        );
      return granted ? 'allowed' : 'denied';
    }
    return endpoint.gate.permissions.every(p =>
      policyAllows(caller, p, inEnvironment ? where : undefined),
    )
      ? 'allowed'
      : 'denied';
  }

  it('refuses every call the policy denies with a 403 and a reason, changing nothing, and lets the others through', async () => {
    const routes = listRoutes(backend.server, API)
      .filter(r => !r.path.startsWith('/.'))
      .sort((a, b) => order(a) - order(b));
    const unclassified = routes
      .map(r => `${r.method} ${r.path}`)
      .filter(key => !(key in ENDPOINTS));
    expect({ unclassified }).toEqual({ unclassified: [] });

    const violations: string[] = [];
    const statuses = new Map<string, number>();
    const outcomes = { denied: 0, allowed: 0, unauthenticated: 0, service: 0 };
    let cells = 0;
    let n = 0;
    for (const route of routes) {
      const key = `${route.method} ${route.path}`;
      const endpoint = ENDPOINTS[key];
      const environments = endpoint.inEnvironment ? ENVIRONMENTS : ['-'];
      for (const environment of environments) {
        for (const { caller, authorization } of CALLERS) {
          if (endpoint.actsInDev && route.path.includes('/routes/')) {
            await ensureRule();
          }
          const expected = expectation(endpoint, caller, environment);
          const url = urlOf(
            route,
            environment === '-' ? 'dev' : environment,
            endpoint.query?.(environment) ?? '',
          );
          const before = await databaseSnapshot(db.knex);
          const sentAt = proxy.requests.length;
          const res = await call(
            route.method.toLowerCase() as 'get',
            url,
            authorization,
            endpoint.body?.(environment, n++),
          );
          const writes = proxy.requests.slice(sentAt).filter(isClusterWrite);
          const after = await databaseSnapshot(db.knex);
          cells++;
          outcomes[expected]++;
          const label = `${caller} ${res.status}`;
          statuses.set(label, (statuses.get(label) ?? 0) + 1);
          const cell = `${key} in ${environment} by ${caller}`;
          const message: unknown = res.body?.error?.message;

          if (expected === 'unauthenticated' && res.status !== 401) {
            violations.push(`${cell}: ${res.status}, not 401`);
          }
          const refused =
            expected === 'denied' ||
            expected === 'unauthenticated' ||
            (expected === 'service' && res.status === 403);
          if (refused) {
            if (expected === 'denied' && res.status !== 403) {
              violations.push(
                `${cell}: ${res.status}, not 403: ${res.text.slice(0, 200)}`,
              );
            }
            if (typeof message !== 'string' || message.length === 0) {
              violations.push(`${cell}: refused without a reason`);
            } else if (
              expected === 'denied' &&
              !SERVICES.includes(caller) &&
              !/^You may not kube-delivery\.[a-z.-]+ on \S+;? /.test(message)
            ) {
              violations.push(
                `${cell}: the reason does not name the permission and target: ${message}`,
              );
            }
            const changed = Object.keys(after).filter(
              table =>
                JSON.stringify(after[table]) !== JSON.stringify(before[table]),
            );
            if (changed.length > 0) {
              violations.push(`${cell}: changed ${changed.join(', ')}`);
            }
            if (writes.length > 0) {
              violations.push(
                `${cell}: wrote to the cluster: ${writes
                  .map(w => `${w.method} ${w.url}`)
                  .join(', ')}`,
              );
            }
          } else {
            if ([401, 403].includes(res.status) || res.status >= 500) {
              violations.push(
                `${cell}: allowed, but ${res.status}: ${res.text.slice(
                  0,
                  200,
                )}`,
              );
            }
            // Open reads answer, or say why not (production has no gateway here).
            if (
              'open' in endpoint.gate &&
              route.method === 'GET' &&
              res.status !== 200 &&
              !(res.status === 400 && typeof message === 'string')
            ) {
              violations.push(`${cell}: ${res.status}, not 200`);
            }
            // Open endpoints change only what a health check records.
            if ('open' in endpoint.gate) {
              const changed = Object.keys(after).filter(
                table =>
                  JSON.stringify(after[table]) !==
                    JSON.stringify(before[table]) &&
                  !HEALTH_TABLES.includes(table),
              );
              if (changed.length > 0 || writes.length > 0) {
                violations.push(
                  `${cell}: an open endpoint changed ${changed.join(', ')}`,
                );
              }
            }
          }

          // Reads are scoped: the environment's timeline without the
          // entity's events for who may not read it; rule values only for
          // the rule's owner and who may route there.
          if (key === 'GET /environments/:name/events' && res.status === 200) {
            const own = (
              res.body.items as Array<{ entityRef?: string }>
            ).filter(e => e.entityRef === entityRef);
            if (caller === 'outsider' && own.length > 0) {
              violations.push(
                `${cell}: shows ${own.length} events of an entity the caller may not read`,
              );
            }
            if (caller === 'SRE' && environment === 'dev' && own.length === 0) {
              violations.push(`${cell}: shows none of the entity's events`);
            }
          }
          if (key === `GET ${E}/routes` && res.status === 200) {
            const rules = res.body.items as Array<{
              value: string | null;
              owner: string;
            }>;
            for (const rule of rules) {
              const mayRoute =
                !SERVICES.includes(caller) &&
                policyAllows(caller, kubeDeliveryRoutePermission, 'dev');
              const visible = rule.value !== null;
              const owner = caller === 'owner' && rule.owner === OWNER;
              if (visible !== (mayRoute || owner)) {
                violations.push(
                  `${cell}: the value of ${rule.owner}'s rule is ${
                    visible ? 'shown' : 'hidden'
                  }`,
                );
              }
            }
          }
          if (!refused && route.method !== 'GET') await settle();
        }
      }
    }

    printFigures('permission matrix', {
      endpoints: routes.length,
      callers: CALLERS.length,
      environments: ENVIRONMENTS.length,
      cells,
      denied: outcomes.denied,
      allowed: outcomes.allowed,
      unauthenticated: outcomes.unauthenticated,
      serviceToken: outcomes.service,
      statuses: [...statuses.entries()]
        .map(([status, count]) => `${status}:${count}`)
        .join(' '),
      violations: violations.length,
    });
    expect(violations).toEqual([]);
    expect(outcomes.denied).toBeGreaterThan(50);
  });
});
