import { KubeConfig, Watch } from '@kubernetes/client-node';
import type { DevCluster } from '@internal/devcluster';

/** One change of the Service's selector, and what the EndpointSlice watch saw after it. */
export interface SelectorSwitch {
  selector: Record<string, string>;
  /** EndpointSlice events between this switch and the next one (or the end). */
  endpointEvents: number;
  /** An EndpointSlice event after it listed ready endpoints, all of them pods the new selector selects. */
  endpointsMoved: boolean;
}

type Labels = Record<string, string>;

const selects = (selector: Labels | undefined, labels: Labels) =>
  !!selector && Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * Watches a Service, its EndpointSlices and the pods of its app through the
 * API server's watch streams, and records every moment that would drop
 * traffic: no ready endpoint left, or a selector switched onto pods that are
 * not all ready. A watch that fails, is refused or ends before stop() is a
 * violation too: the events it would have carried are unknown.
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
  const slices = new Map<string, { ready: number; pods: string[] }>();
  const pods = new Map<string, { labels: Labels; ready: boolean }>();
  const switches: SelectorSwitch[] = [];
  let selector: Labels | undefined;
  let events = 0;
  let stopped = false;

  const ended = (what: string) => (error: unknown) => {
    if (stopped) return;
    violations.push(
      `the watch of ${what} ended before the test stopped it${
        error ? `: ${(error as Error).message ?? error}` : ''
      }`,
    );
  };
  const failed = (what: string, type: string, object: any) => {
    if (type !== 'ERROR') return false;
    violations.push(`the watch of ${what} sent an error: ${object?.message}`);
    return true;
  };

  const onSlice = (type: string, slice: any) => {
    if (failed('EndpointSlices', type, slice)) return;
    events++;
    const ready = (slice.endpoints ?? []).filter(
      (e: any) => e.conditions?.ready,
    );
    if (type === 'DELETED') slices.delete(slice.metadata.name);
    else
      slices.set(slice.metadata.name, {
        ready: ready.length,
        pods: ready.map((e: any) => e.targetRef?.name),
      });
    const current = switches[switches.length - 1];
    if (current) {
      current.endpointEvents++;
      const readyPods = [...slices.values()].flatMap(s => s.pods);
      if (
        readyPods.length > 0 &&
        readyPods.every(name => {
          const pod = pods.get(name);
          return pod && selects(current.selector, pod.labels);
        })
      ) {
        current.endpointsMoved = true;
      }
    }
    const total = [...slices.values()].reduce((a, s) => a + s.ready, 0);
    if (total === 0) {
      violations.push(`no ready endpoints after ${type} ${slice.metadata.name}`);
    }
  };

  const onPod = (type: string, pod: any) => {
    if (failed('pods', type, pod)) return;
    events++;
    if (type === 'DELETED') pods.delete(pod.metadata.name);
    else
      pods.set(pod.metadata.name, {
        labels: pod.metadata.labels ?? {},
        ready: (pod.status?.conditions ?? []).some(
          (c: any) => c.type === 'Ready' && c.status === 'True',
        ),
      });
  };

  const onService = (type: string, service: any) => {
    if (failed('the Service', type, service)) return;
    events++;
    const next = service.spec?.selector ?? {};
    if (JSON.stringify(next) === JSON.stringify(selector)) return;
    const first = selector === undefined;
    selector = next;
    if (first) return;
    switches.push({ selector: next, endpointEvents: 0, endpointsMoved: false });
    const selected = [...pods.values()].filter(p => selects(next, p.labels));
    if (selected.length === 0 || selected.some(p => !p.ready)) {
      violations.push(
        `selector ${JSON.stringify(next)} switched onto ${
          selected.length
        } pods, ${selected.filter(p => !p.ready).length} not ready`,
      );
    }
  };

  const base = `/api/v1/namespaces/${options.namespace}`;
  // Pods first, so a switch or an endpoint is always checked against known pods.
  const controllers = [
    await watch.watch(
      `${base}/pods`,
      { labelSelector: `app.kubernetes.io/name=${options.appLabel}` },
      onPod,
      ended('pods'),
    ),
    await watch.watch(
      `/apis/discovery.k8s.io/v1/namespaces/${options.namespace}/endpointslices`,
      { labelSelector: `kubernetes.io/service-name=${options.service}` },
      onSlice,
      ended('EndpointSlices'),
    ),
    await watch.watch(
      `${base}/services`,
      { fieldSelector: `metadata.name=${options.service}` },
      onService,
      ended('the Service'),
    ),
  ];

  return {
    violations,
    switches,
    stats: () => ({ events, selectorSwitches: switches.length }),
    /** Pods of the app that the current selector does not select (an old release's), as the watch last saw them. */
    podsOutsideSelector: () =>
      [...pods.values()].filter(p => !selects(selector, p.labels)).length,
    stop: () => {
      stopped = true;
      controllers.forEach(c => c.abort());
    },
  };
}
