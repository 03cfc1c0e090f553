import { createApp } from '@backstage/frontend-defaults';
import catalogPlugin from '@backstage/plugin-catalog/alpha';
import kubernetesPlugin from '@backstage/plugin-kubernetes/alpha';
import orgPlugin from '@backstage/plugin-org/alpha';
import scaffolderPlugin from '@backstage/plugin-scaffolder/alpha';
import apiDocsPlugin from '@backstage/plugin-api-docs/alpha';
import userSettingsPlugin from '@backstage/plugin-user-settings/alpha';
import notificationsPlugin from '@backstage/plugin-notifications/alpha';
import signalsPlugin from '@backstage/plugin-signals/alpha';
import kubeDeliveryPlugin from '@internal/plugin-kube-delivery/alpha';
import { navModule } from './modules/nav';

export default createApp({
  features: [
    catalogPlugin,
    orgPlugin,
    apiDocsPlugin,
    scaffolderPlugin,
    kubernetesPlugin,
    userSettingsPlugin,
    // Kube Delivery's notifications (deploys, approvals, certificates,
    // environment health); signals delivers them live.
    notificationsPlugin,
    signalsPlugin,
    kubeDeliveryPlugin,
    navModule,
  ],
});
