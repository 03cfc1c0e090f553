import {
  branchOf,
  branchSlug,
  parseVersion,
  type Deployment,
  type HistoryEntry,
  type RouteRuleView,
} from '@internal/plugin-kube-delivery-common';

/**
 * A rule as the API lists it: its value only to its owner and to those who
 * may route on the service there; to others `value: null, valueHidden: true`.
 */
export type ListedRule = RouteRuleView;

/** `key=value` of a rule for people, `key=(hidden)` when its value is not shown to them. */
export function ruleText(rule: Pick<ListedRule, 'key' | 'value'>): string {
  return `${rule.key}=${rule.value ?? '(hidden)'}`;
}

/** A feature branch of the service in one environment: its latest deployment and its rules. */
export interface BranchView {
  environment: string;
  /** The branch as in the version's pre-release, e.g. `myfeature`. */
  branch: string;
  /** The Kubernetes suffix the rules are stored under. */
  slug: string;
  latest?: Deployment;
  rules: RouteRuleView[];
}

/** When each branch was last removed, from the history's route changes. */
function removals(routeChanges: HistoryEntry[]): Map<string, string> {
  const removedAt = new Map<string, string>();
  for (const entry of routeChanges) {
    if (entry.kind !== 'route-changed') continue;
    const { action, branch } = entry.details;
    if (action !== 'branch-removed' || branch === undefined) continue;
    const key = `${entry.environment}/${branch}`;
    // Newest first: the first removal seen is the latest.
    if (!removedAt.has(key)) removedAt.set(key, entry.createdAt);
  }
  return removedAt;
}

/**
 * Branches per environment, from the newest-first deployment history and
 * the rules; a branch with rules but no deployment in the page still shows,
 * and one removed since its latest deployment does not.
 */
export function branchesOf(
  serviceName: string,
  deployments: Deployment[],
  rules: RouteRuleView[],
  routeChanges: HistoryEntry[] = [],
): BranchView[] {
  const removedAt = removals(routeChanges);
  const byKey = new Map<string, BranchView>();
  const seen = new Set<string>();
  for (const deployment of deployments) {
    const parsed = parseVersion(deployment.version);
    const branch = parsed && branchOf(parsed);
    if (!branch) continue;
    const slug = branchSlug(branch, serviceName);
    const key = `${deployment.environment}/${slug}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const removed = removedAt.get(key);
    if (!removed || removed < deployment.createdAt) {
      byKey.set(key, {
        environment: deployment.environment,
        branch,
        slug,
        latest: deployment,
        rules: [],
      });
    }
  }
  for (const rule of rules) {
    const key = `${rule.environment}/${rule.branch}`;
    const view = byKey.get(key) ?? {
      environment: rule.environment,
      branch: rule.branch,
      slug: rule.branch,
      rules: [],
    };
    view.rules.push(rule);
    byKey.set(key, view);
  }
  return [...byKey.values()];
}
