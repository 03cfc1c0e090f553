import type { RoutingKind } from './schema/openapi/generated/models';

/**
 * A rule that sends chosen requests of a service to one of its feature
 * branches.
 *
 * @public
 */
export interface RouteRule {
  /** The rule's id. */
  id: string;
  /** The catalog entity whose service the rule routes. */
  entityRef: string;
  /** The environment the rule applies in. */
  environment: string;
  /** Kubernetes Service name of the mainline, e.g. `adservice`. */
  service: string;
  /** Branch slug (see `branchSlug`), e.g. `myfeature`. */
  branch: string;
  /** What the rule matches on: a cookie, a header or a baggage member. */
  kind: RoutingKind;
  /** Cookie name, lowercase header name, or baggage member key. */
  key: string;
  /** The value the cookie, header or baggage member must have. */
  value: string;
  /** The user or service that created it. */
  owner: string;
  /** ISO 8601 instant after which the rule no longer applies. */
  expiresAt: string;
  /** ISO 8601 instant; orders rules that could match the same request. */
  createdAt?: string;
}

/** Session ids, user ids, uuids: no regex metacharacters, no separators. */
const ROUTE_VALUE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** RFC 6265 cookie-name: an RFC 2616 token (no CTLs, no separators). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
const HEADER_NAME = /^[a-z0-9-]{1,64}$/;
const BAGGAGE_KEY = /^[a-z0-9_.-]{1,64}$/;
/** Headers whose whole value an `exact` match would never sensibly compare. */
const RESERVED_HEADERS = new Set(['cookie', 'baggage']);

/**
 * Checks a routing rule's key and value against strict character sets.
 * Returns an error message, or undefined when both are acceptable. The
 * message never echoes the offending input.
 *
 * @public
 */
export function validateRouteValue(
  kind: RoutingKind,
  key: string,
  value: string,
): string | undefined {
  if (typeof key !== 'string' || typeof value !== 'string') {
    return 'Routing key and value must be strings';
  }
  switch (kind) {
    case 'cookie':
      if (!COOKIE_NAME.test(key)) {
        return 'Cookie name must be 1-64 RFC 6265 token characters';
      }
      break;
    case 'header':
      if (!HEADER_NAME.test(key)) {
        return 'Header name must be 1-64 characters of a-z, 0-9 and -';
      }
      if (RESERVED_HEADERS.has(key)) {
        return `Header "${key}" cannot be matched exactly; use the ${key} routing kind`;
      }
      break;
    case 'baggage':
      if (!BAGGAGE_KEY.test(key)) {
        return 'Baggage key must be 1-64 characters of a-z, 0-9, _, . and -';
      }
      break;
    default:
      return 'Routing kind must be cookie, header or baggage';
  }
  if (!ROUTE_VALUE.test(value)) {
    return 'Routing value must be 1-128 characters of A-Z, a-z, 0-9, ., _ and -, starting with a letter or digit';
  }
  return undefined;
}

/**
 * Escapes every character that is special in RE2 or ECMAScript regular
 * expressions (only those: RE2 and `u`-mode JavaScript both reject some
 * needless escapes).
 *
 * @public
 */
export function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/**
 * An anchored, RE2-compatible regex matching a whole `Cookie` header that
 * contains the cookie `name=value` as a whole cookie (at the start, middle
 * or end; not as the suffix of another cookie's name nor a prefix of a
 * longer value). Space or tab is tolerated around the `;` separators.
 *
 * @public
 */
export function cookieMatchRegex(name: string, value: string): string {
  return `^(.*?;[ \\t]*)?${escapeRegex(name)}=${escapeRegex(
    value,
  )}([ \\t]*;.*)?$`;
}

/**
 * An anchored, RE2-compatible regex matching a whole W3C `baggage` header
 * that has the list member `key=value`: members are separated by `,`,
 * optional whitespace may surround `=`, `,` and `;`, and properties may
 * follow the value after `;`.
 *
 * @public
 */
export function baggageMatchRegex(key: string, value: string): string {
  return `^(.*?,)?[ \\t]*${escapeRegex(key)}[ \\t]*=[ \\t]*${escapeRegex(
    value,
  )}[ \\t]*([;,].*)?$`;
}

