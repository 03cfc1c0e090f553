import {
  evaluateGatewayHttpRoute,
  evaluateHttpRoutes,
  type RouteEvaluation,
  type RouteTestRequest,
} from '@internal/plugin-kube-delivery-common';
import type { KubernetesObject } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../cluster';
import type { RoutingApiName } from '../config/environments';
import { HTTP_ROUTE_API, HTTP_ROUTE_KIND, renderHttpRoute } from './httpRoute';
import type { RouteObjectInput } from './routeObjects';
import {
  renderVirtualService,
  VIRTUAL_SERVICE_API,
  VIRTUAL_SERVICE_KIND,
} from './virtualService';

export type RouteObject = KubernetesObject & { spec: Record<string, any> };

/** One way of routing a service's traffic: Istio VirtualService or Gateway API HTTPRoute. */
export interface RouteApi {
  apiVersion: string;
  kind: string;
  /** The `spec` fields kube-delivery writes; anyone else owning one has edited it by hand. */
  specFields: readonly string[];
  /** Whether rendering needs the Service port (Gateway API backendRefs do). */
  needsPort: boolean;
  render(input: RouteObjectInput): RouteObject;
  /** The mesh's answer for a request, on the object read back from the cluster. */
  evaluate(
    live: RouteObject,
    request: RouteTestRequest,
  ): RouteEvaluation | undefined;
  /** Every destination host the live object names. */
  destinations(live: RouteObject): string[];
}

const istio: RouteApi = {
  apiVersion: VIRTUAL_SERVICE_API,
  kind: VIRTUAL_SERVICE_KIND,
  specFields: ['hosts', 'gateways', 'http'],
  needsPort: false,
  render: renderVirtualService,
  evaluate: (live, request) =>
    evaluateHttpRoutes(live.spec?.http ?? [], request),
  destinations: live =>
    (live.spec?.http ?? []).flatMap((entry: any) =>
      (entry.route ?? []).map((r: any) => r.destination?.host),
    ),
};

const gatewayApi: RouteApi = {
  apiVersion: HTTP_ROUTE_API,
  kind: HTTP_ROUTE_KIND,
  specFields: ['parentRefs', 'hostnames', 'rules'],
  needsPort: true,
  render: renderHttpRoute,
  evaluate: (live, request) =>
    evaluateGatewayHttpRoute(live.spec?.rules ?? [], request),
  destinations: live =>
    (live.spec?.rules ?? []).flatMap((rule: any) =>
      (rule.backendRefs ?? []).map((b: any) => b.name),
    ),
};

export function routeApi(name: RoutingApiName | undefined): RouteApi {
  return name === 'gateway-api' ? gatewayApi : istio;
}

/** The routing API an environment does not use: where a switch leaves our old object. */
export function otherRouteApi(api: RouteApi): RouteApi {
  return api === istio ? gatewayApi : istio;
}

/**
 * Field managers other than kube-delivery that own one of the routing
 * fields of the live object: someone changed it by hand (kubectl edit,
 * patch, apply). kube-delivery's forced server-side apply takes the fields
 * back, so after a restore the list is empty again.
 */
export function handEditors(live: KubernetesObject, api: RouteApi): string[] {
  const editors = new Set<string>();
  for (const entry of live.metadata?.managedFields ?? []) {
    if (entry.manager === FIELD_MANAGER) continue;
    const spec = (entry.fieldsV1 as Record<string, any> | undefined)?.[
      'f:spec'
    ];
    if (
      spec &&
      api.specFields.some(field => spec[`f:${field}`] !== undefined)
    ) {
      editors.add(entry.manager ?? 'an unnamed field manager');
    }
  }
  return [...editors].sort();
}

/** Whether a live routing object is bound to an ingress gateway (not only the mesh). */
export function boundToGateway(live: RouteObject): boolean {
  if (live.kind === HTTP_ROUTE_KIND) {
    return (live.spec?.parentRefs ?? []).some((p: any) => p.kind === 'Gateway');
  }
  return (live.spec?.gateways ?? []).some((g: string) => g !== 'mesh');
}

/**
 * The gateway hosts a live routing object is bound for: an HTTPRoute's
 * `hostnames`, or a VirtualService's `hosts` but the service's own (mesh) host.
 */
export function gatewayHostsOf(live: RouteObject, service: string): string[] {
  const hosts: unknown[] =
    (live.kind === HTTP_ROUTE_KIND ? live.spec?.hostnames : live.spec?.hosts) ??
    [];
  return hosts.filter(
    (host): host is string => typeof host === 'string' && host !== service,
  );
}
