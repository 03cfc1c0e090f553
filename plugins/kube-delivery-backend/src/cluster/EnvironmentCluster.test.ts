/*
 * Runs against the real control plane of `yarn devcluster up` (or the cluster it was
 * pointed at). Fails, never skips, when it is not running.
 *
 * The code under test only ever uses the namespace-scoped ServiceAccount tokens;
 * the admin kubectl is for setup and inspection.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mockServices } from '@backstage/backend-test-utils';
import { InputError, NotAllowedError } from '@backstage/errors';
import { ClusterUnreachableError } from './errors';
import type {
  KubernetesObject,
  V1Deployment,
  V1Job,
} from '@kubernetes/client-node';
import {
  DevCluster,
  getDevCluster,
  NEVER_READY_ANNOTATION,
} from '@internal/devcluster';
import { ownerLabels } from '../tenancy/ownership';
import { foreignReplicasOwner } from './apply';
import {
  createEnvironmentCluster,
  EnvironmentCluster,
} from './EnvironmentCluster';
import type { RolloutStatus } from './rollout';

jest.setTimeout(120_000);

const RUN_LABEL = 'kube-delivery.io/test-run';
const run = `kdc-${Date.now().toString(36)}`;
let seq = 0;
const unique = (what: string) => `${run}-${what}-${++seq}`;

let cluster: DevCluster;
let dev: EnvironmentCluster;

beforeAll(async () => {
  cluster = await getDevCluster();
  dev = devEnvironment(500);
});

/** The dev namespace through its own ServiceAccount token. */
function devEnvironment(pollIntervalMs: number) {
  return createEnvironmentCluster(
    {
      name: 'dev',
      namespace: 'dev',
      url: cluster.server,
      caData: cluster.caData,
      serviceAccountToken: cluster.tokens.dev,
    },
    mockServices.logger.mock(),
    { pollIntervalMs },
  );
}

/** Reads once at the start of a wait, then only its watch can bring news in time. */
const watchOnlyEnvironment = () => devEnvironment(3_600_000);

afterAll(async () => {
  if (!cluster) return;
  await cluster.kubectl([
    'delete',
    'deployments,configmaps,jobs',
    '-n',
    'dev',
    '-l',
    `${RUN_LABEL}=${run}`,
    '--ignore-not-found',
    '--wait=false',
  ]);
});

async function kubectl(args: string[]): Promise<string> {
  const result = await cluster.kubectl(args);
  if (result.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  }
  return result.stdout;
}

async function getAsAdmin(
  kind: string,
  name: string,
): Promise<any | undefined> {
  const result = await cluster.kubectl([
    'get',
    kind,
    name,
    '-n',
    'dev',
    '-o',
    'json',
    '--show-managed-fields',
  ]);
  if (result.code !== 0) {
    if (/NotFound/.test(result.stderr)) return undefined;
    throw new Error(result.stderr);
  }
  return JSON.parse(result.stdout);
}

function configMap(name: string, data: Record<string, string> = { a: '1' }) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      labels: { [RUN_LABEL]: run, 'app.kubernetes.io/name': name },
    },
    data,
  };
}

function deployment(
  name: string,
  options: {
    replicas?: number;
    neverReady?: boolean;
    progressDeadlineSeconds?: number;
    note?: string;
  } = {},
): V1Deployment {
  const labels = { app: name, [RUN_LABEL]: run };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: options.replicas ?? 2,
      progressDeadlineSeconds: options.progressDeadlineSeconds,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: {
          labels,
          annotations: {
            ...(options.neverReady ? { [NEVER_READY_ANNOTATION]: 'true' } : {}),
            ...(options.note ? { 'kube-delivery.io/note': options.note } : {}),
          },
        },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'registry.k8s.io/pause:3.10',
              // kwok ignores probes; on a real cluster this keeps the pod unready.
              ...(options.neverReady
                ? {
                    readinessProbe: {
                      exec: { command: ['false'] },
                      periodSeconds: 1,
                    },
                  }
                : {}),
            },
          ],
        },
      },
    },
  };
}

