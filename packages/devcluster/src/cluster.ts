import * as fs from 'fs';
import * as path from 'path';
import { Binaries, binaries, ensureBinaries } from './build';
import { generatePki, pkiPaths, writeKubeconfig } from './certs';
import { exec, ExecResult } from './exec';
import {
  DataPlaneState,
  dataPlaneWanted,
  gatewayApiObjects,
  GATEWAY_NAMESPACE,
  HTTP_PORT,
  HTTPS_PORT,
  makePodNetworkLocal,
  removePodNetworkRoute,
  traefikArgs,
} from './dataPlane';
import { KWOK_LOG_KINDS, kwokLogCrdFiles, writeKwokConfig } from './kwok';
import { packageDir, stateDir } from './paths';
import {
  ComponentState,
  freePorts,
  httpStatus,
  isRunning,
  killGroup,
  spawnDetached,
  waitHealthy,
} from './processes';
import {
  applyObjects,
  installCrdFiles,
  nodeObjects,
  readTokens,
  setupCluster,
} from './setup';
import {
  CLUSTER_CIDR,
  DeployNamespace,
  NAMESPACES,
  SERVICE_CIDR,
  TokenNamespace,
  VERSIONS,
} from './versions';

export const NOT_RUNNING_MESSAGE =
  'devcluster is not running: run `yarn devcluster up`';

/** Connection info of the running cluster. */
export interface DevCluster {
  /** 'local': the processes started by `devcluster up`; 'external': your KUBECONFIG. */
  mode: 'local' | 'external';
  /** API server URL, e.g. https://127.0.0.1:41234 */
  server: string;
  /** base64 of the PEM CA bundle that signs the API server's certificate. */
  caData: string;
  /** Admin kubeconfig (for 'external': the file KUBECONFIG pointed at). */
  kubeconfigPath: string;
  /** Same as kubeconfigPath. */
  adminKubeConfig(): string;
  namespaces: DeployNamespace[];
  /** TokenRequest tokens of the deployer accounts in kube-delivery-system: deployer-dev/-test/-production (for dev/test/production) and gateway (istio-system). */
  tokens: Record<TokenNamespace, string>;
  /** Runs the devcluster's kubectl with the admin kubeconfig. */
  kubectl(args: string[], options?: { input?: string }): Promise<ExecResult>;
  /** Traefik and the pod runner (see dataPlane.ts), or why there are none. */
  dataPlane: DataPlaneState;
}

interface ClusterState {
  mode: 'local' | 'external';
  server: string;
  caData: string;
  kubeconfigPath: string;
  kubectl: string;
  versions: typeof VERSIONS;
  startedAt: string;
  /** Set once setup finished: until then `up` treats the state as stale. */
  ready: boolean;
  components: ComponentState[];
  dataPlane?: DataPlaneState;
}

const files = () => {
  const dir = stateDir();
  return {
    dir,
    state: path.join(dir, 'cluster.json'),
    pki: path.join(dir, 'pki'),
    logs: path.join(dir, 'logs'),
    tokens: path.join(dir, 'tokens'),
    etcdData: path.join(dir, 'etcd'),
    kwokConfig: path.join(dir, 'kwok.yaml'),
    kubectlCache: path.join(dir, 'kubectl-cache'),
    kubeconfig: (name: string) => path.join(dir, `${name}.kubeconfig`),
  };
};

function readState(): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(files().state, 'utf8'));
  } catch {
    return undefined;
  }
}

function writeState(state: ClusterState): void {
  const f = files();
  fs.mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(`${f.state}.tmp`, JSON.stringify(state, null, 2), {
    mode: 0o600,
  });
  fs.renameSync(`${f.state}.tmp`, f.state);
}

function makeKubectl(kubectlBinary: string, kubeconfig: string) {
  return (args: string[], options: { input?: string } = {}) =>
    exec(
      kubectlBinary,
      [
        `--kubeconfig=${kubeconfig}`,
        `--cache-dir=${files().kubectlCache}`,
        ...args,
      ],
      { input: options.input, timeoutMs: 180000 },
    );
}

export interface ComponentStatus {
  name: string;
  pid?: number;
  port?: number;
  running: boolean;
  healthy: boolean;
  healthUrl: string;
  log?: string;
}

