/*
 * Deploy benchmark: Kube Delivery's real backend parts (DeliveryService,
 * DeploymentRunner, DatabaseDeliveryStore on SQLite, ClusterClients) against
 * plain `kubectl apply --server-side` + `kubectl rollout status`, on the
 * running devcluster, both with the environment's namespace-scoped deployer
 * token, taking turns to go first, both timed by one external observer (a
 * watch of the namespace's ReplicaSets and pods in its own process) from the
 * request until the new pods are Ready and the old ones gone. Each complete
 * run writes its JSON line, with the load, command, date and commit, to
 * bench/results/. See bench/README.md.
 *
 *   yarn bench:deploy [--rounds N] [--runner-poll-ms MS] [--skip-boutique] ...
 *   node -r @backstage/cli/config/nodeTransform.cjs bench/deploy.ts --help
 *
 * It measures and prints; it asserts nothing about timings.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import knexFactory, { type Knex } from 'knex';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  adserviceManifest,
  frontendManifest,
} from '../plugins/kube-delivery-backend/src/__testUtils__/boutiqueManifests';
import {
  entityWithManifest,
  testDeliveryConfig,
} from '../plugins/kube-delivery-backend/src/__testUtils__/deliveryHarness';
import type { EnvironmentCluster } from '../plugins/kube-delivery-backend/src/cluster';
import type {
  DeliveryConfig,
  EnvironmentConfig,
} from '../plugins/kube-delivery-backend/src/config/environments';
import {
  DatabaseDeliveryStore,
  type DeploymentRecord,
  type ReleaseRecord,
} from '../plugins/kube-delivery-backend/src/database';
import {
  DeliveryService,
  DeploymentRunner,
  ReleaseService,
} from '../plugins/kube-delivery-backend/src/delivery';
import {
  ClusterClients,
  createEnvironmentCluster,
  ROLLOUT_POLL_INTERVAL_MS,
} from '../plugins/kube-delivery-backend/src/cluster';
import { EnvironmentRegistry } from '../plugins/kube-delivery-backend/src/config/EnvironmentRegistry';
import { DatabaseClaimStore } from '../plugins/kube-delivery-backend/src/tenancy';
import { entityDirOf } from './lib/cluster';
import { deployerKubectl, type DeployerKubectl } from './lib/kubectl';
import {
  RolloutObserver,
  type ObservedRollout,
  type RolloutTarget,
} from './lib/rolloutObserver';
import { renderedObjects, writeList } from './lib/render';
import { createBenchLogger } from './lib/logger';
import { median, round2 } from './lib/stats';

const ACTOR = 'user:default/bench';
const ENVIRONMENT = 'dev';
/** EnvironmentCluster's default poll interval (waitForRollout), used by ClusterClients.deploy. */
const SHIPPED_ROLLOUT_POLL_MS = ROLLOUT_POLL_INTERVAL_MS;
/** Where complete runs write their JSON line. */
const RESULTS_DIR = path.join(__dirname, 'results');
/** DeploymentRunner's MAX_CONCURRENT_JOBS. */
const RUNNER_CONCURRENCY = 12;

/** The 11 Online Boutique services (redis-cart is not one of them). */
const BOUTIQUE: Array<{
  name: string;
  shape: 'grpc' | 'frontend' | 'loadgenerator';
  port?: number;
  targetPort?: number;
}> = [
  { name: 'emailservice', shape: 'grpc', port: 5000, targetPort: 8080 },
  { name: 'checkoutservice', shape: 'grpc', port: 5050 },
  { name: 'recommendationservice', shape: 'grpc', port: 8080 },
  { name: 'frontend', shape: 'frontend' },
  { name: 'paymentservice', shape: 'grpc', port: 50051 },
  { name: 'productcatalogservice', shape: 'grpc', port: 3550 },
  { name: 'cartservice', shape: 'grpc', port: 7070 },
  { name: 'currencyservice', shape: 'grpc', port: 7000 },
  { name: 'shippingservice', shape: 'grpc', port: 50051 },
  { name: 'adservice', shape: 'grpc', port: 9555 },
  { name: 'loadgenerator', shape: 'loadgenerator' },
];

// --- options -----------------------------------------------------------------

interface Options {
  rounds: number;
  runnerPollMs: number;
  /** Unset: the shipped ClusterClients. Set: a diagnostic registry with this interval. */
  rolloutPollMs?: number;
  rolloutTimeoutS: number;
  boutique: boolean;
  keep: boolean;
  sqliteFile?: string;
  verbose: boolean;
  /** Write the JSON line to bench/results/ (off: --no-record). */
  record: boolean;
}

