/*
 * Deploy benchmark: Kube Delivery's real backend parts (DeliveryService,
 * DeploymentRunner, DatabaseDeliveryStore on SQLite, ClusterRegistry) against
 * plain `kubectl apply --server-side` + `kubectl rollout status`, on the
 * running devcluster. See bench/README.md.
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
import { createEnvironmentCluster } from '../plugins/kube-delivery-backend/src/cluster';
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
  ClusterRegistry,
  DeliveryService,
  DeploymentRunner,
  ReleaseService,
} from '../plugins/kube-delivery-backend/src/delivery';
import { ROLLOUT_POLL_INTERVAL_MS } from '../plugins/kube-delivery-backend/src/delivery/ClusterRegistry';
import { DatabaseClaimStore } from '../plugins/kube-delivery-backend/src/tenancy';
import { entityDirOf } from './lib/cluster';
import { renderedObjects, writeList } from './lib/render';
import { createBenchLogger } from './lib/logger';
import { median, round2 } from './lib/stats';

const ACTOR = 'user:default/bench';
const ENVIRONMENT = 'dev';
/** EnvironmentCluster's default poll interval (waitForRollout), used by ClusterRegistry. */
const SHIPPED_ROLLOUT_POLL_MS = ROLLOUT_POLL_INTERVAL_MS;
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
  /** Unset: the shipped ClusterRegistry. Set: a diagnostic registry with this interval. */
  rolloutPollMs?: number;
  rolloutTimeoutS: number;
  boutique: boolean;
  keep: boolean;
  sqliteFile?: string;
  verbose: boolean;
}

