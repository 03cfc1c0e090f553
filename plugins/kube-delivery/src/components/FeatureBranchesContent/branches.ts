import {
  branchOf,
  branchSlug,
  parseVersion,
  type Deployment,
  type RouteRule,
} from '@internal/plugin-kube-delivery-common';

/** A feature branch of the service in one environment: its latest deployment and its rules. */
export interface BranchView {
  environment: string;
  /** The branch as in the version's pre-release, e.g. `myfeature`. */
  branch: string;
  /** The Kubernetes suffix the rules are stored under. */
  slug: string;
  latest?: Deployment;
  rules: RouteRule[];
}

/**
 * Branches per environment, from the newest-first deployment history and
 * the rules; a branch with rules but no deployment in the page still shows.
 */
export function branchesOf(
  serviceName: string,
  deployments: Deployment[],
  rules: RouteRule[],
): BranchView[] {
  const byKey = new Map<string, BranchView>();
  for (const deployment of deployments) {
    const parsed = parseVersion(deployment.version);
    const branch = parsed && branchOf(parsed);
    if (!branch) continue;
    const slug = branchSlug(branch, serviceName);
    const key = `${deployment.environment}/${slug}`;
    if (!byKey.has(key)) {
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
