import { KubeConfig, Watch } from '@kubernetes/client-node';
import type { DevCluster } from '@internal/devcluster';

/**
 * Watches a Service, its EndpointSlices and the pods of its app through the
 * API server's watch streams, and records every moment that would drop
 * traffic: no ready endpoint left, or a selector switched onto pods that are
 * not all ready.
 */
export async function watchServiceTraffic(options: {
  cluster: DevCluster;
  namespace: string;
  service: string;
  appLabel: string;
}) {
  const config = new KubeConfig();
  config.loadFromFile(options.cluster.kubeconfigPath);
  const watch = new Watch(config);
  const violations: string[] = [];
  const readyBySlice = new Map<string, number>();
  const pods = new Map<string, { labels: Record<string, string>; ready: boolean }>();
  let selector: Record<string, string> | undefined;
  let events = 0;
  let selectorSwitches = 0;

  const selects = (labels: Record<string, string>) =>
    Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

  const controllers: AbortController[] = [];
  const base = `/api/v1/namespaces/${options.namespace}`;
  controllers.push(
    await watch.watch(
      `/apis/discovery.k8s.io/v1/namespaces/${options.namespace}/endpointslices`,
      { labelSelector: `kubernetes.io/service-name=${options.service}` },
      (type, slice) => {
        events++;
        const ready = (slice.endpoints ?? []).filter(
          (e: any) => e.conditions?.ready,
        ).length;
        if (type === 'DELETED') readyBySlice.delete(slice.metadata.name);
        else readyBySlice.set(slice.metadata.name, ready);
        const total = [...readyBySlice.values()].reduce((a, b) => a + b, 0);
        if (total === 0) {
          violations.push(`no ready endpoints after ${type} ${slice.metadata.name}`);
        }
      },
      () => {},
    ),
  );
  controllers.push(
    await watch.watch(
      `${base}/pods`,
      { labelSelector: `app.kubernetes.io/name=${options.appLabel}` },
      (type, pod) => {
        events++;
        if (type === 'DELETED') pods.delete(pod.metadata.name);
        else
          pods.set(pod.metadata.name, {
            labels: pod.metadata.labels ?? {},
            ready: (pod.status?.conditions ?? []).some(
              (c: any) => c.type === 'Ready' && c.status === 'True',
            ),
          });
      },
      () => {},
    ),
  );
  controllers.push(
    await watch.watch(
      `${base}/services`,
      { fieldSelector: `metadata.name=${options.service}` },
      (_type, service) => {
        events++;
        const next = service.spec?.selector ?? {};
        if (JSON.stringify(next) === JSON.stringify(selector)) return;
        const first = selector === undefined;
        selector = next;
        if (!first) selectorSwitches++;
        const selected = [...pods.values()].filter(p => selects(p.labels));
        if (!first && (selected.length === 0 || selected.some(p => !p.ready))) {
          violations.push(
            `selector ${JSON.stringify(next)} switched onto ${selected.length} pods, ${
              selected.filter(p => !p.ready).length
            } not ready`,
          );
        }
      },
      () => {},
    ),
  );

  return {
    violations,
    stats: () => ({ events, selectorSwitches }),
    stop: () => controllers.forEach(c => c.abort()),
  };
}