const HELP = `Usage: yarn bench:deploy [options]

  --rounds N           rounds of (1), each one Kube Delivery deploy + one kubectl deploy
                       (env BENCH_ROUNDS; default 7)
  --runner-poll-ms MS  DeploymentRunner poll interval (env BENCH_RUNNER_POLL_MS; default 100)
  --rollout-poll-ms MS DIAGNOSTIC: give the runner a ClusterRegistry whose clusters poll
                       rollouts every MS instead of the shipped interval
                       (env BENCH_ROLLOUT_POLL_MS; default: the shipped ClusterRegistry)
  --rollout-timeout S  kubectl rollout status --timeout and per-deploy wait (default 180)
  --skip-boutique      only run (1)
  --keep               do not delete the created objects at the end
  --sqlite-file PATH   SQLite file instead of :memory: (env BENCH_SQLITE_FILE)
  --verbose            print the backend's info/debug log lines to stderr
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
/** DIAGNOSTIC ONLY: a ClusterRegistry whose clusters poll rollouts at another interval than the shipped one. */
class RolloutPollRegistry extends ClusterRegistry {
  private readonly byEnvironment = new Map<string, EnvironmentCluster>();

  constructor(
    private readonly log: LoggerService,
    private readonly rolloutPollMs: number,
  ) {
    super(log);
  }

  override forEnvironment(environment: EnvironmentConfig): EnvironmentCluster {
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
}

/**
 * The delivery backend's parts as src/__testUtils__/deliveryHarness.ts
 * assembles them (createDeliveryHarness needs Jest for its logger mock), with
 * the runner's poll interval from the options.
 */
async function assemble(
  options: Options,
  logger: LoggerService,
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
      ? new ClusterRegistry(logger)
      : new RolloutPollRegistry(logger, options.rolloutPollMs);
  const runner = new DeploymentRunner({
    store,
    environments: new Map(config.environments.map(e => [e.name, e])),
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
    store,
    releases,
    runner,
    clusters,
    claims: new DatabaseClaimStore(knex),
  });
  runner.start();
  const environment = config.environments.find(e => e.name === ENVIRONMENT)!;
  return { cluster, config, environment, knex, store, delivery, runner };
}

interface KdResult {
  deployment: DeploymentRecord;
  /** deploy() call until the runner recorded `succeeded` (finishedAt). */
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

async function kdDeploy(
  parts: Parts,
  entity: Entity,
  release: ReleaseRecord,
  timeoutMs: number,
): Promise<KdResult> {
  const t0 = Date.now();
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
  return kdResult(deployment, t0, observedAt);
}

interface KubectlResult {
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

async function kubectlDeploy(
  parts: Parts,
  file: string,
  workloadName: string,
  timeoutS: number,
): Promise<KubectlResult> {
  checkpoint();
  const { cluster, environment } = parts;
  const t0 = Date.now();
  const apply = await cluster.kubectl([
    'apply',
    '--server-side',
    '-n',
    environment.namespace,
    '-f',
    file,
  ]);
  const t1 = Date.now();
  if (apply.code !== 0)
    throw new Error(`kubectl apply -f ${file}: ${apply.stderr}`);
  const rollout = await cluster.kubectl([
    'rollout',
    'status',
    `deployment/${workloadName}`,
    '-n',
    environment.namespace,
    `--timeout=${timeoutS}s`,
  ]);
  const t2 = Date.now();
  if (rollout.code !== 0) {
    throw new Error(
      `kubectl rollout status deployment/${workloadName}: ${rollout.stderr}${rollout.stdout}`,
    );
  }
  return { ms: t2 - t0, applyMs: t1 - t0, rolloutMs: t2 - t1 };
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

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const logger = createBenchLogger(options.verbose);
  const parts = await assemble(options, logger);
  const { cluster, config, environment } = parts;
  const suffix = randomBytes(3).toString('hex');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-bench-'));
  const tempDirs: string[] = [workDir];
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
      ? `${SHIPPED_ROLLOUT_POLL_MS} ms (ClusterRegistry's ROLLOUT_POLL_INTERVAL_MS)`
      : `${options.rolloutPollMs} ms (DIAGNOSTIC registry, not the shipped ${SHIPPED_ROLLOUT_POLL_MS} ms)`;
  console.log(
    `Kube Delivery deploy benchmark — devcluster ${cluster.server}, namespace ${environment.namespace}, run ${suffix}`,
  );
  console.log(
    `  DeploymentRunner poll ${config.runner.pollIntervalMs} ms, lease ${config.runner.leaseMs} ms, ` +
      `max ${RUNNER_CONCURRENCY} concurrent jobs; rollout poll ${registryNote}`,
  );
  console.log(
    `  store: SQLite ${
      options.sqliteFile ?? ':memory:'
    }; kubectl: devcluster binary, admin kubeconfig; ` +
      `times: Kube Delivery = deploy() call → runner's finishedAt (succeeded), kubectl = apply --server-side + rollout status`,
  );

  let summary: Record<string, unknown> = {};
  try {
    // (1) one service, alternating ---------------------------------------------
    const kdName = `bench-ad-${suffix}`;
    const kcName = `bench-adk-${suffix}`;
    created.push(kdName, kcName);
    const kdEntity = entityFor(kdName, adserviceManifest(kdName), tempDirs);
    const kcEntity = entityFor(kcName, adserviceManifest(kcName), tempDirs);

    // Warm-up, untimed: creates both Deployments (and their Service, ConfigMap, PDB).
    const warmKd = await kdDeploy(
      parts,
      kdEntity,
      await createRelease(parts, kdEntity, '1.0.0'),
      timeoutMs,
    );
    const warmKcFile = writeRendered(
      await createRelease(parts, kcEntity, '1.0.0'),
      environment,
      workDir,
    );
    const warmKc = await kubectlDeploy(
      parts,
      warmKcFile.file,
      warmKcFile.workloadName,
      options.rolloutTimeoutS,
    );

    console.log('');
    console.log(
      `(1) one service: adservice shape, 2 replicas, rolling (maxSurge 1, maxUnavailable 0), new image tag each round; ${options.rounds} rounds A/B`,
    );
    console.log(
      `    warm-up (create, untimed in the result): Kube Delivery ${sec(
        warmKd.ms,
      )}, kubectl ${sec(warmKc.ms)}`,
    );
    console.log(
      `    ${pad('round', 6)}${pad('version', 9)}${pad(
        'Kube Delivery',
        15,
      )}${pad(
        '(claim / dry run / apply / rollout / clean up)',
        48,
      )}kubectl (apply + rollout status)`,
    );
    const kd: KdResult[] = [];
    const kc: KubectlResult[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      checkpoint();
      const version = `1.0.${round}`;
      // A: Kube Delivery. The release is created before the clock starts, as the kubectl manifest is rendered before it.
      const kdRelease = await createRelease(parts, kdEntity, version);
      const a = await kdDeploy(parts, kdEntity, kdRelease, timeoutMs);
      kd.push(a);
      // B: kubectl with the same rendering of the same manifest shape.
      const rendered = writeRendered(
        await createRelease(parts, kcEntity, version),
        environment,
        workDir,
      );
      const b = await kubectlDeploy(
        parts,
        rendered.file,
        rendered.workloadName,
        options.rolloutTimeoutS,
      );
      kc.push(b);
      const s = a.steps;
      const breakdown = [
        a.claimMs,
        s['Dry run'],
        s.Apply,
        s.Rollout,
        s['Clean up'],
      ]
        .map(ms => (ms / 1000).toFixed(2))
        .join(' / ');
      console.log(
        `    ${pad(String(round), 6)}${pad(version, 9)}${pad(
          sec(a.ms),
          15,
        )}${pad(`(${breakdown})`, 48)}${sec(b.ms)} (${(
          b.applyMs / 1000
        ).toFixed(2)} + ${(b.rolloutMs / 1000).toFixed(2)})`,
      );
    }
    const kdMedian = median(kd.map(r => r.ms));
    const kcMedian = median(kc.map(r => r.ms));
    const ratio = kdMedian / kcMedian;
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
      `    ${pad('median', 15)}${pad(sec(kdMedian), 15)}${pad(
        `(${[
          kdStepMedians.claim,
          kdStepMedians.dryRun,
          kdStepMedians.apply,
          kdStepMedians.rollout,
          kdStepMedians.cleanUp,
        ]
          .map(ms => (ms / 1000).toFixed(2))
          .join(' / ')})`,
        48,
      )}${sec(kcMedian)} (${(median(kc.map(r => r.applyMs)) / 1000).toFixed(
        2,
      )} + ${(median(kc.map(r => r.rolloutMs)) / 1000).toFixed(2)})`,
    );
    console.log(
      `    ratio Kube Delivery / kubectl = ${ratio.toFixed(2)} (target ≤ 1.2: ${
        ratio <= 1.2 ? 'met' : 'NOT met'
      }); ` +
        `Kube Delivery observed by polling the store every 20 ms: median ${sec(
          median(kd.map(r => r.observedMs)),
        )}`,
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
        const t0 = Date.now();
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
        const queuedMs = Date.now() - t0;
        const settled = await Promise.all(
          queued.map(q => waitSettled(parts, q.id, timeoutMs)),
        );
        const results = settled.map(s =>
          kdResult(s.deployment, t0, s.observedAt),
        );
        return {
          wallMs: Math.max(...results.map(r => r.ms)),
          queuedMs,
          lastClaimMs: Math.max(...results.map(r => r.claimMs)),
          perService: results.map(r => r.ms),
        };
      };
      /** One `kubectl apply --server-side` of the 11 files, then 11 `kubectl rollout status` at once. */
      const kubectlWave = async (version: string) => {
        checkpoint();
        const files = await Promise.all(
          kcEntities.map(async e =>
            writeRendered(
              await createRelease(parts, e, version),
              environment,
              workDir,
            ),
          ),
        );
        const t0 = Date.now();
        const apply = await cluster.kubectl([
          'apply',
          '--server-side',
          '-n',
          environment.namespace,
          ...files.flatMap(f => ['-f', f.file]),
        ]);
        const applyMs = Date.now() - t0;
        if (apply.code !== 0)
          throw new Error(`kubectl apply (11 files): ${apply.stderr}`);
        const perService = await Promise.all(
          files.map(async f => {
            const r = await cluster.kubectl([
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
            return Date.now() - t0;
          }),
        );
        return { wallMs: Math.max(...perService), applyMs, perService };
      };

      const create = await kdWave('1.0.0');
      const kcCreate = await kubectlWave('1.0.0');
      const roll = await kdWave('1.0.1');
      const kcRoll = await kubectlWave('1.0.1');
      const rollRatio = roll.wallMs / kdMedian;
      const kcRatio = roll.wallMs / kcRoll.wallMs;
      console.log('');
      console.log(
        `(2) 11 Online Boutique services (*-${suffix}), 2 replicas each, rolling, queued together through Kube Delivery; ` +
          `reference: the same 11 (*-k${suffix}) through kubectl (one apply of 11 files, 11 parallel rollout status)`,
      );
      const minMedMax = (values: number[]) =>
        `${sec(Math.min(...values))} / ${sec(median(values))} / ${sec(
          Math.max(...values),
        )}`;
      const describe = (w: typeof create) =>
        `wall ${sec(w.wallMs)} (11 deploy() calls ${
          w.queuedMs
        } ms; last claimed at ${sec(w.lastClaimMs)}; ` +
        `per service min/median/max ${minMedMax(w.perService)})`;
      const describeKc = (w: typeof kcCreate) =>
        `wall ${sec(w.wallMs)} (apply ${sec(
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
        createWallMs: create.wallMs,
        rollWallMs: roll.wallMs,
        rollPerServiceMedianMs: median(roll.perService),
        ratioRollToSingleMedian: round2(rollRatio),
        kubectlCreateWallMs: kcCreate.wallMs,
        kubectlRollWallMs: kcRoll.wallMs,
        ratioRollToKubectl: round2(kcRatio),
      };
    }

    summary = {
      bench: 'kube-delivery-deploy',
      run: suffix,
      rounds: options.rounds,
      runnerPollMs: config.runner.pollIntervalMs,
      rolloutPollMs,
      rolloutPollShipped: options.rolloutPollMs === undefined,
      single: {
        kubeDeliveryMedianMs: kdMedian,
        kubectlMedianMs: kcMedian,
        ratio: round2(ratio),
        target: 1.2,
        kubeDeliveryMs: kd.map(r => r.ms),
        kubectlMs: kc.map(r => r.ms),
        kubeDeliveryStepMediansMs: kdStepMedians,
        kubectlApplyMedianMs: median(kc.map(r => r.applyMs)),
        kubectlRolloutMedianMs: median(kc.map(r => r.rolloutMs)),
      },
      ...(boutique ? { boutique } : {}),
    };
  } finally {
    await finish();
  }
  // The last line: machine-readable.
  console.log(JSON.stringify({ ...summary, cleanup: cleanupNote }));
}

main().then(
  () => process.exit(0),
  error => {
    if (error instanceof Interrupted) process.exit(130);
    console.error(`bench:deploy failed: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