const HELP = `Usage: yarn bench:deploy [options]

  --rounds N           rounds of (1), each one Kube Delivery deploy + one kubectl deploy,
                       Kube Delivery first in odd rounds, kubectl first in even ones
                       (env BENCH_ROUNDS; default 7)
  --runner-poll-ms MS  DeploymentRunner poll interval (env BENCH_RUNNER_POLL_MS; default 100)
  --rollout-poll-ms MS DIAGNOSTIC: give the runner ClusterClients whose clusters poll
                       rollouts every MS instead of the shipped interval
                       (env BENCH_ROLLOUT_POLL_MS; default: the shipped ClusterClients)
  --rollout-timeout S  kubectl rollout status --timeout and per-deploy wait (default 180)
  --skip-boutique      only run (1)
  --keep               do not delete the created objects at the end
  --sqlite-file PATH   SQLite file instead of :memory: (env BENCH_SQLITE_FILE)
  --verbose            print the backend's info/debug log lines to stderr
  --no-record          do not write the JSON line to bench/results/ (trial runs)
`;

function parseOptions(argv: string[]): Options {
  const env = process.env;
  const num = (name: string, value: string | undefined, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(
        `${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
  const options: Options = {
    rounds: num('BENCH_ROUNDS', env.BENCH_ROUNDS ?? '7', 1),
    runnerPollMs: num(
      'BENCH_RUNNER_POLL_MS',
      env.BENCH_RUNNER_POLL_MS ?? '100',
      1,
    ),
    rolloutPollMs: env.BENCH_ROLLOUT_POLL_MS
      ? num('BENCH_ROLLOUT_POLL_MS', env.BENCH_ROLLOUT_POLL_MS, 1)
      : undefined,
    rolloutTimeoutS: 180,
    boutique: true,
    keep: false,
    sqliteFile: env.BENCH_SQLITE_FILE || undefined,
    verbose: false,
    record: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2) as [
      string,
      string | undefined,
    ];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--rounds':
      case '-n':
        options.rounds = num(flag, value(), 1);
        break;
      case '--runner-poll-ms':
        options.runnerPollMs = num(flag, value(), 1);
        break;
      case '--rollout-poll-ms':
        options.rolloutPollMs = num(flag, value(), 1);
        break;
      case '--rollout-timeout':
        options.rolloutTimeoutS = num(flag, value(), 1);
        break;
      case '--skip-boutique':
        options.boutique = false;
        break;
      case '--keep':
        options.keep = true;
        break;
      case '--sqlite-file':
        options.sqliteFile = value();
        break;
      case '--verbose':
        options.verbose = true;
        break;
      case '--no-record':
        options.record = false;
        break;
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default:
        throw new Error(`Unknown option ${argv[i]}\n\n${HELP}`);
    }
  }
  return options;
}

// --- small helpers -----------------------------------------------------------

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Set by Ctrl-C: the run stops at the next checkpoint, after what is in flight, and cleans up. */
let interrupted = false;
class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}
function checkpoint() {
  if (interrupted) throw new Interrupted();
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const pad = (text: string, width: number) => text.padEnd(width);
/** DIAGNOSTIC ONLY: ClusterClients whose deployers poll rollouts at another interval than the shipped one. */
class RolloutPollClients extends ClusterClients {
  private readonly byEnvironment = new Map<string, EnvironmentCluster>();

  constructor(
    private readonly log: LoggerService,
    private readonly rolloutPollMs: number,
  ) {
    super(log);
  }

  override deploy(environment: EnvironmentConfig): EnvironmentCluster {
    let client = this.byEnvironment.get(environment.name);
    if (!client) {
      client = createEnvironmentCluster(environment.cluster, this.log, {
        pollIntervalMs: this.rolloutPollMs,
        requirePodSecurity: !environment.allowNamespaceWithoutPodSecurity,
      });
      this.byEnvironment.set(environment.name, client);
    }
    return client;
  }
}

/** A gRPC service in the adservice shape (Deployment + Service + ConfigMap, gRPC probes), on its own port. */
function grpcManifest(name: string, port: number, targetPort = port) {
  return adserviceManifest(name)
    .replace(/containerPort: 9555/, `containerPort: ${targetPort}`)
    .replace(/value: "9555"/, `value: "${targetPort}"`)
    .replace(/grpc:\n(\s+)port: 9555/g, `grpc:\n$1port: ${targetPort}`)
    .replace(
      /port: 9555\n(\s+)targetPort: 9555/,
      `port: ${port}\n$1targetPort: ${targetPort}`,
    );
}

/** loadgenerator: a Deployment only (no Service, no probes), in the frontend shape. */
function loadgeneratorManifest(name: string, frontend: string) {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: ${name}
          image: placeholder
          env:
            - name: FRONTEND_ADDR
              value: "${frontend}:80"
            - name: USERS
              value: "10"
            - name: RATE
              value: "1"
          resources:
            requests: { cpu: 300m, memory: 256Mi }
            limits: { cpu: 500m, memory: 512Mi }
`;
}

// --- the benchmark -----------------------------------------------------------

interface Parts {
  cluster: DevCluster;
  config: DeliveryConfig;
  environment: EnvironmentConfig;
  knex: Knex;
  store: DatabaseDeliveryStore;
  delivery: DeliveryService;
  runner: DeploymentRunner;
  /** kubectl with the environment's deployer token (the one Kube Delivery's `dev` cluster uses). */
  deployer: DeployerKubectl;
  /** The one external observer both tools are timed by (admin kubeconfig, its own process). */
  observer: RolloutObserver;
}

/**
 * The delivery backend's parts as src/__testUtils__/deliveryHarness.ts
 * assembles them (createDeliveryHarness needs Jest for its logger mock), with
 * the runner's poll interval from the options.
 */
async function assemble(
  options: Options,
  logger: LoggerService,
  workDir: string,
): Promise<Parts> {
  const cluster = await getDevCluster();
  const base = testDeliveryConfig(cluster);
  const config: DeliveryConfig = {
    ...base,
    runner: { ...base.runner, pollIntervalMs: options.runnerPollMs },
  };
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: options.sqliteFile
      ? { filename: options.sqliteFile }
      : ':memory:',
    useNullAsDefault: true,
  });
  const store = await DatabaseDeliveryStore.create({
    database: { getClient: async () => knex } as any,
  });
  const clusters =
    options.rolloutPollMs === undefined
      ? new ClusterClients(logger)
      : new RolloutPollClients(logger, options.rolloutPollMs);
  const environments = EnvironmentRegistry.fromConfig(config);
  const runner = new DeploymentRunner({
    store,
    environments,
    clusters,
    settings: config.runner,
    logger,
  });
  const releases = new ReleaseService({
    store,
    urlReader: {
      readUrl: async () => {
        throw new Error('bench entities use file: locations; no UrlReader');
      },
    } as any,
    channels: config.channels,
  });
  const delivery = new DeliveryService({
    config,
    environments,
    store,
    releases,
    runner,
    clusters,
    claims: new DatabaseClaimStore(knex),
  });
  runner.start();
  const environment = config.environments.find(e => e.name === ENVIRONMENT)!;
  // The same credentials as Kube Delivery's cluster for the environment.
  const deployer = await deployerKubectl(
    cluster,
    environment.cluster.serviceAccountToken!,
    environment.namespace,
    workDir,
  );
  const observer = await RolloutObserver.start(
    cluster.adminKubeConfig(),
    environment.namespace,
  );
  return {
    cluster,
    config,
    environment,
    knex,
    store,
    delivery,
    runner,
    deployer,
    observer,
  };
}