async function componentStatuses(
  state: ClusterState,
): Promise<ComponentStatus[]> {
  const ca = Buffer.from(state.caData, 'base64');
  return Promise.all(
    state.components.map(async c => {
      const running = isRunning(c.pid, c.binary);
      const healthy =
        running &&
        (await httpStatus(c.healthUrl, { ca, timeoutMs: 2000 })).status === 200;
      return {
        name: c.name,
        pid: c.pid,
        port: c.port,
        running,
        healthy,
        healthUrl: c.healthUrl,
        log: c.log,
      };
    }),
  );
}

async function externalHealthy(state: ClusterState): Promise<boolean> {
  const result = await makeKubectl(
    state.kubectl,
    state.kubeconfigPath,
  )(['get', '--raw', '/readyz']);
  return result.code === 0;
}

export interface DevClusterStatus {
  state: 'running' | 'stopped' | 'unhealthy';
  dataPlane?: DataPlaneState;
  mode?: 'local' | 'external';
  server?: string;
  kubeconfigPath?: string;
  stateDir: string;
  components: ComponentStatus[];
}

export async function devClusterStatus(): Promise<DevClusterStatus> {
  const state = readState();
  const dir = stateDir();
  if (!state) return { state: 'stopped', stateDir: dir, components: [] };
  if (state.mode === 'external') {
    const healthy = await externalHealthy(state);
    return {
      state: healthy && state.ready ? 'running' : 'unhealthy',
      mode: state.mode,
      server: state.server,
      kubeconfigPath: state.kubeconfigPath,
      stateDir: dir,
      components: [
        {
          name: 'external cluster',
          running: healthy,
          healthy,
          healthUrl: `${state.server}/readyz`,
        },
      ],
    };
  }
  const components = await componentStatuses(state);
  const allHealthy = components.length > 0 && components.every(c => c.healthy);
  const anyRunning = components.some(c => c.running);
  let overall: DevClusterStatus['state'] = anyRunning ? 'unhealthy' : 'stopped';
  if (allHealthy && state.ready) overall = 'running';
  return {
    state: overall,
    dataPlane: state.dataPlane,
    mode: state.mode,
    server: state.server,
    kubeconfigPath: state.kubeconfigPath,
    stateDir: dir,
    components,
  };
}

function toDevCluster(state: ClusterState): DevCluster {
  const kubectl = makeKubectl(state.kubectl, state.kubeconfigPath);
  return {
    mode: state.mode,
    server: state.server,
    caData: state.caData,
    kubeconfigPath: state.kubeconfigPath,
    adminKubeConfig: () => state.kubeconfigPath,
    namespaces: [...NAMESPACES],
    tokens: readTokens(files().tokens),
    kubectl,
    dataPlane: state.dataPlane ?? {
      unavailable: 'this cluster was started without a data plane',
    },
  };
}

/**
 * Connection info of the running devcluster; throws "devcluster is not running: run
 * `yarn devcluster up`" if there is none or it is not healthy.
 */
export async function getDevCluster(): Promise<DevCluster> {
  const state = readState();
  if (!state || !state.ready) throw new Error(NOT_RUNNING_MESSAGE);
  if (state.mode === 'external') {
    if (!(await externalHealthy(state))) {
      throw new Error(
        `${NOT_RUNNING_MESSAGE} (the cluster of ${state.kubeconfigPath} is not ready)`,
      );
    }
    return toDevCluster(state);
  }
  const apiserver = state.components.find(c => c.name === 'kube-apiserver');
  const broken = (await componentStatuses(state)).filter(c => !c.healthy);
  if (!apiserver || broken.length > 0) {
    throw new Error(
      `${NOT_RUNNING_MESSAGE} (not healthy: ${
        broken.map(c => c.name).join(', ') || 'kube-apiserver'
      })`,
    );
  }
  return toDevCluster(state);
}

export interface StartOptions {
  log?: (msg: string) => void;
  /** Use the cluster of KUBECONFIG (default: env DEVCLUSTER_USE_KUBECONFIG=1). */
  useKubeconfig?: boolean;
}

