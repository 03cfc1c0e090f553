import { useSignal } from '@backstage/plugin-signals-react';
import {
  kubeDeliveryEntityChannel,
  type KubeDeliveryChangeSignal,
} from '@internal/plugin-kube-delivery-common';
import type { PushedChanges } from './usePolledAsync';

/**
 * The backend's signals that an entity's delivery changed (a deployment
 * queued, a step moved on, an outcome, an approval), through Backstage's
 * signals plugin. Without it in the app, `available` is false and the tabs
 * poll as before.
 */
export function useDeliveryChanges(entityRef: string): PushedChanges {
  const { lastSignal, isSignalsAvailable } =
    useSignal<KubeDeliveryChangeSignal>(kubeDeliveryEntityChannel(entityRef));
  return { signal: lastSignal, available: isSignalsAvailable };
}
