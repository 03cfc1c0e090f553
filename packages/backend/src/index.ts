import { createBackend } from '@backstage/backend-defaults';
import { permissionModuleKubeDeliveryPolicy } from './permissionPolicy';

const backend = createBackend();

backend.add(import('@backstage/plugin-app-backend'));

backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));

backend.add(import('@backstage/plugin-catalog-backend'));
// Lets the catalog register file locations (what kube-delivery:publish:local
// registers) when kubeDelivery.catalog.allowFileLocations is true.
backend.add(
  import(
    '@internal/plugin-catalog-backend-module-kube-delivery-file-locations'
  ),
);
backend.add(
  import('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'),
);
backend.add(import('@backstage/plugin-scaffolder-backend'));
// kube-delivery:release:create, kube-delivery:deploy and the offline publish step
backend.add(import('@internal/plugin-scaffolder-backend-module-kube-delivery'));

backend.add(import('@backstage/plugin-permission-backend'));
// The demo's policy (not allow-all): see permissionPolicy.ts and the README's Permissions.
backend.add(permissionModuleKubeDeliveryPolicy);

backend.add(import('@backstage/plugin-kubernetes-backend'));

backend.add(import('@internal/plugin-kube-delivery-backend'));

// Where Kube Delivery's notifications go (owners of a service, the platform
// group); signals pushes them to open browsers at once.
backend.add(import('@backstage/plugin-notifications-backend'));
backend.add(import('@backstage/plugin-signals-backend'));

backend.start();
