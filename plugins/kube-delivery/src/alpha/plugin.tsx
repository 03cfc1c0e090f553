import {
  ApiBlueprint,
  createFrontendPlugin,
  createRouteRef,
  discoveryApiRef,
  fetchApiRef,
  PageBlueprint,
} from '@backstage/frontend-plugin-api';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import DeliveriesIcon from '@material-ui/icons/LocalShipping';
import EnvironmentsIcon from '@material-ui/icons/Layers';
import FeatureBranchesIcon from '@material-ui/icons/CallSplit';
import ReleaseHistoryIcon from '@material-ui/icons/History';
import { ANNOTATION_IMAGE } from '@internal/plugin-kube-delivery-common';
import { KubeDeliveryClient, kubeDeliveryApiRef } from '../api';

const kubeDeliveryApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: kubeDeliveryApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new KubeDeliveryClient({ discoveryApi, fetchApi }),
    }),
});

/** The tabs show only on services delivered by Kube Delivery. */
const filter = {
  [`metadata.annotations.${ANNOTATION_IMAGE}`]: { $exists: true },
};

// Each loader imports its tab on first use, so the plugin's code lands in
// chunks of its own, not in the app's entry bundle.
const environmentsContent = EntityContentBlueprint.make({
  name: 'environments',
  params: {
    path: '/kube-delivery/environments',
    group: 'deployment',
    icon: <EnvironmentsIcon />,
    title: 'Environments',
    filter,
    loader: () =>
      import('../components/EnvironmentsContent').then(m => (
        <m.EnvironmentsContent />
      )),
  },
});

const featureBranchesContent = EntityContentBlueprint.make({
  name: 'feature-branches',
  params: {
    path: '/kube-delivery/feature-branches',
    group: 'deployment',
    icon: <FeatureBranchesIcon />,
    title: 'Feature branches',
    filter,
    loader: () =>
      import('../components/FeatureBranchesContent').then(m => (
        <m.FeatureBranchesContent />
      )),
  },
});

const releaseHistoryContent = EntityContentBlueprint.make({
  name: 'release-history',
  params: {
    path: '/kube-delivery/release-history',
    group: 'deployment',
    icon: <ReleaseHistoryIcon />,
    title: 'Release history',
    filter,
    loader: () =>
      import('../components/ReleaseHistoryContent').then(m => (
        <m.ReleaseHistoryContent />
      )),
  },
});

/** The Deliveries page; the app's nav lists pages that have a route ref. */
const deliveriesRouteRef = createRouteRef();

/** The Deliveries page: every service × environment, in the sidebar. */
const deliveriesPage = PageBlueprint.make({
  params: {
    path: '/kube-delivery',
    routeRef: deliveriesRouteRef,
    title: 'Deliveries',
    icon: <DeliveriesIcon />,
    loader: () =>
      import('../components/DeliveriesContent').then(m => (
        <m.DeliveriesPageContent />
      )),
  },
});

/** The Deliveries tab of a System (its services) and of a Group (what it owns). */
const entityDeliveriesContent = EntityContentBlueprint.make({
  name: 'deliveries',
  params: {
    path: '/kube-delivery/deliveries',
    title: 'Deliveries',
    group: 'deployment',
    icon: <DeliveriesIcon />,
    filter: entity =>
      ['system', 'group'].includes(entity.kind.toLocaleLowerCase('en-US')),
    loader: () =>
      import('../components/DeliveriesContent').then(m => (
        <m.EntityDeliveriesContent />
      )),
  },
});

/** The Overview's card of a delivered service. */
const overviewCard = EntityCardBlueprint.make({
  name: 'overview',
  params: {
    filter,
    // Beside About, where what runs where is seen at a glance.
    type: 'info',
    loader: () =>
      import('../components/OverviewCard').then(m => (
        <m.DeliveryOverviewCard />
      )),
  },
});

/** The Kube Delivery plugin for the new frontend system. @alpha */
export default createFrontendPlugin({
  pluginId: 'kube-delivery',
  routes: { deliveries: deliveriesRouteRef },
  extensions: [
    kubeDeliveryApi,
    environmentsContent,
    featureBranchesContent,
    releaseHistoryContent,
    deliveriesPage,
    entityDeliveriesContent,
    overviewCard,
  ],
});
