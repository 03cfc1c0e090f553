import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { bodyOf } from '@internal/plugin-kube-delivery-common';
import { entityPathParams, waitForDeployment } from '../client';
import type { KubeDeliveryClientFor } from './serviceClient';

/**
 * `kube-delivery:deploy`: starts a deployment of a release to an environment
 * through the plugin's API (promotion rules apply) and, unless told not to,
 * waits until it has finished and fails the task when it did not succeed.
 * Into a protected environment it ends with status `waiting-approval`: the
 * deployment runs once another user approves it.
 * It acts on behalf of the user who runs the template.
 */
export function createDeployAction(options: {
  /** The API on behalf of the user who runs the template. */
  client: KubeDeliveryClientFor;
  pollIntervalMs?: number;
}) {
  const { pollIntervalMs = 2000 } = options;
  return createTemplateAction({
    id: 'kube-delivery:deploy',
    description:
      'Deploys a Kube Delivery release to an environment and waits for the rollout (and smoke test) to finish.',
    examples: [
      {
        description: 'Deploy 0.1.0 to dev',
        example: `steps:
  - id: deploy
    action: kube-delivery:deploy
    input:
      entityRef: component:default/my-service
      environment: dev
      version: 0.1.0`,
      },
    ],
    schema: {
      input: {
        entityRef: z =>
          z.string({
            description: 'The entity, e.g. component:default/adservice',
          }),
        environment: z =>
          z.string({ description: 'Environment name, e.g. dev' }),
        version: z =>
          z.string({ description: 'The release version to deploy' }),
        wait: z =>
          z
            .boolean({
              description: 'Wait for the deployment to finish (default true)',
            })
            .optional(),
        timeoutMinutes: z =>
          z
            .number({ description: 'How long to wait (default 15)' })
            .int()
            .min(1)
            .max(120)
            .optional(),
      },
      output: {
        deploymentId: z => z.string(),
        status: z => z.string(),
      },
    },
    async handler(ctx) {
      const { entityRef, environment, version } = ctx.input;
      // As the user who runs the template: the policy decides for them (a 403
      // fails the step with its reason) and the deployment is theirs.
      const client = options.client(await ctx.getInitiatorCredentials());
      const queued = await bodyOf(
        client.deploy({
          path: entityPathParams(entityRef),
          body: { environment, version },
        }),
      );
      ctx.logger.info(
        `Deployment ${queued.id} of ${entityRef} ${version} to ${environment} is ${queued.status}`,
      );
      ctx.output('deploymentId', queued.id);
      if (ctx.input.wait === false) {
        ctx.output('status', queued.status);
        return;
      }
      const finished = await waitForDeployment(client, entityRef, queued.id, {
        pollIntervalMs,
        timeoutMs: (ctx.input.timeoutMinutes ?? 15) * 60_000,
        signal: ctx.signal,
      });
      ctx.output('status', finished.status);
      if (finished.status === 'waiting-approval') {
        // A protected environment: another user approves it, later.
        ctx.logger.info(
          `Deployment ${queued.id} of ${entityRef} ${version} to ${environment} waits for approval by another user holding kube-delivery.deployment.approve; follow it on the Environments tab`,
        );
        return;
      }
      for (const step of finished.steps) {
        ctx.logger.info(
          `${step.name}: ${step.status}${
            step.message ? ` (${step.message})` : ''
          }`,
        );
      }
      if (finished.status !== 'succeeded') {
        throw new Error(
          `Deployment of ${entityRef} ${version} to ${environment} ${
            finished.status
          }: ${finished.message ?? 'see its steps on the Environments tab'}`,
        );
      }
    },
  });
}
