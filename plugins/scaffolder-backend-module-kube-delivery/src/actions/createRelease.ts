import { isError } from '@backstage/errors';
import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { bodyOf } from '@internal/plugin-kube-delivery-common';
import { entityPathParams } from '../client';
import type { KubeDeliveryClientFor } from './serviceClient';

/** How long a release waits for an entity the catalog has not processed yet. */
const CATALOG_WAIT_MS = 120_000;
const CATALOG_POLL_MS = 2_000;

/**
 * `kube-delivery:release:create`: creates an immutable release (version,
 * image tag or digest, snapshot of the manifest) through the plugin's API,
 * on behalf of the user who runs the template.
 */
export function createReleaseAction(options: {
  /** The API on behalf of the user who runs the template. */
  client: KubeDeliveryClientFor;
  catalogWaitMs?: number;
}) {
  const { catalogWaitMs = CATALOG_WAIT_MS } = options;
  return createTemplateAction({
    id: 'kube-delivery:release:create',
    description:
      'Creates a Kube Delivery release of a catalog entity: a SemVer version, its image tag or digest, and a snapshot of the manifest.',
    examples: [
      {
        description: 'Release 0.1.0 of a service just registered',
        example: `steps:
  - id: release
    action: kube-delivery:release:create
    input:
      entityRef: component:default/my-service
      version: 0.1.0`,
      },
    ],
    schema: {
      input: {
        entityRef: z =>
          z.string({
            description:
              'The entity to release, e.g. component:default/adservice',
          }),
        version: z =>
          z.string({
            description: 'SemVer version, e.g. 0.1.0 or 0.1.0-myfeature',
          }),
        tag: z =>
          z
            .string({ description: 'Image tag; defaults to the version' })
            .optional(),
        digest: z =>
          z
            .string({ description: 'Image digest (sha256:...) to pin' })
            .optional(),
      },
      output: {
        releaseId: z => z.string(),
        version: z => z.string(),
        imageRef: z => z.string(),
      },
    },
    async handler(ctx) {
      const { entityRef, version, tag, digest } = ctx.input;
      // As the user who runs the template: their permissions, their name in the history.
      const client = options.client(await ctx.getInitiatorCredentials());
      const deadline = Date.now() + catalogWaitMs;
      for (;;) {
        try {
          const release = await bodyOf(
            client.createRelease({
              path: entityPathParams(entityRef),
              body: {
                version,
                ...(tag !== undefined && { tag }),
                ...(digest !== undefined && { digest }),
              },
            }),
          );
          ctx.logger.info(
            `Created release ${release.version} (${release.imageRef}) of ${entityRef}`,
          );
          ctx.output('releaseId', release.id);
          ctx.output('version', release.version);
          ctx.output('imageRef', release.imageRef);
          return;
        } catch (error) {
          // A service registered by the step before is in the catalog only
          // once the catalog has processed its location.
          const notYet =
            isError(error) &&
            error.name === 'ResponseError' &&
            (error as { statusCode?: number }).statusCode === 404;
          if (!notYet || Date.now() > deadline) throw error;
          ctx.logger.info(
            `${entityRef} is not in the catalog yet; waiting for it to be processed`,
          );
          ctx.signal?.throwIfAborted();
          await new Promise(resolve => setTimeout(resolve, CATALOG_POLL_MS));
        }
      }
    },
  });
}
