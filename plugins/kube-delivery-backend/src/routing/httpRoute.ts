import type {
  GatewayBackendRef,
  GatewayRouteRule,
} from '@internal/plugin-kube-delivery-common';
import {
  MAINLINE_ROUTE_NAME,
  RULE_ROUTE_PREFIX,
  routeObjectMeta,
  routedRules,
  ruleCondition,
  type RouteObjectMeta,
  type RouteObjectInput,
} from './routeObjects';

export const HTTP_ROUTE_API = 'gateway.networking.k8s.io/v1';
export const HTTP_ROUTE_KIND = 'HTTPRoute';

interface ParentRef {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** A gateway.networking.k8s.io/v1 HTTPRoute, as this project writes it. */
export interface HttpRouteObject {
  apiVersion: typeof HTTP_ROUTE_API;
  kind: typeof HTTP_ROUTE_KIND;
  metadata: RouteObjectMeta;
  spec: {
    parentRefs: ParentRef[];
    hostnames?: string[];
    rules: GatewayRouteRule[];
  };
}

/**
 * Renders the whole managed Gateway API HTTPRoute of a service: the same
 * rules as the VirtualService (see `routedRules`), one `rules` entry each,
 * then the mainline entry without matches.
 *
 * Order does not decide here: the Gateway API picks the most specific match,
 * and a rule's header match beats the mainline's bare `PathPrefix /`; between
 * two rules that both match, the one listed first (the oldest) wins, as with
 * Istio. The parents are the mainline Service (GAMMA, mesh traffic) and, for
 * a service bound to the ingress gateway, that Gateway with its hosts.
 * `input.port` is required: a Service backendRef must name its port.
 */
export function renderHttpRoute(input: RouteObjectInput): HttpRouteObject {
  if (input.port === undefined) {
    throw new Error(
      `HTTPRoute of ${input.service}: the Service port is unknown`,
    );
  }
  const backend = (name: string): GatewayBackendRef => ({
    group: '',
    kind: 'Service',
    name,
    port: input.port,
  });
  const rules: GatewayRouteRule[] = routedRules(input).map(rule => {
    const condition = ruleCondition(rule);
    return {
      name: `${RULE_ROUTE_PREFIX}${rule.id}`,
      matches: [
        {
          headers: [
            'exact' in condition
              ? {
                  type: 'Exact',
                  name: condition.header,
                  value: condition.exact,
                }
              : {
                  type: 'RegularExpression',
                  name: condition.header,
                  value: condition.regex,
                },
          ],
        },
      ],
      backendRefs: [backend(input.branches.get(rule.branch)!)],
    };
  });
  rules.push({
    name: MAINLINE_ROUTE_NAME,
    backendRefs: [backend(input.mainline.host)],
  });
  const parentRefs: ParentRef[] = [];
  if (input.gateway) {
    const [namespace, name] = input.gateway.name.split('/');
    parentRefs.push({
      group: 'gateway.networking.k8s.io',
      kind: 'Gateway',
      namespace,
      name,
    });
  }
  parentRefs.push({ group: '', kind: 'Service', name: input.host });
  return {
    apiVersion: HTTP_ROUTE_API,
    kind: HTTP_ROUTE_KIND,
    metadata: routeObjectMeta(input),
    spec: {
      parentRefs,
      ...(input.gateway?.hosts.length && {
        hostnames: [...input.gateway.hosts],
      }),
      rules,
    },
  };
}
