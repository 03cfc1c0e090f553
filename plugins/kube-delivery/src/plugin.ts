import type { Entity } from '@backstage/catalog-model';
import {
  createApiFactory,
  createComponentExtension,
  createPlugin,
  createRoutableExtension,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/core-plugin-api';
import { ANNOTATION_IMAGE } from '@internal/plugin-kube-delivery-common';
import { KubeDeliveryClient, kubeDeliveryApiRef } from './api';
import {
  deliveriesRouteRef,
  entityDeliveriesRouteRef,
  featureBranchesRouteRef,
  releaseHistoryRouteRef,
  rootRouteRef,
} from './routes';

/** Whether an entity is delivered by Kube Delivery. @public */
export const isKubeDeliveryAvailable = (entity: Entity) =>
  Boolean(entity.metadata.annotations?.[ANNOTATION_IMAGE]);

/** The Kube Delivery plugin for the legacy frontend system. @public */
export const kubeDeliveryPlugin = createPlugin({
  id: 'kube-delivery',
  routes: {
    root: rootRouteRef,
    featureBranches: featureBranchesRouteRef,
    releaseHistory: releaseHistoryRouteRef,
    deliveries: deliveriesRouteRef,
    entityDeliveries: entityDeliveriesRouteRef,
  },
  apis: [
    createApiFactory({
      api: kubeDeliveryApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new KubeDeliveryClient({ discoveryApi, fetchApi }),
    }),
  ],
});

/** The Environments tab for the legacy frontend system. @public */
export const EntityKubeDeliveryEnvironmentsContent = kubeDeliveryPlugin.provide(
  createRoutableExtension({
    name: 'EntityKubeDeliveryEnvironmentsContent',
    component: () =>
      import('./components/EnvironmentsContent').then(
        m => m.EnvironmentsContent,
      ),
    mountPoint: rootRouteRef,
  }),
);

/** The Feature branches tab for the legacy frontend system. @public */
export const EntityKubeDeliveryFeatureBranchesContent =
  kubeDeliveryPlugin.provide(
    createRoutableExtension({
      name: 'EntityKubeDeliveryFeatureBranchesContent',
      component: () =>
        import('./components/FeatureBranchesContent').then(
          m => m.FeatureBranchesContent,
        ),
      mountPoint: featureBranchesRouteRef,
    }),
  );

/** The Release history tab for the legacy frontend system. @public */
export const EntityKubeDeliveryReleaseHistoryContent =
  kubeDeliveryPlugin.provide(
    createRoutableExtension({
      name: 'EntityKubeDeliveryReleaseHistoryContent',
      component: () =>
        import('./components/ReleaseHistoryContent').then(
          m => m.ReleaseHistoryContent,
        ),
      mountPoint: releaseHistoryRouteRef,
    }),
  );

/** The Deliveries page (every service × environment) for the legacy frontend system. @public */
export const KubeDeliveryDeliveriesPage = kubeDeliveryPlugin.provide(
  createRoutableExtension({
    name: 'KubeDeliveryDeliveriesPage',
    component: () =>
      import('./components/DeliveriesContent').then(m => m.DeliveriesPage),
    mountPoint: deliveriesRouteRef,
  }),
);

/** The Deliveries tab of a System or Group entity for the legacy frontend system. @public */
export const EntityKubeDeliveryDeliveriesContent = kubeDeliveryPlugin.provide(
  createRoutableExtension({
    name: 'EntityKubeDeliveryDeliveriesContent',
    component: () =>
      import('./components/DeliveriesContent').then(
        m => m.EntityDeliveriesContent,
      ),
    mountPoint: entityDeliveriesRouteRef,
  }),
);

/** The Overview card of a delivered service for the legacy frontend system. @public */
export const EntityKubeDeliveryOverviewCard = kubeDeliveryPlugin.provide(
  createComponentExtension({
    name: 'EntityKubeDeliveryOverviewCard',
    component: {
      lazy: () =>
        import('./components/OverviewCard').then(m => m.DeliveryOverviewCard),
    },
  }),
);
