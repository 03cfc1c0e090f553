import type { NamespaceScope } from './scope';

/** One permission to check with a SelfSubjectAccessReview, e.g. `{ verb: 'patch', group: 'apps', resource: 'deployments' }`. */
export interface AccessCheck {
  verb: string;
  /** API group, '' for the core group. */
  group: string;
  /** Plural resource, e.g. deployments. */
  resource: string;
  subresource?: string;
  /** Another namespace than the environment's; '' for all namespaces. */
  namespace?: string;
}

/** A check the environment's ServiceAccount failed. */
export interface DeniedAccess extends AccessCheck {
  /** The authorizer's reason, when it gives one. */
  reason?: string;
}

/** SelfSubjectAccessReviews in the namespace: the checks the credentials fail. */
export function whoCan(
  scope: NamespaceScope,
  checks: AccessCheck[],
): Promise<DeniedAccess[]> {
  return scope.run(
    { verb: 'create', kind: 'SelfSubjectAccessReview' },
    async b => {
      const reviews = await Promise.all(
        checks.map(check =>
          b.request<{
            status?: {
              allowed?: boolean;
              reason?: string;
              evaluationError?: string;
            };
          }>({
            method: 'POST',
            path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectAccessReview',
              spec: {
                resourceAttributes: {
                  namespace: check.namespace ?? scope.namespace,
                  verb: check.verb,
                  group: check.group,
                  resource: check.resource,
                  subresource: check.subresource,
                },
              },
            },
          }),
        ),
      );
      const denied: DeniedAccess[] = [];
      reviews.forEach((review, i) => {
        if (!review.status?.allowed) {
          const reason =
            review.status?.reason || review.status?.evaluationError;
          denied.push({ ...checks[i], ...(reason ? { reason } : {}) });
        }
      });
      return denied;
    },
  );
}