/** An Istio StringMatch. @public */
export interface StringMatch {
  /** The whole value equals this. */
  exact?: string;
  /** The value starts with this. */
  prefix?: string;
  /** The whole value matches this RE2 pattern. */
  regex?: string;
}

/** An Istio HTTPMatchRequest (the subset this project evaluates). @public */
export interface HttpMatchRequest {
  /** The match block's name. */
  name?: string;
  /** Headers that must match, by lowercase name. */
  headers?: Record<string, StringMatch>;
  /** Headers that must not match, by lowercase name. */
  withoutHeaders?: Record<string, StringMatch>;
  /** Matches the request path. */
  uri?: StringMatch;
  /** Matches the HTTP method. */
  method?: StringMatch;
  /** Matches the authority (host). */
  authority?: StringMatch;
  /** Matches the scheme. */
  scheme?: StringMatch;
  /** Whether `uri` matching ignores case. */
  ignoreUriCase?: boolean;
}

/** An Istio Destination. @public */
export interface HttpDestination {
  /** The Service the request goes to. */
  host: string;
  /** The subset of the Service, if any. */
  subset?: string;
  /** The port, when the Service has several. */
  port?: { number: number };
}

/** An Istio HTTPRoute: one entry of a VirtualService's `spec.http`. @public */
export interface HttpRoute {
  /** The entry's name. */
  name?: string;
  /** Match blocks, any of which selects the entry; none matches every request. */
  match?: HttpMatchRequest[];
  /** Where matched requests go. */
  route: Array<{ destination: HttpDestination; weight?: number }>;
}

/** A request, as the route tester describes it. @public */
export interface RouteTestRequest {
  /** Header names in any case. `:path`, `:method`, `:authority` (or `host`) and `:scheme` are used when the fields below are absent. */
  headers: Record<string, string>;
  /** Request path, query string ignored; default `/`. */
  uri?: string;
  /** HTTP method; default from the `:method` header. */
  method?: string;
  /** Authority (host); default from `:authority` or `host`. */
  authority?: string;
  /** Scheme; default from the `:scheme` header. */
  scheme?: string;
}

/** Where the mesh sends a request. @public */
export interface RouteEvaluation {
  /** Where the request goes. */
  destination: HttpDestination;
  /** The winning entry's `name`. */
  routeName?: string;
  /** The winning entry's index in `spec.http`. */
  index: number;
}

const MATCH_KEYS = new Set([
  'name',
  'headers',
  'withoutHeaders',
  'uri',
  'method',
  'authority',
  'scheme',
  'ignoreUriCase',
]);

const compiled = new Map<string, RegExp | null>();

/**
 * Compiles an RE2 pattern with RE2's full-match semantics. The few RE2-only
 * spellings that appear in practice are translated: a leading `(?i)` and
 * `(?P<name>`. An invalid pattern compiles to null (never matches).
 */