function useExternal(options: StartOptions): boolean {
  if (options.useKubeconfig !== undefined) return options.useKubeconfig;
  const flag = process.env.DEVCLUSTER_USE_KUBECONFIG;
  return flag === '1' || flag === 'true';
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/**
 * Serialises `up` and `down` (e.g. two test runs calling `up` at once). The lock file sits
 * beside the state dir, so deleting the state does not drop it; a dead holder's lock is taken over.
 */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const lockFile = `${stateDir()}.lock`;
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const deadline = Date.now() + 30 * 60 * 1000; // a cold build takes a while
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (e: any) {
      if (e?.code !== 'EEXIST') throw e;
    }
    let holder = 0;
    let age = 0;
    try {
      holder = Number(fs.readFileSync(lockFile, 'utf8'));
      age = Date.now() - fs.statSync(lockFile).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    if ((holder && !isRunning(holder)) || (!holder && age > 5000)) {
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `another devcluster command (pid ${holder}) holds ${lockFile}`,
      );
    }
    await sleep(500);
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

/** Stops every process of the devcluster (whole process groups) and deletes its state. */
export async function stopDevCluster(
  options: { log?: (msg: string) => void; keepState?: boolean } = {},
): Promise<void> {
  return withLock(() => stopUnlocked(options));
}

async function stopUnlocked(
  options: { log?: (msg: string) => void; keepState?: boolean } = {},
): Promise<void> {
  const log = options.log ?? (() => {});
  const state = readState();
  if (state?.mode === 'local') {
    // Reverse start order: kwok, scheduler, controller-manager, apiserver, etcd.
    for (const c of [...state.components].reverse()) {
      const alive = isRunning(c.pid, c.binary);
      if (alive) {
        await killGroup(c.pid);
        log(`stopped ${c.name} (pid ${c.pid})`);
      }
    }
    if (state.dataPlane && !state.dataPlane.unavailable) {
      await removePodNetworkRoute();
    }
  } else if (state?.mode === 'external') {
    log(
      `forgetting external cluster ${state.server} (nothing in it is deleted)`,
    );
  }
  if (!options.keepState) {
    fs.rmSync(stateDir(), { recursive: true, force: true });
  }
}

/**
 * Starts the devcluster (idempotent: a healthy running one is left alone; a stale one is
 * cleaned and restarted), or with DEVCLUSTER_USE_KUBECONFIG=1 sets up the cluster of
 * KUBECONFIG instead.
 */
export async function startDevCluster(
  options: StartOptions = {},
): Promise<DevCluster> {
  return withLock(() => startUnlocked(options));
}

async function startUnlocked(options: StartOptions): Promise<DevCluster> {
  const log = options.log ?? (() => {});
  const existing = await devClusterStatus();
  if (existing.state === 'running') {
    const state = readState()!;
    if (state.mode === (useExternal(options) ? 'external' : 'local')) {
      log(`devcluster is already running (${state.mode}, ${state.server})`);
      return toDevCluster(state);
    }
  }
  if (existing.state !== 'stopped' || fs.existsSync(files().state)) {
    log(
      `cleaning up ${
        existing.state === 'running' ? 'the running' : 'a stale'
      } devcluster in ${stateDir()}`,
    );
    await stopUnlocked({ log });
  } else {
    // No cluster recorded: left-over files from a failed start are removed.
    fs.rmSync(stateDir(), { recursive: true, force: true });
  }
  return useExternal(options) ? setupExternal(log) : startLocal(log);
}

async function setupExternal(log: (msg: string) => void): Promise<DevCluster> {
  const kubeconfigEnv = process.env.KUBECONFIG;
  const kubeconfigPath = kubeconfigEnv
    ?.split(path.delimiter)
    .find(p => p && fs.existsSync(p));
  if (!kubeconfigPath) {
    throw new Error(
      'DEVCLUSTER_USE_KUBECONFIG is set but KUBECONFIG does not point at an existing file',
    );
  }
  const bins = await ensureBinaries({
    only: ['kubernetes'],
    kubernetesNames: ['kubectl'],
  });
  const f = files();
  fs.mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  const kubectl = makeKubectl(bins.kubectl, kubeconfigPath);
  const view = await kubectl([
    'config',
    'view',
    '--raw',
    '--minify',
    '-o',
    'json',
  ]);
  if (view.code !== 0)
    throw new Error(`cannot read ${kubeconfigPath}: ${view.stderr}`);
  const cluster = JSON.parse(view.stdout).clusters[0].cluster;
  const caData =
    cluster['certificate-authority-data'] ??
    (cluster['certificate-authority']
      ? fs.readFileSync(cluster['certificate-authority']).toString('base64')
      : '');
  const state: ClusterState = {
    mode: 'external',
    server: cluster.server,
    caData,
    kubeconfigPath,
    kubectl: bins.kubectl,
    versions: VERSIONS,
    startedAt: new Date().toISOString(),
    ready: false,
    components: [],
  };
  writeState(state);
  log(`using the cluster of ${kubeconfigPath} (${state.server})`);
  await setupCluster(kubectl, f.tokens, log);
  state.ready = true;
  writeState(state);
  return toDevCluster(state);
}

/** Starts one detached component process and records it in the state. */
type StartComponent = (
  name: string,
  binary: string,
  port: number,
  healthUrl: string,
  args: string[],
  env?: Record<string, string>,
) => ComponentState;

async function startLocal(log: (msg: string) => void): Promise<DevCluster> {
  const started = Date.now();
  const bins: Binaries = await ensureBinaries();
  const f = files();
  for (const d of [f.dir, f.logs, f.tokens, f.etcdData]) {
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  const pki = await generatePki(f.pki);
  const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedulerPort, kwokPort] =
    await freePorts(6);
  const server = `https://127.0.0.1:${apiPort}`;
  const caData = fs.readFileSync(pki.caCert).toString('base64');
  const ca = fs.readFileSync(pki.caCert);
  const kubeconfigs = {
    admin: f.kubeconfig('admin'),
    'kube-controller-manager': f.kubeconfig('kube-controller-manager'),
    'kube-scheduler': f.kubeconfig('kube-scheduler'),
    kwok: f.kubeconfig('kwok'),
  };
  for (const [name, file] of Object.entries(kubeconfigs)) {
    const client = pki.clients[name as keyof typeof kubeconfigs];
    writeKubeconfig(file, {
      server,
      caCert: pki.caCert,
      clientCert: client.cert,
      clientKey: client.key,
      user: name,
    });
  }
  const state: ClusterState = {
    mode: 'local',
    server,
    caData,
    kubeconfigPath: kubeconfigs.admin,
    kubectl: bins.kubectl,
    versions: VERSIONS,
    startedAt: new Date().toISOString(),
    ready: false,
    components: [],
  };
  writeState(state);

  const secure = (kubeconfig: string) => [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
  const start: StartComponent = (name, binary, port, healthUrl, args, env) => {
    const logFile = path.join(f.logs, `${name}.log`);
    const pid = spawnDetached(binary, args, logFile, {
      ...process.env,
      ...env,
    });
    const component = {
      name,
      pid,
      port,
      healthUrl,
      binary,
      log: logFile,
      args,
      env,
    };
    state.components.push(component);
    writeState(state);
    return component;
  };
  const timed = async (what: string, fn: () => Promise<void>) => {
    const t = Date.now();
    await fn();
    log(`${what} in ${Date.now() - t}ms`);
  };

  try {
    const etcd = start(
      'etcd',
      bins.etcd,
      etcdPort,
      `http://127.0.0.1:${etcdPort}/health`,
      [
        '--name=devcluster',
        `--data-dir=${f.etcdData}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=devcluster=http://127.0.0.1:${etcdPeerPort}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
    );
    await timed(`etcd ${VERSIONS.etcd} healthy on :${etcdPort}`, () =>
      waitHealthy(etcd, undefined),
    );

    const apiserver = start(
      'kube-apiserver',
      bins.kubeApiserver,
      apiPort,
      `${server}/readyz`,
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        // A loopback advertise address is refused by the endpoint reconciler; nothing
        // in-cluster needs the kubernetes Service's endpoints here.
        '--endpoint-reconciler-type=none',
        `--secure-port=${apiPort}`,
        `--cert-dir=${path.join(f.pki, 'apiserver')}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.caCert}`,
        // The kubelets are kwok, serving a certificate of the cluster's CA.
        `--kubelet-certificate-authority=${pki.caCert}`,
        '--kubelet-preferred-address-types=InternalIP',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--authorization-mode=RBAC',
        // Request-header (front proxy) authentication, so the other components find the
        // CA bundle they look for in kube-system/extension-apiserver-authentication.
        `--requestheader-client-ca-file=${pki.caCert}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki.clients['front-proxy-client'].cert}`,
        `--proxy-client-key-file=${pki.clients['front-proxy-client'].key}`,
        // No --enable/--disable-admission-plugins: the default set, which includes
        // PodSecurity (enforces the pod-security.kubernetes.io/* namespace labels) and
        // ServiceAccount (refuses a pod whose serviceAccountName does not exist).
        '--allow-privileged=true',
        '--profiling=false',
      ],
    );
    await timed(
      `kube-apiserver ${VERSIONS.kubernetes} ready on :${apiPort}`,
      () => waitHealthy(apiserver, ca, 180000),
    );

    const kcm = start(
      'kube-controller-manager',
      bins.kubeControllerManager,
      kcmPort,
      `https://127.0.0.1:${kcmPort}/healthz`,
      [
        ...secure(kubeconfigs['kube-controller-manager']),
        `--secure-port=${kcmPort}`,
        `--root-ca-file=${pki.caCert}`,
        `--service-account-private-key-file=${pki.saKey}`,
        '--use-service-account-credentials=true',
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        '--allocate-node-cidrs=true',
        `--cluster-cidr=${CLUSTER_CIDR}`,
        '--node-cidr-mask-size=24',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--controllers=*',
      ],
    );
    const scheduler = start(
      'kube-scheduler',
      bins.kubeScheduler,
      schedulerPort,
      `https://127.0.0.1:${schedulerPort}/healthz`,
      [
        ...secure(kubeconfigs['kube-scheduler']),
        `--secure-port=${schedulerPort}`,
      ],
    );
    await timed(
      `kube-controller-manager and kube-scheduler healthy on :${kcmPort}, :${schedulerPort}`,
      () =>
        Promise.all([waitHealthy(kcm, ca), waitHealthy(scheduler, ca)]).then(
          () => {},
        ),
    );

    const kubectl = makeKubectl(bins.kubectl, kubeconfigs.admin);
    await applyObjects(kubectl, nodeObjects());
    await writeKwokConfig(f.kwokConfig);
    await installCrdFiles(kubectl, await kwokLogCrdFiles());
    const kwok = start(
      'kwok',
      bins.kwok,
      kwokPort,
      `http://127.0.0.1:${kwokPort}/healthz`,
      [
        `--kubeconfig=${kubeconfigs.kwok}`,
        `--config=${f.kwokConfig}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--node-ip=127.0.0.1',
        '--node-lease-duration-seconds=40',
        `--server-address=127.0.0.1:${kwokPort}`,
        // kwok is the nodes' kubelet API too (pod logs): the API server dials the
        // node's kubelet port over TLS, so that port is kwok's, with a certificate
        // for 127.0.0.1 (kwok serves HTTP and HTTPS on one port).
        `--node-port=${kwokPort}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--enable-crds=${KWOK_LOG_KINDS.join(',')}`,
      ],
    );
    await timed(`kwok ${VERSIONS.kwok} healthy on :${kwokPort}`, () =>
      waitHealthy(kwok, ca),
    );

    await setupCluster(kubectl, f.tokens, log);
    await timed('nodes Ready', async () => {
      const r = await kubectl([
        'wait',
        '--for=condition=Ready',
        'node',
        '--all',
        '--timeout=120s',
      ]);
      if (r.code !== 0)
        throw new Error(`nodes did not become Ready: ${r.stderr}`);
    });
    if (dataPlaneWanted()) {
      await timed('data plane (Traefik, pod runner) ready', async () => {
        state.dataPlane = await startDataPlane(start, bins, pki, kubectl, log);
        writeState(state);
      });
    } else {
      state.dataPlane = {
        unavailable:
          'this devcluster runs without a data plane (a private DEVCLUSTER_STATE_DIR, or DEVCLUSTER_DATA_PLANE=0): start it with DEVCLUSTER_DATA_PLANE=1',
      };
    }
    state.ready = true;
    writeState(state);
    log(
      `devcluster is up in ${((Date.now() - started) / 1000).toFixed(
        1,
      )}s: ${server}`,
    );
    return toDevCluster(state);
  } catch (e) {
    log(`start failed; logs are in ${f.logs}; stopping what was started`);
    await stopUnlocked({ log, keepState: true });
    fs.rmSync(f.state, { force: true });
    throw e;
  }
}

/**
 * Traefik with the environments' Gateways, and the pod runner, on a pod network made
 * local. The processes start even when the route cannot be added, so that the tests
 * that need real traffic fail with what to do (see requireDataPlane).
 */
async function startDataPlane(
  start: StartComponent,
  bins: Binaries,
  pki: Awaited<ReturnType<typeof generatePki>>,
  kubectl: ReturnType<typeof makeKubectl>,
  log: (msg: string) => void,
): Promise<DataPlaneState> {
  const f = files();
  const unavailable = await makePodNetworkLocal();
  if (unavailable) log(`no pod traffic: ${unavailable}`);
  const [pingPort, runnerPort] = await freePorts(2);
  const runnerOptions = path.join(f.dir, 'pod-runner.json');
  fs.writeFileSync(
    runnerOptions,
    JSON.stringify({
      server: readState()!.server,
      caFile: pki.caCert,
      certFile: pki.clients.admin.cert,
      keyFile: pki.clients.admin.key,
      healthPort: runnerPort,
    }),
    { mode: 0o600 },
  );
  const runner = start(
    'pod-runner',
    process.execPath,
    runnerPort,
    `http://127.0.0.1:${runnerPort}/healthz`,
    [path.join(packageDir, 'bin', 'devcluster'), 'pod-runner', runnerOptions],
  );
  await applyObjects(kubectl, gatewayApiObjects());
  const traefik = start(
    'traefik',
    bins.traefik,
    pingPort,
    `http://127.0.0.1:${pingPort}/ping`,
    traefikArgs(pingPort),
    { KUBECONFIG: f.kubeconfig('admin') },
  );
  await Promise.all([
    waitHealthy(runner, undefined),
    waitHealthy(traefik, undefined),
  ]);
  const programmed = await kubectl([
    'wait',
    '--for=condition=Programmed',
    'gateway.gateway.networking.k8s.io',
    '--all',
    '-n',
    GATEWAY_NAMESPACE,
    '--timeout=60s',
  ]);
  if (programmed.code !== 0) {
    throw new Error(
      `Traefik did not program the Gateways in ${GATEWAY_NAMESPACE}: ${programmed.stderr}`,
    );
  }
  const answer = await httpStatus(`http://127.0.0.1:${HTTP_PORT}/`);
  if (answer.status === 0) {
    throw new Error(
      `Traefik does not answer on 127.0.0.1:${HTTP_PORT} (is the port taken?); see ${traefik.log}`,
    );
  }
  return {
    unavailable,
    httpUrl: `http://127.0.0.1:${HTTP_PORT}`,
    httpsUrl: `https://127.0.0.1:${HTTPS_PORT}`,
  };
}

/** The local devcluster's component `name`, or a clear error. */
function localComponent(name: string): {
  state: ClusterState;
  component: ComponentState;
} {
  const state = readState();
  const component =
    state?.mode === 'local'
      ? state.components.find(c => c.name === name)
      : undefined;
  if (!state || !component) {
    throw new Error(
      `No component ${name} in a local devcluster at ${stateDir()}: ${NOT_RUNNING_MESSAGE}`,
    );
  }
  return { state, component };
}

/**
 * Stops one process of the local devcluster (e.g. `kube-apiserver`, as an
 * outage in a fault test) and leaves the rest running.
 */
export async function stopDevClusterComponent(name: string): Promise<void> {
  return withLock(async () => {
    const { component } = localComponent(name);
    if (isRunning(component.pid, component.binary)) {
      await killGroup(component.pid);
    }
  });
}

/**
 * Starts a component stopped by {@link stopDevClusterComponent} again, with
 * the same arguments and port, and waits until it is healthy.
 */
export async function startDevClusterComponent(name: string): Promise<void> {
  return withLock(async () => {
    const { state, component } = localComponent(name);
    if (isRunning(component.pid, component.binary)) return;
    if (!component.args) {
      throw new Error(
        `${name} was started by an older devcluster that did not record its arguments: run \`yarn devcluster down && yarn devcluster up\``,
      );
    }
    component.pid = spawnDetached(
      component.binary,
      component.args,
      component.log,
      {
        ...process.env,
        ...component.env,
      },
    );
    writeState(state);
    await waitHealthy(component, Buffer.from(state.caData, 'base64'), 180000);
  });
}

export { binaries, pkiPaths };