/** What the observer waits for after deploying `release`: its Deployment with the release's images, all replicas Ready, no old pod left. */
function targetOf(
  release: ReleaseRecord,
  environment: EnvironmentConfig,
): RolloutTarget {
  const { objects, workloadName } = renderedObjects(release, environment);
  const deployment = objects.find(
    o => o.kind === 'Deployment' && o.metadata?.name === workloadName,
  ) as any;
  if (!deployment) {
    throw new Error(`no Deployment ${workloadName} in the rendered objects`);
  }
  return {
    deployment: workloadName,
    images: deployment.spec.template.spec.containers.map((c: any) => c.image),
    replicas: deployment.spec.replicas ?? 1,
  };
}

/** External times relative to t0: the wall (last doneAt) and per target. */
function externalTimes(results: ObservedRollout[], t0: number) {
  const done = results.map(r => r.doneAt - t0);
  const newReady = results.map(r => r.newReadyAt - t0);
  return { wallMs: Math.max(...done), done, newReady };
}

const ms1 = (value: number) => Math.round(value * 10) / 10;

interface KdResult {
  deployment: DeploymentRecord;
  /** deploy() call until the runner recorded `succeeded` (finishedAt): Kube Delivery's own account. */
  ms: number;
  /** deploy() call until this process read `succeeded` from the store. */
  observedMs: number;
  /** deploy() call until the runner marked it running (claim latency). */
  claimMs: number;
  steps: Record<string, number>;
}

