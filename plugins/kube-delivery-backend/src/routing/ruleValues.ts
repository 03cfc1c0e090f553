import type { BackstageCredentials } from '@backstage/backend-plugin-api';
import type { RouteRule } from '@internal/plugin-kube-delivery-common';
import { actorOf } from '../http/actor';

/**
 * Who is reading routing rules. A rule's value (a session id, a user id) is
 * a credential of sorts: whoever sends it is routed to the branch as its
 * owner. It is shown to the rule's owner and to those who may route on the
 * entity in the rule's environment; everyone else sees the rule with
 * `"value": null, "valueHidden": true`.
 */
export interface RuleViewer {
  /** The caller as rule owners and the history name them (`actorOf(credentials)`). */
  actor: string;
  /** Whether the caller may route on the entity in this environment (the route permission). */
  mayRoute(environment: string): boolean | Promise<boolean>;
}

/** A rule as a reader sees it: with its value, or without. */
export type RouteRuleView =
  | RouteRule
  | (Omit<RouteRule, 'value'> & { value: null; valueHidden: true });

/** What stands for a hidden value in one-line history messages. */
export const HIDDEN_VALUE = '(hidden)';

/** A viewer from the caller's credentials and the router's route-permission decision. */
export function ruleViewerOf(
  credentials: BackstageCredentials,
  mayRoute: (environment: string) => boolean | Promise<boolean>,
): RuleViewer {
  return { actor: actorOf(credentials), mayRoute };
}

/**
 * Whether the viewer sees a rule's value, asked of `mayRoute` at most once
 * per environment. Without a viewer (a caller the router did not describe)
 * no value is shown.
 */
export function ruleValueGate(
  viewer: RuleViewer | undefined,
): (rule: Pick<RouteRule, 'owner' | 'environment'>) => Promise<boolean> {
  const decided = new Map<string, Promise<boolean>>();
  return async rule => {
    if (!viewer) return false;
    if (rule.owner === viewer.actor) return true;
    let decision = decided.get(rule.environment);
    if (!decision) {
      decision = Promise.resolve(viewer.mayRoute(rule.environment)).then(
        Boolean,
      );
      decided.set(rule.environment, decision);
    }
    return decision;
  };
}

/** The rule without its value. */
export function hideValue(rule: RouteRule): RouteRuleView {
  return { ...rule, value: null, valueHidden: true };
}

/** The rules as the viewer may see them, in the same order. */
export async function rulesAsSeenBy(
  rules: RouteRule[],
  viewer: RuleViewer | undefined,
): Promise<RouteRuleView[]> {
  const visible = ruleValueGate(viewer);
  return Promise.all(
    rules.map(async rule => ((await visible(rule)) ? rule : hideValue(rule))),
  );
}

function isRule(value: unknown): value is RouteRule {
  const rule = value as Partial<RouteRule> | null;
  return (
    !!rule &&
    typeof rule === 'object' &&
    typeof rule.value === 'string' &&
    typeof rule.key === 'string' &&
    typeof rule.owner === 'string' &&
    typeof rule.environment === 'string'
  );
}

/**
 * A `route-changed` history event as the viewer may see it: the rules in its
 * details (`rule`, and `rules` of a branch removal) without the values the
 * viewer may not see, and those values replaced by `(hidden)` in its
 * message (`header userid=<value> → …`). Other events are returned as they are.
 */
export async function routeEventAsSeenBy<
  T extends {
    kind: string;
    message?: string;
    details?: object;
  },
>(event: T, visible: (rule: RouteRule) => Promise<boolean>): Promise<T> {
  if (event.kind !== 'route-changed' || !event.details) return event;
  const hidden: RouteRule[] = [];
  const view = async (value: unknown) => {
    if (!isRule(value) || (await visible(value))) return value;
    hidden.push(value);
    return hideValue(value);
  };
  const details: Record<string, unknown> = { ...event.details };
  if ('rule' in details) details.rule = await view(details.rule);
  if (Array.isArray(details.rules)) {
    details.rules = await Promise.all(details.rules.map(view));
  }
  if (hidden.length === 0) return event;
  let message = event.message;
  for (const rule of hidden) {
    message = message
      ?.split(`${rule.key}=${rule.value}`)
      .join(`${rule.key}=${HIDDEN_VALUE}`);
  }
  return { ...event, details, ...(message !== undefined && { message }) };
}