function fullMatchRegex(pattern: string): RegExp | null {
  let result = compiled.get(pattern);
  if (result !== undefined) return result;
  let source = pattern;
  let flags = '';
  if (source.startsWith('(?i)')) {
    source = source.slice(4);
    flags = 'i';
  }
  source = source.replace(/\(\?P</g, '(?<');
  try {
    result = new RegExp(`^(?:${source})$`, flags);
  } catch {
    result = null;
  }
  if (compiled.size > 1000) compiled.clear();
  compiled.set(pattern, result);
  return result;
}

/** The request's headers by lowercase name (header names compare case-insensitively). */
function lowercaseHeaders(request: RouteTestRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

function stringMatches(
  match: StringMatch | undefined | null,
  actual: string | undefined,
  ignoreCase = false,
): boolean {
  if (actual === undefined) return false;
  if (!match || typeof match !== 'object') return true;
  const value = ignoreCase ? actual.toLowerCase() : actual;
  if (typeof match.exact === 'string') {
    return value === (ignoreCase ? match.exact.toLowerCase() : match.exact);
  }
  if (typeof match.prefix === 'string') {
    return value.startsWith(
      ignoreCase ? match.prefix.toLowerCase() : match.prefix,
    );
  }
  if (typeof match.regex === 'string') {
    return fullMatchRegex(match.regex)?.test(actual) ?? false;
  }
  // No match type: Istio turns this into a presence match.
  return true;
}

function blockMatches(
  block: HttpMatchRequest,
  headers: Record<string, string>,
  request: RouteTestRequest,
): boolean {
  // A condition this evaluator cannot judge (sourceLabels, gateways, port,
  // queryParams, ...) makes the block not match: never guess a route.
  if (Object.keys(block).some(key => !MATCH_KEYS.has(key))) return false;
  for (const [name, match] of Object.entries(block.headers ?? {})) {
    if (!stringMatches(match, headers[name.toLowerCase()])) return false;
  }
  for (const [name, match] of Object.entries(block.withoutHeaders ?? {})) {
    if (stringMatches(match, headers[name.toLowerCase()])) return false;
  }
  if (block.uri) {
    const uri = (request.uri ?? headers[':path'] ?? '/').split('?')[0];
    if (!stringMatches(block.uri, uri, block.ignoreUriCase === true)) {
      return false;
    }
  }
  if (
    block.method &&
    !stringMatches(block.method, request.method ?? headers[':method'] ?? 'GET')
  ) {
    return false;
  }
  if (
    block.authority &&
    !stringMatches(
      block.authority,
      request.authority ?? headers[':authority'] ?? headers.host,
    )
  ) {
    return false;
  }
  if (
    block.scheme &&
    !stringMatches(block.scheme, request.scheme ?? headers[':scheme'])
  ) {
    return false;
  }
  return true;
}

/**
 * Evaluates a VirtualService's `spec.http` the way Istio does: the first
 * entry with a matching `match` block wins (blocks are ORed; the conditions
 * inside a block are ANDed; an entry without `match` matches everything).
 * Header names are compared case-insensitively; `regex` is a full match
 * (RE2 semantics); a missing header matches no exact, prefix or regex.
 *
 * The destination of the winning entry is its single route destination or,
 * when it splits traffic, the one with the highest weight (the first among
 * equals; an absent weight counts as 0). Returns undefined when no entry
 * matches or the winning entry has no route destination (a redirect or a
 * direct response).
 *
 * @public
 */
export function evaluateHttpRoutes(
  routes: readonly HttpRoute[],
  request: RouteTestRequest,
): RouteEvaluation | undefined {
  const headers = lowercaseHeaders(request);
  for (let index = 0; index < routes.length; index++) {
    const entry = routes[index];
    const matches =
      !entry.match ||
      entry.match.length === 0 ||
      entry.match.some(block => blockMatches(block, headers, request));
    if (!matches) continue;
    const destinations = Array.isArray(entry.route) ? entry.route : [];
    let best: (typeof destinations)[number] | undefined;
    for (const candidate of destinations) {
      if (!best || (candidate.weight ?? 0) > (best.weight ?? 0)) {
        best = candidate;
      }
    }
    if (!best?.destination) return undefined;
    return {
      destination: best.destination,
      ...(entry.name !== undefined && { routeName: entry.name }),
      index,
    };
  }
  return undefined;
}

/** A Gateway API HTTPHeaderMatch. @public */
export interface GatewayHeaderMatch {
  /** How `value` is compared; default `Exact`. */
  type?: 'Exact' | 'RegularExpression';
  /** The header name, in any case. */
  name: string;
  /** The value, or the regular expression. */
  value: string;
}

/** A Gateway API HTTPRouteMatch (the subset this project evaluates). @public */
export interface GatewayRouteMatch {
  /** Matches the request path. */
  path?: {
    type?: 'Exact' | 'PathPrefix' | 'RegularExpression';
    value?: string;
  };
  /** Headers that must all match. */
  headers?: GatewayHeaderMatch[];
  /** The HTTP method that must match. */
  method?: string;
}

/** A Gateway API HTTPBackendRef. @public */
export interface GatewayBackendRef {
  /** API group of the backend; default the core group. */
  group?: string;
  /** Kind of the backend; default `Service`. */
  kind?: string;
  /** The backend's name. */
  name: string;
  /** The backend's namespace; default the route's. */
  namespace?: string;
  /** The port of the backend. */
  port?: number;
  /** Share of the traffic among the backends; default 1. */
  weight?: number;
}

/** A Gateway API HTTPRouteRule: one entry of an HTTPRoute's `spec.rules`. @public */
export interface GatewayRouteRule {
  /** The rule's name. */
  name?: string;
  /** Matches, any of which selects the rule; none matches every request. */
  matches?: GatewayRouteMatch[];
  /** Where matched requests go. */
  backendRefs?: GatewayBackendRef[];
}

const GATEWAY_MATCH_KEYS = new Set(['path', 'headers', 'method']);

/** Lexicographic order of specificity tuples. */
function compareRanks(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return 0;
}

/** Path specificity of a match: -1 when it does not match (or cannot be judged). */
function gatewayPathRank(
  match: GatewayRouteMatch,
  path: string,
): { exact: boolean; prefix: number } | undefined {
  const type = match.path?.type ?? 'PathPrefix';
  const value = match.path?.value ?? '/';
  if (type === 'Exact')
    return path === value ? { exact: true, prefix: value.length } : undefined;
  if (type !== 'PathPrefix') return undefined;
  // Element-wise prefix: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
  const prefix = value.length > 1 ? value.replace(/\/+$/, '') : value;
  const matches =
    prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
  return matches ? { exact: false, prefix: prefix.length } : undefined;
}

function gatewayMatchApplies(
  match: GatewayRouteMatch,
  headers: Record<string, string>,
  request: RouteTestRequest,
): boolean {
  for (const header of match.headers ?? []) {
    const actual = headers[String(header.name).toLowerCase()];
    if (actual === undefined) return false;
    const type = header.type ?? 'Exact';
    if (
      type === 'Exact' ? actual !== header.value : type !== 'RegularExpression'
    ) {
      return false;
    }
    if (
      type === 'RegularExpression' &&
      !fullMatchRegex(header.value)?.test(actual)
    ) {
      return false;
    }
  }
  if (match.method !== undefined) {
    return match.method === (request.method ?? headers[':method'] ?? 'GET');
  }
  return true;
}

/**
 * Evaluates an HTTPRoute's `spec.rules` the way the Gateway API specifies
 * (unlike Istio, not first match): among all matching rule/match pairs the
 * most specific wins, by an exact path, then the longest path prefix, then a
 * method, then the most header matches; ties go to the rule listed first. A
 * rule without `matches` matches like `PathPrefix /`. Header names compare
 * case-insensitively; `RegularExpression` is a full match (RE2, as Envoy).
 * A match with conditions this evaluator cannot judge (query parameters, a
 * regex path) never matches: it never guesses a route.
 *
 * The destination is the backend with the highest weight (default 1, the
 * first among equals; weight 0 receives nothing), as `{ host: name, port }`.
 *
 * @public
 */
export function evaluateGatewayHttpRoute(
  rules: readonly GatewayRouteRule[],
  request: RouteTestRequest,
): RouteEvaluation | undefined {
  const headers = lowercaseHeaders(request);
  const path = (request.uri ?? headers[':path'] ?? '/').split('?')[0];
  let best:
    | { index: number; rank: [number, number, number, number] }
    | undefined;
  rules.forEach((rule, index) => {
    const matches = rule.matches?.length ? rule.matches : [{}];
    for (const match of matches) {
      if (Object.keys(match).some(key => !GATEWAY_MATCH_KEYS.has(key)))
        continue;
      const pathRank = gatewayPathRank(match, path);
      if (!pathRank || !gatewayMatchApplies(match, headers, request)) continue;
      const rank: [number, number, number, number] = [
        pathRank.exact ? 1 : 0,
        pathRank.prefix,
        match.method !== undefined ? 1 : 0,
        match.headers?.length ?? 0,
      ];
      if (!best || compareRanks(rank, best.rank) > 0) best = { index, rank };
    }
  });
  if (!best) return undefined;
  const winner = rules[best.index];
  let backend: GatewayBackendRef | undefined;
  for (const candidate of winner.backendRefs ?? []) {
    const weight = candidate.weight ?? 1;
    if (weight > 0 && (!backend || weight > (backend.weight ?? 1))) {
      backend = candidate;
    }
  }
  if (!backend) return undefined;
  return {
    destination: {
      host: backend.name,
      ...(backend.port !== undefined && { port: { number: backend.port } }),
    },
    ...(winner.name !== undefined && { routeName: winner.name }),
    index: best.index,
  };
}