async function waitSettled(
  parts: Parts,
  id: string,
  timeoutMs: number,
): Promise<{ deployment: DeploymentRecord; observedAt: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    checkpoint();
    const deployment = await parts.store.getDeployment(id);
    if (deployment.status !== 'queued' && deployment.status !== 'running') {
      return { deployment, observedAt: Date.now() };
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Deployment ${id} still ${
          deployment.status
        } after ${timeoutMs} ms: ${JSON.stringify(deployment.steps)}`,
      );
    }
    await sleep(20);
  }
}

function kdResult(
  deployment: DeploymentRecord,
  t0: number,
  observedAt: number,
): KdResult {
  if (deployment.status !== 'succeeded') {
    throw new Error(
      `Kube Delivery deployment of ${deployment.entityRef} ${deployment.version} ended ${deployment.status}: ${deployment.message}`,
    );
  }
  const steps: Record<string, number> = {};
  for (const step of deployment.steps) {
    if (step.startedAt && step.finishedAt) {
      steps[step.name] =
        Date.parse(step.finishedAt) - Date.parse(step.startedAt);
    }
  }
  return {
    deployment,
    ms: Date.parse(deployment.finishedAt!) - t0,
    observedMs: observedAt - t0,
    claimMs: deployment.startedAt ? Date.parse(deployment.startedAt) - t0 : NaN,
    steps,
  };
}

/** Times as the external observer saw them, from the request on. */
interface External {
  /** Request until the new pods were all Ready and no old pod remained. */
  externalMs: number;
  /** Request until the new pods were all Ready (old ones may have remained). */
  newReadyMs: number;
  watchRestarts: number;
}

/** A Kube Delivery deploy of a release created beforehand (untimed, a separate API call in the product). */
async function kdDeploy(
  parts: Parts,
  entity: Entity,
  release: ReleaseRecord,
  timeoutMs: number,
): Promise<KdResult & External> {
  checkpoint();
  const expectation = await parts.observer.expect([
    targetOf(release, parts.environment),
  ]);
  const t0 = parts.observer.now();
  const queued = await parts.delivery.deploy({
    entity,
    release,
    environment: ENVIRONMENT,
    kind: 'deploy',
    createdBy: ACTOR,
  });
  const { deployment, observedAt } = await waitSettled(
    parts,
    queued.id,
    timeoutMs,
  );
  const own = kdResult(deployment, t0, observedAt);
  const observed = await expectation.done(timeoutMs);
  const external = externalTimes(observed.results, t0);
  return {
    ...own,
    externalMs: external.wallMs,
    newReadyMs: external.newReady[0],
    watchRestarts: observed.watchRestarts,
  };
}

interface KubectlResult extends External {
  /** apply start until `rollout status` exited: kubectl's own account. */
  ms: number;
  applyMs: number;
  rolloutMs: number;
}

/** The same objects Kube Delivery applies (steps.ts workloadObjects + Service), as one JSON List file. */
function writeRendered(
  release: ReleaseRecord,
  environment: EnvironmentConfig,
  dir: string,
) {
  const { objects, workloadName } = renderedObjects(release, environment);
  const file = writeList(
    path.join(dir, `${workloadName}-${release.version}.json`),
    objects,
  );
  return { file, workloadName };
}

/** kubectl with the deployer token: `apply --server-side` of the release's rendered objects, then `rollout status`. */
async function kubectlDeploy(
  parts: Parts,
  release: ReleaseRecord,
  workDir: string,
  timeoutS: number,
): Promise<KubectlResult> {
  checkpoint();
  const { deployer, environment, observer } = parts;
  const { file, workloadName } = writeRendered(release, environment, workDir);
  const expectation = await observer.expect([targetOf(release, environment)]);
  const t0 = observer.now();
  const apply = await deployer.kubectl([
    'apply',
    '--server-side',
    '-n',
    environment.namespace,
    '-f',
    file,
  ]);
  const t1 = observer.now();
  if (apply.code !== 0)
    throw new Error(`kubectl apply -f ${file}: ${apply.stderr}`);
  const rollout = await deployer.kubectl([
    'rollout',
    'status',
    `deployment/${workloadName}`,
    '-n',
    environment.namespace,
    `--timeout=${timeoutS}s`,
  ]);
  const t2 = observer.now();
  if (rollout.code !== 0) {
    throw new Error(
      `kubectl rollout status deployment/${workloadName}: ${rollout.stderr}${rollout.stdout}`,
    );
  }
  const observed = await expectation.done(timeoutS * 1000);
  const external = externalTimes(observed.results, t0);
  return {
    ms: t2 - t0,
    applyMs: t1 - t0,
    rolloutMs: t2 - t1,
    externalMs: external.wallMs,
    newReadyMs: external.newReady[0],
    watchRestarts: observed.watchRestarts,
  };
}

function entityFor(name: string, manifest: string, tempDirs: string[]) {
  const { entity } = entityWithManifest({
    name,
    manifest,
    annotations: {
      'kube-delivery.io/replicas': '2',
      'kube-delivery.io/strategy': 'rolling',
    },
  });
  tempDirs.push(entityDirOf(entity));
  return entity;
}

const createRelease = (parts: Parts, entity: Entity, version: string) =>
  parts.delivery.createRelease({ entity, version, createdBy: ACTOR });

async function cleanup(parts: Parts, names: string[]) {
  if (!names.length) return 'nothing to delete';
  const selector = `app.kubernetes.io/name in (${names.join(',')})`;
  const result = await parts.cluster.kubectl([
    'delete',
    'deployments,services,configmaps,secrets,poddisruptionbudgets',
    '-n',
    parts.environment.namespace,
    '-l',
    selector,
    '--ignore-not-found',
    '--timeout=120s',
  ]);
  if (result.code !== 0)
    throw new Error(`kubectl delete -l '${selector}': ${result.stderr}`);
  const deleted = result.stdout
    .split('\n')
    .filter(line => / deleted/.test(line)).length;
  return `deleted ${deleted} objects in namespace ${parts.environment.namespace} with -l '${selector}'`;
}

/** `uptime`'s line, the machine's load when the run started and ended. */
function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${os
      .loadavg()
      .map(l => l.toFixed(2))
      .join(', ')}`;
  }
}

