import fs from 'node:fs/promises';
import path from 'node:path';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { ConflictError, InputError } from '@backstage/errors';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { createTemplateAction } from '@backstage/plugin-scaffolder-node';

/** A directory name a service may get: an RFC 1123 label, no path tricks. */
const DIRECTORY_NAME = /^[a-z]([-a-z0-9]{0,43}[a-z0-9])?$/;

/**
 * `kube-delivery:publish:local`: publishes the workspace into a directory of
 * the backend's machine and registers its catalog-info.yaml as a `file`
 * location. This is how the template publishes without a Git host (offline,
 * the local demo); with one, use `publish:github` or `publish:gitlab` and
 * `catalog:register` instead.
 */
export function createPublishLocalAction(options: {
  /** Absolute directory under which each service gets its own folder. */
  publishDirectory: string;
  catalog: CatalogService;
}) {
  const { publishDirectory, catalog } = options;
  return createTemplateAction({
    id: 'kube-delivery:publish:local',
    description:
      "Copies the workspace to <kubeDelivery.scaffolder.publishDirectory>/<name> on the backend's machine and registers its catalog-info.yaml as a file location.",
    schema: {
      input: {
        name: z =>
          z.string({
            description: 'Folder name: the service name (an RFC 1123 label)',
          }),
      },
      output: {
        catalogInfoPath: z => z.string(),
        entityRef: z => z.string(),
      },
    },
    async handler(ctx) {
      const { name } = ctx.input;
      if (!DIRECTORY_NAME.test(name)) {
        throw new InputError(
          `name must be an RFC 1123 label of at most 45 characters starting with a letter, got ${JSON.stringify(
            name.slice(0, 64),
          )}`,
        );
      }
      const target = path.join(publishDirectory, name);
      const catalogInfoPath = path.join(target, 'catalog-info.yaml');
      await fs.mkdir(publishDirectory, { recursive: true });
      try {
        // Refuses an existing folder rather than overwriting a service.
        await fs.mkdir(target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new ConflictError(
            `${target} already exists; choose another service name or remove that folder`,
          );
        }
        throw error;
      }
      await fs.cp(ctx.workspacePath, target, { recursive: true });

      const credentials = await ctx.getInitiatorCredentials();
      const location = { type: 'file', target: catalogInfoPath };
      // A dry run reads and validates the entities before anything is registered.
      const preview = await catalog.addLocation(
        { ...location, dryRun: true },
        { credentials },
      );
      const component =
        preview.entities.find(e => e.kind === 'Component') ??
        preview.entities.find(e => e.kind !== 'Location');
      if (!component) {
        throw new InputError(`${catalogInfoPath} holds no entity to register`);
      }
      await catalog.addLocation(location, { credentials });
      ctx.logger.info(
        `Published to ${target} and registered ${catalogInfoPath}`,
      );
      ctx.output('catalogInfoPath', catalogInfoPath);
      ctx.output('entityRef', stringifyEntityRef(component));
    },
  });
}
