import {
  HttpDestination,
  HttpMatchRequest,
  HttpRoute,
  RouteRule,
  baggageMatchRegex,
  cookieMatchRegex,
  validateRouteValue,
} from '@internal/plugin-kube-delivery-common';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kube-delivery';
/** Name of the last, match-everything entry of `spec.http`. */
export const MAINLINE_ROUTE_NAME = 'mainline';

export interface VirtualServiceInput {
  /** Mainline Kubernetes Service name; also the VirtualService's name. */
  service: string;
  namespace: string;
  /** Host that mesh clients address, e.g. `adservice`. */
  host: string;
  /** Service port; set on every destination when given. */
  port?: number;
  /** Routing rules of this service in this environment (any order). */
  rules: readonly RouteRule[];
  mainline: { host: string };
  /** Branch slug to the host of its Service, e.g. `myfeature` → `adservice-myfeature`. */
  branches: ReadonlyMap<string, string>;
  /** Binds the VirtualService to an ingress gateway as well as the mesh. */
  gateway?: { name: string; hosts: readonly string[] };
  /** When given, rules that expired at or before this instant are left out. */
  now?: Date;
}

/** A networking.istio.io/v1 VirtualService, as this project writes it. */
export interface VirtualService {
  apiVersion: 'networking.istio.io/v1';
  kind: 'VirtualService';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
  };
  spec: {
    hosts: string[];
    gateways?: string[];
    http: HttpRoute[];
  };
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Code-unit order, not locale order: the same on every backend replica. */
function compareRules(a: RouteRule, b: RouteRule): number {
  return (
    compareStrings(a.createdAt ?? '', b.createdAt ?? '') ||
    compareStrings(a.id, b.id)
  );
}

function ruleMatch(rule: RouteRule): HttpMatchRequest {
  switch (rule.kind) {
    case 'header':
      return { headers: { [rule.key]: { exact: rule.value } } };
    case 'cookie':
      return {
        headers: { cookie: { regex: cookieMatchRegex(rule.key, rule.value) } },
      };
    case 'baggage':
    default:
      return {
        headers: {
          baggage: { regex: baggageMatchRegex(rule.key, rule.value) },
        },
      };
  }
}

function isLive(rule: RouteRule, now: Date | undefined): boolean {
  if (!now) return true;
  const expires = Date.parse(rule.expiresAt);
  return Number.isFinite(expires) && expires > now.getTime();
}

/**
 * Renders the whole managed VirtualService of a service: one `http` entry per
 * routing rule (oldest first, then by id, so the same rules always render the
 * same object and the oldest of two overlapping rules wins), each routing to
 * its branch's host, then the mainline route with no match.
 *
 * Rules are skipped, never rendered, when their branch has no host, when
 * they belong to another service, when their key or value fails
 * `validateRouteValue` (a second line of defence behind the API), or, given
 * `now`, when they have expired.
 *
 * With a gateway, `hosts` holds the gateway's hosts and the service host:
 * the `mesh` gateway only applies to hosts that sidecars resolve, so without
 * the service host mesh traffic would bypass the rules.
 */
export function renderVirtualService(
  input: VirtualServiceInput,
): VirtualService {
  const destination = (host: string): HttpDestination =>
    input.port !== undefined
      ? { host, port: { number: input.port } }
      : { host };

  const http: HttpRoute[] = [...input.rules]
    .filter(
      rule =>
        rule.service === input.service &&
        input.branches.has(rule.branch) &&
        validateRouteValue(rule.kind, rule.key, rule.value) === undefined &&
        isLive(rule, input.now),
    )
    .sort(compareRules)
    .map(rule => ({
      name: `rule-${rule.id}`,
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
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {
      name: input.service,
      namespace: input.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
    },
    spec: {
      hosts,
      ...(input.gateway && { gateways: [input.gateway.name, 'mesh'] }),
      http,
    },
  };
}