/** The command line as typed (`yarn bench:deploy …` when run through the script), with the BENCH_* variables set. */
function commandLine(): string {
  const args = process.argv.slice(2);
  const env = Object.entries(process.env)
    .filter(([name]) => name.startsWith('BENCH_'))
    .map(([name, value]) => `${name}=${value}`);
  const command =
    process.env.npm_lifecycle_event === 'bench:deploy'
      ? ['yarn', 'bench:deploy']
      : [
          'node',
          ...process.execArgv,
          path.relative(process.cwd(), process.argv[1]),
        ];
  return [...env, ...command, ...args].join(' ');
}

/** The commit the run's code is at, and the bench files that differ from it (other than results). */
function gitState(): { commit: string; benchChanges: string[] } {
  const git = (args: string[]) =>
    execFileSync('git', args, {
      cwd: path.join(__dirname, '..'),
      encoding: 'utf8',
    });
  try {
    return {
      commit: git(['rev-parse', 'HEAD']).trim(),
      benchChanges: git([
        'status',
        '--porcelain',
        '--',
        'bench',
        ':(exclude)bench/results',
      ])
        .split('\n')
        .filter(Boolean),
    };
  } catch (error) {
    return {
      commit: `unknown (${(error as Error).message})`,
      benchChanges: [],
    };
  }
}

