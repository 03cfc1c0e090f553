import * as fs from 'fs';
import * as path from 'path';
import { goModuleDir } from './build';
import { ExecResult } from './exec';
import {
  DEPLOY_ROLE,
  DEPLOYER_NAMESPACE,
  deployerServiceAccount,
  GATEWAY_ROLE,
  NAMESPACES,
  NODES,
  POD_SECURITY_LABELS,
  TokenNamespace,
  VERSIONS,
} from './versions';

export type Kubectl = (
  args: string[],
  options?: { input?: string },
) => Promise<ExecResult>;

const MANAGED_BY = {
  'app.kubernetes.io/managed-by': 'kube-delivery-devcluster',
};
const TOKEN_DURATION = '8760h';

async function ok(
  kubectl: Kubectl,
  args: string[],
  input?: string,
): Promise<string> {
  const result = await kubectl(args, { input });
  if (result.code !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')} failed (${result.code}): ${
        result.stderr.trim() || result.stdout.trim()
      }`,
    );
  }
  return result.stdout;
}

/** Server-side apply of a list of objects (as JSON). */
export async function applyObjects(
  kubectl: Kubectl,
  objects: object[],
): Promise<string> {
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  return ok(
    kubectl,
    [
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=devcluster',
      '-o',
      'name',
      '-f',
      '-',
    ],
    JSON.stringify(list),
  );
}

/** The CRD manifest files, read from the Go modules' directories. */
export async function crdFiles(): Promise<string[]> {
  const istio = await goModuleDir('istio.io/api', VERSIONS.istioApi);
  const gateway = await goModuleDir(
    'sigs.k8s.io/gateway-api',
    VERSIONS.gatewayApi,
  );
  const certManager = await goModuleDir(
    'github.com/cert-manager/cert-manager',
    VERSIONS.certManager,
  );
  const yamlIn = (dir: string, filter: (f: string) => boolean = () => true) =>
    fs
      .readdirSync(dir)
      .filter(f => f.endsWith('.yaml') && filter(f))
      .sort()
      .map(f => path.join(dir, f));
  return [
    path.join(istio, 'kubernetes', 'customresourcedefinitions.gen.yaml'),
    // Only the CRDs: the bundle's ValidatingAdmissionPolicy (vap_safeupgrades) is left out.
    ...yamlIn(
      path.join(gateway, 'config', 'crd', 'standard'),
      f => !f.includes('_vap_'),
    ),
    // The plain CRDs (the helm chart's templates wrap the same content in template lines).
    ...yamlIn(path.join(certManager, 'deploy', 'crds')),
  ];
}

export async function installCrds(kubectl: Kubectl): Promise<string[]> {
  return installCrdFiles(kubectl, await crdFiles());
}

/** Applies CRD files and waits until their CRDs are Established; returns their names. */
export async function installCrdFiles(
  kubectl: Kubectl,
  crdFilePaths: string[],
): Promise<string[]> {
  const files = crdFilePaths.flatMap(file => ['-f', file]);
  const out = await ok(kubectl, [
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager=devcluster',
    '-o',
    'name',
    ...files,
  ]);
  const names = out
    .split('\n')
    .filter(l => l.startsWith('customresourcedefinition'));
  await ok(kubectl, [
    'wait',
    '--for=condition=Established',
    '--timeout=120s',
    ...names,
  ]);
  return names;
}

export function nodeObjects(): object[] {
  return NODES.map(node => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node.name,
      annotations: {
        'kwok.x-k8s.io/node': 'fake',
        'node.alpha.kubernetes.io/ttl': '0',
      },
      labels: {
        ...MANAGED_BY,
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': node.name,
        'topology.kubernetes.io/zone': node.zone,
        'topology.kubernetes.io/region': 'devcluster',
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '64', memory: '256Gi', pods: '500' },
      capacity: { cpu: '64', memory: '256Gi', pods: '500' },
    },
  }));
}

const CRUD = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
const READ = ['get', 'list', 'watch'];

/** What deploying a service into one of dev/test/production needs, and nothing more. */
export function deployRole(namespace: string): object {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: DEPLOY_ROLE, namespace, labels: MANAGED_BY },
    rules: [
      {
        apiGroups: ['apps'],
        resources: ['deployments', 'deployments/scale'],
        verbs: CRUD,
      },
      {
        apiGroups: ['apps'],
        resources: ['deployments/status', 'replicasets'],
        verbs: READ,
      },
      {
        apiGroups: [''],
        resources: ['pods', 'pods/log', 'events'],
        verbs: READ,
      },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: READ },
      {
        apiGroups: [''],
        // One ServiceAccount per service (its pods' identity), written by Kube Delivery.
        resources: ['services', 'configmaps', 'secrets', 'serviceaccounts'],
        verbs: CRUD,
      },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: CRUD },
      {
        apiGroups: ['policy'],
        resources: ['poddisruptionbudgets'],
        verbs: CRUD,
      },
      {
        apiGroups: ['networking.istio.io'],
        resources: ['virtualservices', 'destinationrules'],
        verbs: CRUD,
      },
      {
        apiGroups: ['gateway.networking.k8s.io'],
        resources: ['httproutes'],
        verbs: CRUD,
      },
      {
        apiGroups: ['discovery.k8s.io'],
        resources: ['endpointslices'],
        verbs: READ,
      },
    ],
  };
}

/** What managing the shared ingress gateway in istio-system needs. */
export function gatewayRole(): object {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: {
      name: GATEWAY_ROLE,
      namespace: 'istio-system',
      labels: MANAGED_BY,
    },
    rules: [
      { apiGroups: [''], resources: ['secrets'], verbs: CRUD },
      {
        apiGroups: ['networking.istio.io'],
        resources: ['gateways'],
        verbs: CRUD,
      },
      {
        apiGroups: ['gateway.networking.k8s.io'],
        resources: ['gateways'],
        verbs: CRUD,
      },
      {
        apiGroups: ['cert-manager.io'],
        resources: ['certificates'],
        verbs: CRUD,
      },
    ],
  };
}

/** The ServiceAccount `account` of DEPLOYER_NAMESPACE, as a RoleBinding's subject. */
function deployerSubject(account: string): object {
  return {
    kind: 'ServiceAccount',
    name: account,
    namespace: DEPLOYER_NAMESPACE,
  };
}

/**
 * The account lives in DEPLOYER_NAMESPACE; the Role and the RoleBinding granting it to
 * the account live in `namespace`, where it works.
 */
function accountObjects(
  namespace: string,
  account: string,
  roleName: string,
  role: object,
): object[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: account,
        namespace: DEPLOYER_NAMESPACE,
        labels: MANAGED_BY,
      },
    },
    role,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: roleName, namespace, labels: MANAGED_BY },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: roleName,
      },
      subjects: [deployerSubject(account)],
    },
  ];
}

/**
 * Lets the deployer account of a namespace read that Namespace object (for the
 * sidecar-injection and pod-security labels) and nothing else cluster-wide:
 * Namespaces are cluster-scoped, so a namespaced Role cannot grant it.
 */
export function namespaceReaderObjects(namespace: TokenNamespace): object[] {
  const name = `kube-delivery-namespace-${namespace}`;
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name, labels: MANAGED_BY },
      rules: [
        {
          apiGroups: [''],
          resources: ['namespaces'],
          resourceNames: [namespace],
          verbs: ['get'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name, labels: MANAGED_BY },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name,
      },
      subjects: [deployerSubject(deployerServiceAccount(namespace))],
    },
  ];
}

export function namespaceObjects(): object[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'istio-system', labels: MANAGED_BY },
    },
    // Kube Delivery's own accounts; nothing runs here, so the strictest level.
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: DEPLOYER_NAMESPACE,
        labels: {
          ...MANAGED_BY,
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
        },
      },
    },
    ...NAMESPACES.map(name => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name,
        labels: {
          ...MANAGED_BY,
          'istio-injection': 'enabled',
          ...POD_SECURITY_LABELS,
        },
      },
    })),
  ];
}

export function accessObjects(): object[] {
  return [
    ...NAMESPACES.flatMap(ns =>
      accountObjects(
        ns,
        deployerServiceAccount(ns),
        DEPLOY_ROLE,
        deployRole(ns),
      ),
    ),
    ...NAMESPACES.flatMap(ns => namespaceReaderObjects(ns)),
    ...accountObjects(
      'istio-system',
      deployerServiceAccount('istio-system'),
      GATEWAY_ROLE,
      gatewayRole(),
    ),
  ];
}

/**
 * Deletes the ServiceAccounts an earlier devcluster created in the namespaces it
 * deploys to (`kube-delivery` in dev/test/production, `kube-delivery-gateway` in
 * istio-system): a pod there could run as them. Only ours (by label); matters for a
 * cluster set up again with DEVCLUSTER_USE_KUBECONFIG. Their RoleBindings keep their
 * names and now bind the accounts in DEPLOYER_NAMESPACE.
 */
export async function removeLegacyAccounts(kubectl: Kubectl): Promise<void> {
  for (const namespace of [...NAMESPACES, 'istio-system']) {
    await ok(kubectl, [
      'delete',
      'serviceaccounts',
      '-n',
      namespace,
      '-l',
      'app.kubernetes.io/managed-by=kube-delivery-devcluster',
      '--ignore-not-found',
    ]);
  }
}

export function ingressGateway(): object {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: {
      name: 'ingressgateway',
      namespace: 'istio-system',
      labels: MANAGED_BY,
    },
    spec: {
      selector: { istio: 'ingressgateway' },
      servers: [
        {
          port: { number: 80, name: 'http', protocol: 'HTTP' },
          hosts: ['boutique.example', '*.boutique.example'],
        },
      ],
    },
  };
}

/** Short-lived-by-design tokens from the TokenRequest API (no Secret-based tokens). */
export async function issueTokens(
  kubectl: Kubectl,
  dir: string,
): Promise<Record<TokenNamespace, string>> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tokens = {} as Record<TokenNamespace, string>;
  for (const namespace of [...NAMESPACES, 'istio-system'] as TokenNamespace[]) {
    const token = (
      await ok(kubectl, [
        'create',
        'token',
        deployerServiceAccount(namespace),
        '-n',
        DEPLOYER_NAMESPACE,
        `--duration=${TOKEN_DURATION}`,
      ])
    ).trim();
    fs.writeFileSync(path.join(dir, `${namespace}.token`), token, {
      mode: 0o600,
    });
    tokens[namespace] = token;
  }
  return tokens;
}

export function readTokens(dir: string): Record<TokenNamespace, string> {
  const tokens = {} as Record<TokenNamespace, string>;
  for (const ns of [...NAMESPACES, 'istio-system'] as TokenNamespace[]) {
    tokens[ns] = fs.readFileSync(path.join(dir, `${ns}.token`), 'utf8').trim();
  }
  return tokens;
}

/** CRDs, namespaces, service accounts and roles, the ingress gateway, tokens. */
export async function setupCluster(
  kubectl: Kubectl,
  tokenDir: string,
  log: (msg: string) => void,
): Promise<Record<TokenNamespace, string>> {
  let t = Date.now();
  const crds = await installCrds(kubectl);
  log(
    `installed ${crds.length} CRDs (Istio ${VERSIONS.istioApi}, Gateway API ${
      VERSIONS.gatewayApi
    }, cert-manager ${VERSIONS.certManager}) in ${Date.now() - t}ms`,
  );
  t = Date.now();
  await applyObjects(kubectl, namespaceObjects());
  await applyObjects(kubectl, accessObjects());
  await removeLegacyAccounts(kubectl);
  // The discovery of the fresh CRDs can lag a moment behind Established.
  for (let attempt = 1; ; attempt++) {
    try {
      await applyObjects(kubectl, [ingressGateway()]);
      break;
    } catch (e) {
      if (attempt >= 10) throw e;
      await new Promise(r => setTimeout(r, 1000));
    }
  }
  const tokens = await issueTokens(kubectl, tokenDir);
  log(
    `created namespaces ${NAMESPACES.join(
      ', ',
    )}, istio-system, ${DEPLOYER_NAMESPACE} (service accounts), roles, gateway istio-system/ingressgateway and tokens in ${
      Date.now() - t
    }ms`,
  );
  return tokens;
}