describe('dryRun', () => {
  it('rejects an invalid object with InputError naming it, and writes nothing', async () => {
    const good = configMap(unique('cm'));
    const badName = unique('bad');
    const bad = deployment(badName);
    delete (bad.spec!.template.spec!.containers[0] as any).image;

    const error = await dev.dryRun([good, bad]).catch(e => e);
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toContain(`Deployment "${badName}"`);
    expect(error.message).toMatch(/image: Required value/);

    expect(await getAsAdmin('configmap', good.metadata.name)).toBeUndefined();
    expect(await getAsAdmin('deployment', badName)).toBeUndefined();
  });

  it('rejects unknown fields (strict validation) instead of dropping them', async () => {
    const name = unique('typo');
    const typo: any = deployment(name);
    typo.spec.replicass = 3;
    const error = await dev.dryRun([typo]).catch(e => e);
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toContain('replicass');
    expect(await getAsAdmin('deployment', name)).toBeUndefined();
  });

  it('accepts valid objects without writing them', async () => {
    const cm = configMap(unique('cm'));
    await dev.dryRun([cm, deployment(unique('dep'))]);
    expect(await getAsAdmin('configmap', cm.metadata.name)).toBeUndefined();
  });

  it('refuses objects of another namespace before asking the server', async () => {
    const cm = configMap(unique('cm'));
    Object.assign(cm.metadata, { namespace: 'test' });
    await expect(dev.dryRun([cm])).rejects.toThrow(
      /names namespace "test", but environment "dev" is confined to namespace "dev"/,
    );
  });
});

describe('apply', () => {
  it('is a no-op the second time (resourceVersion unchanged), and its change set says so', async () => {
    // Owned, so the apply reads it first and can tell what it did.
    const cm = configMap(unique('cm'));
    Object.assign(cm.metadata.labels, ownerLabels('component:default/apply'));
    const dep = deployment(unique('dep'), { replicas: 1 });
    const first = await dev.apply([cm, dep]);
    expect(first.changes).toEqual([
      { kind: 'ConfigMap', name: cm.metadata.name, action: 'created' },
      { kind: 'Deployment', name: dep.metadata!.name, action: 'created' },
    ]);
    // The Deployment controller writes status after our apply; let it settle.
    expect(
      (await dev.waitForRollout(dep.metadata!.name!, { timeoutMs: 60_000 }))
        .complete,
    ).toBe(true);
    const before = [
      (await getAsAdmin('configmap', cm.metadata.name)).metadata
        .resourceVersion,
      (await getAsAdmin('deployment', dep.metadata!.name!)).metadata
        .resourceVersion,
    ];

    const again = await dev.apply([cm, dep]);
    expect(again.objects.map(o => o.metadata?.resourceVersion)).toEqual(before);
    expect(again.changes.map(c => c.action)).toEqual([
      'unchanged',
      'unchanged',
    ]);
    const live = await getAsAdmin('configmap', cm.metadata.name);
    expect(live.metadata.resourceVersion).toBe(before[0]);
    expect(live.metadata.managedFields.map((f: any) => f.manager)).toEqual([
      'kube-delivery',
    ]);
    const changed = await dev.apply([
      { ...cm, data: { a: '2' } } as KubernetesObject,
    ]);
    expect(changed.changes.map(c => c.action)).toEqual(['configured']);
    // Not owned and not scalable: written without a read.
    const unread = await dev.apply([configMap(unique('cm'))]);
    expect(unread.changes.map(c => c.action)).toEqual(['applied']);
  });

  it('keeps a label another field manager added', async () => {
    const cm = configMap(unique('cm'));
    await dev.apply([cm]);
    await kubectl([
      'label',
      'configmap',
      cm.metadata.name,
      '-n',
      'dev',
      'team=payments',
    ]);
    await kubectl([
      'annotate',
      'configmap',
      cm.metadata.name,
      '-n',
      'dev',
      'example.com/owner=platform',
    ]);

    const changed = { ...cm, data: { a: '2' } };
    const {
      objects: [reapplied],
    } = await dev.apply([changed]);
    expect(reapplied.metadata?.labels).toMatchObject({
      team: 'payments',
      [RUN_LABEL]: run,
    });
    expect(reapplied.metadata?.annotations).toMatchObject({
      'example.com/owner': 'platform',
    });

    const live = await getAsAdmin('configmap', cm.metadata.name);
    expect(live.metadata.labels.team).toBe('payments');
    expect(live.data).toEqual({ a: '2' });
  });

  it('leaves spec.replicas alone while another manager (kubectl scale) owns it', async () => {
    const name = unique('scaled');
    await dev.apply([deployment(name, { replicas: 2 })]);
    await kubectl(['scale', 'deployment', name, '-n', 'dev', '--replicas=3']);

    const scaled = await getAsAdmin('deployment', name);
    const owner = foreignReplicasOwner(scaled.metadata.managedFields);
    // `kubectl scale` writes through the scale subresource. The API server records an
    // Update with subresource "scale" by a manager named after the client's binary
    // (User-Agent): "kubectl" normally, "kubectl-v1.37.2" for the devcluster's binary.
    const entry = scaled.metadata.managedFields.find(
      (f: any) => f.manager === owner,
    );
    expect(owner).toMatch(/^kubectl/);
    expect(entry).toMatchObject({ operation: 'Update', subresource: 'scale' });

    const {
      objects: [reapplied],
    } = await dev.apply([deployment(name, { replicas: 2, note: 'v2' })]);
    expect((reapplied as V1Deployment).spec?.replicas).toBe(3);
    const live = await getAsAdmin('deployment', name);
    expect(live.spec.replicas).toBe(3);
    expect(
      live.spec.template.metadata.annotations['kube-delivery.io/note'],
    ).toBe('v2');
  });

  it('sets replicas when nobody else owns them', async () => {
    const name = unique('ours');
    await dev.apply([deployment(name, { replicas: 1 })]);
    const {
      objects: [reapplied],
    } = await dev.apply([deployment(name, { replicas: 2 })]);
    expect((reapplied as V1Deployment).spec?.replicas).toBe(2);
  });
});

