import { promises as fs } from 'fs';
import path from 'path';
import type { DevCluster } from './cluster';
import { stateDir } from './paths';

/** Read-only account of the Backstage Kubernetes plugin. */
export const KUBERNETES_PLUGIN_ACCOUNT = {
  namespace: 'kube-system',
  name: 'backstage-kubernetes-viewer',
};

/**
 * The Backstage Kubernetes plugin lists workloads across namespaces by
 * their `backstage.io/kubernetes-id` label, so it needs a cluster-wide
 * read-only role: get/list/watch of the objects it shows, nothing else.
 */
const VIEWER_RBAC = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${KUBERNETES_PLUGIN_ACCOUNT.name}
  namespace: ${KUBERNETES_PLUGIN_ACCOUNT.namespace}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ${KUBERNETES_PLUGIN_ACCOUNT.name}
rules:
  - apiGroups: ['']
    resources: [pods, pods/log, services, configmaps, limitranges, resourcequotas]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [deployments, replicasets, statefulsets, daemonsets]
    verbs: [get, list, watch]
  - apiGroups: [autoscaling]
    resources: [horizontalpodautoscalers]
    verbs: [get, list, watch]
  - apiGroups: [batch]
    resources: [jobs, cronjobs]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ${KUBERNETES_PLUGIN_ACCOUNT.name}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ${KUBERNETES_PLUGIN_ACCOUNT.name}
subjects:
  - kind: ServiceAccount
    name: ${KUBERNETES_PLUGIN_ACCOUNT.name}
    namespace: ${KUBERNETES_PLUGIN_ACCOUNT.namespace}
`;

/**
 * The `kubernetes` section of app-config for the Backstage Kubernetes plugin
 * on this cluster: creates (idempotently) its read-only ServiceAccount, mints
 * a bound token with the TokenRequest API into a file of the state directory,
 * and points the config at that file (`$file`), so no token is written into
 * the config.
 */
export async function kubernetesPluginAppConfig(
  cluster: DevCluster,
): Promise<string> {
  const run = async (args: string[], input?: string) => {
    const result = await cluster.kubectl(args, { input });
    if (result.code !== 0) {
      throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
    }
    return result.stdout;
  };
  await run(['apply', '-f', '-'], VIEWER_RBAC);
  const token = await run([
    'create',
    'token',
    KUBERNETES_PLUGIN_ACCOUNT.name,
    '-n',
    KUBERNETES_PLUGIN_ACCOUNT.namespace,
    '--duration',
    '24h',
  ]);
  const tokenFile = path.join(
    stateDir(),
    'tokens',
    'backstage-kubernetes-viewer.token',
  );
  await fs.mkdir(path.dirname(tokenFile), { recursive: true });
  await fs.writeFile(tokenFile, token.trim(), { mode: 0o600 });
  return `kubernetes:
  serviceLocatorMethod:
    type: multiTenant
  clusterLocatorMethods:
    - type: config
      clusters:
        - name: devcluster
          url: ${cluster.server}
          caData: ${cluster.caData}
          authProvider: serviceAccount
          # No metrics-server in the devcluster.
          skipMetricsLookup: true
          serviceAccountToken:
            $file: ${tokenFile}
`;
}
