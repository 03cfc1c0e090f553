import type {
  HttpDestination,
  HttpMatchRequest,
  HttpRoute,
  RouteRule,
} from '@internal/plugin-kube-delivery-common';
import {
  MAINLINE_ROUTE_NAME,
  routedRules,
  routeObjectMeta,
  ruleCondition,
  RULE_ROUTE_PREFIX,
  type RouteObjectInput,
  type RouteObjectMeta,
} from './routeObjects';

export const VIRTUAL_SERVICE_API = 'networking.istio.io/v1';
export const VIRTUAL_SERVICE_KIND = 'VirtualService';

/** A networking.istio.io/v1 VirtualService, as this project writes it. */
export interface VirtualService {
  apiVersion: typeof VIRTUAL_SERVICE_API;
  kind: typeof VIRTUAL_SERVICE_KIND;
  metadata: RouteObjectMeta;
  spec: {
    hosts: string[];
    gateways?: string[];
    http: HttpRoute[];
  };
}

function ruleMatch(rule: RouteRule): HttpMatchRequest {
  const { header, ...match } = ruleCondition(rule);
  return { headers: { [header]: match } };
}

/**
 * Renders the whole managed VirtualService of a service: one `http` entry per
 * routed rule (see `routedRules`), each routing to its branch's host, then
 * the mainline route with no match (Istio: first match wins).
 *
 * With a gateway, `hosts` holds the hosts the service serves there and the
 * service host:
 * the `mesh` gateway only applies to hosts that sidecars resolve, so without
 * the service host mesh traffic would bypass the rules.
 */
export function renderVirtualService(input: RouteObjectInput): VirtualService {
  const destination = (host: string): HttpDestination =>
    input.port !== undefined
      ? { host, port: { number: input.port } }
      : { host };

  const http: HttpRoute[] = routedRules(input).map(rule => ({
    name: `${RULE_ROUTE_PREFIX}${rule.id}`,
    match: [ruleMatch(rule)],
    route: [{ destination: destination(input.branches.get(rule.branch)!) }],
  }));
  http.push({
    name: MAINLINE_ROUTE_NAME,
    route: [{ destination: destination(input.mainline.host) }],
  });

  const hosts = input.gateway
    ? [...new Set([...input.gateway.hosts, input.host])]
    : [input.host];
  return {
    apiVersion: VIRTUAL_SERVICE_API,
    kind: VIRTUAL_SERVICE_KIND,
    metadata: routeObjectMeta(input),
    spec: {
      hosts,
      ...(input.gateway && { gateways: [input.gateway.name, 'mesh'] }),
      http,
    },
  };
}