describe('read, list, delete', () => {
  it('reads, lists by label and deletes; 404 is undefined / ignored', async () => {
    const cm = configMap(unique('cm'));
    await dev.apply([cm]);
    expect(
      (await dev.read('v1', 'ConfigMap', cm.metadata.name))?.metadata?.name,
    ).toBe(cm.metadata.name);
    expect(
      await dev.read('v1', 'ConfigMap', unique('missing')),
    ).toBeUndefined();

    const listed = await dev.list(
      'v1',
      'ConfigMap',
      `app.kubernetes.io/name=${cm.metadata.name}`,
    );
    expect(listed.map(o => [o.kind, o.metadata?.name])).toEqual([
      ['ConfigMap', cm.metadata.name],
    ]);

    expect(await dev.delete('v1', 'ConfigMap', cm.metadata.name)).toBe(true);
    expect(await dev.delete('v1', 'ConfigMap', cm.metadata.name)).toBe(false);
    expect(await getAsAdmin('configmap', cm.metadata.name)).toBeUndefined();
  });

  it('refuses cluster-scoped kinds', async () => {
    await expect(dev.read('v1', 'Namespace', 'dev')).rejects.toThrow(
      /cluster-scoped/,
    );
  });
});

describe('rollout', () => {
  it('reaches complete for a 2-replica Deployment, with pods on nodes', async () => {
    const name = unique('web');
    await dev.apply([deployment(name, { replicas: 2 })]);
    const seen: RolloutStatus[] = [];
    const status = await dev.waitForRollout(name, {
      timeoutMs: 60_000,
      onProgress: s => seen.push(s),
    });
    expect(status).toMatchObject({
      exists: true,
      complete: true,
      deadlineExceeded: false,
      observedGenerationCurrent: true,
      desired: 2,
      updated: 2,
      ready: 2,
      available: 2,
      progressing: 'True',
    });
    expect(status.message).toBe(
      'Rollout complete: 2 of 2 updated replicas are available',
    );
    expect(status.pods).toHaveLength(2);
    for (const pod of status.pods) {
      expect(pod).toMatchObject({ ready: true, phase: 'Running' });
      expect(pod.node).toMatch(/^kd-node-\d$/);
      expect(pod.ip).toMatch(/^10\.244\./);
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[seen.length - 1]).toEqual(status);

    expect(await dev.rolloutStatus(name)).toMatchObject({
      complete: true,
      available: 2,
    });
  });

  it('is woken by the Deployment watch: completes even when its poll interval is longer than the wait', async () => {
    const watched = watchOnlyEnvironment();
    const name = unique('watched');
    await watched.apply([deployment(name, { replicas: 2 })]);
    const status = await watched.waitForRollout(name, { timeoutMs: 60_000 });
    expect(status.message).toBe(
      'Rollout complete: 2 of 2 updated replicas are available',
    );
  });

  it('reports deadlineExceeded for pods that never become ready', async () => {
    const name = unique('stuck');
    await dev.apply([
      deployment(name, {
        replicas: 1,
        neverReady: true,
        progressDeadlineSeconds: 10,
      }),
    ]);
    const status = await dev.waitForRollout(name, { timeoutMs: 60_000 });
    expect(status).toMatchObject({
      complete: false,
      deadlineExceeded: true,
      progressing: 'False',
      progressReason: 'ProgressDeadlineExceeded',
      available: 0,
    });
    expect(status.message).toMatch(/exceeded its progress deadline/);
    expect(status.pods).toEqual([
      expect.objectContaining({ ready: false, phase: 'Running' }),
    ]);
  });

  it('says when a Deployment does not exist, and times out with the last status', async () => {
    const name = unique('absent');
    expect(await dev.rolloutStatus(name)).toMatchObject({
      exists: false,
      complete: false,
    });
    const status = await dev.waitForRollout(name, { timeoutMs: 1500 });
    expect(status.complete).toBe(false);
    expect(status.message).toMatch(
      /^Timed out after 1.5 s waiting for Deployment .* does not exist$/,
    );
  });

  it('stops when aborted', async () => {
    const name = unique('aborted');
    await dev.apply([deployment(name, { replicas: 1, neverReady: true })]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 1000);
    await expect(
      dev.waitForRollout(name, {
        timeoutMs: 60_000,
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });
});

function smokeJob(name: string, nodeSelector?: Record<string, string>): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { [RUN_LABEL]: run } },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { [RUN_LABEL]: run } },
        spec: {
          restartPolicy: 'Never',
          nodeSelector,
          containers: [{ name: 'smoke', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  };
}

describe('runJob', () => {
  it('applies a Job and waits for it to complete', async () => {
    const name = unique('smoke');
    const job = smokeJob(name);
    const result = await dev.runJob(job, { timeoutMs: 60_000 });
    expect(result).toEqual({
      succeeded: true,
      message: expect.stringContaining(`Job "${name}" succeeded`),
    });
    // Running it again finds the finished Job (idempotent resume).
    expect((await dev.runJob(job, { timeoutMs: 10_000 })).succeeded).toBe(true);
  });

  it('is woken by the Job watch: completes even when its poll interval is longer than the wait', async () => {
    const name = unique('watched-smoke');
    const result = await watchOnlyEnvironment().runJob(smokeJob(name), {
      timeoutMs: 60_000,
    });
    expect(result.message).toContain(`Job "${name}" succeeded`);
  });

  it('times out, resumes, and reports a failed Job with the exit code', async () => {
    // kwok completes every Job pod with exit code 0. To get a failure, keep the pod
    // unscheduled (no node matches) and mark it Failed as the admin.
    const name = unique('failing');
    const job = smokeJob(name, { 'kube-delivery.io/no-such-node': 'true' });
    const timedOut = await dev.runJob(job, { timeoutMs: 2000 });
    expect(timedOut.succeeded).toBe(false);
    expect(timedOut.message).toMatch(
      new RegExp(
        `^Job "${name}" did not finish within 2 s: Job "${name}" is running \\(active 1,`,
      ),
    );

    const pod = JSON.parse(
      await kubectl([
        'get',
        'pods',
        '-n',
        'dev',
        '-l',
        `batch.kubernetes.io/job-name=${name}`,
        '-o',
        'json',
      ]),
    ).items[0];
    const now = new Date().toISOString();
    await kubectl([
      'patch',
      'pod',
      pod.metadata.name,
      '-n',
      'dev',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          phase: 'Failed',
          containerStatuses: [
            {
              name: 'smoke',
              image: 'registry.k8s.io/pause:3.10',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: {
                terminated: {
                  exitCode: 3,
                  reason: 'Error',
                  message: 'checkout returned 500',
                  startedAt: now,
                  finishedAt: now,
                },
              },
            },
          ],
        },
      }),
    ]);

    const failed = await dev.runJob(job, { timeoutMs: 60_000 });
    expect(failed.succeeded).toBe(false);
    expect(failed.message).toMatch(
      new RegExp(`^Job "${name}" failed \\(BackoffLimitExceeded: `),
    );
    expect(failed.message).toContain(
      `pod ${pod.metadata.name}: container smoke exited with code 3 (Error): checkout returned 500`,
    );
  });
});

