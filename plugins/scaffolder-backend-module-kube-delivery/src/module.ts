import path from 'node:path';
import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { createDeployAction } from './actions/deploy';
import { createPublishLocalAction } from './actions/publishLocal';
import { createReleaseAction } from './actions/createRelease';
import { serviceClient } from './actions/serviceClient';

const PUBLISH_DIRECTORY_KEY = 'kubeDelivery.scaffolder.publishDirectory';
/** The switch of the file-locations catalog module (its own package). */
const ALLOW_FILE_LOCATIONS_KEY = 'kubeDelivery.catalog.allowFileLocations';

/**
 * Scaffolder actions of Kube Delivery: `kube-delivery:release:create`,
 * `kube-delivery:deploy`, and, when `kubeDelivery.scaffolder.publishDirectory`
 * is configured, `kube-delivery:publish:local`. That action registers `file`
 * locations, which the catalog refuses unless a catalog module allows them
 * (the package in plugins/catalog-backend-module-kube-delivery-file-locations,
 * with `kubeDelivery.catalog.allowFileLocations: true`). The package is not
 * named by its scope here: `stripInternal` drops any declaration whose doc
 * comment contains that scope's at-sign spelling, and this one with it.
 *
 * @public
 */
export const scaffolderModuleKubeDelivery = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'kube-delivery',
  register(reg) {
    reg.registerInit({
      deps: {
        scaffolder: scaffolderActionsExtensionPoint,
        discovery: coreServices.discovery,
        auth: coreServices.auth,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        catalog: catalogServiceRef,
      },
      async init({ scaffolder, discovery, auth, config, logger, catalog }) {
        const client = serviceClient({ discovery, auth });
        scaffolder.addActions(
          createReleaseAction({ client }),
          createDeployAction({ client }),
        );
        const publishDirectory = config.getOptionalString(
          PUBLISH_DIRECTORY_KEY,
        );
        if (publishDirectory) {
          scaffolder.addActions(
            createPublishLocalAction({
              publishDirectory: path.resolve(publishDirectory),
              catalog,
            }),
          );
          if (!config.getOptionalBoolean(ALLOW_FILE_LOCATIONS_KEY)) {
            logger.warn(
              `${PUBLISH_DIRECTORY_KEY} is set but ${ALLOW_FILE_LOCATIONS_KEY} is not: kube-delivery:publish:local will fail to register what it publishes unless the catalog allows file locations`,
            );
          }
        }
      },
    });
  },
});