const fmt = (ms: number) => (ms / 1000).toFixed(2);

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const uptimeBefore = uptime();
  const command = commandLine();
  const logger = createBenchLogger(options.verbose);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-bench-'));
  const tempDirs: string[] = [workDir];
  let parts: Parts;
  try {
    parts = await assemble(options, logger, workDir);
  } catch (error) {
    fs.rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
  const { cluster, config, environment, observer } = parts;
  const suffix = randomBytes(3).toString('hex');
  const created: string[] = [];
  const timeoutMs = options.rolloutTimeoutS * 1000;
  const rolloutPollMs = options.rolloutPollMs ?? SHIPPED_ROLLOUT_POLL_MS;

  let cleaned = false;
  let cleanupNote = 'not run';
  const finish = async () => {
    if (cleaned) return;
    cleaned = true;
    // Stop the runner first, so no job writes to the cluster after the delete.
    await Promise.race([parts.runner.stop(), sleep(10_000)]);
    observer.stop();
    try {
      cleanupNote = options.keep
        ? `kept ${created.join(', ')} (namespace ${environment.namespace})`
        : await cleanup(parts, created);
    } catch (error) {
      cleanupNote = `cleanup failed: ${(error as Error).message}`;
    }
    console.log(`cleanup: ${cleanupNote}`);
    await parts.knex.destroy().catch(() => {});
    for (const dir of tempDirs)
      fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    if (interrupted) {
      console.error('interrupted again: exiting without cleanup');
      process.exit(130);
    }
    interrupted = true;
    console.error(
      '\ninterrupted: finishing the current step, then cleaning up (Ctrl-C again to exit at once)',
    );
  });

  const registryNote =
    options.rolloutPollMs === undefined
      ? `${SHIPPED_ROLLOUT_POLL_MS} ms (ClusterClients' ROLLOUT_POLL_INTERVAL_MS)`
      : `${options.rolloutPollMs} ms (DIAGNOSTIC registry, not the shipped ${SHIPPED_ROLLOUT_POLL_MS} ms)`;
  console.log(
    `Kube Delivery deploy benchmark — devcluster ${cluster.server}, namespace ${environment.namespace}, run ${suffix}`,
  );
  console.log(`  ${command}`);
  console.log(`  uptime: ${uptimeBefore}`);
  console.log(
    `  DeploymentRunner poll ${config.runner.pollIntervalMs} ms, lease ${config.runner.leaseMs} ms, ` +
      `max ${RUNNER_CONCURRENCY} concurrent jobs; rollout poll ${registryNote}`,
  );
  console.log(
    `  store: SQLite ${
      options.sqliteFile ?? ':memory:'
    }; credentials: both tools as ${
      parts.deployer.username
    } (environment ${ENVIRONMENT}'s token; kubectl: devcluster binary, kubeconfig with that token)`,
  );
  console.log(
    `  time (both): from the request (deploy() call / kubectl apply spawn) until the observer — a watch of ${environment.namespace}'s ` +
      `ReplicaSets and pods in its own process, admin kubeconfig — saw every pod of the new ReplicaSet Ready and no old pod left; ` +
      `"own" = the tool's account (runner's finishedAt / rollout status exit)`,
  );

  let summary: Record<string, unknown> = {};
  try {
    // (1) one service, alternating ---------------------------------------------
    const kdName = `bench-ad-${suffix}`;
    const kcName = `bench-adk-${suffix}`;
    created.push(kdName, kcName);
    const kdEntity = entityFor(kdName, adserviceManifest(kdName), tempDirs);
    const kcEntity = entityFor(kcName, adserviceManifest(kcName), tempDirs);
    const runKd = async (version: string) =>
      kdDeploy(
        parts,
        kdEntity,
        await createRelease(parts, kdEntity, version),
        timeoutMs,
      );
    const runKc = async (version: string) =>
      kubectlDeploy(
        parts,
        await createRelease(parts, kcEntity, version),
        workDir,
        options.rolloutTimeoutS,
      );

    // Warm-up, untimed: creates both Deployments (and their Service, ConfigMap, PDB).
    const warmKd = await runKd('1.0.0');
    const warmKc = await runKc('1.0.0');

    console.log('');
    console.log(
      `(1) one service: adservice shape, 2 replicas, rolling (maxSurge 1, maxUnavailable 0), new image tag each round; ` +
        `${options.rounds} rounds, Kube Delivery first in odd rounds, kubectl first in even ones`,
    );
    console.log(
      `    warm-up (create, not in the result): Kube Delivery ${sec(
        warmKd.externalMs,
      )}, kubectl ${sec(warmKc.externalMs)}`,
    );
    console.log(
      `    ${pad('round', 6)}${pad('version', 9)}${pad('first', 15)}${pad(
        'Kube Delivery',
        15,
      )}${pad('own (claim / dry run / apply / rollout / clean up)', 56)}${pad(
        'kubectl',
        11,
      )}own (apply + rollout status)`,
    );
    const kd: Array<Awaited<ReturnType<typeof runKd>>> = [];
    const kc: KubectlResult[] = [];
    const order: string[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      checkpoint();
      const version = `1.0.${round}`;
      // Same version, same rendering, same manifest shape; who goes first alternates.
      const kdFirst = round % 2 === 1;
      order.push(kdFirst ? 'kube-delivery' : 'kubectl');
      let a: (typeof kd)[number];
      let b: KubectlResult;
      if (kdFirst) {
        a = await runKd(version);
        b = await runKc(version);
      } else {
        b = await runKc(version);
        a = await runKd(version);
      }
      kd.push(a);
      kc.push(b);
      const s = a.steps;
      const breakdown = [
        a.claimMs,
        s['Dry run'],
        s.Apply,
        s.Rollout,
        s['Clean up'],
      ]
        .map(fmt)
        .join(' / ');
      console.log(
        `    ${pad(String(round), 6)}${pad(version, 9)}${pad(
          kdFirst ? 'Kube Delivery' : 'kubectl',
          15,
        )}${pad(sec(a.externalMs), 15)}${pad(
          `${sec(a.ms)} (${breakdown})`,
          56,
        )}${pad(sec(b.externalMs), 11)}${sec(b.ms)} (${fmt(b.applyMs)} + ${fmt(
          b.rolloutMs,
        )})`,
      );
    }
    const kdMedian = median(kd.map(r => r.externalMs));
    const kcMedian = median(kc.map(r => r.externalMs));
    const ratio = kdMedian / kcMedian;
    const kdOwnMedian = median(kd.map(r => r.ms));
    const kcOwnMedian = median(kc.map(r => r.ms));
    const ownRatio = kdOwnMedian / kcOwnMedian;
    const stepMedian = (name: string) =>
      median(kd.map(r => r.steps[name] ?? NaN));
    const kdStepMedians = {
      claim: median(kd.map(r => r.claimMs)),
      dryRun: stepMedian('Dry run'),
      apply: stepMedian('Apply'),
      rollout: stepMedian('Rollout'),
      cleanUp: stepMedian('Clean up'),
    };
    console.log(
      `    ${pad('median', 30)}${pad(sec(kdMedian), 15)}${pad(
        `${sec(kdOwnMedian)} (${[
          kdStepMedians.claim,
          kdStepMedians.dryRun,
          kdStepMedians.apply,
          kdStepMedians.rollout,
          kdStepMedians.cleanUp,
        ]
          .map(fmt)
          .join(' / ')})`,
        56,
      )}${pad(sec(kcMedian), 11)}${sec(kcOwnMedian)} (${fmt(
        median(kc.map(r => r.applyMs)),
      )} + ${fmt(median(kc.map(r => r.rolloutMs)))})`,
    );
    const restarts =
      kd.reduce((n, r) => n + r.watchRestarts, 0) +
      kc.reduce((n, r) => n + r.watchRestarts, 0);
    console.log(
      `    ratio Kube Delivery / kubectl, observed = ${ratio.toFixed(
        2,
      )} (target ≤ 1.2: ${ratio <= 1.2 ? 'met' : 'NOT met'}); ` +
        `own accounts ${ownRatio.toFixed(
          2,
        )}; new pods Ready (old may remain): median ${sec(
          median(kd.map(r => r.newReadyMs)),
        )} / ${sec(
          median(kc.map(r => r.newReadyMs)),
        )}; observer watch restarts during timing: ${restarts}`,
    );

    // (2) the 11 Online Boutique services at once ------------------------------------
    let boutique: Record<string, unknown> | undefined;
    if (options.boutique) {
      // Kube Delivery's set (<service>-<run>) and, as a reference, the same
      // set through kubectl (<service>-k<run>), interleaved.
      const boutiqueSet = (nameSuffix: string) => {
        const frontend = `frontend-${nameSuffix}`;
        return BOUTIQUE.map(s => {
          const name = `${s.name}-${nameSuffix}`;
          created.push(name);
          let manifest: string;
          if (s.shape === 'frontend') manifest = frontendManifest(name);
          else if (s.shape === 'loadgenerator')
            manifest = loadgeneratorManifest(name, frontend);
          else manifest = grpcManifest(name, s.port!, s.targetPort);
          return entityFor(name, manifest, tempDirs);
        });
      };
      const kdEntities = boutiqueSet(suffix);
      const kcEntities = boutiqueSet(`k${suffix}`);

      const kdWave = async (version: string) => {
        checkpoint();
        const releases = await Promise.all(
          kdEntities.map(e => createRelease(parts, e, version)),
        );
        const expectation = await observer.expect(
          releases.map(r => targetOf(r, environment)),
        );
        const t0 = observer.now();
        const queued = await Promise.all(
          kdEntities.map((entity, i) =>
            parts.delivery.deploy({
              entity,
              release: releases[i],
              environment: ENVIRONMENT,
              kind: 'deploy',
              createdBy: ACTOR,
            }),
          ),
        );
        const queuedMs = observer.now() - t0;
        const settled = await Promise.all(
          queued.map(q => waitSettled(parts, q.id, timeoutMs)),
        );
        const results = settled.map(s =>
          kdResult(s.deployment, t0, s.observedAt),
        );
        const external = externalTimes(
          (await expectation.done(timeoutMs)).results,
          t0,
        );
        return {
          wallMs: external.wallMs,
          perService: external.done,
          ownWallMs: Math.max(...results.map(r => r.ms)),
          queuedMs,
          lastClaimMs: Math.max(...results.map(r => r.claimMs)),
        };
      };
      /** One `kubectl apply --server-side` of the 11 files, then 11 `kubectl rollout status` at once, with the deployer token. */
      const kubectlWave = async (version: string) => {
        checkpoint();
        const releases = await Promise.all(
          kcEntities.map(e => createRelease(parts, e, version)),
        );
        const files = releases.map(r => writeRendered(r, environment, workDir));
        const expectation = await observer.expect(
          releases.map(r => targetOf(r, environment)),
        );
        const t0 = observer.now();
        const apply = await parts.deployer.kubectl([
          'apply',
          '--server-side',
          '-n',
          environment.namespace,
          ...files.flatMap(f => ['-f', f.file]),
        ]);
        const applyMs = observer.now() - t0;
        if (apply.code !== 0)
          throw new Error(`kubectl apply (11 files): ${apply.stderr}`);
        const own = await Promise.all(
          files.map(async f => {
            const r = await parts.deployer.kubectl([
              'rollout',
              'status',
              `deployment/${f.workloadName}`,
              '-n',
              environment.namespace,
              `--timeout=${options.rolloutTimeoutS}s`,
            ]);
            if (r.code !== 0) {
              throw new Error(
                `kubectl rollout status deployment/${f.workloadName}: ${r.stderr}`,
              );
            }
            return observer.now() - t0;
          }),
        );
        const external = externalTimes(
          (await expectation.done(timeoutMs)).results,
          t0,
        );
        return {
          wallMs: external.wallMs,
          perService: external.done,
          ownWallMs: Math.max(...own),
          applyMs,
        };
      };

      // Who goes first alternates here too: Kube Delivery for create, kubectl for roll.
      const create = await kdWave('1.0.0');
      const kcCreate = await kubectlWave('1.0.0');
      const kcRoll = await kubectlWave('1.0.1');
      const roll = await kdWave('1.0.1');
      const rollRatio = roll.wallMs / kdMedian;
      const kcRatio = roll.wallMs / kcRoll.wallMs;
      console.log('');
      console.log(
        `(2) 11 Online Boutique services (*-${suffix}), 2 replicas each, rolling, queued together through Kube Delivery; ` +
          `reference: the same 11 (*-k${suffix}) through kubectl (one apply of 11 files, 11 parallel rollout status); ` +
          `create: Kube Delivery first, roll: kubectl first`,
      );
      const minMedMax = (values: number[]) =>
        `${sec(Math.min(...values))} / ${sec(median(values))} / ${sec(
          Math.max(...values),
        )}`;
      const describe = (w: typeof create) =>
        `observed wall ${sec(w.wallMs)} (own ${sec(
          w.ownWallMs,
        )}; 11 deploy() calls ${Math.round(
          w.queuedMs,
        )} ms; last claimed at ${sec(w.lastClaimMs)}; ` +
        `per service min/median/max ${minMedMax(w.perService)})`;
      const describeKc = (w: typeof kcCreate) =>
        `observed wall ${sec(w.wallMs)} (own ${sec(w.ownWallMs)}; apply ${sec(
          w.applyMs,
        )}; per service min/median/max ${minMedMax(w.perService)})`;
      console.log(
        `    create (first deploy, 1.0.0)  Kube Delivery ${describe(create)}`,
      );
      console.log(
        `                                  kubectl       ${describeKc(
          kcCreate,
        )}`,
      );
      console.log(
        `    roll   (new version, 1.0.1)   Kube Delivery ${describe(roll)}`,
      );
      console.log(
        `                                  kubectl       ${describeKc(kcRoll)}`,
      );
      console.log(
        `    ratio roll wall / one service's Kube Delivery median (${sec(
          kdMedian,
        )}) = ${rollRatio.toFixed(2)}; ` +
          `roll wall Kube Delivery / kubectl (11 at once) = ${kcRatio.toFixed(
            2,
          )}`,
      );
      boutique = {
        services: kdEntities.length,
        replicas: 2,
        createWallMs: ms1(create.wallMs),
        rollWallMs: ms1(roll.wallMs),
        rollPerServiceMedianMs: ms1(median(roll.perService)),
        ratioRollToSingleMedian: round2(rollRatio),
        kubectlCreateWallMs: ms1(kcCreate.wallMs),
        kubectlRollWallMs: ms1(kcRoll.wallMs),
        ratioRollToKubectl: round2(kcRatio),
        own: {
          createWallMs: ms1(create.ownWallMs),
          rollWallMs: ms1(roll.ownWallMs),
          kubectlCreateWallMs: ms1(kcCreate.ownWallMs),
          kubectlRollWallMs: ms1(kcRoll.ownWallMs),
        },
      };
    }

    summary = {
      bench: 'kube-delivery-deploy',
      run: suffix,
      rounds: options.rounds,
      runnerPollMs: config.runner.pollIntervalMs,
      rolloutPollMs,
      rolloutPollShipped: options.rolloutPollMs === undefined,
      measure:
        'observed: request → every new pod Ready and no old pod left (watch of ReplicaSets and pods, own process, admin kubeconfig)',
      credentials: parts.deployer.username,
      single: {
        kubeDeliveryMedianMs: ms1(kdMedian),
        kubectlMedianMs: ms1(kcMedian),
        ratio: round2(ratio),
        target: 1.2,
        first: order,
        kubeDeliveryMs: kd.map(r => ms1(r.externalMs)),
        kubectlMs: kc.map(r => ms1(r.externalMs)),
        newReadyMedianMs: {
          kubeDelivery: ms1(median(kd.map(r => r.newReadyMs))),
          kubectl: ms1(median(kc.map(r => r.newReadyMs))),
        },
        observerWatchRestarts: restarts,
        own: {
          kubeDeliveryMedianMs: ms1(kdOwnMedian),
          kubectlMedianMs: ms1(kcOwnMedian),
          ratio: round2(ownRatio),
          kubeDeliveryMs: kd.map(r => ms1(r.ms)),
          kubectlMs: kc.map(r => ms1(r.ms)),
          kubeDeliveryStepMediansMs: kdStepMedians,
          kubectlApplyMedianMs: ms1(median(kc.map(r => r.applyMs))),
          kubectlRolloutMedianMs: ms1(median(kc.map(r => r.rolloutMs))),
        },
      },
      ...(boutique ? { boutique } : {}),
    };
  } finally {
    await finish();
  }
  const git = gitState();
  const line = JSON.stringify({
    ...summary,
    cleanup: cleanupNote,
    date: startedAt.toISOString(),
    command,
    commit: git.commit,
    ...(git.benchChanges.length ? { benchChanges: git.benchChanges } : {}),
    uptime: { before: uptimeBefore, after: uptime() },
    cores: os.cpus().length,
    node: process.version,
  });
  if (options.record) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(
      RESULTS_DIR,
      `deploy-${startedAt.toISOString().slice(0, 10)}-${suffix}.jsonl`,
    );
    fs.writeFileSync(file, `${line}\n`);
    console.log(`recorded: ${path.relative(process.cwd(), file)}`);
  }
  // The last line: machine-readable.
  console.log(line);
}

main().then(
  () => process.exit(0),
  error => {
    if (error instanceof Interrupted) process.exit(130);
    console.error(`bench:deploy failed: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