describe('permissions', () => {
  it('gives NotAllowedError naming verb and resource for another namespace', async () => {
    const devTokenInTest = createEnvironmentCluster(
      {
        name: 'test-with-dev-token',
        namespace: 'test',
        url: cluster.server,
        caData: cluster.caData,
        serviceAccountToken: cluster.tokens.dev,
      },
      mockServices.logger.mock(),
    );
    const applyError = await devTokenInTest
      .apply([configMap(unique('cm'))])
      .catch(e => e);
    expect(applyError).toBeInstanceOf(NotAllowedError);
    expect(applyError.message).toMatch(
      /may not patch configmaps \(needed to patch ConfigMap "/,
    );
    expect(applyError.message).toContain('namespace "test"');
    expect(applyError.message).not.toContain(cluster.tokens.dev);

    const readError = await devTokenInTest
      .read('apps/v1', 'Deployment', 'x')
      .catch(e => e);
    expect(readError).toBeInstanceOf(NotAllowedError);
    expect(readError.message).toMatch(/may not get deployments\.apps/);
  });

  it('whoCan lists the denied checks', async () => {
    const denied = await dev.whoCan([
      { verb: 'patch', group: 'apps', resource: 'deployments' },
      { verb: 'create', group: '', resource: 'configmaps' },
      { verb: 'delete', group: '', resource: 'pods' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'roles' },
      {
        verb: 'update',
        group: 'apps',
        resource: 'deployments',
        subresource: 'scale',
      },
    ]);
    expect(
      denied.map(({ verb, group, resource }) => ({ verb, group, resource })),
    ).toEqual([
      { verb: 'delete', group: '', resource: 'pods' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'roles' },
    ]);
  });
});

describe('credentials and reachability', () => {
  it('re-reads a token file, so a rotated token is used without a restart', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-token-'));
    const tokenFile = path.join(dir, 'token');
    const staleToken = 'not-a-valid-token-0123456789';
    fs.writeFileSync(tokenFile, staleToken);
    try {
      const env = createEnvironmentCluster(
        {
          name: 'dev',
          namespace: 'dev',
          url: cluster.server,
          caData: cluster.caData,
          serviceAccountTokenFile: tokenFile,
        },
        mockServices.logger.mock(),
      );
      const error = await env.read('v1', 'ConfigMap', 'x').catch(e => e);
      expect(error.message).toMatch(/401 Unauthorized/);
      expect(error.message).not.toContain(staleToken);

      fs.writeFileSync(tokenFile, `${cluster.tokens.dev}\n`);
      expect(
        await env.read('v1', 'ConfigMap', unique('missing')),
      ).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says clearly when the cluster cannot be reached, without the token', async () => {
    const token = 'secret-token-that-must-not-leak';
    const env = createEnvironmentCluster(
      {
        name: 'nowhere',
        namespace: 'dev',
        url: 'https://127.0.0.1:1',
        caData: cluster.caData,
        serviceAccountToken: token,
      },
      mockServices.logger.mock(),
      { retry: { attempts: 2, baseDelayMs: 10 } },
    );
    const error = await env.apply([configMap(unique('cm'))]).catch(e => e);
    // Not a 4xx: nothing the caller sent was wrong.
    expect(error.constructor).toBe(ClusterUnreachableError);
    expect(error.message).toMatch(
      /^Cannot reach the Kubernetes API server of environment "nowhere" \(namespace "dev"\) at https:\/\/127\.0\.0\.1:1 .*ECONNREFUSED/,
    );
    expect(error.message).not.toContain(token);
  });
});
